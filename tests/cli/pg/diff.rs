//! PostgreSQL `diff` (and the merges that follow it): tables outside `public` with names that need
//! quoting, time zones, NaN/±Infinity/`-0`, and values larger than a scan's refill.

use super::*;
use crate::cluster_or_skip;

#[test]
fn diff_and_merge_work_on_a_table_outside_public_with_names_that_need_quoting() {
    let c = cluster_or_skip!();
    let schema = r#"CREATE SCHEMA billing;
        CREATE TABLE billing."Order Items"(id int PRIMARY KEY, "select" text NOT NULL, qty int NOT NULL);
        INSERT INTO billing."Order Items" SELECT g, 'item ' || g, g FROM generate_series(1, 100) g;"#;
    for db in ["acct", "acct_scratch"] {
        c.create_db(db);
        c.psql(db, schema);
    }
    // Damage in live: every "select" overwritten, one row deleted, one added.
    c.psql(
        "acct",
        r#"UPDATE billing."Order Items" SET "select" = 'oops'; DELETE FROM billing."Order Items" WHERE id = 7;
           INSERT INTO billing."Order Items" VALUES (101, 'new', 1);"#,
    );
    let dir = tempdir();
    let (live, scratch) = (c.url("acct"), c.url("acct_scratch"));
    let out = lastgood(dir.path())
        .args(["--json", "diff", "--scratch", &scratch, "--live", &live, "--tables", "billing.Order Items"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let summary = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|v| v["type"] == "summary")
        .expect("a summary line");
    assert_eq!(
        (summary["updated"].as_u64(), summary["deleted"].as_u64(), summary["inserted"].as_u64()),
        (Some(99), Some(1), Some(1)),
        "{summary}"
    );

    json(
        dir.path(),
        &[
            "merge",
            "--scratch",
            &scratch,
            "--live",
            &live,
            "--tables",
            "billing.Order Items",
            "--restore",
            "updated,deleted",
            "--columns",
            "select",
            "--apply",
        ],
    );
    assert_eq!(c.psql("acct", r#"SELECT count(*) FROM billing."Order Items" WHERE "select" = 'oops'"#).trim(), "0");
    assert_eq!(c.psql("acct", r#"SELECT "select" FROM billing."Order Items" WHERE id = 7"#).trim(), "item 7");
    assert_eq!(c.psql("acct", r#"SELECT count(*) FROM billing."Order Items""#).trim(), "101");
}

#[test]
fn timestamps_compare_equal_when_live_has_another_timezone_than_scratch() {
    let c = cluster_or_skip!();
    c.create_db("tz");
    c.psql(
        "tz",
        "ALTER DATABASE tz SET timezone = 'Europe/Berlin';
         CREATE TABLE ev(at timestamptz PRIMARY KEY, d date, i interval, note text);
         INSERT INTO ev SELECT timestamptz '2026-11-24 06:00+00' + g * interval '1 hour', date '2026-11-24' + g, g * interval '90 minutes', 'n' || g FROM generate_series(1, 50) g;",
    );
    let dir = tempdir();
    let repo = dump_into_repo(&c, "tz", dir.path());
    let v = json(dir.path(), &restore_args(s(&repo), "latest", &["--live", &c.url("tz"), "--tables", "ev"]));
    let scratch = c.url(v["target_database"].as_str().unwrap());
    let out = lastgood(dir.path()).args(["diff", "--scratch", &scratch, "--live", &c.url("tz")]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "no differences expected: {}", String::from_utf8_lossy(&out.stdout));
}

#[test]
fn nan_infinity_and_negative_zero_survive_diff_sql_and_show_as_themselves() {
    let c = cluster_or_skip!();
    for db in ["a", "b"] {
        c.create_db(db);
        c.psql(
            db,
            "CREATE TABLE f(id int PRIMARY KEY, x float8, y real);
             INSERT INTO f VALUES (1, 'NaN', 'NaN'), (2, '-0', '-0'), (3, 'Infinity', '-Infinity'), (4, 1.5, 2);
             CREATE TABLE k(k float8 PRIMARY KEY, v int);
             INSERT INTO k VALUES ('NaN', 1), ('-0', 2), ('-Infinity', 3);",
        );
    }
    c.psql("b", "UPDATE f SET x = 1, y = 1; UPDATE k SET v = 9");
    let dir = tempdir();
    let (scratch, live) = (c.url("a"), c.url("b"));
    let (code, rows) = run_text(dir.path(), &["diff", "--rows", "--scratch", &scratch, "--live", &live], &[]);
    assert_eq!(code, 1, "{rows}");
    assert!(rows.contains("(k=NaN)") && rows.contains("x: NaN → 1.0"), "{rows}");
    assert!(!rows.contains("NULL"), "{rows}");
    let (code, sql) = run_text(dir.path(), &["diff", "--sql", "--scratch", &scratch, "--live", &live], &[]);
    assert_eq!(code, 1, "{sql}");
    let file = dir.path().join("p.sql");
    std::fs::write(&file, &sql).unwrap();
    let out = c.tool("psql", "b").args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-f"]).arg(&file).output().unwrap();
    assert!(out.status.success(), "{sql}: {}", String::from_utf8_lossy(&out.stderr));
    let (code, text) = run_text(dir.path(), &["diff", "--scratch", &scratch, "--live", &live], &[]);
    assert_eq!(code, 0, "after applying\n{sql}\nstill: {text}");
    // Signs included: PostgreSQL prints float8 -0 as `-0`.
    assert_eq!(
        c.psql("b", "SELECT string_agg(format('%s:%s:%s', id, x, y), ',' ORDER BY id) FROM f").trim(),
        "1:NaN:NaN,2:-0:-0,3:Infinity:-Infinity,4:1.5:2"
    );
}

/// Values larger than the scan's 256 KiB refill (a 600 KB text, a 1 MB bytea) straddle refills:
/// the diff still finds exactly the changed rows, and a merge puts the big values back byte for
/// byte.
#[test]
fn diff_and_merge_carry_values_larger_than_a_scan_refill() {
    let c = cluster_or_skip!();
    let schema = "CREATE TABLE docs(id int PRIMARY KEY, body text, raw bytea);
        INSERT INTO docs SELECT g, repeat(md5(g::text), 20000), decode(repeat(md5((g * 7)::text), 32768), 'hex')
        FROM generate_series(1, 12) g;";
    for db in ["docs", "docs_scratch"] {
        c.create_db(db);
        c.psql(db, schema);
    }
    c.psql(
        "docs",
        "UPDATE docs SET body = body || 'x' WHERE id = 5; UPDATE docs SET raw = raw || '\\x00' WHERE id = 11;",
    );
    let dir = tempdir();
    let (live, scratch) = (c.url("docs"), c.url("docs_scratch"));
    let out = lastgood(dir.path()).args(["--json", "diff", "--scratch", &scratch, "--live", &live]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<serde_json::Value> =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let summary = lines.iter().find(|v| v["type"] == "summary").expect("a summary line");
    assert_eq!(summary["updated"], 2, "{summary}");
    json(dir.path(), &["merge", "--scratch", &scratch, "--live", &live, "--restore", "updated", "--apply"]);
    let digest = "SELECT string_agg(id || ':' || md5(body) || ':' || md5(raw), ',' ORDER BY id) FROM docs";
    assert_eq!(c.psql("docs", digest), c.psql("docs_scratch", digest));
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
