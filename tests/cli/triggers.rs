//! `merge --triggers refuse|skip|fire` on SQLite and PostgreSQL: the plan lists every trigger
//! (and rule) on the written tables with its SQL; by default a firing trigger is refused with
//! nothing written; `skip` writes with them disabled inside the transaction and leaves them
//! exactly as they were; `fire` runs them and counts the rows they changed, per table.

use std::path::{Path, PathBuf};

use rusqlite::Connection;

use crate::cluster_or_skip;
use crate::common::*;
use crate::pgcluster::Cluster;

/// A trigger as `merge --json` lists it; unknown fields fail the test, so the shape cannot drift.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct ListedTrigger {
    table: String,
    relation: String,
    name: String,
    kind: String,
    timing: String,
    row_level: bool,
    events: Vec<String>,
    update_of: Vec<String>,
    enabled: String,
    sql: String,
    fires: bool,
}

fn listed(plan: &serde_json::Value) -> Vec<ListedTrigger> {
    serde_json::from_value(plan["triggers"].clone()).unwrap_or_else(|e| panic!("triggers: {e}: {plan:#}"))
}

/// Runs lastgood with `args`; returns (exit code, stdout, stderr).
fn run(cwd: &Path, args: &[&str]) -> (i32, String, String) {
    let out = lastgood(cwd).args(args).output().unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code().unwrap_or(-1), text(&out.stdout), text(&out.stderr))
}

fn query<T: rusqlite::types::FromSql>(db: &Path, sql: &str) -> Vec<T> {
    let c = Connection::open(db).unwrap();
    let mut st = c.prepare(sql).unwrap();
    st.query_map([], |r| r.get(0)).unwrap().map(|r| r.unwrap()).collect()
}

/// `sqlite_schema` rows of the triggers, in creation order: (name, sql).
fn sqlite_triggers(db: &Path) -> Vec<(String, String)> {
    let c = Connection::open(db).unwrap();
    let mut st = c.prepare("SELECT name, sql FROM sqlite_schema WHERE type = 'trigger' ORDER BY rowid").unwrap();
    st.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().map(|r| r.unwrap()).collect()
}

/// scratch and live with `t(id, v, w)` of `n` rows, live's `v` damaged; in live an `audit` table
/// written by `t_audit` (AFTER UPDATE: one row per updated row), a `log` table that
/// `t_log` (AFTER UPDATE OF v) adds a row to per update and `t_w_only` (UPDATE OF w, which the
/// merge does not set) would empty, and `t_ins` (AFTER INSERT) that the merge's updates do not set off.
fn sqlite_pair(dir: &Path, n: u32) -> (PathBuf, PathBuf) {
    let (scratch, live) = (dir.join("scratch.db"), dir.join("live.db"));
    sqlite3(
        &scratch,
        &format!(
            "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT, w TEXT);
             INSERT INTO t SELECT value, 'good ' || value, 'w' FROM generate_series(1, {n});"
        ),
    );
    std::fs::copy(&scratch, &live).unwrap();
    sqlite3(
        &live,
        "UPDATE t SET v = 'bad';
         CREATE TABLE audit(at INTEGER, what TEXT);
         CREATE TABLE log(id TEXT PRIMARY KEY, what TEXT) WITHOUT ROWID;
         INSERT INTO audit VALUES (0, 'before'); INSERT INTO log VALUES ('0', 'before');
         CREATE TRIGGER t_audit AFTER UPDATE ON t BEGIN INSERT INTO audit VALUES (NEW.id, NEW.v); END;
         CREATE TRIGGER \"t_log\" AFTER UPDATE OF v ON t BEGIN INSERT INTO log VALUES (NEW.id || ':' || hex(randomblob(8)), OLD.v); END;
         CREATE TRIGGER t_w_only AFTER UPDATE OF w ON t BEGIN DELETE FROM audit; END;
         CREATE TRIGGER t_ins AFTER INSERT ON t BEGIN DELETE FROM log; END;",
    );
    (scratch, live)
}

