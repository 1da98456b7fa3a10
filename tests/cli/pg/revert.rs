//! PostgreSQL `revert`: the music shop incident (pg_dump archives before and after it, both
//! restored into scratch databases, revert into live) against an expectation built from base by
//! hand, and what a two-way merge loses; exact equality (`-0` and `0`, numeric `1` and `1.0`);
//! `--strict`; SIGKILL during `--apply`.

use std::path::Path;

use super::*;
use crate::cluster_or_skip;
use crate::pgcluster::Cluster;

fn make_music_shop(c: &Cluster, db: &str) {
    c.create_db(db);
    c.psql(
        db,
        "CREATE TABLE tracks(track_id serial PRIMARY KEY, name text NOT NULL, composer text, milliseconds int NOT NULL,
           unit_price numeric(10,2) NOT NULL);
         CREATE TABLE invoices(invoice_id serial PRIMARY KEY, track_id int, total numeric(10,2));
         INSERT INTO tracks(name, composer, milliseconds, unit_price)
           SELECT 'Track ' || x, CASE WHEN x % 7 = 0 THEN NULL ELSE 'Composer ' || (x % 30) END, 180000 + x,
             CASE WHEN x % 5 = 0 THEN 1.99 ELSE 0.99 END FROM generate_series(1, 200) x;
         INSERT INTO invoices(track_id, total) SELECT x * 3, 0.99 FROM generate_series(1, 50) x;",
    );
}

const INCIDENT: &str = "UPDATE tracks SET unit_price = 0, composer = 'Unknown';
     DELETE FROM tracks WHERE track_id = 13;
     INSERT INTO tracks VALUES (1001, 'Untitled 1', 'Unknown', 0, 0), (1002, 'Untitled 2', 'Unknown', 0, 0);";

/// A clerk re-prices track 2, track 3 is renamed, track 4 deleted, two new tracks (201, 202 from
/// the sequence) and an invoice, and placeholder 1002 gets a name.
const AFTER: &str = "UPDATE tracks SET unit_price = 1.29 WHERE track_id = 2;
     UPDATE tracks SET name = 'Track 3 (remastered)' WHERE track_id = 3;
     DELETE FROM tracks WHERE track_id = 4;
     INSERT INTO tracks(name, composer, milliseconds, unit_price) VALUES ('New single', 'Composer 1', 200000, 0.89), ('B-side', NULL, 150000, 0.89);
     INSERT INTO invoices(track_id, total) VALUES (201, 0.89);
     UPDATE tracks SET name = 'Intro' WHERE track_id = 1002;";

/// The tracks as text lines `id|name|composer|ms|price` (NULL empty), by id.
fn tracks(c: &Cluster, db: &str) -> Vec<String> {
    c.psql(db, "SELECT track_id, name, composer, milliseconds, unit_price FROM tracks ORDER BY track_id")
        .lines()
        .map(str::to_string)
        .collect()
}

/// The shop through the incident: archives before (06:00) and after it, restored into scratch
/// databases; live then gets `AFTER`. Returns (live, base, damaged) URLs.
fn incident(c: &Cluster, dir: &Path) -> (String, String, String) {
    make_music_shop(c, "shop");
    let repo = repo(dir, "repo");
    c.pg_dump("shop", &["-Fc"], &repo.join("shop-2026-11-24T06-00-00.dump"));
    c.psql("shop", INCIDENT);
    c.pg_dump("shop", &["-Fc"], &repo.join("shop-2026-11-24T07-00-00.dump"));
    c.psql("shop", AFTER);
    let live = c.url("shop");
    let mut restored = Vec::new();
    for name in ["shop-2026-11-24T06-00-00.dump", "shop-2026-11-24T07-00-00.dump"] {
        let backup = repo.join(name);
        let v = json(dir, &restore_args(s(&repo), s(&backup), &["--live", &live, "--tables", "tracks"]));
        restored.push(c.url(v["target_database"].as_str().unwrap()));
    }
    let damaged = restored.pop().unwrap();
    (live, restored.pop().unwrap(), damaged)
}

/// Live's tracks after the revert, built from base's lines and the later writes by hand.
fn expected(c: &Cluster, base: &str, damaged: &str) -> Vec<String> {
    let db = |url: &str| url.rsplit('/').next().unwrap().to_string();
    let mut want: Vec<String> = tracks(c, &db(base))
        .into_iter()
        .filter(|l| !l.starts_with("4|"))
        .map(|l| match l.split('|').next() {
            Some("2") => l.replace("|0.99", "|1.29"),
            Some("3") => l.replace("Track 3|", "Track 3 (remastered)|"),
            _ => l,
        })
        .collect();
    for l in tracks(c, &db(damaged)).into_iter().filter(|l| l.starts_with("1001|") || l.starts_with("1002|")) {
        want.push(l.replace("Untitled 2", "Intro"));
    }
    want.push("201|New single|Composer 1|200000|0.89".into());
    want.push("202|B-side||150000|0.89".into());
    want.sort_by_key(|l| l.split('|').next().unwrap().parse::<i64>().unwrap());
    want
}

