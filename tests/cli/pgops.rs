//! PostgreSQL operations over pg_dump archives: `backup --live postgres://…`, drills, bisect and
//! history. Every test starts its own throwaway cluster (`pgcluster.rs`); archives are made by
//! lastgood's own backup (pg_dump -Fc) or the real pg_dump, and every test asserts that no scratch
//! database is left on the server afterwards.

use std::path::{Path, PathBuf};

use quick_junit::Report;
use sha2::{Digest, Sha256};

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

fn scratch_dbs(c: &Cluster) -> String {
    c.psql("postgres", "SELECT string_agg(datname, ',') FROM pg_database WHERE datname LIKE 'lastgood%'")
        .trim()
        .to_string()
}

fn repo(dir: &Path, name: &str) -> PathBuf {
    let r = dir.join(name);
    std::fs::create_dir_all(&r).unwrap();
    r
}

fn sha256_hex(p: &Path) -> String {
    hex::encode(Sha256::digest(std::fs::read(p).unwrap()))
}

fn make_shop(c: &Cluster, orders: i64) {
    c.create_db("shop");
    c.psql(
        "shop",
        &format!(
            "CREATE TABLE orders(id int PRIMARY KEY, amount numeric(10,2) NOT NULL); \
             CREATE TABLE downloads(id int PRIMARY KEY, filename text NOT NULL); \
             INSERT INTO orders SELECT x, x * 1.5 FROM generate_series(1, {orders}) x; \
             INSERT INTO downloads SELECT x, 'file-' || x || '.zip' FROM generate_series(1, 40) x;"
        ),
    );
}

/// `lastgood backup` of the PostgreSQL live into `repos`; asserts success.
fn backup(cwd: &Path, live: &str, repos: &[&Path]) -> serde_json::Value {
    let mut args = vec!["backup", "--live", live];
    for r in repos {
        args.extend(["--repo", r.to_str().unwrap()]);
    }
    json(cwd, &args)
}

#[test]
fn backup_of_a_postgres_live_is_checksummed_into_two_repositories_with_a_manifest() {
    let c = cluster_or_skip!();
    make_shop(&c, 250);
    c.add_password_user("alice", "s3cret-pw");
    let dir = tempdir();
    let (r1, r2) = (repo(dir.path(), "main"), repo(dir.path(), "offsite"));
    let live = format!("postgres://alice:s3cret-pw@127.0.0.1:{}/shop", c.port);
    let out = lastgood(dir.path())
        .args(["--json", "backup", "--live", &live, "--repo", r1.to_str().unwrap(), "--repo", r2.to_str().unwrap()])
        .output()
        .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{stderr}");
    assert!(!stdout.contains("s3cret") && !stderr.contains("s3cret"), "{stdout}{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let file = report["file"].as_str().unwrap().to_string();
    assert!(file.starts_with("shop-") && file.ends_with(".dump"), "{file}");
    let mut manifests = Vec::new();
    for r in [&r1, &r2] {
        let copy = r.join(&file);
        assert_eq!(&std::fs::read(&copy).unwrap()[..5], b"PGDMP", "a custom-format archive");
        assert_eq!(sha256_hex(&copy), report["sha256"].as_str().unwrap());
        let text = std::fs::read_to_string(r.join(format!("{file}.lastgood.json"))).unwrap();
        assert!(!text.contains("s3cret"), "{text}");
        let m: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(m["engine"], "postgres");
        assert_eq!(m["sha256"], report["sha256"]);
        assert!(m["source"].as_str().unwrap().starts_with("postgres://alice:***@127.0.0.1:"), "{m:#}");
        let rows = |t: &str| m["tables"].as_array().unwrap().iter().find(|x| x["name"] == t).unwrap()["rows"].clone();
        assert_eq!(rows("public.orders"), 250);
        assert_eq!(rows("public.downloads"), 40);
        assert!(files_in(r).iter().all(|f| !f.starts_with(".lastgood-tmp")), "{:?}", files_in(r));
        manifests.push(m);
    }
    assert_eq!(manifests[0], manifests[1]);

    // The catalog lists it once, with two copies, taken at the time the archive records, which
    // is what the manifest says too.
    let cat = json(dir.path(), &["catalog", "--repo", r1.to_str().unwrap(), "--repo", r2.to_str().unwrap()]);
    let backups = cat["backups"].as_array().unwrap();
    assert_eq!(backups.len(), 1, "{cat:#}");
    let b = &backups[0];
    assert_eq!(b["copies"].as_array().unwrap().len(), 2, "{b:#}");
    assert_eq!(b["format"], "pg-custom", "{b:#}");
    assert_eq!(b["taken_at_source"], "archive", "{b:#}");
    let taken = |v: &serde_json::Value| chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap()).unwrap();
    assert_eq!(taken(&b["taken_at"]), taken(&manifests[0]["taken_at"]));
    assert!(b["problem"].is_null(), "{b:#}");

    // Compression on top of a custom archive is refused before anything runs.
    let (code, _, err) =
        run(dir.path(), &["backup", "--live", &c.url("shop"), "--repo", r1.to_str().unwrap(), "--compress", "gzip"]);
    assert_eq!(code, 2, "{err}");
    // A database that does not exist: one clear error, nothing stored.
    let (code, _, err) = run(dir.path(), &["backup", "--live", &c.url("nosuch"), "--repo", r1.to_str().unwrap()]);
    assert_eq!(code, 3, "{err}");
    assert_eq!(files_in(&r1).iter().filter(|f| f.ends_with(".dump")).count(), 1);

    // A SQLite scratch against a PostgreSQL live: refused, naming both sides.
    let sqlite_scratch = dir.path().join("scratch.db");
    sqlite3(&sqlite_scratch, "CREATE TABLE orders(id INTEGER PRIMARY KEY, amount REAL);");
    let live_url = c.url("shop");
    for extra in [&["diff"][..], &["merge", "--restore", "updated"][..]] {
        let args = [extra, &["--scratch", sqlite_scratch.to_str().unwrap(), "--live", &live_url][..]].concat();
        let line = fails(dir.path(), &args, 3);
        assert!(line.contains("SQLite") && line.contains("PostgreSQL") && line.contains("scratch.db"), "{line}");
    }
}