fn merge_args<'a>(scratch: &'a Path, live: &'a Path, extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec!["merge", "--scratch", scratch.to_str().unwrap(), "--live", live.to_str().unwrap()];
    v.extend_from_slice(&["--tables", "t", "--restore", "updated"]);
    v.extend_from_slice(extra);
    v
}

fn snapshots(dir: &Path) -> Vec<String> {
    files_in(dir).into_iter().filter(|f| f.contains("snapshot")).collect()
}

#[test]
fn sqlite_a_firing_trigger_is_refused_by_default_with_exit_5_and_nothing_written() {
    let dir = tempdir();
    let (scratch, live) = sqlite_pair(dir.path(), 50);
    let bytes = std::fs::read(&live).unwrap();
    let err = fails(dir.path(), &merge_args(&scratch, &live, &["--apply"]), 5);
    assert!(
        err.contains("`t_audit` on `t`") && err.contains("`t_log` on `t`") && err.contains("nothing was written"),
        "{err}"
    );
    assert!(!err.contains("t_w_only") && !err.contains("t_ins"), "triggers that do not fire are not named: {err}");
    assert_eq!(std::fs::read(&live).unwrap(), bytes, "live bytes unchanged");
    assert!(snapshots(dir.path()).is_empty(), "no snapshot taken");
    // `refuse` is the default, spelled out or not.
    fails(dir.path(), &merge_args(&scratch, &live, &["--apply", "--triggers", "refuse"]), 5);
    assert_eq!(std::fs::read(&live).unwrap(), bytes);
    // Restoring only `w`-free columns of rows the triggers do not answer to goes through: here a
    // table without triggers is merged in the same live without complaint.
    sqlite3(&scratch, "CREATE TABLE plain(id INTEGER PRIMARY KEY, v TEXT); INSERT INTO plain VALUES (1, 'a');");
    sqlite3(&live, "CREATE TABLE plain(id INTEGER PRIMARY KEY, v TEXT); INSERT INTO plain VALUES (1, 'b');");
    let args = ["merge", "--scratch", scratch.to_str().unwrap(), "--live", live.to_str().unwrap()];
    let report = json(dir.path(), &[&args[..], &["--tables", "plain", "--restore", "updated", "--apply"]].concat());
    assert_eq!(report["applied"], 1, "{report:#}");
    assert_eq!(report["triggers"].as_array().unwrap().len(), 0);
}

#[test]
fn sqlite_a_trigger_on_other_events_or_columns_is_listed_but_not_refused() {
    let dir = tempdir();
    let (scratch, live) = sqlite_pair(dir.path(), 5);
    sqlite3(&live, "DROP TRIGGER t_audit; DROP TRIGGER t_log;");
    let before = sqlite_triggers(&live);
    let report = json(dir.path(), &merge_args(&scratch, &live, &["--apply"]));
    assert_eq!(report["applied"], 5, "{report:#}");
    let l = listed(&report);
    assert_eq!(
        l.iter().map(|t| (t.name.as_str(), t.fires)).collect::<Vec<_>>(),
        [("t_w_only", false), ("t_ins", false)]
    );
    assert_eq!(query::<i64>(&live, "SELECT count(*) FROM audit"), [1], "t_w_only did not fire");
    assert_eq!(query::<i64>(&live, "SELECT count(*) FROM log"), [1], "t_ins did not fire");
    assert_eq!(report["trigger_writes"]["total"], 0);
    assert_eq!(sqlite_triggers(&live), before);
}

