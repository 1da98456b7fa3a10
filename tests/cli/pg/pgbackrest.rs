//! A pgBackRest repository inside a lastgood repository: a real cluster archives its WAL with
//! `pgbackrest archive-push`, the real `pgbackrest backup` takes a full backup, and lastgood reads
//! the repository through the real `pgbackrest` (catalog: the backup as a recovery point and the
//! stanza's window), restores `--at`, `--before-txn` and `--after-txn` through `pgbackrest
//! restore` into a throwaway instance, never prunes anything in it, and leaves nothing behind.
//! Without pgbackrest installed the test is skipped with a message, and fails under `CI=true`.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use super::pitr::{rows_of, server_now};
use super::*;
use crate::cluster_or_skip;

/// The pgbackrest binary, or None (after a loud message) when it is missing outside CI.
fn pgbackrest_or_skip() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let found = std::env::split_paths(&path).map(|d| d.join("pgbackrest")).find(|p| p.is_file());
    if found.is_none() {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("pgbackrest not found and CI=true: install it (apt-get install pgbackrest)");
        }
        eprintln!(
            "\n*** SKIPPED: pgbackrest not found; install it (apt-get install pgbackrest) to run this test ***\n"
        );
    }
    found
}

fn is_root() -> bool {
    fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
}

/// `pgbackrest --config CONF --stanza demo ARGS`, as the `postgres` OS user when root.
fn pgbackrest(conf: &Path, args: &[&str]) {
    let mut cmd = if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--", "pgbackrest"]);
        c
    } else {
        Command::new("pgbackrest")
    };
    let out = cmd.arg(format!("--config={}", conf.display())).arg("--stanza=demo").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "pgbackrest {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Switches to a new segment and waits until pgBackRest has archived the one switched from.
