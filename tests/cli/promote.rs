//! `lastgood promote`: atomic replacement of live by scratch, with a safety snapshot.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rusqlite::Connection;
use sha2::{Digest, Sha256};

use crate::common::*;

/// A shop as live, and a scratch copy of it with a few changes.
fn live_and_scratch(dir: &tempfile::TempDir) -> (std::path::PathBuf, std::path::PathBuf) {
    let live = path(dir, "live.db");
    let scratch = path(dir, "scratch.db");
    make_shop(&live, 200);
    std::fs::copy(&live, &scratch).unwrap();
    sqlite3(&scratch, "UPDATE downloads SET filename = 'restored-' || id; DELETE FROM orders WHERE id > 150;");
    (live, scratch)
}

/// Feeds `script` to a real `sqlite3` process on `db`, waits until it has written to the side file
/// `db` + `suffix`, then SIGKILLs it (a crashed writer); returns the side file's path.
fn sqlite3_killed_after(db: &Path, suffix: &str, script: &str) -> std::path::PathBuf {
    use std::io::Write;
    let mut writer = Command::new("sqlite3").arg(db).stdin(Stdio::piped()).stdout(Stdio::null()).spawn().unwrap();
    writer.stdin.as_mut().unwrap().write_all(script.as_bytes()).unwrap();
    let side = std::path::PathBuf::from(format!("{}{suffix}", db.display()));
    let started = Instant::now();
    while std::fs::metadata(&side).map(|m| m.len()).unwrap_or(0) == 0 {
        assert!(started.elapsed() < Duration::from_secs(10), "sqlite3 never wrote `{}`", side.display());
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(200));
    writer.kill().unwrap();
    writer.wait().unwrap();
    side
}

fn file_names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    v.sort();
    v
}

#[test]
fn promote_replaces_live_keeps_the_old_live_as_snapshot_and_prints_a_working_undo() {
    let dir = tempdir();
    let (live, scratch) = live_and_scratch(&dir);
    let old_bytes = std::fs::read(&live).unwrap();
    let old_orders = rows(&live, "orders");
    let v = json(dir.path(), &["promote", "--scratch", s(&scratch), "--live", s(&live), "--yes"]);
    for t in ["orders", "downloads", "customers", "audit"] {
        assert_eq!(rows(&live, t), rows(&scratch, t), "table {t}");
    }
    let snapshot = Path::new(v["snapshot"].as_str().unwrap()).to_path_buf();
    assert_eq!(std::fs::read(&snapshot).unwrap(), old_bytes, "snapshot is byte for byte the old live");
    assert!(!Path::new(&format!("{}-wal", live.display())).exists());
    assert!(!file_names(dir.path()).iter().any(|n| n.starts_with(".lastgood-tmp")), "{:?}", file_names(dir.path()));

    // The printed undo command puts the old live back.
    let undo = v["undo"].as_str().unwrap();
    let args: Vec<&str> = undo.split(' ').skip(1).collect();
    let out = lastgood(dir.path()).args(&args).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(rows(&live, "orders"), old_orders);
}

#[test]
fn dry_run_writes_nothing() {
    let dir = tempdir();
    let (live, scratch) = live_and_scratch(&dir);
    let before = (file_names(dir.path()), std::fs::read(&live).unwrap());
    let v = json(dir.path(), &["promote", "--scratch", s(&scratch), "--live", s(&live)]);
    assert_eq!(v["dry_run"], true);
    assert_eq!(v["steps"].as_array().unwrap().len(), 4);
    assert_eq!((file_names(dir.path()), std::fs::read(&live).unwrap()), before);
}

#[test]
fn scratch_equal_to_live_is_refused() {
    let dir = tempdir();
    let (live, _) = live_and_scratch(&dir);
    let out =
        lastgood(dir.path()).args(["promote", "--scratch", s(&live), "--live", s(&live), "--yes"]).output().unwrap();
    assert_eq!(out.status.code(), Some(5));
    assert!(String::from_utf8_lossy(&out.stderr).contains("same file"));
}