#[test]
fn sqlite_dry_run_and_json_list_every_trigger_of_the_written_tables_with_its_sql() {
    let dir = tempdir();
    let (scratch, live) = sqlite_pair(dir.path(), 5);
    let bytes = std::fs::read(&live).unwrap();
    let stored = sqlite_triggers(&live);
    let plan = json(dir.path(), &merge_args(&scratch, &live, &[]));
    let l = listed(&plan);
    assert_eq!(l.len(), 4, "{plan:#}");
    for (t, (name, sql)) in l.iter().zip(&stored) {
        assert_eq!((&t.name, &t.sql), (name, sql), "listed in creation order with the SQL sqlite_schema holds");
        assert_eq!((t.table.as_str(), t.relation.as_str(), t.kind.as_str()), ("t", "t", "trigger"));
        assert_eq!((t.enabled.as_str(), t.row_level), ("enabled", true));
    }
    // name, timing, events, UPDATE OF columns, fires
    let facts: Vec<String> =
        l.iter().map(|t| format!("{} {} {:?} {:?} {}", t.name, t.timing, t.events, t.update_of, t.fires)).collect();
    assert_eq!(
        facts,
        [
            r#"t_audit AFTER ["update"] [] true"#,
            r#"t_log AFTER ["update"] ["v"] true"#,
            r#"t_w_only AFTER ["update"] ["w"] false"#,
            r#"t_ins AFTER ["insert"] [] false"#,
        ]
    );
    assert_eq!(plan["trigger_policy"], "refuse");
    // The human plan names them, shows their SQL and says what --apply would do.
    let (code, out, _) = run(dir.path(), &merge_args(&scratch, &live, &[]));
    assert_eq!(code, 0);
    assert!(out.contains("trigger `t_audit` on `t`: AFTER UPDATE, enabled; FIRES on these writes"), "{out}");
    assert!(out.contains("trigger `t_w_only` on `t`: AFTER UPDATE OF w, enabled; does not fire"), "{out}");
    for (_, sql) in &stored {
        assert!(out.contains(sql.as_str()), "the plan shows `{sql}`: {out}");
    }
    assert!(out.contains("--apply is refused (exit 5) while 2 trigger(s) would fire"), "{out}");
    let (_, out, _) = run(dir.path(), &merge_args(&scratch, &live, &["--triggers", "fire"]));
    assert!(out.contains("--triggers fire: the 2 trigger(s) run"), "{out}");
    assert_eq!(std::fs::read(&live).unwrap(), bytes, "dry runs write nothing");
    assert!(snapshots(dir.path()).is_empty());
}

#[test]
fn sqlite_skip_leaves_other_tables_untouched_and_every_trigger_exactly_as_it_was() {
    let dir = tempdir();
    let (scratch, live) = sqlite_pair(dir.path(), 200);
    let (audit, log) = (rows(&live, "audit"), rows(&live, "log"));
    let before = sqlite_triggers(&live);
    let report = json(dir.path(), &merge_args(&scratch, &live, &["--apply", "--triggers", "skip"]));
    assert_eq!((report["applied"].as_u64(), report["residual"].as_u64()), (Some(200), Some(0)), "{report:#}");
    assert_eq!(report["trigger_policy"], "skip");
    assert_eq!(report["trigger_writes"]["total"], 0);
    assert_eq!(query::<String>(&live, "SELECT DISTINCT substr(v, 1, 5) FROM t"), ["good "], "merged");
    assert_eq!((rows(&live, "audit"), rows(&live, "log")), (audit, log), "no trigger wrote");
    // Byte-identical SQL, same names, same order of creation (SQLite fires a table's triggers
    // newest first, so the order is behaviour).
    assert_eq!(sqlite_triggers(&live), before);
    assert_eq!(query::<String>(&live, "PRAGMA integrity_check"), ["ok"]);
    // And they still fire on the application's next write.
    sqlite3(&live, "UPDATE t SET v = 'app' WHERE id = 1");
    assert_eq!(query::<String>(&live, "SELECT what FROM audit WHERE at = 1"), ["app"]);
    assert_eq!(query::<String>(&live, "SELECT what FROM log WHERE id LIKE '1:%'"), ["good 1"]);
    // The safety snapshot holds live as it was, triggers included.
    let snap = PathBuf::from(report["snapshot"].as_str().unwrap());
    assert_eq!(sqlite_triggers(&snap), before);
}