fn switch_and_archive(c: &Cluster) {
    let seg = c.psql("postgres", "SELECT pg_walfile_name(pg_switch_wal())").trim().to_string();
    let start = Instant::now();
    while c.psql("postgres", "SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver").trim() < seg.as_str() {
        assert!(start.elapsed() < Duration::from_secs(60), "{seg} not archived after 60 s:\n{}", c.server_log());
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Every file below `dir` with its bytes.
fn tree(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap().flatten() {
            let t = e.file_type().unwrap();
            if t.is_dir() {
                stack.push(e.path());
            } else if t.is_file() {
                out.insert(e.path(), fs::read(e.path()).unwrap());
            } else {
                out.insert(e.path(), fs::read_link(e.path()).unwrap().to_string_lossy().as_bytes().to_vec());
            }
        }
    }
    out
}

fn nothing_left(scratch: &Path) {
    let ps = Command::new("pgrep").arg("-af").arg(s(scratch)).output().unwrap();
    assert!(ps.stdout.is_empty(), "processes left: {}", String::from_utf8_lossy(&ps.stdout));
    assert_eq!(files_in(scratch), vec![".lastgood-scratch".to_string()]);
}

#[test]
fn restore_to_a_moment_and_either_side_of_one_transaction_from_a_pgbackrest_repository() {
    let Some(_) = pgbackrest_or_skip() else { return };
    let c = cluster_or_skip!();
    let repo = c.dir.path().join("archive").join("repo");
    let pgbr = repo.join("pgbackrest");
    let own = c.dir.path().join("pgbackrest-own");
    fs::create_dir_all(&pgbr).unwrap();
    fs::create_dir_all(&own).unwrap();
    let conf = own.join("pgbackrest.conf");
    fs::write(
        &conf,
        format!(
            "[global]\nrepo1-path={}\nlock-path={own}/lock\nlog-path={own}/log\nspool-path={own}/spool\n\
             log-level-file=off\nlog-level-console=warn\nstart-fast=y\nrepo1-retention-full=9\n\
             [demo]\npg1-path={}\npg1-socket-path={}\npg1-port={}\npg1-user=postgres\n",
            pgbr.display(),
            c.data_dir().display(),
            c.dir.path().display(),
            c.port,
            own = own.display()
        ),
    )
    .unwrap();
    c.give_to_server_user(&c.dir.path().join("archive"));
    c.give_to_server_user(&own);
    let command = format!("pgbackrest --config={} --stanza=demo archive-push %p", conf.display());
    c.restart_with(&[("archive_mode", "on"), ("archive_command", &command)]);
    pgbackrest(&conf, &["stanza-create"]);
    let scratch = c.dir.path().join("scratch");

    c.create_db("shop");
    c.psql("shop", "CREATE TABLE t(id int PRIMARY KEY, v text NOT NULL, n int); CREATE INDEX t_v ON t(v);");
    c.psql("shop", "INSERT INTO t SELECT x, 'ok', x FROM generate_series(1, 50) x");
    pgbackrest(&conf, &["backup", "--type=full"]);
    c.psql("shop", "INSERT INTO t SELECT x, 'ok', x FROM generate_series(51, 60) x");
    // A quiet second, its middle T, then the incident at a recorded transaction.
    std::thread::sleep(Duration::from_millis(1100));
    let t = server_now(&c);
    let pre = rows_of(&c, "shop");
    std::thread::sleep(Duration::from_millis(1100));
    let xid = c.psql("shop", "BEGIN; SELECT txid_current(); UPDATE t SET v = 'bad' WHERE id <= 40; COMMIT;");
    let xid = xid.trim().to_string();
    let damaged = rows_of(&c, "shop");
    c.psql("shop", "INSERT INTO t SELECT x, 'ok', x FROM generate_series(61, 65) x; UPDATE t SET n = 99 WHERE id = 5");
    switch_and_archive(&c);

    // The catalog: the pgBackRest backup as a recovery point, the stanza's window past T.
    let v = json(c.dir.path(), &["catalog", "--repo", s(&repo)]);
    let backups: Vec<&serde_json::Value> =
        v["backups"].as_array().unwrap().iter().filter(|b| b["format"] == "pgbackrest").collect();
    assert_eq!(backups.len(), 1, "{v:#}");
    assert!(backups[0]["problem"].is_null() && backups[0]["taken_at_source"] == "tool", "{v:#}");
    let windows = v["windows"].as_array().unwrap();
    assert_eq!(windows.len(), 1, "{v:#}");
    let w = &windows[0];
    assert_eq!((w["format"].as_str(), w["timeline"].as_u64()), (Some("pgbackrest"), Some(1)), "{w:#}");
    assert_eq!(w["from"], backups[0]["taken_at"], "{w:#}");
    let to = chrono::DateTime::parse_from_rfc3339(w["to"].as_str().unwrap()).unwrap();
    assert!(to > chrono::DateTime::parse_from_rfc3339(&t).unwrap(), "the last commit is after T: {w:#}");
    let x: u64 = xid.parse().unwrap();
    assert!(w["transactions"]["first"].as_u64().unwrap() <= x && w["transactions"]["last"].as_u64().unwrap() > x);

    // --at T: exactly the rows before the incident, with the table's key and index.
    let live = c.url("shop");
    let restore = |how: &[&str]| {
        let mut args =
            vec!["restore", "--repo", s(&repo), "--tables", "t", "--live", &live, "--scratch-dir", s(&scratch)];
        args.extend_from_slice(how);
        json(c.dir.path(), &args)
    };
    let r = restore(&["--at", &t]);
    let db = r["scratch_database"].as_str().unwrap();
    assert_eq!(rows_of(&c, db), pre, "{r:#}");
    assert_eq!(r["base_backup"]["layout"], "pgbackrest full", "{r:#}");
    let indexes =
        c.psql(db, "SELECT string_agg(indexname, ',' ORDER BY indexname) FROM pg_indexes WHERE tablename = 't'");
    assert_eq!(indexes.trim(), "t_pkey,t_v");
    nothing_left(&scratch);

    // Either side of the bad transaction: they differ by exactly its rows.
    let before = restore(&["--before-txn", &xid]);
    assert_eq!(rows_of(&c, before["scratch_database"].as_str().unwrap()), pre, "{before:#}");
    let after = restore(&["--after-txn", &xid]);
    let after_rows = rows_of(&c, after["scratch_database"].as_str().unwrap());
    assert_eq!(after_rows, damaged, "{after:#}");
    let changed: Vec<&String> = after_rows.iter().filter(|r| !pre.contains(r)).collect();
    assert_eq!(changed.len(), 40);
    assert!(changed.iter().all(|r| r.contains("|bad|")));
    nothing_left(&scratch);

    // verify runs pgbackrest verify; prune removes nothing inside the pgBackRest repository.
    let out = lastgood(c.dir.path()).args(["--json", "verify", "--all", "--repo", s(&repo)]).output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(out.status.success(), "{v:#}");
    let names: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["checks"].as_array().unwrap().iter())
        .filter(|c| c["ok"] == true)
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"pgbackrest verify") && names.contains(&"pgbackrest info"), "{v:#}");
    let files = tree(&pgbr);
    let p = json(c.dir.path(), &["prune", "--repo", s(&repo), "--keep-last", "1"]);
    assert!(p.to_string().contains("kept by its tool"), "{p:#}");
    assert!(tree(&pgbr) == files, "prune changed the pgBackRest repository: {p:#}");

    // The repository given as the --repo folder itself reads the same.
    let v = json(c.dir.path(), &["catalog", "--repo", s(&pgbr)]);
    assert_eq!(v["windows"].as_array().map(Vec::len), Some(1), "{v:#}");

    // Without pgbackrest: listed with a note, and a restore from it exits 4 with the hint.
    let missing = |args: &[&str]| {
        lastgood(c.dir.path()).env("LASTGOOD_PGBACKREST", "/nonexistent/pgbackrest").args(args).output().unwrap()
    };
    let out = missing(&["--json", "catalog", "--repo", s(&repo)]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let note = v["ignored"].as_array().unwrap().iter().find(|i| i["kind"] == "repository").expect("listed");
    assert!(note["hint"].as_str().unwrap().contains("apt-get install pgbackrest"), "{v:#}");
    let mut args = vec!["restore", "--repo", s(&repo), "--tables", "t", "--live", &live, "--scratch-dir", s(&scratch)];
    args.extend(["--at", &t]);
    let out = missing(&args);
    assert_eq!(out.status.code(), Some(4), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("apt-get install pgbackrest"));
    nothing_left(&scratch);
}
