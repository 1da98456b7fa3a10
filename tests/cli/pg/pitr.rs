//! True point-in-time recovery: a real cluster archives its WAL through `lastgood wal-archive`,
//! `pg_basebackup` puts a plain and a tar base backup into the repository, and `restore --at`,
//! `--before-txn` and `--after-txn` replay the archive in a throwaway instance to exactly the
//! moment asked for; a missing segment is a gap that no restore crosses; nothing is left behind.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use super::*;
use crate::cluster_or_skip;

/// The table's rows, one line each, for comparing states.
pub(super) fn rows_of(c: &Cluster, db: &str) -> Vec<String> {
    c.psql(db, "SELECT id || '|' || v || '|' || n FROM t ORDER BY id").lines().map(str::to_string).collect()
}

/// The server's clock now, as RFC 3339.
pub(super) fn server_now(c: &Cluster) -> String {
    c.psql("postgres", "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')")
        .trim()
        .to_string()
}

/// Switches to a new segment and waits until the one switched from is in the archive; returns
/// its name.
pub(super) fn switch_and_archive(c: &Cluster, wal: &Path) -> String {
    let seg = c.psql("postgres", "SELECT pg_walfile_name(pg_switch_wal())").trim().to_string();
    let start = Instant::now();
    while !wal.join(&seg).exists() {
        assert!(start.elapsed() < Duration::from_secs(60), "{seg} not archived after 60 s:\n{}", c.server_log());
        std::thread::sleep(Duration::from_millis(100));
    }
    seg
}