#[test]
fn sqlite_fire_runs_the_triggers_and_counts_exactly_the_rows_they_wrote_per_table() {
    let dir = tempdir();
    let (scratch, live) = sqlite_pair(dir.path(), 300);
    let report = json(dir.path(), &merge_args(&scratch, &live, &["--apply", "--triggers", "fire"]));
    assert_eq!((report["applied"].as_u64(), report["residual"].as_u64()), (Some(300), Some(0)), "{report:#}");
    let audit_new = query::<i64>(&live, "SELECT count(*) FROM audit")[0] - 1;
    let log_new = query::<i64>(&live, "SELECT count(*) FROM log")[0] - 1;
    assert_eq!((audit_new, log_new), (300, 300), "both firing triggers ran once per row");
    let w = &report["trigger_writes"];
    assert_eq!(w["total"], 600, "{w:#}");
    // `audit` is named; `log` is WITHOUT ROWID, which SQLite counts but does not name.
    assert_eq!(w["tables"], serde_json::json!([{"table": "audit", "rows": 300}]), "{w:#}");
    assert_eq!(w["unattributed"], 300);
    // The human report says so too, next to the re-diff (which looks only at `t`).
    sqlite3(&live, "UPDATE t SET v = 'bad' WHERE id <= 3");
    let (code, out, err) = run(dir.path(), &merge_args(&scratch, &live, &["--apply", "--triggers", "fire"]));
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(
            "triggers: 2 fired and changed 6 row(s) outside the merge: 3 in `audit`, 3 in tables SQLite does not name"
        ),
        "{out}"
    );
}

#[test]
fn sqlite_fire_counts_a_trigger_that_writes_other_rows_of_the_merged_table() {
    let dir = tempdir();
    let (scratch, live) = (dir.path().join("scratch.db"), dir.path().join("live.db"));
    sqlite3(
        &scratch,
        "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT, hits INT); INSERT INTO t VALUES (1, 'a', 0), (2, 'b', 0), (100, 'counter', 0);",
    );
    std::fs::copy(&scratch, &live).unwrap();
    sqlite3(
        &live,
        "UPDATE t SET v = 'x' WHERE id < 100;
         CREATE TRIGGER count_hits AFTER UPDATE OF v ON t WHEN NEW.id < 100 BEGIN UPDATE t SET hits = hits + 1 WHERE id = 100; END;",
    );
    let args = ["merge", "--scratch", scratch.to_str().unwrap(), "--live", live.to_str().unwrap()];
    let report = json(
        dir.path(),
        &[&args[..], &["--restore", "updated", "--columns", "v", "--apply", "--triggers", "fire"]].concat(),
    );
    assert_eq!(report["applied"], 2, "{report:#}");
    assert_eq!(query::<i64>(&live, "SELECT hits FROM t WHERE id = 100"), [2]);
    assert_eq!(report["trigger_writes"]["tables"], serde_json::json!([{"table": "t", "rows": 2}]), "{report:#}");
}