/// Promote keeps live's mode and owner on the new live and on the safety snapshot (the
/// temporary file it renames is created 0600, owned by whoever runs lastgood).
#[test]
fn promote_keeps_lives_mode_and_owner() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let dir = tempdir();
    let (live, scratch) = live_and_scratch(&dir);
    std::fs::set_permissions(&live, std::fs::Permissions::from_mode(0o640)).unwrap();
    // Another owner when we may set one (as root); else our own uid with a group we are in.
    let (uid, gid) = (4321, 4322);
    let as_root = std::os::unix::fs::chown(&live, Some(uid), Some(gid)).is_ok();
    let v = json(dir.path(), &["promote", "--scratch", s(&scratch), "--live", s(&live), "--yes"]);
    assert_eq!(rows(&live, "downloads"), rows(&scratch, "downloads"));
    let snapshot = Path::new(v["snapshot"].as_str().unwrap()).to_path_buf();
    for f in [&live, &snapshot] {
        let m = std::fs::metadata(f).unwrap();
        assert_eq!(m.permissions().mode() & 0o7777, 0o640, "{}", f.display());
        if as_root {
            assert_eq!((m.uid(), m.gid()), (uid, gid), "{}", f.display());
        }
    }
    if !as_root {
        eprintln!("promote_keeps_lives_mode_and_owner: not root, owner not checked");
    }
}

/// A live given as a symbolic link: the file it points to is replaced, the link stays a link,
/// and the output says so.
#[test]
fn a_symlinked_live_replaces_the_real_file_and_keeps_the_link() {
    let dir = tempdir();
    let (real, scratch) = live_and_scratch(&dir);
    std::fs::create_dir_all(path(&dir, "app")).unwrap();
    let link = path(&dir, "app/current.db");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let v = json(dir.path(), &["promote", "--scratch", s(&scratch), "--live", s(&link), "--yes"]);
    assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink(), "the link was replaced");
    assert_eq!(std::fs::canonicalize(&link).unwrap(), std::fs::canonicalize(&real).unwrap());
    assert_eq!(rows(&real, "downloads"), rows(&scratch, "downloads"));
    assert_eq!(v["live_symlink"], s(&link));
    assert_eq!(Path::new(v["live"].as_str().unwrap()), std::fs::canonicalize(&real).unwrap());
    let snapshot = Path::new(v["snapshot"].as_str().unwrap()).to_path_buf();
    assert_eq!(snapshot.parent(), std::fs::canonicalize(&real).unwrap().parent(), "snapshot beside the real file");
    let out = lastgood(dir.path())
        .args(["promote", "--scratch", s(&snapshot), "--live", s(&link), "--yes"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("symbolic link"), "{}", String::from_utf8_lossy(&out.stdout));
    assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
}

#[test]
fn a_hard_link_of_live_as_scratch_is_refused_as_the_same_file() {
    let dir = tempdir();
    let (live, _) = live_and_scratch(&dir);
    let link = path(&dir, "link-to-live.db");
    std::fs::hard_link(&live, &link).unwrap();
    let before = std::fs::read(&live).unwrap();
    let err = fails(dir.path(), &["promote", "--scratch", s(&link), "--live", s(&live), "--yes"], 5);
    assert!(err.contains("same file"), "{err}");
    assert_eq!(std::fs::read(&live).unwrap(), before);
}