fn base_backup(c: &Cluster, dir: &Path, args: &[&str]) {
    let out = c.tool("pg_basebackup", "postgres").arg("-D").arg(dir).args(["-c", "fast"]).args(args).output().unwrap();
    assert!(out.status.success(), "pg_basebackup {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// Restores table `t` as of `how` (`--at T`, `--before-txn X`…) into scratch; returns the report.
fn restore_t(c: &Cluster, repo: &Path, scratch: &Path, how: &[&str]) -> serde_json::Value {
    let live = c.url("shop");
    let mut args = vec!["restore", "--repo", s(repo), "--tables", "t", "--live", &live, "--scratch-dir", s(scratch)];
    args.extend_from_slice(how);
    json(c.dir.path(), &args)
}

/// Nothing of a recovery instance remains: no process names the scratch folder, and the folder
/// holds only its marker.
fn nothing_left(scratch: &Path) {
    let ps = Command::new("pgrep").arg("-af").arg(s(scratch)).output().unwrap();
    assert!(ps.stdout.is_empty(), "processes left: {}", String::from_utf8_lossy(&ps.stdout));
    assert_eq!(files_in(scratch), vec![".lastgood-scratch".to_string()]);
}

/// Makes `c` archive its WAL through `lastgood wal-archive` into a new repository; returns the
/// repository, its WAL folder and a scratch folder.
fn archive_through_lastgood(c: &Cluster) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    let repo = c.dir.path().join("archive").join("repo");
    fs::create_dir_all(repo.join("base")).unwrap();
    c.give_to_server_user(&c.dir.path().join("archive"));
    let command =
        format!("{} wal-archive %p %f --repo {}", assert_cmd::cargo::cargo_bin("lastgood").display(), s(&repo));
    c.restart_with(&[("archive_mode", "on"), ("archive_command", &command)]);
    (repo.clone(), repo.join("wal"), c.dir.path().join("scratch"))
}

#[test]
fn restore_to_a_moment_and_either_side_of_one_transaction_from_base_backups_and_the_wal_archive() {
    let c = cluster_or_skip!();
    let (repo, wal, scratch) = archive_through_lastgood(&c);

    c.create_db("shop");
    c.psql("shop", "CREATE TABLE t(id int PRIMARY KEY, v text NOT NULL, n int); CREATE INDEX t_v ON t(v);");
    c.psql("shop", "INSERT INTO t SELECT x, 'ok', x FROM generate_series(1, 50) x");
    // A table big enough to be copied in block ranges side by side, with a generated column
    // (never copied: computed again by the scratch server) and a dropped one.
    c.psql(
        "shop",
        "CREATE TABLE big(id bigint PRIMARY KEY, gone int, pad text, twice bigint GENERATED ALWAYS AS (id * 2) STORED);
         ALTER TABLE big DROP COLUMN gone;
         INSERT INTO big(id, pad) SELECT x, repeat(md5(x::text), 2) FROM generate_series(-20000, 100000) x;",
    );
    base_backup(&c, &repo.join("base/plain"), &["-Fp"]);
    c.psql("shop", "INSERT INTO t SELECT x, 'ok', x FROM generate_series(51, 60) x");
    std::thread::sleep(Duration::from_millis(1100));
    let t0 = server_now(&c);
    let at_t0 = rows_of(&c, "shop");
    std::thread::sleep(Duration::from_millis(1100));
    base_backup(&c, &repo.join("base/tar"), &["-Ft", "-z"]);
    c.psql("shop", "INSERT INTO t SELECT x, 'ok', x FROM generate_series(61, 70) x");
    let middle = switch_and_archive(&c, &wal);
    c.psql("shop", "INSERT INTO t VALUES (71, 'ok', 71)");
    let big_sum = "SELECT count(*) || ' ' || sum(id) || ' ' || sum(twice) || ' ' || md5(string_agg(pad, '' ORDER BY id)) FROM big";
    c.psql("shop", "UPDATE big SET pad = 'later' WHERE id % 1000 = 0");
    let big_pre = c.psql("shop", big_sum);
    // A quiet second, its middle T, then the incident at a recorded transaction.
    std::thread::sleep(Duration::from_millis(1100));
    let t = server_now(&c);
    let pre = rows_of(&c, "shop");
    std::thread::sleep(Duration::from_millis(1100));
    c.psql("shop", "UPDATE big SET pad = 'too late' WHERE id % 1000 = 1");
    let xid = c.psql("shop", "BEGIN; SELECT txid_current(); UPDATE t SET v = 'bad' WHERE id <= 40; COMMIT;");
    let xid = xid.trim().to_string();
    let damaged = rows_of(&c, "shop");
    // Later writes: new rows, another column of a damaged row, and a damaged cell edited again.
    let later_xid = c.psql(
        "shop",
        "BEGIN; SELECT txid_current(); INSERT INTO t SELECT x, 'ok', x FROM generate_series(72, 75) x;
         UPDATE t SET n = 99 WHERE id = 5; UPDATE t SET v = 'fixed' WHERE id = 7; COMMIT;",
    );
    let later_xid = later_xid.trim().to_string();
    switch_and_archive(&c, &wal);

    // The catalog: both base backups as points, one window with no gap.
    let v = json(c.dir.path(), &["catalog", "--repo", s(&repo)]);
    let bases: Vec<&serde_json::Value> =
        v["backups"].as_array().unwrap().iter().filter(|b| b["format"] == "pg-base").collect();
    assert_eq!(bases.len(), 2, "{v:#}");
    assert!(bases.iter().all(|b| b["taken_at_source"] == "log" && b["problem"].is_null()), "{v:#}");
    let windows = v["windows"].as_array().unwrap();
    assert_eq!(windows.len(), 1, "{v:#}");
    let w = &windows[0];
    assert_eq!((w["timeline"].as_u64(), w["gaps"].as_array().map(Vec::len)), (Some(1), Some(0)), "{w:#}");
    assert_eq!(w["bases"].as_array().unwrap().len(), 2, "{w:#}");
    assert_eq!(w["from"], bases.iter().map(|b| b["taken_at"].clone()).min_by_key(|t| t.to_string()).unwrap());
    let to = chrono::DateTime::parse_from_rfc3339(w["to"].as_str().unwrap()).unwrap();
    assert!(to > chrono::DateTime::parse_from_rfc3339(&t).unwrap(), "the last commit is after T: {w:#}");
    let txns = &w["transactions"];
    assert!(
        txns["first"].as_u64().unwrap() <= xid.parse().unwrap()
            && txns["last"].as_u64().unwrap() > xid.parse().unwrap(),
        "{w:#}"
    );

    // verify: pg_verifybackup on the plain backup, the tar one read against its manifest, the
    // log without a gap; prune keeps both base backups the window starts from.
    let v = json(c.dir.path(), &["verify", "--all", "--repo", s(&repo)]);
    let checks: Vec<String> = v
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["checks"].as_array().unwrap().iter())
        .map(|c| c["name"].as_str().unwrap().to_string())
        .collect();
    assert!(["pg_verifybackup", "tar members", "log"].iter().all(|n| checks.iter().any(|c| c == n)), "{v:#}");
    assert!(v.as_array().unwrap().iter().all(|c| c["ok"] == true), "{v:#}");
    let p = json(c.dir.path(), &["prune", "--repo", s(&repo), "--keep-last", "1"]);
    assert!(p.to_string().matches("recovery window").count() >= 2, "{p:#}");
    assert!(repo.join("base/plain").exists() && repo.join("base/tar").exists());

    // A leftover of a lastgood killed outright: removed by the next run.
    let dead = Command::new("true").spawn().unwrap();
    let dead_pid = dead.id();
    let _ = { dead }.wait();
    let leftover = scratch.join(format!("pitr-leftover-{dead_pid}-1"));
    fs::create_dir_all(leftover.join("data")).unwrap();
    fs::write(leftover.join(".lastgood-pitr"), format!("{dead_pid}\n")).unwrap();

    // --at T: exactly the rows before the incident, with the table's key and index.
    let r = restore_t(&c, &repo, &scratch, &["--at", &t]);
    let db = r["scratch_database"].as_str().unwrap();
    assert_eq!(rows_of(&c, db), pre, "{r:#}");
    assert_eq!(r["base_backup"]["layout"], "tar.gz", "{r:#}");
    assert!(r["reached"].as_str().unwrap().starts_with("recovery stopping before commit"), "{r:#}");
    assert_eq!(r["tables_restored"][0]["rows"].as_u64(), Some(pre.len() as u64), "{r:#}");
    for phase in ["unpack", "replay", "copy"] {
        assert!(r["seconds"][phase].as_f64().is_some(), "{r:#}");
    }
    let indexes =
        c.psql(db, "SELECT string_agg(indexname, ',' ORDER BY indexname) FROM pg_indexes WHERE tablename = 't'");
    assert_eq!(indexes.trim(), "t_pkey,t_v");
    assert!(!leftover.exists(), "the dead run's folder is removed");
    nothing_left(&scratch);
    // The big table, copied in block ranges: the same rows, the generated column computed again.
    let live = c.url("shop");
    let r = json(
        c.dir.path(),
        &["restore", "--repo", s(&repo), "--tables", "big", "--live", &live, "--scratch-dir", s(&scratch), "--at", &t],
    );
    let db = r["scratch_database"].as_str().unwrap();
    assert!(c.psql("shop", "SELECT pg_relation_size('big') >= 8 << 20").trim() == "t", "big enough to be split");
    assert_eq!(c.psql(db, big_sum), big_pre, "{r:#}");
    assert_eq!(r["tables_restored"][0]["rows"].as_u64(), Some(120_001), "{r:#}");
    assert_eq!(
        c.psql(db, "SELECT count(*) FROM pg_index WHERE indrelid = 'big'::regclass AND indisprimary").trim(),
        "1"
    );
    nothing_left(&scratch);

    // --at T0, before the tar backup: from the plain one.
    let r = restore_t(&c, &repo, &scratch, &["--at", &t0, "--timeline", "1"]);
    assert_eq!(r["base_backup"]["layout"], "plain", "{r:#}");
    assert_eq!(rows_of(&c, r["scratch_database"].as_str().unwrap()), at_t0);

    // lastgood killed outright while its instance runs: the server and folder stay behind, and
    // the next run stops that server (its postmaster.pid lies inside the folder) and removes them.
    let mut victim = lastgood(c.dir.path())
        .args([
            "restore",
            "--repo",
            s(&repo),
            "--tables",
            "t",
            "--live",
            &live,
            "--scratch-dir",
            s(&scratch),
            "--at",
            &t,
        ])
        .spawn()
        .unwrap();
    let start = Instant::now();
    let running = loop {
        let found = fs::read_dir(&scratch).unwrap().flatten().find(|e| e.path().join("data/postmaster.pid").exists());
        if let Some(e) = found {
            break e.path();
        }
        assert!(victim.try_wait().unwrap().is_none(), "the restore ended before its server started");
        assert!(start.elapsed() < Duration::from_secs(60));
        std::thread::sleep(Duration::from_millis(5));
    };
    victim.kill().unwrap();
    let _ = victim.wait();
    let ps = Command::new("pgrep").arg("-f").arg(s(&running)).output().unwrap();
    assert!(!ps.stdout.is_empty(), "the killed run's server is still running");

    // Either side of the bad transaction: they differ by exactly its rows.
    let before = restore_t(&c, &repo, &scratch, &["--before-txn", &xid]);
    assert_eq!(rows_of(&c, before["scratch_database"].as_str().unwrap()), pre, "{before:#}");
    assert!(before["reached"].as_str().unwrap().contains(&format!("before commit of transaction {xid}")));
    let after = restore_t(&c, &repo, &scratch, &["--after-txn", &xid]);
    let after_rows = rows_of(&c, after["scratch_database"].as_str().unwrap());
    assert_eq!(after_rows, damaged, "{after:#}");
    let changed: Vec<&String> = after_rows.iter().filter(|r| !pre.contains(r)).collect();
    assert_eq!(changed.len(), 40);
    assert!(changed.iter().all(|r| r.contains("|bad|")));
    assert!(!running.exists(), "the killed run's folder is removed by the next run");
    nothing_left(&scratch);

    // revert --txn: both sides from one replay, then the three-way revert of exactly that
    // transaction. The dry run writes nothing and lists the re-edited cell as a conflict.
    let scratch_dbs = || c.psql("postgres", "SELECT count(*) FROM pg_database WHERE datname LIKE 'lastgood_scratch_%'");
    let dbs_before = scratch_dbs();
    let live_before = rows_of(&c, "shop");
    let revert = |extra: &[&str]| {
        let mut args = vec![
            "revert",
            "--txn",
            &xid,
            "--repo",
            s(&repo),
            "--live",
            &live,
            "--tables",
            "t",
            "--scratch-dir",
            s(&scratch),
        ];
        args.extend_from_slice(extra);
        let out = lastgood(c.dir.path()).args(&args).output().unwrap();
        assert!(out.status.success(), "revert {extra:?}: {}", String::from_utf8_lossy(&out.stderr));
        let lines: Vec<serde_json::Value> =
            String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        lines
    };
    let plan = revert(&["--json"]);
    assert_eq!(rows_of(&c, "shop"), live_before, "a dry run writes nothing");
    let conflicts: Vec<(i64, String)> = plan
        .iter()
        .filter(|v| v["type"] == "conflict")
        .map(|v| (v["key"]["id"].as_i64().unwrap(), v["column"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(conflicts, [(7, "v".to_string())], "{plan:#?}");
    let report = revert(&["--json", "--apply"]);
    let end = report.iter().find(|v| v["type"] == "end").unwrap();
    assert_eq!(end["span"]["between"].as_str().map(|b| b.contains(&xid)), Some(true), "{end:#}");
    assert!(!end.to_string().contains("password"), "{end:#}");
    // Independently: live as it was, with every damaged cell (ids 1 to 40, v = 'bad') back to
    // 'ok' except the re-edited one, and every later write kept.
    let want: Vec<String> = live_before.iter().map(|r| r.replace("|bad|", "|ok|")).collect();
    assert!(live_before.iter().any(|r| r == "5|bad|99") && want.contains(&"5|ok|99".to_string()));
    assert!(want.contains(&"7|fixed|7".to_string()) && want.contains(&"75|ok|75".to_string()));
    assert_eq!(rows_of(&c, "shop"), want);
    assert_eq!(scratch_dbs(), dbs_before, "both sides' scratch databases are dropped");
    // The printed undo puts live back as it was before the revert.
    let undo = end["undo"].as_str().or(end["report"]["undo"].as_str()).unwrap().to_string();
    // It is a shell command line (a restore of the safety snapshot, then a merge of it).
    assert!(undo.starts_with("lastgood "), "{undo}");
    let bin_dir = assert_cmd::cargo::cargo_bin("lastgood").parent().unwrap().to_path_buf();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default());
    let out = Command::new("sh").arg("-c").arg(&undo).current_dir(c.dir.path()).env("PATH", path).output().unwrap();
    assert!(out.status.success(), "{undo}: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(rows_of(&c, "shop"), live_before, "{undo}");
    nothing_left(&scratch);

    // --base-txn X --damaged-txn Y: the sides are more than one transaction apart, so the
    // columns must be named, and the rows inserted between them are kept by default. The span
    // holds the later edit of id 7 too: reverting v writes 'ok' over it, as the plan shows.
    let between = ["revert", "--base-txn", &xid, "--damaged-txn", &later_xid, "--repo", s(&repo), "--live", &live];
    let between = [&between[..], &["--tables", "t", "--scratch-dir", s(&scratch)]].concat();
    let err = fails(c.dir.path(), &between, 2);
    assert!(err.contains("--columns"), "{err}");
    let out = lastgood(c.dir.path()).args(&between).args(["--columns", "v", "--json"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<serde_json::Value> =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let mut changed: Vec<i64> =
        lines.iter().filter(|v| v["type"] == "change").map(|v| v["key"]["id"].as_i64().unwrap()).collect();
    changed.sort();
    assert_eq!(changed, (1..=40).collect::<Vec<i64>>(), "{lines:#?}");
    assert!(!lines.iter().any(|v| v["type"] == "conflict"), "{lines:#?}");
    let end = lines.iter().find(|v| v["type"] == "end").unwrap();
    assert!(
        end["span"]["between"].as_str().unwrap().contains(&format!("transactions {xid} to {later_xid}")),
        "{end:#}"
    );
    assert_eq!(rows_of(&c, "shop"), live_before, "a dry run writes nothing");
    assert_eq!(scratch_dbs(), dbs_before, "both sides' scratch databases are dropped");
    nothing_left(&scratch);

    // revert --txn --apply killed outright once the first side is in scratch (the instance
    // replaying on to the second): live is untouched; `scratch list` shows the folder and the
    // database left behind, and `scratch drop --all` stops that server and removes both.
    let mut victim = lastgood(c.dir.path())
        .args(["revert", "--txn", &xid, "--repo", s(&repo), "--live", &live, "--tables", "t"])
        .args(["--scratch-dir", s(&scratch), "--apply"])
        .spawn()
        .unwrap();
    let start = Instant::now();
    while scratch_dbs() == dbs_before {
        assert!(victim.try_wait().unwrap().is_none(), "the revert ended before its first side was restored");
        assert!(start.elapsed() < Duration::from_secs(60));
        std::thread::sleep(Duration::from_millis(5));
    }
    victim.kill().unwrap();
    let _ = victim.wait();
    assert_eq!(rows_of(&c, "shop"), live_before, "a killed revert wrote nothing");
    let listed = json(c.dir.path(), &["scratch", "list", "--live", &live, "--scratch-dir", s(&scratch)]);
    let folders: Vec<&serde_json::Value> =
        listed.as_array().unwrap().iter().filter(|v| v["folder"].is_string()).collect();
    assert_eq!(folders.len(), 1, "{listed:#}");
    assert_eq!(folders[0]["owner_running"], false, "{listed:#}");
    assert!(listed.as_array().unwrap().iter().any(|v| v["database"].is_string()), "{listed:#}");
    let dropped = json(c.dir.path(), &["scratch", "drop", "--all", "--live", &live, "--scratch-dir", s(&scratch)]);
    assert_eq!(dropped["removed_folders"].as_array().map(Vec::len), Some(1), "{dropped:#}");
    assert_eq!(scratch_dbs().trim(), "0", "{dropped:#}");
    assert_eq!(rows_of(&c, "shop"), live_before);
    nothing_left(&scratch);

    // A timeline no window follows: refused, naming the ones there are; --timeline alone is a
    // usage error.
    let args = ["restore", "--repo", s(&repo), "--live", &live, "--scratch-dir", s(&scratch), "--timeline", "9"];
    let err = fails(c.dir.path(), &[&args[..], &["--at", &t]].concat(), 3);
    assert!(err.contains("no recovery window follows timeline 9") && err.contains("timeline 1"), "{err}");
    let err = fails(c.dir.path(), &args, 2);
    assert!(err.contains("--timeline"), "{err}");

    // Before every base backup: refused, the window named.
    let err = fails(
        c.dir.path(),
        &[
            "restore",
            "--repo",
            s(&repo),
            "--at",
            "2000-01-01T00:00:00Z",
            "--live",
            &c.url("shop"),
            "--scratch-dir",
            s(&scratch),
        ],
        3,
    );
    assert!(err.contains("recovery window"), "{err}");

    // A missing segment: a gap, and no restore across it.
    fs::remove_file(wal.join(&middle)).unwrap();
    let v = json(c.dir.path(), &["catalog", "--repo", s(&repo)]);
    let gaps = v["windows"][0]["gaps"].as_array().unwrap();
    assert_eq!(gaps.len(), 1, "{v:#}");
    assert!(gaps[0]["reason"].as_str().unwrap().contains(&middle), "{v:#}");
    let across = |how: &[&str]| {
        let mut args =
            vec!["restore", "--repo", s(&repo), "--tables", "t", "--live", &live, "--scratch-dir", s(&scratch)];
        args.extend_from_slice(how);
        fails(c.dir.path(), &args, 3)
    };
    let out = lastgood(c.dir.path()).args(["verify", "--all", "--repo", s(&repo)]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "a gap fails verify: {}", String::from_utf8_lossy(&out.stdout));
    assert!(String::from_utf8_lossy(&out.stdout).contains(&middle));
    let err = across(&["--at", &t]);
    assert!(err.contains("falls in a gap") && err.contains(&middle), "{err}");
    let err = across(&["--before-txn", &xid]);
    assert!(err.contains("WAL archive ends before"), "{err}");
    nothing_left(&scratch);
}

/// A tablespace created after the base backup: replaying its CREATE TABLESPACE would link the
/// instance to the tablespace's folder on this host — production's — so the restore fails, one
/// clear line, and that folder is left exactly as it was.
#[test]
fn replay_never_writes_into_a_tablespace_folder_created_after_the_base_backup() {
    let c = cluster_or_skip!();
    let (repo, wal, scratch) = archive_through_lastgood(&c);
    c.create_db("shop");
    c.psql("shop", "CREATE TABLE t(id int PRIMARY KEY, v text NOT NULL, n int)");
    c.psql("shop", "INSERT INTO t SELECT x, 'ok', x FROM generate_series(1, 50) x");
    base_backup(&c, &repo.join("base/tar"), &["-Ft"]);
    let place = c.dir.path().join("production-tablespace");
    fs::create_dir_all(&place).unwrap();
    c.give_to_server_user(&place);
    c.psql("shop", &format!("CREATE TABLESPACE far LOCATION '{}'", s(&place)));
    c.psql(
        "shop",
        "CREATE TABLE t2(id int PRIMARY KEY) TABLESPACE far; INSERT INTO t2 SELECT generate_series(1, 1000)",
    );
    c.psql("postgres", "CHECKPOINT");
    let listing = |dir: &Path| -> Vec<(String, u64)> {
        let mut out = Vec::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in fs::read_dir(&d).unwrap().flatten() {
                let m = fs::symlink_metadata(e.path()).unwrap();
                if m.is_dir() {
                    stack.push(e.path());
                }
                out.push((e.path().display().to_string(), if m.is_file() { m.len() } else { 0 }));
            }
        }
        out.sort();
        out
    };
    let mtimes = |dir: &Path| -> Vec<std::time::SystemTime> {
        listing(dir).iter().map(|(p, _)| fs::symlink_metadata(p).unwrap().modified().unwrap()).collect()
    };
    std::thread::sleep(Duration::from_millis(1100));
    let t = server_now(&c);
    std::thread::sleep(Duration::from_millis(1100));
    c.psql("shop", "UPDATE t SET v = 'bad'");
    switch_and_archive(&c, &wal);
    c.psql("postgres", "CHECKPOINT");
    let (before, before_times) = (listing(&place), mtimes(&place));
    assert!(!before.is_empty());

    let live = c.url("shop");
    let args =
        ["restore", "--repo", s(&repo), "--tables", "t", "--live", &live, "--scratch-dir", s(&scratch), "--at", &t];
    let err = fails(c.dir.path(), &args, 3);
    assert!(err.contains("creates a tablespace") && err.lines().count() <= 2, "{err}");
    assert_eq!(listing(&place), before, "the tablespace folder is as it was");
    assert_eq!(mtimes(&place), before_times, "nothing in it was written");
    nothing_left(&scratch);
}