/// SIGKILL of `merge --apply --triggers skip` at many moments: the triggers, dropped and created
/// again inside the transaction, are always there afterwards with their exact SQL, and live is
/// as it was or fully merged, `audit` untouched.
#[test]
fn sqlite_kill_9_during_a_skip_merge_leaves_every_trigger_in_place() {
    const KILLS: u32 = 10;
    let dir = tempdir();
    let (scratch, pristine) = sqlite_pair(dir.path(), 40_000);
    let triggers = sqlite_triggers(&pristine);
    let args = merge_args(&scratch, &pristine, &["--apply", "--triggers", "skip"]);
    let full = dir.path().join("full");
    std::fs::create_dir(&full).unwrap();
    std::fs::copy(&pristine, full.join("live.db")).unwrap();
    let mut one = args.clone();
    let full_live = full.join("live.db");
    one[4] = full_live.to_str().unwrap();
    let started = std::time::Instant::now();
    let (code, _, err) = run(dir.path(), &one);
    assert_eq!(code, 0, "{err}");
    let whole = started.elapsed();
    let merged = rows(&full_live, "t");
    let pristine_rows = rows(&pristine, "t");
    let audit = rows(&pristine, "audit");
    let mut landed = 0;
    for i in 0..3 * KILLS {
        if landed >= KILLS {
            break;
        }
        let sub = dir.path().join(format!("run{i}"));
        std::fs::create_dir(&sub).unwrap();
        let live = sub.join("live.db");
        std::fs::copy(&pristine, &live).unwrap();
        let mut a = args.clone();
        a[4] = live.to_str().unwrap();
        let mut child = lastgood(dir.path()).args(&a).stdout(std::process::Stdio::null()).spawn().unwrap();
        std::thread::sleep(whole.mul_f64((f64::from(i % KILLS) + 0.5) / f64::from(KILLS)));
        landed += u32::from(child.try_wait().unwrap().is_none());
        let _ = child.kill();
        child.wait().unwrap();
        assert_eq!(query::<String>(&live, "PRAGMA integrity_check"), ["ok"], "kill {i}");
        assert_eq!(sqlite_triggers(&live), triggers, "kill {i}: every trigger in place, SQL byte for byte");
        let t = rows(&live, "t");
        assert!(t == pristine_rows || t == merged, "kill {i} left `t` partially merged");
        assert_eq!(rows(&live, "audit"), audit, "kill {i}: no trigger wrote");
    }
    assert!(landed >= KILLS / 2, "only {landed} kills landed while the merge ran");
}

// PostgreSQL.

/// `live` and `scratch` databases of one cluster with `downloads` (live's filenames damaged), an
/// `audit` table written by `downloads_audit` (AFTER UPDATE, per row), `downloads_noop` (ENABLE
/// ALWAYS, BEFORE UPDATE, changes nothing), `downloads_off` (disabled; would empty `audit`), and a
/// table `events` partitioned in two, whose row trigger on the parent writes `audit` too.
fn pg_pair(c: &Cluster) -> (String, String) {
    let schema = "CREATE TABLE downloads(id int PRIMARY KEY, filename text NOT NULL);
        INSERT INTO downloads SELECT g, 'file-' || g || '.zip' FROM generate_series(1, 400) g;
        CREATE TABLE events(id int PRIMARY KEY, what text) PARTITION BY RANGE (id);
        CREATE TABLE events_low PARTITION OF events FOR VALUES FROM (0) TO (100);
        CREATE TABLE events_high PARTITION OF events FOR VALUES FROM (100) TO (1000);
        INSERT INTO events SELECT g, 'event ' || g FROM generate_series(1, 200) g;";
    for db in ["shop", "shop_scratch"] {
        c.create_db(db);
        c.psql(db, schema);
    }
    c.psql(
        "shop",
        "UPDATE downloads SET filename = 'oops.zip' WHERE id <= 250; UPDATE events SET what = 'oops';
         CREATE TABLE audit(id serial PRIMARY KEY, tab text, row_id int);
         INSERT INTO audit(tab, row_id) VALUES ('before', 0);
         CREATE FUNCTION audit_row() RETURNS trigger LANGUAGE plpgsql AS
           $$BEGIN INSERT INTO audit(tab, row_id) VALUES (TG_TABLE_NAME, NEW.id); RETURN NEW; END$$;
         CREATE FUNCTION noop() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$;
         CREATE FUNCTION wipe() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN DELETE FROM audit; RETURN NEW; END$$;
         CREATE TRIGGER downloads_audit AFTER UPDATE ON downloads FOR EACH ROW EXECUTE FUNCTION audit_row();
         CREATE TRIGGER downloads_noop BEFORE UPDATE ON downloads FOR EACH ROW EXECUTE FUNCTION noop();
         ALTER TABLE downloads ENABLE ALWAYS TRIGGER downloads_noop;
         CREATE TRIGGER downloads_off AFTER UPDATE ON downloads FOR EACH ROW EXECUTE FUNCTION wipe();
         ALTER TABLE downloads DISABLE TRIGGER downloads_off;
         CREATE TRIGGER events_audit AFTER UPDATE ON events FOR EACH ROW EXECUTE FUNCTION audit_row();",
    );
    (c.url("shop"), c.url("shop_scratch"))
}