#[test]
fn the_music_shop_incident_on_postgres_is_reverted_and_two_way_merge_would_lose_the_clerks_price() {
    let c = cluster_or_skip!();
    let dir = tempdir();
    let (live, base, damaged) = incident(&c, dir.path());
    let invoices = c.psql("shop", "SELECT * FROM invoices ORDER BY 1");
    c.psql("postgres", "CREATE DATABASE merged TEMPLATE shop");
    let args = ["revert", "--base", &base, "--damaged", &damaged, "--live", &live, "--columns", "unit_price,composer"];
    // Dry run: nothing written, the clerk's price is a listed conflict.
    let before = tracks(&c, "shop");
    let (code, plan) = run_text(dir.path(), &args, &[]);
    assert_eq!(code, 0, "{plan}");
    assert!(plan.contains(r#"unit_price: base "0.99", damaged "0.00", live "1.29""#), "{plan}");
    assert_eq!(tracks(&c, "shop"), before, "the dry run wrote nothing");

    let mut apply = args.to_vec();
    apply.extend(["--apply", "--json"]);
    let out = lastgood(dir.path()).args(&apply).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<serde_json::Value> =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let end = lines.last().unwrap();
    assert_eq!((end["type"].as_str(), end["applied"].as_bool()), (Some("end"), Some(true)), "{end}");
    assert_eq!(end["report"]["written"], 199, "{end}");
    assert_eq!(end["report"]["residual"], 0, "{end}");
    assert!(end["report"]["undo"].as_str().unwrap().contains("lastgood restore"), "{end}");
    assert_eq!(tracks(&c, "shop"), expected(&c, &base, &damaged));
    assert_eq!(c.psql("shop", "SELECT * FROM invoices ORDER BY 1"), invoices, "another table untouched");
    // The sequence still hands out new keys past every row.
    c.psql("shop", "INSERT INTO tracks(name, milliseconds, unit_price) VALUES ('after', 1, 1)");

    // Two-way merge of the same columns from base: the clerk's 1.29 is gone.
    let merged = c.url("merged");
    let (code, text) = run_text(
        dir.path(),
        &["merge", "--scratch", &base, "--live", &merged, "--tables", "tracks"]
            .into_iter()
            .chain(["--columns", "unit_price,composer", "--restore", "updated", "--apply"])
            .collect::<Vec<_>>(),
        &[],
    );
    assert_eq!(code, 0, "{text}");
    assert_eq!(c.psql("merged", "SELECT unit_price FROM tracks WHERE track_id = 2").trim(), "0.99");
    assert_eq!(c.psql("shop", "SELECT unit_price FROM tracks WHERE track_id = 2").trim(), "1.29");
}

/// base → damaged → live as copies of one database (CREATE DATABASE … TEMPLATE), each step
/// `sql` on the newest.
fn three(c: &Cluster, schema: &str, incident: &str, after: &str) -> (String, String, String) {
    c.create_db("b");
    c.psql("b", schema);
    c.psql("postgres", "CREATE DATABASE d TEMPLATE b");
    c.psql("d", incident);
    c.psql("postgres", "CREATE DATABASE l TEMPLATE d");
    c.psql("l", after);
    (c.url("b"), c.url("d"), c.url("l"))
}

#[test]
fn postgres_values_sql_calls_equal_are_conflicts() {
    let c = cluster_or_skip!();
    let dir = tempdir();
    let (b, d, l) = three(
        &c,
        "CREATE TABLE t(id int PRIMARY KEY, v float8, n numeric);
         INSERT INTO t VALUES (1, 5, 5), (2, 5, 5);",
        "UPDATE t SET v = 0, n = 1",
        // Row 1: -0 (= 0 in SQL) and 1.0 (= 1 in SQL); row 2 as the incident left it.
        "UPDATE t SET v = '-0', n = 1.0 WHERE id = 1",
    );
    let args = ["revert", "--base", &b, "--damaged", &d, "--live", &l, "--all-columns", "--apply", "--json"];
    let out = lastgood(dir.path()).args(args).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let conflicts: Vec<(i64, String)> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["type"] == "conflict")
        .map(|v| (v["key"]["id"].as_i64().unwrap(), v["column"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(conflicts, [(1, "v".to_string()), (1, "n".to_string())]);
    assert_eq!(c.psql("l", "SELECT id, v::text, n::text FROM t ORDER BY id"), "1|-0|1.0\n2|5|5\n");
}

#[test]
fn postgres_strict_refuses_a_conflict_and_writes_nothing() {
    let c = cluster_or_skip!();
    let dir = tempdir();
    let (b, d, l) = three(
        &c,
        "CREATE TABLE t(id int PRIMARY KEY, v text); INSERT INTO t SELECT g, 'good' FROM generate_series(1, 3000) g;",
        "UPDATE t SET v = 'bad'",
        "UPDATE t SET v = 'later' WHERE id = 2999",
    );
    let before = c.psql("l", "SELECT md5(string_agg(id || v, ',' ORDER BY id)) FROM t");
    let args = ["revert", "--base", &b, "--damaged", &d, "--live", &l, "--columns", "v", "--strict", "--apply"];
    let err = fails(dir.path(), &args, 5);
    assert!(err.contains("--strict: 1 conflict(s)"), "{err}");
    assert_eq!(c.psql("l", "SELECT md5(string_agg(id || v, ',' ORDER BY id)) FROM t"), before);
    // Without --strict: everything but the conflict, in batches.
    let (code, text) = run_text(dir.path(), &[&args[..9], &["--apply"]].concat(), &[]);
    assert_eq!(code, 0, "{text}");
    assert_eq!(c.psql("l", "SELECT v, count(*) FROM t GROUP BY v ORDER BY v"), "good|2999\nlater|1\n");
}

/// SIGKILL of `revert --apply` into a PostgreSQL live: live is always as it was or fully
/// reverted (one transaction), and a revert after the kills completes.
#[test]
fn sigkill_of_a_postgres_revert_leaves_live_before_or_fully_reverted() {
    let c = cluster_or_skip!();
    let dir = tempdir();
    let (b, d, l) = three(
        &c,
        "CREATE TABLE t(id int PRIMARY KEY, v text, w int);
         INSERT INTO t SELECT g, 'good ' || g, g FROM generate_series(1, 30000) g;",
        "UPDATE t SET v = 'damaged' WHERE id % 2 = 0",
        "UPDATE t SET v = 'later' WHERE id % 1000 = 0; UPDATE t SET w = -w WHERE id % 10 = 0;",
    );
    // The expected outcome, independently: base's v back except where live wrote later.
    c.psql("postgres", "CREATE DATABASE pristine TEMPLATE l");
    c.psql("postgres", "CREATE DATABASE expected TEMPLATE l");
    c.psql("expected", "UPDATE t SET v = 'good ' || id WHERE id % 2 = 0 AND id % 1000 <> 0");
    let state = |db: &str| c.psql(db, "SELECT md5(string_agg(id || ':' || v || ':' || w, ',' ORDER BY id)) FROM t");
    let (pristine, reverted) = (state("pristine"), state("expected"));
    let args = ["revert", "--base", &b, "--damaged", &d, "--live", &l, "--columns", "v", "--apply"];
    let reset = || {
        c.psql("l", "UPDATE t SET v = 'damaged' WHERE id % 2 = 0 AND id % 1000 <> 0");
        assert_eq!(state("l"), pristine);
    };
    let started = std::time::Instant::now();
    let (code, text) = run_text(dir.path(), &args, &[]);
    assert_eq!(code, 0, "{text}");
    let whole = started.elapsed();
    assert_eq!(state("l"), reverted);
    // The revert's write transaction has written something once its session holds a transaction id.
    let writing = || {
        c.psql(
            "postgres",
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'lastgood' AND backend_xid IS NOT NULL",
        )
        .trim()
            != "0"
    };
    let (mut before, mut after, mut running, mut mid_write) = (0, 0, 0, 0);
    // Run times drift on a shared machine: a kill that finds the process gone shortens the
    // estimate, so the kills keep landing inside the run.
    let mut estimate = whole;
    for i in 0..36u32 {
        if running >= 12 {
            break;
        }
        reset();
        let mut child = lastgood(dir.path()).args(args).stdout(std::process::Stdio::null()).spawn().unwrap();
        if i % 2 == 0 {
            std::thread::sleep(estimate.mul_f64(f64::from(i % 12) / 12.0 + 0.02));
        } else {
            // Aimed inside the write transaction: after its first write, before its commit.
            let deadline = std::time::Instant::now() + whole * 3;
            while !writing() && child.try_wait().unwrap().is_none() && std::time::Instant::now() < deadline {
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
            mid_write += usize::from(writing() && child.try_wait().unwrap().is_none());
        }
        let alive = child.try_wait().unwrap().is_none();
        running += usize::from(alive);
        if !alive {
            estimate = estimate.mul_f64(0.85);
        }
        let _ = child.kill();
        child.wait().unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while c.psql("postgres", "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'lastgood'").trim()
            != "0"
        {
            assert!(std::time::Instant::now() < deadline, "the killed revert's session lingers");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let s = state("l");
        if s == pristine {
            before += 1;
        } else if s == reverted {
            after += 1;
        } else {
            panic!("kill {i} left live partially reverted");
        }
    }
    eprintln!(
        "{running} kills while running, {mid_write} inside the write transaction; live before: {before}, reverted: {after}"
    );
    assert!(mid_write >= 3, "only {mid_write} kills landed inside the write transaction");
    assert!(running >= 12, "only {running} kills landed while revert ran");
    assert!(before > 0, "some kills landed before the commit");
    reset();
    let (code, text) = run_text(dir.path(), &args, &[]);
    assert_eq!(code, 0, "{text}");
    assert_eq!(state("l"), reverted);
}