fn drill(cwd: &Path, args: &[&str]) -> (i32, serde_json::Value) {
    let (code, out, err) = run(cwd, &[&["--json", "drill"], args].concat());
    let v = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}{err}"));
    (code, v)
}

fn failed_checks(v: &serde_json::Value) -> Vec<String> {
    v["databases"][0]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["ok"] == false)
        .map(|c| format!("{}: {}", c["name"].as_str().unwrap(), c["message"].as_str().unwrap()))
        .collect()
}

#[test]
fn drill_on_postgres_archives_passes_fails_on_a_truncated_newest_and_leaves_no_scratch() {
    let c = cluster_or_skip!();
    make_shop(&c, 300);
    let dir = tempdir();
    let r = repo(dir.path(), "repo");
    backup(dir.path(), &c.url("shop"), &[&r]);
    let junit = dir.path().join("drill.xml");
    let (code, v) = drill(
        dir.path(),
        &[
            "--repo",
            r.to_str().unwrap(),
            "--scratch-url",
            &c.url("postgres"),
            "--max-age",
            "1h",
            "--min-rows",
            "orders=300",
            "--check",
            "SELECT sum(amount) = 67725 FROM orders;",
            "--check",
            "SELECT sum(amount) FROM orders",
            "--junit",
            junit.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{:?}", failed_checks(&v));
    assert!(v["databases"][0]["rto_seconds"].as_f64().unwrap() > 0.0);
    let report = Report::deserialize_from_str(&std::fs::read_to_string(&junit).unwrap()).expect("valid JUnit XML");
    let names: Vec<String> = report.test_suites[0].test_cases.iter().map(|c| c.name.to_string()).collect();
    for expected in
        ["newest backup", "restore", "integrity_check", "min_rows orders", "check 1", "check 2", "drop scratch"]
    {
        assert!(names.iter().any(|n| n == expected), "{expected} missing from {names:?}");
    }
    assert_eq!(report.failures, 0);
    assert_eq!(scratch_dbs(&c), "", "the drill dropped its scratch database");

    // A failing assertion fails the drill, and the scratch database is gone all the same.
    let (code, v) = drill(
        dir.path(),
        &[
            "--repo",
            r.to_str().unwrap(),
            "--scratch-url",
            &c.url("postgres"),
            "--check",
            "SELECT count(*) = 0 FROM orders",
        ],
    );
    assert_eq!(code, 1);
    assert!(failed_checks(&v).iter().any(|f| f.starts_with("check 1: assertion is false")), "{:?}", failed_checks(&v));
    assert_eq!(scratch_dbs(&c), "");

    // A newer backup, cut short: the drill fails naming it (config file with `server`).
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let newest = backup(dir.path(), &c.url("shop"), &[&r]);
    let file = r.join(newest["file"].as_str().unwrap());
    let bytes = std::fs::read(&file).unwrap();
    std::fs::write(&file, &bytes[..bytes.len() * 2 / 3]).unwrap();
    let cfg = dir.path().join("drill.toml");
    std::fs::write(
        &cfg,
        format!(
            "[[database]]\nname = \"shop\"\nrepos = [\"repo\"]\nserver = \"{}\"\nmin_rows = {{ orders = 300 }}\n",
            c.url("postgres")
        ),
    )
    .unwrap();
    let junit = dir.path().join("fail.xml");
    let (code, v) = drill(dir.path(), &["--config", cfg.to_str().unwrap(), "--junit", junit.to_str().unwrap()]);
    assert_eq!(code, 1);
    let failed = failed_checks(&v);
    let name = file.file_name().unwrap().to_str().unwrap();
    assert!(failed.iter().any(|f| f.starts_with("restore:") && f.contains("truncated")), "{failed:?}");
    assert!(failed.iter().any(|f| f.contains(name)), "{failed:?}");
    assert!(failed.iter().any(|f| f.starts_with("min_rows orders: not run")), "{failed:?}");
    let xml = std::fs::read_to_string(&junit).unwrap();
    let id = v["databases"][0]["backup_id"].as_str().unwrap();
    assert!(xml.contains(&format!("backup {id}: restore")), "{xml}");
    assert_eq!(scratch_dbs(&c), "", "nothing left after the failed drill");

    // Without a server for the scratch database the restore check fails and says what is missing.
    std::fs::remove_file(&file).unwrap();
    let (code, v) = drill(dir.path(), &["--repo", r.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(
        failed_checks(&v).iter().any(|f| f.starts_with("restore:") && f.contains("needs a server")),
        "{:?}",
        failed_checks(&v)
    );
    assert_eq!(scratch_dbs(&c), "");
}

/// Six archives by the real pg_dump, one per second (archive times have whole seconds); the
/// downloads go bad after the second one, orders change all along.
fn six_archives_bad_from_the_third(c: &Cluster, repo: &Path) {
    for i in 1..=6 {
        if i == 3 {
            c.psql("shop", "UPDATE downloads SET filename = 'bad.zip'");
        }
        c.psql("shop", &format!("INSERT INTO orders VALUES ({}, 1)", 10_000 + i));
        c.pg_dump("shop", &["-Fc"], &repo.join(format!("shop-{i}.dump")));
        std::thread::sleep(std::time::Duration::from_millis(1050));
    }
}

#[test]
fn bisect_and_history_over_pg_dump_archives_find_the_last_good_and_leave_no_scratch() {
    let c = cluster_or_skip!();
    make_shop(&c, 100);
    let dir = tempdir();
    let r = repo(dir.path(), "repo");
    six_archives_bad_from_the_third(&c, &r);
    let rs = r.to_str().unwrap();
    let cat = json(dir.path(), &["catalog", "--repo", rs]);
    let ids: Vec<String> =
        cat["backups"].as_array().unwrap().iter().map(|b| b["id"].as_str().unwrap().to_string()).collect();
    let paths: Vec<String> = cat["backups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["copies"][0]["path"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 6);
    assert!(paths[1].ends_with("shop-2.dump"), "{paths:?}");

    // `~` is PostgreSQL's regex match: the check runs on the archive's engine, not SQLite's parser.
    let check = "SELECT count(*) = 0 FROM downloads WHERE filename ~ '^bad'";
    let args = ["bisect", "--repo", rs, "--check", check, "--tables", "downloads", "--scratch-url", &c.url("postgres")];
    let v = json(dir.path(), &args);
    assert_eq!(v["last_known_good"]["id"], ids[1].as_str(), "{v:#}");
    assert_eq!(v["first_bad"]["id"], ids[2].as_str(), "{v:#}");
    assert!(v["checks_run"].as_u64().unwrap() <= 3, "{v:#}");
    assert_eq!(scratch_dbs(&c), "", "every probe dropped its scratch database");
    // The LKG is recorded by archive checksum: the catalog marks it.
    let cat = json(dir.path(), &["catalog", "--repo", rs]);
    let marked: Vec<&serde_json::Value> =
        cat["backups"].as_array().unwrap().iter().filter(|b| b["last_known_good"] == true).collect();
    assert_eq!(marked.len(), 1, "{cat:#}");
    assert_eq!(marked[0]["id"], ids[1].as_str());

    // Each probe restores only --tables: a check on another table cannot tell on any archive,
    // which makes it an invalid check (exit 2), naming the table.
    let (code, out, err) = run(
        dir.path(),
        &[
            "--json",
            "bisect",
            "--repo",
            rs,
            "--check",
            "SELECT count(*) > 0 FROM orders",
            "--tables",
            "downloads",
            "--scratch-url",
            &c.url("postgres"),
        ],
    );
    assert_eq!(code, 2, "{err}");
    assert!(out.is_empty() && err.contains("\"orders\" does not exist"), "{err}");
    assert_eq!(scratch_dbs(&c), "");

    // Without a server: usage, before any probe. A check that is not SQL on PostgreSQL: usage.
    let line = fails(dir.path(), &["bisect", "--repo", rs, "--check", check, "--tables", "downloads"], 2);
    assert!(line.contains("pg_dump archive"), "{line}");
    let line = fails(
        dir.path(),
        &["bisect", "--repo", rs, "--check", "SELEKT 1", "--tables", "downloads", "--scratch-url", &c.url("postgres")],
        2,
    );
    assert!(line.contains("syntax error"), "{line}");
    assert_eq!(scratch_dbs(&c), "");

    // History: the filenames change in archive 3 only; orders change in every archive.
    let hist = |table: &str, column: Option<&str>| {
        let mut a = vec!["history", "--repo", rs, "--table", table, "--scratch-url"];
        let url = c.url("postgres");
        a.push(&url);
        if let Some(col) = column {
            a.extend(["--column", col]);
        }
        json(dir.path(), &a)
    };
    let h = hist("downloads", Some("filename"));
    let changed: Vec<serde_json::Value> =
        h["entries"].as_array().unwrap().iter().map(|e| e["column_changed"].clone()).collect();
    assert_eq!(changed, [serde_json::Value::Null, false.into(), true.into(), false.into(), false.into(), false.into()]);
    assert_eq!(h["entries"][0]["rows"], 40);
    assert_eq!(h["changes"], 1);
    assert_eq!(scratch_dbs(&c), "");
    let h = hist("orders", None);
    assert_eq!(h["changes"], 5, "{h:#}");
    assert_eq!(h["entries"][5]["rows"], 106);
    // Digests are cached by archive checksum: the second run restores nothing.
    let h = hist("downloads", Some("filename"));
    assert!(h["entries"].as_array().unwrap().iter().all(|e| e["cached"] == true), "{h:#}");
    assert_eq!(scratch_dbs(&c), "");
}

#[test]
fn bisect_over_a_mixed_catalog_checks_each_backup_with_its_own_engine() {
    let c = cluster_or_skip!();
    make_shop(&c, 10);
    let dir = tempdir();
    let r = repo(dir.path(), "repo");
    // Two older SQLite backups (taken-at from their names), both good.
    let live = dir.path().join("old.db");
    sqlite3(
        &live,
        "CREATE TABLE downloads(id INTEGER PRIMARY KEY, filename TEXT NOT NULL); INSERT INTO downloads VALUES (1, 'a.zip');",
    );
    std::fs::copy(&live, r.join("shop-2020-01-01T00-00-00Z.db")).unwrap();
    sqlite3(&live, "INSERT INTO downloads VALUES (2, 'b.zip');");
    std::fs::copy(&live, r.join("shop-2020-01-02T00-00-00Z.db")).unwrap();
    // Then four pg_dump archives: good, good, bad, bad.
    for i in 1..=4 {
        if i == 3 {
            c.psql("shop", "UPDATE downloads SET filename = 'bad.zip' WHERE id = 1");
        }
        c.pg_dump("shop", &["-Fc"], &r.join(format!("shop-{i}.dump")));
        std::thread::sleep(std::time::Duration::from_millis(1050));
    }
    let rs = r.to_str().unwrap();
    let v = json(
        dir.path(),
        &[
            "bisect",
            "--repo",
            rs,
            "--scan",
            "--check",
            "SELECT count(*) = 0 FROM downloads WHERE filename = 'bad.zip'",
            "--tables",
            "downloads",
            "--scratch-url",
            &c.url("postgres"),
        ],
    );
    let verdicts: Vec<&str> =
        v["evaluations"].as_array().unwrap().iter().map(|e| e["verdict"].as_str().unwrap()).collect();
    assert_eq!(verdicts, ["good", "good", "good", "good", "bad", "bad"], "{v:#}");
    assert!(v["last_known_good"]["path"].as_str().unwrap().ends_with("shop-2.dump"), "{v:#}");
    assert!(v["evaluations"][0]["path"].as_str().unwrap().ends_with(".db"), "{v:#}");
    assert_eq!(scratch_dbs(&c), "");
}

#[test]
fn one_value_answers_alike_on_both_engines() {
    use lastgood::engine::{self, Access, Location, QueryProblem};
    use lastgood::value::Value;
    let c = cluster_or_skip!();
    make_shop(&c, 3);
    let dir = tempdir();
    let file = dir.path().join("shop.db");
    sqlite3(
        &file,
        "CREATE TABLE orders(id INTEGER PRIMARY KEY, amount REAL); INSERT INTO orders VALUES (1, 1.5), (2, 3.0), (3, 4.5);",
    );
    for loc in [Location::Sqlite(file.clone()), Location::Postgres(c.url("shop"))] {
        let mut db = engine::open(&loc, Access::ReadOnly).unwrap();
        let mut one = |sql: &str| db.one_value(sql).unwrap();
        assert_eq!(one("SELECT count(*) FROM orders"), Ok(Value::Integer(3)), "{loc:?}");
        assert_eq!(one("SELECT sum(amount) FROM orders"), Ok(Value::Real(9.0)), "{loc:?}");
        assert_eq!(one("SELECT count(*) = 3 FROM orders"), Ok(Value::Integer(1)), "{loc:?}");
        assert_eq!(one("SELECT 1, 2"), Err(QueryProblem::Columns(2)), "{loc:?}");
        assert_eq!(one("SELECT id FROM orders"), Err(QueryProblem::SeveralRows), "{loc:?}");
        assert_eq!(one("SELECT id FROM orders WHERE id > 10"), Err(QueryProblem::NoRow), "{loc:?}");
        assert!(matches!(one("SELECT count(*) FROM nosuch"), Err(QueryProblem::MissingObject(_))), "{loc:?}");
        assert!(matches!(one("SELECT nosuch FROM orders"), Err(QueryProblem::MissingObject(_))), "{loc:?}");
        assert!(matches!(one("SELEKT 1"), Err(QueryProblem::NotSql(_))), "{loc:?}");
        assert_eq!(one("DELETE FROM orders RETURNING id"), Err(QueryProblem::Writes), "{loc:?}");
    }
    assert_eq!(c.psql("shop", "SELECT count(*) FROM orders").trim(), "3", "nothing was deleted");
    assert_eq!(rows(&file, "orders").len(), 3);
}

#[test]
fn restore_never_writes_into_a_backups_source_and_scratch_drop_never_drops_live() {
    let c = cluster_or_skip!();
    make_shop(&c, 10);
    let dir = tempdir();
    let r = repo(dir.path(), "r");
    let rs = r.to_str().unwrap();
    // The manifest names the source without a port; the restore target spells it out.
    let live = format!("postgres://postgres@127.0.0.1:{}/shop", c.port);
    let live_other_spelling = format!("host=localhost port={} user=postgres dbname=shop", c.port);
    backup(dir.path(), &live, &[&r]);
    c.psql("shop", "INSERT INTO orders VALUES (11, 1)");
    // Without --live, with --force, by either spelling of the source: refused, nothing touched.
    for target in [&live, &live_other_spelling] {
        let err =
            fails(dir.path(), &["restore", "--repo", rs, "--backup", "latest", "--scratch-url", target, "--force"], 5);
        assert!(err.contains("`shop`") && err.contains("live"), "{err}");
        assert_eq!(c.psql("shop", "SELECT count(*) FROM orders").trim(), "11", "live untouched");
    }
    // --into naming live on the source's server: refused as well.
    let err = fails(
        dir.path(),
        &["restore", "--repo", rs, "--backup", "latest", "--scratch-url", &c.url("postgres"), "--into", "shop"],
        5,
    );
    assert!(err.contains("live"), "{err}");
    assert_eq!(
        c.psql(
            "postgres",
            "SELECT coalesce(shobj_description(oid, 'pg_database'), '') FROM pg_database WHERE datname = 'shop'"
        )
        .trim(),
        "",
        "live carries no scratch mark"
    );

    // Even if live carries the mark (as a past bug left it), scratch drop keeps it: by id
    // refused, with --all kept and said so; real scratch databases still go.
    c.psql("postgres", "COMMENT ON DATABASE shop IS 'lastgood scratch: backup x'");
    json(dir.path(), &["restore", "--repo", rs, "--backup", "latest", "--live", &live]);
    let err = fails(dir.path(), &["scratch", "drop", "shop", "--live", &live], 5);
    assert!(err.contains("`shop`") && err.contains("live"), "{err}");
    let (code, out, err) = run(dir.path(), &["scratch", "drop", "--all", "--live", &live]);
    assert_eq!(code, 0, "{err}");
    assert!(out.lines().any(|l| l.starts_with("kept shop: ")), "{out}");
    assert_eq!(out.lines().filter(|l| l.starts_with("dropped lastgood_scratch_")).count(), 1, "{out}");
    assert_eq!(scratch_dbs(&c), "");
    assert_eq!(c.psql("shop", "SELECT count(*) FROM orders").trim(), "11", "live still there");
    // Given another database on the server as --live, shop is still kept as the manifest's source.
    c.create_db("other");
    let dropped = json(dir.path(), &["--repo", rs, "scratch", "drop", "--all", "--live", &c.url("other")]);
    assert_eq!(dropped["dropped"].as_array().unwrap().len(), 0);
    assert_eq!(dropped["kept"][0]["database"], "shop", "{dropped}");
    // Without the repository, nothing says shop is live: it would be dropped; we stop here.
    assert_eq!(c.psql("shop", "SELECT count(*) FROM orders").trim(), "11");
}

fn gzip_bytes(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

/// A plain dump cut before its data (also gzip/zstd-compressed, as whole streams) lacks pg_dump's
/// `dump complete` trailer: the catalog lists it as truncated, verify fails it, the drill fails
/// on it and restore refuses it. Whole plain dumps (also ending in `\unrestrict KEY`, as newer
/// pg_dump writes) still pass.
#[test]
fn a_plain_dump_without_its_dump_complete_trailer_is_truncated_and_fails_verify_drill_and_restore() {
    let c = cluster_or_skip!();
    c.create_db("bb_p");
    c.psql(
        "bb_p",
        "CREATE TABLE customers(id int PRIMARY KEY); INSERT INTO customers SELECT x FROM generate_series(1, 30) x;",
    );
    let dir = tempdir();
    let full = dir.path().join("full.sql");
    c.pg_dump("bb_p", &["-Fp"], &full);
    let text = std::fs::read_to_string(&full).unwrap();
    assert!(text.contains("\n-- PostgreSQL database dump complete\n"), "{text}");
    let before_copy = &text[..text.find("\nCOPY public.customers").unwrap() + 1];
    let mid_copy = &text[..text.find("\n15\n").unwrap() + 1];

    // Truncated, in three repositories: plain text cut before its data, gzip and zstd cut inside.
    let (pr, pz, ok) = (repo(dir.path(), "pr"), repo(dir.path(), "pz"), repo(dir.path(), "ok"));
    std::fs::write(pr.join("bb_p-2026-11-24T07-00-00.sql"), before_copy).unwrap();
    std::fs::write(pz.join("bb_p-2026-11-24T07-00-00.sql.gz"), gzip_bytes(mid_copy.as_bytes())).unwrap();
    std::fs::write(pz.join("bb_p-2026-11-24T08-00-00.sql.zst"), zstd::encode_all(mid_copy.as_bytes(), 3).unwrap())
        .unwrap();
    // Whole: as pg_dump wrote it, gzip-compressed (the newest, which the drill restores), and as
    // newer pg_dump writes it, between `\restrict KEY` and `\unrestrict KEY` (which this psql
    // may not know: only verified).
    std::fs::copy(&full, ok.join("bb_p-2026-11-24T06-00-00.sql")).unwrap();
    std::fs::write(ok.join("bb_p-2026-11-24T06-30-00.sql.gz"), gzip_bytes(text.as_bytes())).unwrap();
    let restricted = text.replacen("--\n\n", "--\n\n\\restrict aBcD3\n\n", 1);
    assert!(restricted.starts_with("--\n-- PostgreSQL database dump\n--\n\n\\restrict aBcD3\n"), "{restricted}");
    std::fs::write(ok.join("bb_p-2026-11-24T05-45-00.sql"), format!("{restricted}\\unrestrict aBcD3\n\n")).unwrap();

    for r in [&pr, &pz] {
        let cat = json(dir.path(), &["catalog", "--repo", r.to_str().unwrap()]);
        for b in cat["backups"].as_array().unwrap() {
            let p = b["problem"].as_str().unwrap_or_else(|| panic!("not flagged: {b:#}"));
            let file = b["copies"][0]["path"].as_str().unwrap();
            assert!(p.contains("is truncated: no `dump complete` trailer") && p.contains(file), "{p}");
        }
        let (code, out, _) = run(dir.path(), &["verify", "--all", "--repo", r.to_str().unwrap()]);
        assert_eq!(code, 1, "{out}");
        assert!(out.lines().filter(|l| l.starts_with("FAILED")).all(|l| l.contains("truncated")), "{out}");
        assert!(out.contains("0 of "), "{out}");
    }
    let cat = json(dir.path(), &["catalog", "--repo", pz.to_str().unwrap()]);
    let zst = cat["backups"].as_array().unwrap().iter().find(|b| b["compression"] == "zstd").unwrap();
    assert!(zst["problem"].as_str().unwrap().contains("the data of table `public.customers` is cut short"), "{zst:#}");

    let (code, v) = drill(dir.path(), &["--repo", pr.to_str().unwrap(), "--scratch-url", &c.url("postgres")]);
    assert_eq!(code, 1, "{v:#}");
    let failed = failed_checks(&v);
    assert!(failed.iter().any(|f| f.starts_with("verify ") && f.contains("truncated")), "{failed:?}");
    assert!(failed.iter().any(|f| f.starts_with("restore: ") && f.contains("truncated")), "{failed:?}");
    let (code, _, err) = run(
        dir.path(),
        &[
            "restore",
            "--repo",
            pr.to_str().unwrap(),
            "--backup",
            "latest",
            "--live",
            &c.url("bb_p"),
            "--into",
            "bb_p_r",
        ],
    );
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("truncated: no `dump complete` trailer"), "{err}");
    assert_eq!(scratch_dbs(&c), "");

    // The whole dumps verify, drill and restore.
    let (code, out, _) = run(dir.path(), &["verify", "--all", "--repo", ok.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("3 of 3 copies verified OK"), "{out}");
    let (code, v) = drill(
        dir.path(),
        &["--repo", ok.to_str().unwrap(), "--scratch-url", &c.url("postgres"), "--min-rows", "customers=30"],
    );
    assert_eq!(code, 0, "{:?}", failed_checks(&v));
    assert_eq!(scratch_dbs(&c), "");
}
