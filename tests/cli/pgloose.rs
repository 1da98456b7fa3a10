//! PostgreSQL: changes only where asked (issue 10's follow-ups). A restore never lands on a
//! database it was not told to replace (default names are always free; a named one is replaced
//! only with `--force`); restore reads the first copy whose bytes verify; history reports a backup
//! it cannot digest and goes on; every table means its own rows (inheritance parents are read
//! and written with ONLY); a refused promote says so in its dry run. Every test starts its own
//! throwaway cluster (`pgcluster.rs`).

use std::path::{Path, PathBuf};

use crate::cluster_or_skip;
use crate::common::*;
use crate::pgcluster::Cluster;

/// Runs lastgood with `args`; returns (exit code, stdout, stderr).
fn run(cwd: &Path, args: &[&str]) -> (i32, String, String) {
    let out = lastgood(cwd).args(args).output().unwrap();
    let (o, e) = (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned());
    assert!(!e.contains("panicked"), "{e}");
    (out.status.code().unwrap_or(-1), o, e)
}

/// A database `shop` with one table of 20 rows, dumped (custom format) into `dir/repo`.
fn shop_and_repo(c: &Cluster, dir: &Path) -> PathBuf {
    c.create_db("shop");
    c.psql("shop", "CREATE TABLE items(id int PRIMARY KEY, name text); INSERT INTO items SELECT x, 'item ' || x FROM generate_series(1, 20) x;");
    let repo = dir.join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    c.pg_dump("shop", &["-Fc"], &repo.join("shop.dump"));
    repo
}