#[test]
fn refused_while_another_connection_holds_a_read_transaction() {
    let dir = tempdir();
    let (live, scratch) = live_and_scratch(&dir);
    let before = std::fs::read(&live).unwrap();
    let reader = Connection::open(&live).unwrap();
    reader.execute_batch("BEGIN").unwrap();
    let n: i64 = reader.query_row("SELECT count(*) FROM orders", [], |r| r.get(0)).unwrap();
    assert_eq!(n, 200);
    let out =
        lastgood(dir.path()).args(["promote", "--scratch", s(&scratch), "--live", s(&live), "--yes"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(5), "{err}");
    assert!(err.contains("is in use") && err.contains(&format!("pid {}", std::process::id())), "{err}");
    assert_eq!(std::fs::read(&live).unwrap(), before);
    assert!(!file_names(dir.path()).iter().any(|n| n.contains("snapshot")));
    drop(reader);
}

#[test]
fn refused_by_the_lock_probe_when_a_sqlite3_process_holds_a_transaction() {
    let dir = tempdir();
    let (live, scratch) = live_and_scratch(&dir);
    // A real sqlite3 process with an open write transaction (RESERVED lock), fed from a pipe.
    let mut holder = Command::new("sqlite3").arg(&live).stdin(Stdio::piped()).stdout(Stdio::null()).spawn().unwrap();
    use std::io::Write;
    holder.stdin.as_mut().unwrap().write_all(b"BEGIN IMMEDIATE;\nSELECT 1;\n").unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let out =
        lastgood(dir.path()).args(["promote", "--scratch", s(&scratch), "--live", s(&live), "--yes"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(5), "{err}");
    assert!(err.contains(&format!("pid {}", holder.id())) && err.contains("transaction open"), "{err}");
    holder.kill().unwrap();
    holder.wait().unwrap();
}

#[test]
fn uncheckpointed_wal_is_refused_and_force_snapshots_the_wal_content() {
    let dir = tempdir();
    let (live, scratch) = live_and_scratch(&dir);
    // A WAL-mode live whose writer died: the committed row is only in live-wal.
    sqlite3(&live, "PRAGMA journal_mode = WAL;");
    let wal = sqlite3_killed_after(
        &live,
        "-wal",
        "PRAGMA wal_autocheckpoint = 0;\nINSERT INTO orders(id, customer_id, item) VALUES (9999, 1, 'only in wal');\n",
    );
    assert!(std::fs::metadata(&wal).unwrap().len() > 0);

    let out =
        lastgood(dir.path()).args(["promote", "--scratch", s(&scratch), "--live", s(&live), "--yes"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(5), "{err}");
    assert!(err.contains("not checkpointed"), "{err}");

    let v = json(dir.path(), &["promote", "--scratch", s(&scratch), "--live", s(&live), "--yes", "--force"]);
    assert_eq!(v["live_journal_mode"], "wal");
    let snapshot = Path::new(v["snapshot"].as_str().unwrap()).to_path_buf();
    assert!(rows(&snapshot, "orders").iter().any(|r| r[0] == "Integer(9999)"), "snapshot holds the WAL's row");
    assert!(!wal.exists() || std::fs::metadata(&wal).unwrap().len() == 0);
    assert_eq!(rows(&live, "orders"), rows(&scratch, "orders"));
    let mode: String = Connection::open(&live).unwrap().query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
    assert_eq!(mode, "wal", "the promoted file keeps live's journal mode");
}

#[test]
fn second_promote_fails_at_once_naming_the_lock_holder_pid() {
    let dir = tempdir();
    let (live, scratch) = live_and_scratch(&dir);
    let lock = format!("{}.lastgood-lock", live.display());
    // Another process holds the writer lock (flock) and has written its pid into it, as lastgood does.
    let mut holder = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "printf 'pid %s\\nstarted at now\\ncommand promote\\n' $$ > '{lock}'; exec flock '{lock}' sleep 30"
        ))
        .spawn()
        .unwrap();
    let started = Instant::now();
    loop {
        let f = std::fs::File::open(&lock);
        if let Ok(f) = f
            && std::fs::read_to_string(&lock).unwrap_or_default().contains("pid")
            && matches!(f.try_lock_shared(), Err(std::fs::TryLockError::WouldBlock))
        {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "flock never took the lock");
        std::thread::sleep(Duration::from_millis(20));
    }
    let t = Instant::now();
    let out =
        lastgood(dir.path()).args(["promote", "--scratch", s(&scratch), "--live", s(&live), "--yes"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(5), "{err}");
    assert!(err.contains(&format!("pid {}", holder.id())), "{err}");
    assert!(t.elapsed() < Duration::from_secs(3), "fails at once");
    holder.kill().unwrap();
    holder.wait().unwrap();
}

/// Digest of every row of every table, in key order: two files with equal digests hold equal rows.
fn content_digest(db: &Path) -> String {
    let c = Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let mut h = Sha256::new();
    for t in tables(db) {
        h.update(t.as_bytes());
        let mut st = c.prepare(&format!("SELECT * FROM \"{t}\" ORDER BY 1")).unwrap();
        let n = st.column_count();
        let mut rs = st.query([]).unwrap();
        while let Some(r) = rs.next().unwrap() {
            for i in 0..n {
                use rusqlite::types::ValueRef;
                match r.get_ref(i).unwrap() {
                    ValueRef::Null => h.update(b"n"),
                    ValueRef::Integer(x) => h.update([b"i".as_slice(), &x.to_le_bytes()].concat()),
                    ValueRef::Real(x) => h.update([b"r".as_slice(), &x.to_le_bytes()].concat()),
                    ValueRef::Text(b) | ValueRef::Blob(b) => {
                        let tag = if matches!(r.get_ref(i).unwrap(), ValueRef::Text(_)) { b"t" } else { b"b" };
                        h.update(tag);
                        h.update((b.len() as u64).to_le_bytes());
                        h.update(b)
                    }
                }
            }
            h.update(b"\x1e");
        }
    }
    hex::encode(h.finalize())
}

fn integrity(db: &Path) -> String {
    Connection::open(db).unwrap().query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap()
}

fn make_big(path: &Path, marker: &str) {
    let c = Connection::open(path).unwrap();
    c.execute_batch(&format!(
        "CREATE TABLE t(id INTEGER PRIMARY KEY, marker TEXT, payload BLOB);
         WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 120000)
           INSERT INTO t SELECT x, '{marker}', randomblob(200) FROM c;"
    ))
    .unwrap();
}

#[test]
fn sigkill_at_random_moments_leaves_live_either_old_or_promoted_never_partial() {
    let dir = tempdir();
    let pristine = path(&dir, "pristine.db");
    let live = path(&dir, "live.db");
    let scratch = path(&dir, "scratch.db");
    make_big(&pristine, "old");
    make_big(&scratch, "new");
    assert!(std::fs::metadata(&scratch).unwrap().len() > 20_000_000);
    let (old, new) = (content_digest(&pristine), content_digest(&scratch));
    assert_ne!(old, new);

    // How long one promote takes here, so that kills spread over the whole run.
    std::fs::copy(&pristine, &live).unwrap();
    let t = Instant::now();
    let st =
        lastgood(dir.path()).args(["promote", "--scratch", s(&scratch), "--live", s(&live), "--yes"]).status().unwrap();
    assert!(st.success());
    let full = t.elapsed();

    let (mut saw_old, mut saw_new) = (0, 0);
    let mut rng = fastrand::Rng::with_seed(0x1a57_900d);
    // At least 24 kills; more (up to 60) until some landed on each side of the rename. A loaded
    // machine runs slower than the measured run, so the delays stretch while no kill lands late.
    let mut round = 0;
    while round < 24 || (saw_old == 0 || saw_new == 0) && round < 60 {
        round += 1;
        for name in file_names(dir.path()) {
            if name.starts_with("live.db") || name.starts_with(".lastgood-tmp") {
                std::fs::remove_file(dir.path().join(name)).unwrap();
            }
        }
        std::fs::copy(&pristine, &live).unwrap();
        let stretch = if saw_new == 0 { 1.1 + 0.25 * round as f64 } else { 1.1 };
        let delay = full.mul_f64(rng.f64() * stretch);
        let mut child = lastgood(dir.path())
            .args(["promote", "--scratch", s(&scratch), "--live", s(&live), "--yes"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        let _ = child.kill(); // SIGKILL
        child.wait().unwrap();
        let got = content_digest(&live);
        assert!(got == old || got == new, "round {round} (kill after {delay:?}): live is partial");
        assert_eq!(integrity(&live), "ok", "round {round}");
        if got == old {
            saw_old += 1
        } else {
            saw_new += 1
        }
        // A snapshot, when it exists under its final name, is always the complete old live.
        for name in file_names(dir.path()).iter().filter(|n| n.contains("lastgood-snapshot")) {
            assert_eq!(content_digest(&dir.path().join(name)), old, "round {round}: snapshot {name}");
        }
    }
    assert!(saw_old > 0 && saw_new > 0, "kills should land before and after the rename: old {saw_old}, new {saw_new}");
}

#[test]
fn ctrl_c_at_random_moments_exits_130_and_leaves_no_temporary_file() {
    let dir = tempdir();
    let pristine = path(&dir, "pristine.db");
    let live = path(&dir, "live.db");
    let scratch = path(&dir, "scratch.db");
    make_big(&pristine, "old");
    make_big(&scratch, "new");
    let (old, new) = (content_digest(&pristine), content_digest(&scratch));
    let mut rng = fastrand::Rng::with_seed(0xc7_1c);
    let mut interrupted = 0;
    for round in 0..8 {
        for name in file_names(dir.path()) {
            if name.starts_with("live.db") {
                std::fs::remove_file(dir.path().join(name)).unwrap();
            }
        }
        std::fs::copy(&pristine, &live).unwrap();
        let mut child = lastgood(dir.path())
            .args(["promote", "--scratch", s(&scratch), "--live", s(&live), "--yes"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(20 + rng.u64(0..120)));
        let _ = Command::new("kill").arg("-INT").arg(child.id().to_string()).status();
        let code = child.wait().unwrap().code();
        assert!(matches!(code, Some(0) | Some(130) | None), "round {round}: exit {code:?}");
        interrupted += usize::from(code == Some(130));
        let got = content_digest(&live);
        assert!(got == old || got == new, "round {round}: live is partial");
        let left: Vec<String> = file_names(dir.path()).into_iter().filter(|n| n.starts_with(".lastgood-tmp")).collect();
        assert!(left.is_empty(), "round {round}: left {left:?}");
    }
    assert!(interrupted > 0, "no round was interrupted mid-promote");
}

#[test]
fn hot_journal_of_a_crashed_writer_is_refused_and_force_snapshots_the_recovered_live() {
    let dir = tempdir();
    let (live, scratch) = live_and_scratch(&dir);
    let before = rows(&live, "orders");
    // A writer killed mid-transaction leaves a hot journal beside a half-written live.
    let journal = sqlite3_killed_after(
        &live,
        "-journal",
        "PRAGMA cache_size = 1;\nBEGIN;\nUPDATE orders SET item = 'half-written', note = zeroblob(3000);\n",
    );

    let out =
        lastgood(dir.path()).args(["promote", "--scratch", s(&scratch), "--live", s(&live), "--yes"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(5), "{err}");
    assert!(err.contains("rollback journal"), "{err}");
    assert!(std::fs::metadata(&journal).unwrap().len() > 0, "the refusal did not touch the journal");

    let v = json(dir.path(), &["promote", "--scratch", s(&scratch), "--live", s(&live), "--yes", "--force"]);
    let snapshot = Path::new(v["snapshot"].as_str().unwrap()).to_path_buf();
    assert_eq!(rows(&snapshot, "orders"), before, "the snapshot is live as recovered from its journal");
    assert!(!journal.exists());
    assert_eq!(rows(&live, "orders"), rows(&scratch, "orders"));
    assert_eq!(integrity(&live), "ok");
}

/// Every table and view of a SQLite file with its rows, and the schema's SQL, for "live is back".
fn content(db: &Path) -> Vec<(String, Vec<Vec<String>>)> {
    let c = Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let mut st =
        c.prepare("SELECT type, name, sql FROM sqlite_schema WHERE name NOT LIKE 'sqlite_%' ORDER BY name").unwrap();
    let objects: Vec<(String, String, String)> =
        st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).unwrap().map(Result::unwrap).collect();
    objects
        .into_iter()
        .map(|(kind, name, sql)| {
            let data = if kind == "table" || kind == "view" { rows(db, &name) } else { Vec::new() };
            (format!("{kind} {name}: {sql}"), data)
        })
        .collect()
}

/// A live shop with a view, its backup in `repo`, and a scratch restored from it with only
/// `downloads` (`restore --tables downloads`). Returns (live, scratch).
fn live_and_partial_scratch(dir: &tempfile::TempDir) -> (std::path::PathBuf, std::path::PathBuf) {
    let live = path(dir, "live.db");
    make_shop(&live, 100);
    sqlite3(&live, "CREATE VIEW big_orders AS SELECT * FROM orders WHERE amount > 100;");
    let repo = path(dir, "repo");
    std::fs::create_dir_all(&repo).unwrap();
    cli_backup(&live, &repo.join("shop-2026-11-23T06-00-00.db"));
    let scratch = path(dir, "partial.db");
    json(
        dir.path(),
        &["restore", "--repo", s(&repo), "--backup", "latest", "--tables", "downloads", "--into", s(&scratch)],
    );
    (live, scratch)
}

/// Issue 10, class 2: promoting a scratch that holds only some of live's tables would drop the
/// others from live. It is refused (exit 5) naming each table and view, in the dry run too;
/// `--allow-missing` must name exactly those: one too few or one unknown still refuses.
#[test]
fn promote_of_a_partial_scratch_is_refused_naming_what_live_would_lose() {
    let dir = tempdir();
    let (live, scratch) = live_and_partial_scratch(&dir);
    let before = std::fs::read(&live).unwrap();
    let before_content = content(&live);
    let err = fails(dir.path(), &["promote", "--scratch", s(&scratch), "--live", s(&live), "--yes"], 5);
    for name in ["table `orders`", "table `customers`", "table `audit`", "view `big_orders`"] {
        assert!(err.contains(name), "{name} not named: {err}");
    }
    assert!(!err.contains("`downloads`"), "{err}");
    let out = lastgood(dir.path()).args(["promote", "--scratch", s(&scratch), "--live", s(&live), "--yes"]).output();
    let stderr = String::from_utf8_lossy(&out.unwrap().stderr).into_owned();
    assert!(
        stderr.contains("hint: ") && stderr.contains("--allow-missing audit,customers,orders,big_orders"),
        "{stderr}"
    );
    assert!(std::fs::read(&live).unwrap() == before, "live untouched");

    // The dry run lists them (human and JSON) and refuses the same way.
    let out = lastgood(dir.path())
        .args(["--json", "promote", "--scratch", s(&scratch), "--live", s(&live)])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(5));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let missing: Vec<(String, String)> = plan["missing"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["kind"].as_str().unwrap().to_string(), m["name"].as_str().unwrap().to_string()))
        .collect();
    let want: Vec<(String, String)> =
        [("table", "audit"), ("table", "customers"), ("table", "orders"), ("view", "big_orders")]
            .iter()
            .map(|(k, n)| (k.to_string(), n.to_string()))
            .collect();
    assert_eq!(missing, want);
    let out = lastgood(dir.path()).args(["promote", "--scratch", s(&scratch), "--live", s(&live)]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("view big_orders") && text.contains("table orders"), "{text}");

    // One name short, or one name too many: still refused, and live untouched.
    for allow in [
        "audit,customers,orders",
        "audit,customers,orders,big_orders,downloads",
        "audit,customers,orders,big_orders,nosuch",
    ] {
        fails(
            dir.path(),
            &["promote", "--scratch", s(&scratch), "--live", s(&live), "--yes", "--allow-missing", allow],
            5,
        );
        assert!(std::fs::read(&live).unwrap() == before, "live untouched with --allow-missing {allow}");
    }
    // Exactly those: promoted, and the report names what was dropped.
    let v = json(
        dir.path(),
        &[
            "promote",
            "--scratch",
            s(&scratch),
            "--live",
            s(&live),
            "--yes",
            "--allow-missing",
            "audit,customers",
            "--allow-missing",
            "orders,big_orders",
        ],
    );
    assert_eq!(tables(&live), ["downloads"]);
    assert_eq!(v["missing"].as_array().unwrap().len(), 4);
    // Its printed undo puts the whole live back.
    let undo = v["undo"].as_str().unwrap();
    let out = run_printed(dir.path(), undo, None);
    assert!(out.status.success(), "{undo}: {}", String::from_utf8_lossy(&out.stderr));
    assert!(content(&live) == before_content, "undo put every table and view back");
}

/// Issue 10, class 3 (the need behind it): live is gone (the machine burned); the backup becomes
/// the new live under its old name by restoring into scratch and promoting onto a live path that
/// does not exist yet. Nothing to lose, so no snapshot; the printed undo removes the new file.
#[test]
fn promote_creates_a_live_that_does_not_exist_yet() {
    let dir = tempdir();
    let (repo, old_live) = three_backups(&dir);
    let want = rows(&old_live, "orders");
    let scratch = path(&dir, "rebuilt.db");
    json(dir.path(), &["restore", "--repo", s(&repo), "--backup", "latest", "--into", s(&scratch)]);
    let new_server = path(&dir, "new-server");
    std::fs::create_dir(&new_server).unwrap();
    let live = new_server.join("shop.db");

    let plan = json(dir.path(), &["promote", "--scratch", s(&scratch), "--live", s(&live)]);
    assert_eq!(plan["creates_live"], true);
    assert!(!live.exists(), "dry run created nothing");
    let v = json(dir.path(), &["promote", "--scratch", s(&scratch), "--live", s(&live), "--yes"]);
    assert_eq!(v["creates_live"], true);
    assert!(v["snapshot"].is_null(), "{v}");
    assert_eq!(rows(&live, "orders"), want);
    let files: Vec<String> = files_in(&new_server).into_iter().filter(|f| !f.ends_with(".lastgood-lock")).collect();
    assert_eq!(files, ["shop.db"], "no snapshot, no temporary file");
    let out =
        lastgood(dir.path()).args(["promote", "--scratch", s(&scratch), "--live", s(&live), "--yes"]).output().unwrap();
    assert!(out.status.success());
    // (That second promote replaced the now existing live, with a snapshot.)
    assert!(files_in(&new_server).iter().any(|f| f.contains("lastgood-snapshot")));

    // Human output says there was nothing to snapshot; the undo removes what was created.
    let other = new_server.join("other.db");
    let out = lastgood(dir.path())
        .args(["promote", "--scratch", s(&scratch), "--live", s(&other), "--yes"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success() && text.contains("no safety snapshot"), "{text}");
    let undo = text.lines().find_map(|l| l.strip_prefix("undo (removes the new live): ")).unwrap();
    let out = run_printed(dir.path(), undo, None);
    assert!(out.status.success(), "{undo}: {}", String::from_utf8_lossy(&out.stderr));
    assert!(!other.exists());

    // A leftover WAL where live would be created would be replayed onto the new file: refused.
    std::fs::write(new_server.join("third.db-wal"), b"leftover").unwrap();
    let third = new_server.join("third.db");
    let err = fails(dir.path(), &["promote", "--scratch", s(&scratch), "--live", s(&third), "--yes"], 5);
    assert!(err.contains("third.db-wal"), "{err}");
    assert!(!third.exists());
    // A missing folder is not created.
    let err = fails(
        dir.path(),
        &["promote", "--scratch", s(&scratch), "--live", s(&dir.path().join("nowhere/shop.db")), "--yes"],
        4,
    );
    assert!(err.contains("nowhere"), "{err}");
}

/// Issue 10, class 12: every undo that promote prints runs as printed and puts live back: after a
/// plain promote, after `--force` over a live with a WAL that was not checkpointed, and after a
/// promote of a scratch that has a table live lacks (the undo must drop it again).
#[test]
fn every_printed_undo_of_promote_runs_and_puts_live_back() {
    let dir = tempdir();
    // --force over a WAL with committed content.
    let (live, scratch) = live_and_scratch(&dir);
    let conn = Connection::open(&live).unwrap();
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0; INSERT INTO customers VALUES (999, 'in the wal');",
    )
    .unwrap();
    let want = (rows(&live, "customers"), rows(&live, "orders"));
    std::mem::forget(conn); // an application that keeps its connection (and the WAL) open
    fails(dir.path(), &["promote", "--scratch", s(&scratch), "--live", s(&live), "--yes"], 5);
    let v = json(dir.path(), &["promote", "--scratch", s(&scratch), "--live", s(&live), "--yes", "--force"]);
    assert_eq!(rows(&live, "orders"), rows(&scratch, "orders"));
    let undo = v["undo"].as_str().unwrap();
    let out = run_printed(dir.path(), undo, None);
    assert!(out.status.success(), "{undo}: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!((rows(&live, "customers"), rows(&live, "orders")), want, "undo of --force");

    // A scratch with a table live lacks: the undo drops it again.
    let dir = tempdir();
    let (live, scratch) = live_and_scratch(&dir);
    sqlite3(&scratch, "CREATE TABLE coupons(code TEXT PRIMARY KEY); INSERT INTO coupons VALUES ('X');");
    let before = content(&live);
    let v = json(dir.path(), &["promote", "--scratch", s(&scratch), "--live", s(&live), "--yes"]);
    assert!(tables(&live).contains(&"coupons".to_string()));
    let undo = v["undo"].as_str().unwrap();
    assert!(undo.ends_with("--allow-missing coupons"), "{undo}");
    let out = run_printed(dir.path(), undo, None);
    assert!(out.status.success(), "{undo}: {}", String::from_utf8_lossy(&out.stderr));
    assert!(content(&live) == before, "undo put live back, without coupons");
}

/// The dry run of a promote that `--yes` would refuse used to end with "add --yes to promote"
/// before the exit-5 error. It now says it would be refused and why, on its last line and in
/// `--json` (`would_refuse`), for a partial scratch as for a live in use; a dry run that would go
/// ahead still says "add --yes" with `would_refuse: null`.
#[test]
fn dry_run_of_a_promote_that_would_be_refused_says_so_and_why() {
    let dir = tempdir();
    let (live, scratch) = live_and_partial_scratch(&dir);
    let before = std::fs::read(&live).unwrap();
    let dry = ["promote", "--scratch", s(&scratch), "--live", s(&live)];
    let out = lastgood(dir.path()).args(dry).output().unwrap();
    assert_eq!(out.status.code(), Some(5));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("add --yes"), "{text}");
    let last = text.lines().last().unwrap();
    assert!(
        last.starts_with("nothing written; --yes would be refused: ") && last.contains("lacks 4 object(s)"),
        "{text}"
    );
    let out = lastgood(dir.path()).arg("--json").args(dry).output().unwrap();
    assert_eq!(out.status.code(), Some(5));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["would_refuse"]["reason"].as_str().unwrap().contains("table `orders`"), "{v:#}");
    assert!(v["would_refuse"]["hint"].as_str().unwrap().contains("--allow-missing"), "{v:#}");

    // Allowed exactly: the dry run would go ahead.
    let mut allowed = dry.to_vec();
    allowed.extend(["--allow-missing", "audit,customers,orders,big_orders"]);
    let v = json(dir.path(), &allowed);
    assert!(v["would_refuse"].is_null(), "{v:#}");
    let out = lastgood(dir.path()).args(&allowed).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).ends_with("nothing written; add --yes to promote\n"));

    // Live open in another process: refused for that, and the dry run says so the same way.
    let holder = Connection::open(&live).unwrap();
    holder.query_row("SELECT count(*) FROM orders", [], |r| r.get::<_, i64>(0)).unwrap();
    let out = lastgood(dir.path()).arg("--json").args(&allowed).output().unwrap();
    assert_eq!(out.status.code(), Some(5));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["would_refuse"]["reason"].as_str().unwrap().contains("is in use"), "{v:#}");
    let out = lastgood(dir.path()).args(&allowed).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.lines().last().unwrap().contains("--yes would be refused: live") && text.contains("is in use"),
        "{text}"
    );
    drop(holder);
    assert!(std::fs::read(&live).unwrap() == before, "live untouched");
}
