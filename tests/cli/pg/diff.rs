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