/// Every user trigger of `db`: relation, name, tgenabled, definition.
fn pg_triggers(c: &Cluster, db: &str) -> String {
    c.psql(
        db,
        "SELECT tgrelid::regclass || ' ' || tgname || ' ' || tgenabled::text || ' ' || pg_get_triggerdef(oid)
         FROM pg_trigger WHERE NOT tgisinternal ORDER BY 1",
    )
}

fn pg_state(c: &Cluster) -> (String, String, String) {
    let q = |sql: &str| c.psql("shop", sql).trim().to_string();
    (
        q("SELECT md5(string_agg(id || ':' || filename, ',' ORDER BY id)) FROM downloads"),
        q("SELECT md5(string_agg(id || ':' || what, ',' ORDER BY id)) FROM events"),
        q("SELECT count(*) || '/' || coalesce(max(id), 0) FROM audit"),
    )
}

fn pg_merge(live: &str, scratch: &str, table: &str, extra: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = ["merge", "--scratch", scratch, "--live", live, "--tables", table, "--restore", "updated"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    v.extend(extra.iter().map(|s| s.to_string()));
    v
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[test]
fn pg_triggers_are_listed_refused_by_default_skipped_exactly_and_fired_with_counts() {
    let c = cluster_or_skip!();
    let (live, scratch) = pg_pair(&c);
    let dir = tempdir();
    let triggers_before = pg_triggers(&c, "shop");
    let damaged = pg_state(&c);

    // The plan lists all three with their definitions; the disabled one does not fire.
    let plan = json(dir.path(), &strs(&pg_merge(&live, &scratch, "downloads", &[])));
    let l = listed(&plan);
    let facts: Vec<(&str, &str, &str, bool)> =
        l.iter().map(|t| (t.name.as_str(), t.timing.as_str(), t.enabled.as_str(), t.fires)).collect();
    assert_eq!(
        facts,
        [
            ("downloads_audit", "AFTER", "enabled", true),
            ("downloads_noop", "BEFORE", "always", true),
            ("downloads_off", "AFTER", "disabled", false)
        ],
        "{plan:#}"
    );
    assert_eq!(
        l[0].sql,
        "CREATE TRIGGER downloads_audit AFTER UPDATE ON public.downloads FOR EACH ROW EXECUTE FUNCTION audit_row()"
    );

    // Default: refused, nothing written, no snapshot.
    let err = fails(dir.path(), &strs(&pg_merge(&live, &scratch, "downloads", &["--apply"])), 5);
    assert!(err.contains("`downloads_audit` on `downloads`") && !err.contains("downloads_off"), "{err}");
    assert_eq!(pg_state(&c), damaged, "nothing written");
    assert!(!dir.path().join("lastgood-snapshots").exists(), "no snapshot taken");

    // skip: merged, `audit` untouched, every trigger back in its own state (the disabled one
    // still disabled, the ALWAYS one ALWAYS again), and the next application write fires them.
    let report = json(dir.path(), &strs(&pg_merge(&live, &scratch, "downloads", &["--apply", "--triggers", "skip"])));
    assert_eq!((report["applied"].as_u64(), report["residual"].as_u64()), (Some(250), Some(0)), "{report:#}");
    assert_eq!(report["trigger_writes"]["total"], 0);
    let after_skip = pg_state(&c);
    assert_ne!(after_skip.0, damaged.0, "downloads merged");
    assert_eq!((&after_skip.1, &after_skip.2), (&damaged.1, &damaged.2), "events and audit untouched");
    assert_eq!(pg_triggers(&c, "shop"), triggers_before);
    c.psql("shop", "UPDATE downloads SET filename = 'app.zip' WHERE id = 1");
    assert_eq!(c.psql("shop", "SELECT count(*) FROM audit WHERE tab = 'downloads' AND row_id = 1").trim(), "1");

    // fire: the counts are the rows the trigger really wrote, per table; the snapshot is the whole
    // database; the undo puts back `downloads` and `audit` without firing anything.
    c.psql("shop", "UPDATE downloads SET filename = 'oops.zip' WHERE id <= 250");
    let before_fire = pg_state(&c);
    let audit_before: i64 = c.psql("shop", "SELECT count(*) FROM audit").trim().parse().unwrap();
    let report = json(dir.path(), &strs(&pg_merge(&live, &scratch, "downloads", &["--apply", "--triggers", "fire"])));
    assert_eq!(report["applied"], 250, "{report:#}");
    let audit_after: i64 = c.psql("shop", "SELECT count(*) FROM audit").trim().parse().unwrap();
    assert_eq!(audit_after - audit_before, 250);
    assert_eq!(
        report["trigger_writes"],
        serde_json::json!({"total": 250, "tables": [{"table": "audit", "rows": 250}], "unattributed": 0}),
        "{report:#}"
    );
    let snapshot = dir.path().join(report["snapshot"].as_str().unwrap());
    let toc = c.tool("pg_restore", "shop").arg("-l").arg(&snapshot).output().unwrap();
    let toc = String::from_utf8_lossy(&toc.stdout);
    for t in ["downloads", "audit", "events_low", "events_high"] {
        assert!(toc.contains(&format!("TABLE DATA public {t} ")), "whole database: no {t} in {toc}");
    }
    let undo = report["undo"].as_str().unwrap();
    assert!(undo.contains("--tables downloads,audit ") && undo.contains("--triggers skip"), "{undo}");
    let undo = undo.replace("lastgood ", &format!("{} --quiet ", assert_cmd::cargo::cargo_bin("lastgood").display()));
    let st = std::process::Command::new("sh").arg("-c").arg(&undo).current_dir(dir.path()).status().unwrap();
    assert!(st.success(), "undo failed: {undo}");
    assert_eq!(pg_state(&c), before_fire, "undo put back downloads and audit, firing nothing");
    assert_eq!(pg_triggers(&c, "shop"), triggers_before);

    // A partitioned table: the parent's row trigger fires on its partitions' clones.
    let events = strs(&pg_merge(&live, &scratch, "events", &[])).iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let plan = json(dir.path(), &strs(&events));
    let rels: Vec<(String, bool)> = listed(&plan).iter().map(|t| (t.relation.clone(), t.fires)).collect();
    assert_eq!(
        rels,
        [("events".to_string(), true), ("events_high".to_string(), true), ("events_low".to_string(), true)],
        "{plan:#}"
    );
    let mut apply = events.clone();
    apply.push("--apply".into());
    fails(dir.path(), &strs(&apply), 5);
    let before = pg_state(&c);
    let mut skip = apply.clone();
    skip.extend(["--triggers".into(), "skip".into()]);
    let report = json(dir.path(), &strs(&skip));
    assert_eq!(report["applied"], 200, "{report:#}");
    let now = pg_state(&c);
    assert_eq!((&now.0, &now.2), (&before.0, &before.2), "audit untouched through the partitions");
    assert_eq!(pg_triggers(&c, "shop"), triggers_before);
    c.psql("shop", "UPDATE events SET what = 'oops'");
    let audit_before: i64 = c.psql("shop", "SELECT count(*) FROM audit").trim().parse().unwrap();
    let mut fire = apply.clone();
    fire.extend(["--triggers".into(), "fire".into()]);
    let report = json(dir.path(), &strs(&fire));
    let audit_after: i64 = c.psql("shop", "SELECT count(*) FROM audit").trim().parse().unwrap();
    assert_eq!(audit_after - audit_before, 200);
    // The merge's own writes land in the partitions and are counted under `events`: not trigger rows.
    assert_eq!(report["trigger_writes"]["tables"], serde_json::json!([{"table": "audit", "rows": 200}]), "{report:#}");
}

#[test]
fn pg_rules_are_refused_whatever_the_policy_and_foreign_keys_stay_checked_under_skip() {
    let c = cluster_or_skip!();
    let schema = "CREATE TABLE parent(id int PRIMARY KEY);
        CREATE TABLE child(id int PRIMARY KEY, parent_id int REFERENCES parent(id), v text);
        CREATE TABLE ruled(id int PRIMARY KEY, v text);
        INSERT INTO parent VALUES (1), (2); INSERT INTO child VALUES (1, 1, 'a'), (2, 2, 'b');
        INSERT INTO ruled VALUES (1, 'a');";
    for db in ["rules", "rules_scratch"] {
        c.create_db(db);
        c.psql(db, schema);
    }
    // Live lost parent 2 and child 2 (FK checks still allow that pair), and gained a rule and a trigger.
    c.psql(
        "rules",
        "DELETE FROM child WHERE id = 2; DELETE FROM parent WHERE id = 2; UPDATE ruled SET v = 'x';
         CREATE TABLE ruled_log(v text);
         CREATE RULE ruled_log AS ON UPDATE TO ruled DO ALSO INSERT INTO ruled_log VALUES (NEW.v);
         CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$;
         CREATE TRIGGER child_touch BEFORE INSERT ON child FOR EACH ROW EXECUTE FUNCTION touch();",
    );
    let dir = tempdir();
    let (live, scratch) = (c.url("rules"), c.url("rules_scratch"));
    let plan = json(dir.path(), &strs(&pg_merge(&live, &scratch, "ruled", &["--triggers", "skip"])));
    let l = listed(&plan);
    assert_eq!((l.len(), l[0].kind.as_str(), l[0].name.as_str(), l[0].fires), (1, "rule", "ruled_log", true));
    assert!(l[0].sql.contains("ON UPDATE TO public.ruled DO  INSERT INTO ruled_log"), "{}", l[0].sql);
    for policy in ["refuse", "skip", "fire"] {
        let err = fails(dir.path(), &strs(&pg_merge(&live, &scratch, "ruled", &["--apply", "--triggers", policy])), 5);
        assert!(err.contains("rule(s) `ruled_log` on `ruled`"), "{policy}: {err}");
        assert_eq!(c.psql("rules", "SELECT v FROM ruled").trim(), "x", "{policy}: nothing written");
        assert_eq!(c.psql("rules", "SELECT count(*) FROM ruled_log").trim(), "0");
    }
    // Under skip, the child's trigger is disabled but the foreign key is not: re-inserting child 2
    // without its parent still fails at the commit, nothing written, the trigger still enabled.
    let args =
        ["merge", "--scratch", &scratch, "--live", &live, "--tables", "child", "--restore", "deleted", "--apply"];
    let err = fails(dir.path(), &[&args[..], &["--triggers", "skip"]].concat(), 3);
    assert!(err.contains("foreign key") && err.contains("nothing was written"), "{err}");
    assert_eq!(c.psql("rules", "SELECT count(*) FROM child").trim(), "1");
    assert_eq!(c.psql("rules", "SELECT tgenabled FROM pg_trigger WHERE tgname = 'child_touch'").trim(), "O");
}