/// Runs `script` with psql reading it from stdin (statements outside a transaction, such as
/// CREATE DATABASE, one after another); asserts success.
fn psql_script(c: &Cluster, db: &str, script: &str) {
    use std::io::Write;
    let mut child = c
        .tool("psql", db)
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-f", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(script.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// oid and COMMENT of database `name` ("" when it does not exist).
fn identity(c: &Cluster, name: &str) -> String {
    c.psql(
        "postgres",
        &format!("SELECT oid || ' ' || coalesce(shobj_description(oid, 'pg_database'), '') FROM pg_database WHERE datname = '{name}'"),
    )
    .trim()
    .to_string()
}

/// Two restores of one backup in one second used to get the same default name, and the second
/// dropped the first (it carries lastgood's mark). Databases already holding the default names
/// of the next 20 seconds, and their `_2`, marked as lastgood's: the restore takes `_3` and every
/// one of them is still the same database (same oid).
#[test]
fn a_default_scratch_name_is_always_free_and_never_replaces_a_marked_database() {
    let c = cluster_or_skip!();
    let dir = tempdir();
    let repo = shop_and_repo(&c, dir.path());
    let (rs, live) = (repo.to_str().unwrap(), c.url("shop"));
    let plan = json(dir.path(), &["restore", "--repo", rs, "--backup", "latest", "--live", &live, "--dry-run"]);
    let name = plan["target_database"].as_str().unwrap().to_string();
    let (base, stamp) = name.rsplit_once('_').unwrap();
    let at = chrono::NaiveDateTime::parse_from_str(stamp, "%Y%m%d%H%M%S").unwrap();
    let taken: Vec<String> = (0..20)
        .flat_map(|k| {
            let n = format!("{base}_{}", (at + chrono::TimeDelta::seconds(k)).format("%Y%m%d%H%M%S"));
            [n.clone(), format!("{n}_2")]
        })
        .collect();
    let script: String = taken
        .iter()
        .map(|n| {
            format!(
                "CREATE DATABASE \"{n}\";\nCOMMENT ON DATABASE \"{n}\" IS 'lastgood scratch: an earlier restore';\n"
            )
        })
        .collect();
    psql_script(&c, "postgres", &script);
    let before: Vec<String> = taken.iter().map(|n| identity(&c, n)).collect();

    let v = json(dir.path(), &["restore", "--repo", rs, "--backup", "latest", "--live", &live]);
    let got = v["target_database"].as_str().unwrap();
    let first = got.strip_suffix("_3").unwrap_or_else(|| panic!("not a `_3` name: {got}"));
    assert!(taken.iter().any(|n| n == first), "{got} is outside the 20 s window the test prepared");
    assert_eq!(c.psql(got, "SELECT count(*) FROM items").trim(), "20");
    let after: Vec<String> = taken.iter().map(|n| identity(&c, n)).collect();
    assert_eq!(after, before, "every database already there is the same database");
}

/// `--into NAME` and `--scratch-url URL` naming a database that exists — even a scratch database
/// lastgood made — replace it only with `--force` (exit 5 otherwise, nothing touched), as a
/// SQLite restore never replaces an existing file without it.
#[test]
fn an_existing_database_named_with_into_or_scratch_url_is_replaced_only_with_force() {
    let c = cluster_or_skip!();
    let dir = tempdir();
    let repo = shop_and_repo(&c, dir.path());
    let (rs, live) = (repo.to_str().unwrap(), c.url("shop"));
    json(dir.path(), &["restore", "--repo", rs, "--backup", "latest", "--live", &live, "--into", "kept"]);
    assert!(identity(&c, "kept").contains("lastgood scratch"), "{}", identity(&c, "kept"));
    c.psql("kept", "CREATE TABLE notes(t text); INSERT INTO notes VALUES ('work in progress');");
    let was = identity(&c, "kept");
    let url = c.url("kept");
    for target in [&["--live", &live, "--into", "kept"][..], &["--scratch-url", &url][..]] {
        let mut args = vec!["restore", "--repo", rs, "--backup", "latest"];
        args.extend_from_slice(target);
        let (code, _, err) = run(dir.path(), &args);
        assert_eq!(code, 5, "{err}");
        assert!(err.contains("`kept` already exists") && err.contains("--force"), "{err}");
        assert_eq!(identity(&c, "kept"), was, "{target:?}: not replaced");
        assert_eq!(c.psql("kept", "SELECT t FROM notes").trim(), "work in progress");
    }
    // With --force: replaced by the backup, and still a scratch database.
    json(dir.path(), &["restore", "--repo", rs, "--backup", "latest", "--live", &live, "--into", "kept", "--force"]);
    assert_ne!(identity(&c, "kept"), was);
    assert!(identity(&c, "kept").contains("lastgood scratch"), "{}", identity(&c, "kept"));
    assert_eq!(c.psql("kept", "SELECT count(*) FROM pg_class WHERE relname = 'notes'").trim(), "0");
    assert_eq!(c.psql("kept", "SELECT count(*) FROM items").trim(), "20");
}

/// `history --scratch-url` over a repository holding a plain dump (which cannot be restored one
/// table at a time) used to fail outright (exit 3). That backup is now listed as `cannot tell`
/// with the reason, and the archives around it are digested, changes marked between them.
#[test]
fn history_lists_a_plain_dump_as_cannot_tell_and_digests_the_other_backups() {
    let c = cluster_or_skip!();
    let dir = tempdir();
    let repo = shop_and_repo(&c, dir.path());
    std::thread::sleep(std::time::Duration::from_millis(1100));
    c.psql("shop", "UPDATE items SET name = 'changed' WHERE id = 3");
    c.pg_dump("shop", &["-Fp"], &repo.join("shop-plain.sql"));
    std::thread::sleep(std::time::Duration::from_millis(1100));
    c.psql("shop", "UPDATE items SET name = 'changed again' WHERE id = 4");
    c.pg_dump("shop", &["-Fc"], &repo.join("shop-later.dump"));
    let rs = repo.to_str().unwrap();
    let server = c.url("postgres");
    let h =
        json(dir.path(), &["history", "--repo", rs, "--table", "items", "--column", "name", "--scratch-url", &server]);
    let entries = h["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 3, "{h:#}");
    let plain = &entries[1];
    let note = plain["note"].as_str().unwrap_or_default();
    assert!(note.starts_with("cannot tell: ") && note.contains("plain SQL dump"), "{plain:#}");
    assert_eq!(plain["table_digest"], serde_json::Value::Null);
    for e in [&entries[0], &entries[2]] {
        assert_eq!(e["rows"], 20, "{e:#}");
        assert!(e["note"].is_null(), "{e:#}");
    }
    assert_eq!(entries[2]["column_changed"], true, "compared with the archive before the plain dump");
    assert_eq!(h["changes"], 1);
    let (code, text, err) = run(dir.path(), &["history", "--repo", rs, "--table", "items", "--scratch-url", &server]);
    assert_eq!(code, 0, "{err}");
    assert!(text.contains("cannot tell: "), "{text}");
    assert_eq!(c.psql("postgres", "SELECT count(*) FROM pg_database WHERE datname LIKE 'lastgood%'").trim(), "0");
}

/// The dry run of a PostgreSQL promote of a partial scratch (refused, exit 5) used to print "add
/// --yes to promote" first. It says it would be refused and why, human and `--json`; the same
/// for a scratch in use.
#[test]
fn dry_run_of_a_refused_pg_promote_says_it_would_be_refused_and_why() {
    let c = cluster_or_skip!();
    let dir = tempdir();
    let repo = shop_and_repo(&c, dir.path());
    c.psql("shop", "CREATE TABLE orders(id int PRIMARY KEY)");
    c.pg_dump("shop", &["-Fc"], &repo.join("shop.dump"));
    let (rs, live) = (repo.to_str().unwrap(), c.url("shop"));
    let v = json(
        dir.path(),
        &["restore", "--repo", rs, "--backup", "latest", "--tables", "items", "--live", &live, "--into", "part"],
    );
    assert_eq!(v["target_database"], "part");
    let scratch = c.url("part");
    let dry = ["promote", "--scratch", scratch.as_str(), "--live", live.as_str()];
    let (code, text, _) = run(dir.path(), &dry);
    assert_eq!(code, 5);
    assert!(!text.contains("add --yes"), "{text}");
    let last = text.lines().last().unwrap();
    assert!(
        last.starts_with("nothing written; --yes would be refused: ") && last.contains("table `public.orders`"),
        "{text}"
    );
    let mut as_json = vec!["--json"];
    as_json.extend(dry);
    let (code, out, _) = run(dir.path(), &as_json);
    assert_eq!(code, 5);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(v["would_refuse"]["reason"].as_str().unwrap().contains("public.orders"), "{v:#}");
    assert!(v["would_refuse"]["hint"].as_str().unwrap().contains("--allow-missing public.orders"), "{v:#}");

    // Allowed: it would go; with a session on scratch it would be refused for that instead.
    let mut allowed = dry.to_vec();
    allowed.extend(["--allow-missing", "public.orders"]);
    let v = json(dir.path(), &allowed);
    assert!(v["would_refuse"].is_null(), "{v:#}");
    let mut session = std::process::Command::new(c.bin.join("psql"))
        .args(["-X", "-q", "-d", &c.url("part"), "-c", "SELECT pg_sleep(30)"])
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while c.psql("postgres", "SELECT count(*) FROM pg_stat_activity WHERE datname = 'part'").trim() == "0" {
        assert!(std::time::Instant::now() < deadline, "the session never connected");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let (code, text, _) = run(dir.path(), &allowed);
    session.kill().unwrap();
    let _ = session.wait();
    assert_eq!(code, 5, "{text}");
    assert!(text.lines().last().unwrap().contains("--yes would be refused: 1 other session(s)"), "{text}");
    assert_eq!(c.psql("shop", "SELECT count(*) FROM orders").trim(), "0", "live untouched");
}

/// `diff --json ARGS` (exit 0 or 1): the summary line of its one table, and every change line.
fn diff_summary(cwd: &Path, args: &[&str]) -> (serde_json::Value, Vec<serde_json::Value>) {
    let mut all = vec!["--json", "diff", "--rows"];
    all.extend_from_slice(args);
    let (code, out, err) = run(cwd, &all);
    assert!(code == 0 || code == 1, "{err}");
    let lines: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let summary = lines.iter().find(|l| l["type"] == "summary").unwrap_or_else(|| panic!("{out}")).clone();
    (summary, lines.into_iter().filter(|l| l["type"] == "change").collect())
}

/// `id|name` of `ONLY table`'s own rows, in key order.
fn own_rows(c: &Cluster, db: &str, table: &str) -> String {
    c.psql(db, &format!("SELECT string_agg(id || '|' || name, ',' ORDER BY id) FROM ONLY {table}")).trim().to_string()
}

/// An inheritance parent used to be read without ONLY: `diff`/`merge` of `animals` also saw the
/// rows of its child `dogs` (a table of its own, listed apart), so a merge into the parent
/// rewrote a dog. Every table now means its own rows — read, counted and written with ONLY — in
/// diff, merge, history and restore's row counts; a partitioned table still means its
/// partitions' rows, and a merge's safety snapshot of it holds them.
#[test]
fn diff_and_merge_of_an_inheritance_parent_touch_only_its_own_rows() {
    let c = cluster_or_skip!();
    c.create_db("zoo");
    c.psql(
        "zoo",
        "CREATE TABLE animals(id int PRIMARY KEY, name text NOT NULL);
         CREATE TABLE dogs(breed text, PRIMARY KEY (id)) INHERITS (animals);
         INSERT INTO animals VALUES (1, 'cat'), (2, 'cow');
         INSERT INTO dogs VALUES (1, 'rex', 'lab'), (3, 'fido', 'pug');
         CREATE TABLE m(id int PRIMARY KEY, name text NOT NULL) PARTITION BY RANGE (id);
         CREATE TABLE m1 PARTITION OF m FOR VALUES FROM (0) TO (100);
         CREATE TABLE m2 PARTITION OF m FOR VALUES FROM (100) TO (200);
         INSERT INTO m VALUES (5, 'five'), (150, 'one fifty');",
    );
    let dir = tempdir();
    let repo = dir.path().join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    c.pg_dump("zoo", &["-Fc"], &repo.join("zoo.dump"));
    let (rs, live) = (repo.to_str().unwrap(), c.url("zoo"));
    let v = json(dir.path(), &["restore", "--repo", rs, "--backup", "latest", "--live", &live, "--into", "s"]);
    let rows_of = |name: &str| {
        v["tables_restored"].as_array().unwrap().iter().find(|t| t["name"] == name).unwrap()["rows"].clone()
    };
    assert_eq!((rows_of("public.animals"), rows_of("public.dogs")), (2.into(), 2.into()), "{v:#}");
    assert_eq!(rows_of("public.m"), 2, "a partitioned table counts its partitions' rows");
    let scratch = c.url("s");
    let h = json(dir.path(), &["history", "--repo", rs, "--table", "animals", "--scratch-url", &c.url("postgres")]);
    assert_eq!(h["entries"][0]["rows"], 2, "{h:#}");

    // After the backup: a parent's own rows change, a dog changes, a partitioned row changes.
    c.psql(
        "zoo",
        "UPDATE ONLY animals SET name = 'CAT' WHERE id = 1; DELETE FROM ONLY animals WHERE id = 2;
         INSERT INTO animals VALUES (4, 'owl'); UPDATE dogs SET name = 'REX' WHERE id = 1;
         UPDATE m SET name = 'bad' WHERE id IN (5, 150);",
    );
    let (d, changes) = diff_summary(dir.path(), &["--scratch", &scratch, "--live", &live, "--tables", "animals"]);
    assert_eq!((&d["updated"], &d["deleted"], &d["inserted"]), (&1.into(), &1.into(), &1.into()), "{d:#}");
    assert_eq!((&d["scratch_rows"], &d["live_rows"]), (&2.into(), &2.into()), "{d:#}");
    let s = format!("{changes:?}");
    assert!(!s.contains("rex") && !s.contains("REX") && !s.contains("fido"), "a dog in the parent's diff: {s}");

    let all = "updated,deleted,inserted";
    let args = ["merge", "--scratch", &scratch, "--live", &live, "--tables", "animals", "--restore", all, "--apply"];
    let r = json(dir.path(), &args);
    assert_eq!(r["applied"], 3, "{r:#}");
    assert_eq!(own_rows(&c, "zoo", "animals"), "1|cat,2|cow");
    assert_eq!(own_rows(&c, "zoo", "dogs"), "1|REX,3|fido", "the child's rows are not the parent's to merge");
    let (code, _, err) = run(dir.path(), &["diff", "--scratch", &scratch, "--live", &live, "--tables", "animals"]);
    assert_eq!(code, 0, "{err}");
    let (d, _) = diff_summary(dir.path(), &["--scratch", &scratch, "--live", &live, "--tables", "dogs"]);
    assert_eq!(d["updated"], 1, "{d:#}");
    let args = ["merge", "--scratch", &scratch, "--live", &live, "--tables", "dogs", "--restore", "updated", "--apply"];
    json(dir.path(), &args);
    assert_eq!(own_rows(&c, "zoo", "dogs"), "1|rex,3|fido");
    assert_eq!(own_rows(&c, "zoo", "animals"), "1|cat,2|cow");

    // The partitioned table: its rows are its partitions', merged through it; the safety
    // snapshot holds them.
    let (d, _) = diff_summary(dir.path(), &["--scratch", &scratch, "--live", &live, "--tables", "m"]);
    assert_eq!(d["updated"], 2, "{d:#}");
    let args = ["merge", "--scratch", &scratch, "--live", &live, "--tables", "m", "--restore", "updated", "--apply"];
    let r = json(dir.path(), &args);
    assert_eq!(c.psql("zoo", "SELECT string_agg(name, ',' ORDER BY id) FROM m").trim(), "five,one fifty");
    let snapshot = r["snapshot"].as_str().unwrap();
    let out =
        std::process::Command::new(c.bin.join("pg_restore")).args(["-l", snapshot]).current_dir(dir.path()).output();
    let out = out.unwrap();
    assert!(out.status.success(), "{snapshot}: {}", String::from_utf8_lossy(&out.stderr));
    let toc = String::from_utf8_lossy(&out.stdout);
    for part in ["TABLE DATA public m1", "TABLE DATA public m2"] {
        assert!(toc.contains(part), "the safety snapshot lacks {part}: {toc}");
    }
}

/// Replaces the first occurrence of `from` in `file` by `to` (same length), keeping its size and
/// mtime, so that the catalog keeps its cached facts and only a re-read notices.
fn rewrite_keeping_stamp(file: &Path, from: &[u8], to: &[u8]) {
    assert_eq!(from.len(), to.len());
    let mut bytes = std::fs::read(file).unwrap();
    let at = bytes.windows(from.len()).position(|w| w == from).unwrap_or_else(|| panic!("no {from:?}"));
    bytes[at..at + to.len()].copy_from_slice(to);
    replace_keeping_stamp(file, &bytes);
}

/// PostgreSQL restore used to read only the primary copy, unchecked: a plain dump edited since
/// it was catalogued (same size and mtime) restored its altered rows silently, although a `.gz`
/// of the same content was healthy. Restore now reads the first copy whose bytes verify (here
/// the `.gz`, decompressed as that copy needs), says which it passed over and why, and `--backup
/// PATH` reads exactly that copy; a custom archive damaged in one of two repositories the same.
#[test]
fn pg_restore_reads_the_first_copy_whose_bytes_verify_and_backup_path_reads_that_copy() {
    let c = cluster_or_skip!();
    let dir = tempdir();
    let d = dir.path();
    c.create_db("shop");
    c.psql("shop", "CREATE TABLE items(id int PRIMARY KEY, name text); INSERT INTO items SELECT x, 'item ' || x FROM generate_series(1, 20) x;");
    let (r1, r2) = (d.join("r1"), d.join("r2"));
    std::fs::create_dir_all(&r1).unwrap();
    std::fs::create_dir_all(&r2).unwrap();
    let plain = r1.join("shop.sql");
    c.pg_dump("shop", &["-Fp"], &plain);
    let gz = r2.join("shop.sql.gz");
    gzip(&plain, &gz);
    let (s1, s2) = (r1.to_str().unwrap(), r2.to_str().unwrap());
    let live = c.url("shop");
    let cat = json(d, &["catalog", "--repo", s1, "--repo", s2]);
    let paths: Vec<&str> =
        cat["backups"][0]["copies"].as_array().unwrap().iter().map(|c| c["path"].as_str().unwrap()).collect();
    assert_eq!(paths, [plain.to_str().unwrap(), gz.to_str().unwrap()], "one backup, the plain dump first");
    let restore = |backup: &str, into: &str| {
        json(d, &["restore", "--repo", s1, "--repo", s2, "--backup", backup, "--live", &live, "--into", into])
    };
    let names =
        |db: &str| c.psql(db, "SELECT string_agg(name, ',' ORDER BY id) FROM items WHERE id <= 3").trim().to_string();

    // --backup naming the .gz reads the .gz.
    let r = restore(gz.to_str().unwrap(), "from_gz");
    assert_eq!(r["backup_path"], gz.to_str().unwrap(), "{r:#}");
    assert_eq!(names("from_gz"), "item 1,item 2,item 3");

    // The plain dump edited since it was catalogued: the restore reads the .gz and says so.
    rewrite_keeping_stamp(&plain, b"item 2\n", b"EVIL 2\n");
    let r = restore("latest", "fallback");
    assert_eq!(r["backup_path"], gz.to_str().unwrap(), "{r:#}");
    let passed = r["passed_over_copies"].as_array().unwrap();
    assert_eq!(passed.len(), 1, "{r:#}");
    assert_eq!(passed[0]["path"], plain.to_str().unwrap());
    assert!(passed[0]["reason"].as_str().unwrap().contains("changed since it was catalogued"), "{r:#}");
    assert_eq!(names("fallback"), "item 1,item 2,item 3", "never the edited rows");
    let (code, text, err) =
        run(d, &["restore", "--repo", s1, "--repo", s2, "--backup", "latest", "--live", &live, "--into", "human"]);
    assert_eq!(code, 0, "{err}");
    assert!(text.contains("passed over copy `") && text.contains(&format!("read copy `{}`", gz.display())), "{text}");
    // --backup naming the edited copy reads that copy only: refused, no database left.
    let (code, _, err) = run(
        d,
        &["restore", "--repo", s1, "--repo", s2, "--backup", plain.to_str().unwrap(), "--live", &live, "--into", "bad"],
    );
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("changed since it was catalogued"), "{err}");
    assert_eq!(identity(&c, "bad"), "");

    // A custom archive in two repositories, the first copy damaged: read from the second.
    let (r3, r4) = (d.join("r3"), d.join("r4"));
    std::fs::create_dir_all(&r3).unwrap();
    std::fs::create_dir_all(&r4).unwrap();
    c.pg_dump("shop", &["-Fc", "-Z0"], &r3.join("shop.dump"));
    std::fs::copy(r3.join("shop.dump"), r4.join("shop.dump")).unwrap();
    let (s3, s4) = (r3.to_str().unwrap(), r4.to_str().unwrap());
    json(d, &["catalog", "--repo", s3, "--repo", s4]);
    rewrite_keeping_stamp(&r3.join("shop.dump"), b"item 2\n", b"EVIL 2\n");
    let r =
        json(d, &["restore", "--repo", s3, "--repo", s4, "--backup", "latest", "--live", &live, "--into", "custom"]);
    assert_eq!(r["backup_path"], r4.join("shop.dump").to_str().unwrap(), "{r:#}");
    assert_eq!(r["passed_over_copies"][0]["path"], r3.join("shop.dump").to_str().unwrap(), "{r:#}");
    assert_eq!(names("custom"), "item 1,item 2,item 3");
}

/// Every partition has its own ctids: `(0,1)` is the first row of each. A row of a partitioned
/// table without a key was addressed by ctid alone, so `diff --sql` printed a DELETE that also
/// removed another partition's first row, and `merge` refused (it removed 2 rows). Rows are now
/// addressed by partition and ctid: the patch and the merge both bring live to scratch exactly.
#[test]
fn a_row_of_a_partitioned_table_without_a_key_is_removed_in_its_own_partition_only() {
    let c = cluster_or_skip!();
    c.create_db("shop");
    c.psql(
        "shop",
        "CREATE TABLE k(a int, v text) PARTITION BY RANGE (a);
         CREATE TABLE k1 PARTITION OF k FOR VALUES FROM (0) TO (10);
         CREATE TABLE k2 PARTITION OF k FOR VALUES FROM (10) TO (20);
         INSERT INTO k VALUES (1, 'x'), (11, 'y');",
    );
    let dir = tempdir();
    let d = dir.path();
    let repo = d.join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    c.pg_dump("shop", &["-Fc"], &repo.join("shop.dump"));
    let rs = repo.to_str().unwrap();
    json(d, &["restore", "--repo", rs, "--backup", "latest", "--live", &c.url("shop"), "--into", "s"]);
    // A second copy of (1, 'x') since: the first copy sits at (0,1) of k1, as (11, 'y') of k2.
    c.psql("shop", "INSERT INTO k VALUES (1, 'x')");
    let all = |db: &str| c.psql(db, "SELECT string_agg(a || v, ',' ORDER BY a, v) FROM k").trim().to_string();
    assert_eq!(all("s"), "1x,11y");
    for copy in ["patched", "merged"] {
        c.psql("postgres", &format!("CREATE DATABASE {copy} TEMPLATE shop"));
    }
    let (code, patch, err) = run(d, &["diff", "--sql", "--scratch", &c.url("s"), "--live", &c.url("patched")]);
    assert_eq!(code, 1, "{err}");
    psql_script(&c, "patched", &patch);
    assert_eq!(all("patched"), "1x,11y", "the patch removed a row of another partition:\n{patch}");
    let args = ["merge", "--scratch", &c.url("s"), "--live", &c.url("merged"), "--restore", "inserted", "--apply"];
    let r = json(d, &args);
    assert_eq!(r["applied"], 1, "{r:#}");
    assert_eq!(all("merged"), "1x,11y");
}
