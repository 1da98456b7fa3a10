//! `lastgood restore`: choosing the backup, whole and per-table restores, compressed backups, and
//! every way a restore must refuse or fail without leaving anything behind.

use std::path::Path;

use rusqlite::Connection;

use crate::common::*;

/// `type name tbl_name sql` of every schema object of `table`, in creation order.
fn schema_of(db: &Path, table: &str) -> Vec<(String, String, String)> {
    let c = Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let mut st = c.prepare("SELECT type, name, sql FROM sqlite_schema WHERE tbl_name = ?1 ORDER BY rowid").unwrap();
    st.query_map([table], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).unwrap().map(Result::unwrap).collect()
}

fn quick_check(db: &Path) -> String {
    let c = Connection::open(db).unwrap();
    c.query_row("PRAGMA quick_check", [], |r| r.get(0)).unwrap()
}

#[test]
fn at_picks_the_newest_backup_taken_at_or_before_the_time_and_says_why() {
    let dir = tempdir();
    let (repo, _) = three_backups(&dir);
    let cases = [
        ("2026-11-23T06:00:00Z", "shop-2026-11-23T06-00-00.db", 100),
        ("2026-11-23T07:30:00Z", "shop-20261123-070000.db", 101),
        ("2026-11-23 07:59:59", "shop-20261123-070000.db", 101),
        ("2026-11-23T09:00:00+01:00", "shop-2026-11-23_08-00.db", 102),
        ("now", "shop-2026-11-23_08-00.db", 102),
    ];
    for (i, (at, file, orders)) in cases.iter().enumerate() {
        let into = path(&dir, &format!("at-{i}.db"));
        let v = json(dir.path(), &["restore", "--utc", "--repo", s(&repo), "--at", at, "--into", s(&into)]);
        assert_eq!(v["backup_path"], s(&repo.join(file)), "--at {at}");
        let why = v["why"].as_str().unwrap();
        assert!(why.contains("newest taken at or before") && why.contains(v["backup_id"].as_str().unwrap()), "{why}");
        assert_eq!(rows(&into, "orders").len(), *orders as usize);
        let report: Vec<(String, u64)> = v["tables_restored"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| (t["name"].as_str().unwrap().to_string(), t["rows"].as_u64().unwrap()))
            .collect();
        assert!(report.contains(&("orders".to_string(), *orders)), "{report:?}");
        assert_eq!(v["quick_check"], "ok");
    }
}

#[test]
fn tables_orders_gives_exactly_that_table_with_its_indexes_and_triggers_and_equal_rows() {
    let dir = tempdir();
    let (repo, live) = three_backups(&dir);
    // A trigger on orders too, in a fourth backup, so the test sees triggers come along.
    sqlite3(
        &live,
        "CREATE TRIGGER orders_audit AFTER DELETE ON orders BEGIN INSERT INTO audit VALUES ('now', OLD.item); END;
         UPDATE orders SET note = x'00ff' WHERE id = 3;",
    );
    let backup = repo.join("shop-2026-11-23T09-00-00.db");
    api_backup(&live, &backup);
    let into = path(&dir, "orders.db");
    let v = json(
        dir.path(),
        &["restore", "--repo", s(&repo), "--backup", s(&backup), "--tables", "orders", "--into", s(&into)],
    );
    assert_eq!(v["tables"], serde_json::json!(["orders"]));
    assert_eq!(tables(&into), ["orders"]);
    assert_eq!(rows(&into, "orders"), rows(&backup, "orders"));
    assert_eq!(rows(&into, "orders").len(), 102);
    assert_eq!(schema_of(&into, "orders"), schema_of(&backup, "orders"));
    let kinds: Vec<String> = schema_of(&into, "orders").into_iter().map(|o| format!("{} {}", o.0, o.1)).collect();
    assert_eq!(kinds, ["table orders", "index orders_customer", "trigger orders_audit"]);
    assert_eq!(quick_check(&into), "ok");
    no_temp_files(dir.path());
}

#[test]
fn tables_keeps_the_autoincrement_counter_once() {
    let dir = tempdir();
    let (repo, live) = three_backups(&dir);
    // Delete the newest downloads so the counter is above max(id).
    sqlite3(&live, "DELETE FROM downloads WHERE id > 40");
    let backup = repo.join("shop-2026-11-23T09-00-00.db");
    cli_backup(&live, &backup);
    let into = path(&dir, "downloads.db");
    json(
        dir.path(),
        &["restore", "--repo", s(&repo), "--backup", s(&backup), "--tables", "downloads", "--into", s(&into)],
    );
    assert_eq!(
        rows(&into, "sqlite_sequence"),
        rows(&backup, "sqlite_sequence").into_iter().filter(|r| r[0].contains("downloads")).collect::<Vec<_>>()
    );
    assert_eq!(rows(&into, "sqlite_sequence").len(), 1);
    assert_eq!(rows(&into, "downloads"), rows(&backup, "downloads"));
}

#[test]
fn several_tables_at_once() {
    let dir = tempdir();
    let (repo, _) = three_backups(&dir);
    let into = path(&dir, "two.db");
    json(
        dir.path(),
        &["restore", "--repo", s(&repo), "--backup", "latest~1", "--tables", "orders,customers", "--into", s(&into)],
    );
    let backup = repo.join("shop-20261123-070000.db");
    assert_eq!(tables(&into), ["customers", "orders"]);
    assert_eq!(rows(&into, "customers"), rows(&backup, "customers"));
    assert_eq!(rows(&into, "orders"), rows(&backup, "orders"));
}

#[test]
fn whole_restore_equals_the_backup_byte_for_byte() {
    let dir = tempdir();
    let (repo, _) = three_backups(&dir);
    for (i, file) in ["shop-2026-11-23T06-00-00.db", "shop-20261123-070000.db"].iter().enumerate() {
        let into = path(&dir, &format!("whole-{i}.db"));
        let backup = repo.join(file);
        let v = json(dir.path(), &["restore", "--repo", s(&repo), "--backup", s(&backup), "--into", s(&into)]);
        assert_eq!(v["tables"], serde_json::Value::Null);
        assert_eq!(std::fs::read(&into).unwrap(), std::fs::read(&backup).unwrap(), "{file}");
        for t in ["orders", "customers", "downloads", "audit"] {
            assert_eq!(rows(&into, t), rows(&backup, t));
        }
    }
}

#[test]
fn default_target_is_a_new_file_in_the_scratch_folder_which_catalog_skips() {
    let dir = tempdir();
    let (repo, _) = three_backups(&dir);
    let v = json(dir.path(), &["restore", "--repo", s(&repo), "--at", "now", "--scratch-dir", "scratch"]);
    let target = dir.path().join(v["target"].as_str().unwrap());
    assert!(target.starts_with(dir.path().join("scratch")), "{target:?}");
    assert_eq!(rows(&target, "orders").len(), 102);
    // A repository that holds the scratch folder does not list the scratch file as a backup.
    let v = json(dir.path(), &["catalog", "--repo", dir.path().to_str().unwrap()]);
    assert!(
        v["backups"].as_array().unwrap().iter().all(|b| !b["copies"][0]["path"].as_str().unwrap().contains("scratch"))
    );
}

#[test]
fn wal_mode_backup_restores_without_side_files() {
    let dir = tempdir();
    let live = path(&dir, "live.db");
    let repo = path(&dir, "repo");
    std::fs::create_dir(&repo).unwrap();
    make_shop(&live, 20);
    sqlite3(&live, "PRAGMA journal_mode = WAL");
    let backup = repo.join("wal-2026-11-23T06-00-00.db");
    api_backup(&live, &backup);
    let out = path(&dir, "out");
    std::fs::create_dir(&out).unwrap();
    json(dir.path(), &["restore", "--repo", s(&repo), "--backup", "latest", "--into", s(&out.join("whole.db"))]);
    json(
        dir.path(),
        &[
            "restore",
            "--repo",
            s(&repo),
            "--backup",
            "latest",
            "--tables",
            "orders",
            "--into",
            s(&out.join("orders.db")),
        ],
    );
    assert_eq!(files_in(&out), ["orders.db", "whole.db"]);
    assert_eq!(rows(&out.join("whole.db"), "orders"), rows(&backup, "orders"));
}

#[test]
fn gzip_and_zstd_backups_restore_whole_and_by_table() {
    let dir = tempdir();
    let (repo, _) = three_backups(&dir);
    // Two contents (a copy of one content, compressed or not, is the same backup).
    let plains = [repo.join("shop-2026-11-23_08-00.db"), repo.join("shop-20261123-070000.db")];
    let packed = path(&dir, "packed");
    std::fs::create_dir(&packed).unwrap();
    gzip(&plains[0], &packed.join("shop-2026-11-23T10-00-00.db.gz"));
    zstd(&plains[1], &packed.join("shop-2026-11-23T11-00-00.db.zst"));
    let v = json(dir.path(), &["catalog", "--repo", s(&packed)]);
    let compression: Vec<&str> =
        v["backups"].as_array().unwrap().iter().map(|b| b["compression"].as_str().unwrap()).collect();
    assert_eq!(compression, ["gzip", "zstd"]);
    for (i, at) in ["2026-11-23T10:00:00Z", "2026-11-23T11:00:00Z"].iter().enumerate() {
        let plain = &plains[i];
        let whole = path(&dir, &format!("whole-{i}.db"));
        json(dir.path(), &["restore", "--repo", s(&packed), "--at", at, "--into", s(&whole)]);
        assert_eq!(std::fs::read(&whole).unwrap(), std::fs::read(plain).unwrap(), "--at {at}");
        let one = path(&dir, &format!("one-{i}.db"));
        json(dir.path(), &["restore", "--repo", s(&packed), "--at", at, "--tables", "orders", "--into", s(&one)]);
        assert_eq!(rows(&one, "orders"), rows(plain, "orders"));
        assert_eq!(tables(&one), ["orders"]);
    }
    no_temp_files(dir.path());
}

#[test]
fn dry_run_prints_the_plan_and_writes_nothing() {
    let dir = tempdir();
    let (repo, _) = three_backups(&dir);
    let into = path(&dir, "planned.db");
    let v = json(
        dir.path(),
        &["restore", "--repo", s(&repo), "--at", "now", "--tables", "orders", "--into", s(&into), "--dry-run"],
    );
    assert_eq!(v["target"], s(&into));
    assert!(!into.exists());
}

/// Without --into the target is in the default scratch folder; a dry run must not create that
/// folder (nor its marker), and the real restore afterwards does.
#[test]
fn dry_run_without_into_creates_no_scratch_folder() {
    let dir = tempdir();
    let (repo, _) = three_backups(&dir);
    let before = files_in(dir.path());
    let v = json(dir.path(), &["restore", "--repo", s(&repo), "--at", "now", "--dry-run"]);
    let target = v["target"].as_str().unwrap();
    assert!(target.starts_with("lastgood-scratch/"), "{v}");
    assert_eq!(files_in(dir.path()), before, "a dry run wrote something");
    let v = json(dir.path(), &["restore", "--repo", s(&repo), "--at", "now"]);
    let restored = dir.path().join(v["target"].as_str().unwrap());
    assert_eq!(rows(&restored, "orders").len(), 102);
    assert!(dir.path().join("lastgood-scratch/.lastgood-scratch").exists());
}

/// A WAL-mode file left by a process that died (its `-wal` holds a committed row) is replaced by
/// `--force`: the restored file must not be read together with the old `-wal`.
#[test]
fn force_over_a_wal_mode_file_drops_the_old_wal() {
    let dir = tempdir();
    let (repo, _) = three_backups(&dir);
    let target = path(&dir, "t.db");
    let st = std::process::Command::new("python3")
        .arg("-c")
        .arg(format!(
            "import sqlite3,os;c=sqlite3.connect('{}',isolation_level=None);c.execute('pragma journal_mode=wal');\
             c.execute('create table orders(id,item)');c.execute(\"insert into orders values(1,'stale')\");os._exit(0)",
            target.display()
        ))
        .status()
        .expect("python3 installed");
    assert!(st.success());
    let wal = path(&dir, "t.db-wal");
    assert!(wal.metadata().unwrap().len() > 0, "the repro needs a -wal with content");
    let err = fails(dir.path(), &["restore", "--repo", s(&repo), "--at", "now", "--into", s(&target)], 5);
    assert!(err.contains("already exists"), "{err}");
    json(dir.path(), &["restore", "--repo", s(&repo), "--at", "now", "--into", s(&target), "--force"]);
    assert!(!wal.exists() && !path(&dir, "t.db-shm").exists());
    let items: Vec<String> = rows(&target, "orders").into_iter().map(|r| r[2].clone()).collect();
    assert_eq!(items.len(), 102);
    assert!(!items.iter().any(|i| i.contains("stale")), "old WAL replayed onto the restore");
    assert_eq!(quick_check(&target), "ok");
}

/// A leftover `-wal` beside a target that does not exist is refused without --force (it would
/// be combined with the restored file), removed with it.
#[test]
fn an_orphan_wal_beside_the_target_needs_force() {
    let dir = tempdir();
    let (repo, _) = three_backups(&dir);
    let target = path(&dir, "new.db");
    let wal = path(&dir, "new.db-wal");
    std::fs::write(&wal, b"not really a wal").unwrap();
    let err = fails(dir.path(), &["restore", "--repo", s(&repo), "--at", "now", "--into", s(&target)], 5);
    assert!(err.contains("new.db-wal"), "{err}");
    assert!(!target.exists());
    json(dir.path(), &["restore", "--repo", s(&repo), "--at", "now", "--into", s(&target), "--force"]);
    assert!(!wal.exists());
    assert_eq!(rows(&target, "orders").len(), 102);
}

/// `--force` does not pull a file from under a process that has it open.
#[test]
fn force_refuses_a_target_open_in_another_process() {
    let dir = tempdir();
    let (repo, _) = three_backups(&dir);
    let target = path(&dir, "busy.db");
    make_shop(&target, 5);
    let holder = Connection::open(&target).unwrap();
    holder.query_row("SELECT count(*) FROM orders", [], |r| r.get::<_, i64>(0)).unwrap();
    let before = std::fs::read(&target).unwrap();
    let err = fails(dir.path(), &["restore", "--repo", s(&repo), "--at", "now", "--into", s(&target), "--force"], 5);
    assert!(err.contains("open in another process") && err.contains("pid"), "{err}");
    assert_eq!(std::fs::read(&target).unwrap(), before);
    drop(holder);
    no_temp_files(dir.path());
}

/// A restored file gets the mode any new file gets (0666 less the umask), not the 0600 of the
/// temporary file it was written as.
#[test]
fn restored_files_get_the_default_mode_for_new_files() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempdir();
    let (repo, _) = three_backups(&dir);
    for (umask, mode) in [("022", 0o644), ("002", 0o664)] {
        let into = path(&dir, &format!("umask-{umask}.db"));
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("umask {umask} && exec \"$0\" --quiet restore --repo \"$1\" --at now --into \"$2\"",))
            .arg(assert_cmd::cargo::cargo_bin("lastgood"))
            .arg(&repo)
            .arg(&into)
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(std::fs::metadata(&into).unwrap().permissions().mode() & 0o777, mode, "umask {umask}");
    }
}

/// Local times a daylight-saving change skips or repeats are refused (exit 2) naming the problem,
/// with the zone given to the binary through TZ; the same wall-clock time with an offset works.
#[test]
fn dst_gap_and_overlap_times_are_refused_in_the_local_zone() {
    let dir = tempdir();
    let (repo, _) = three_backups(&dir);
    let into = path(&dir, "dst.db");
    let run = |at: &str| {
        lastgood(dir.path())
            .env("TZ", "Europe/Berlin")
            .args(["restore", "--repo", s(&repo), "--at", at, "--into", s(&into)])
            .output()
            .unwrap()
    };
    for (at, problem) in [
        ("2026-03-29 02:30", "does not exist in the local zone (skipped by a daylight saving change)"),
        (
            "2026-10-25 02:30",
            "is ambiguous in the local zone (daylight saving change): 2026-10-25T02:30:00+01:00 or 2026-10-25T02:30:00+02:00",
        ),
    ] {
        let out = run(at);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{at}: {err}");
        assert!(err.starts_with(&format!("error: time `{at}` {problem}")), "{at}: {err}");
        assert!(!into.exists());
    }
    // Outside the change, local Berlin time is read with its offset: 09:00 +01:00 is 08:00 UTC.
    let out = run("2026-11-23 09:00");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(rows(&into, "orders").len(), 102);
}

// --- refusals and bad input: one error line, the documented exit code, nothing left behind ------

#[test]
fn unknown_table_is_bad_input() {
    let dir = tempdir();
    let (repo, _) = three_backups(&dir);
    let into = path(&dir, "x.db");
    let err = fails(
        dir.path(),
        &["restore", "--repo", s(&repo), "--at", "now", "--tables", "orders,nope", "--into", s(&into)],
        3,
    );
    assert!(err.contains("no table `nope`") && err.contains("shop-2026-11-23_08-00.db"), "{err}");
    assert!(!into.exists());
}

#[test]
fn at_earlier_than_every_backup_is_bad_input() {
    let dir = tempdir();
    let (repo, _) = three_backups(&dir);
    let err = fails(dir.path(), &["restore", "--repo", s(&repo), "--at", "2026-11-23T05:59:59Z", "--into", "x.db"], 3);
    assert!(err.contains("no backup taken at or before 2026-11-23") && err.contains("the oldest is from"), "{err}");
    assert!(!dir.path().join("x.db").exists());
}

#[test]
fn malformed_time_is_a_usage_error() {
    let dir = tempdir();
    let (repo, _) = three_backups(&dir);
    let err = fails(dir.path(), &["restore", "--repo", s(&repo), "--at", "yesterday-ish", "--into", "x.db"], 2);
    assert!(err.contains("cannot read time `yesterday-ish`"), "{err}");
}

#[test]
fn a_restore_point_in_the_future_or_with_a_leap_second_is_a_usage_error() {
    let dir = tempdir();
    let (repo, _) = three_backups(&dir);
    let tomorrow = (chrono::Utc::now() + chrono::Duration::days(1)).format("%Y-%m-%d %H:%M").to_string();
    for (at, says) in [
        (tomorrow.as_str(), "is in the future"),
        ("9999-12-31", "is in the future"),
        ("2026-11-23 06:00:60", "seconds run from 00 to 59"),
    ] {
        let err = fails(dir.path(), &["restore", "--repo", s(&repo), "--at", at, "--into", "x.db"], 2);
        assert!(err.contains(says), "--at {at}: {err}");
        assert!(!dir.path().join("x.db").exists());
    }
}

#[test]
fn into_an_existing_file_is_refused_without_force_and_replaced_with_it() {
    let dir = tempdir();
    let (repo, _) = three_backups(&dir);
    let into = path(&dir, "taken.db");
    std::fs::write(&into, "keep me").unwrap();
    let err = fails(dir.path(), &["restore", "--repo", s(&repo), "--at", "now", "--into", s(&into)], 5);
    assert!(err.contains("taken.db") && err.contains("already exists"), "{err}");
    assert_eq!(std::fs::read_to_string(&into).unwrap(), "keep me");
    json(dir.path(), &["restore", "--repo", s(&repo), "--at", "now", "--into", s(&into), "--force"]);
    assert_eq!(rows(&into, "orders").len(), 102);
    no_temp_files(dir.path());
}

#[test]
fn into_a_backup_or_the_live_database_is_refused_even_with_force() {
    let dir = tempdir();
    let (repo, live) = three_backups(&dir);
    let backup = repo.join("shop-2026-11-23T06-00-00.db");
    let before = std::fs::read(&backup).unwrap();
    let err = fails(dir.path(), &["restore", "--repo", s(&repo), "--at", "now", "--into", s(&backup), "--force"], 5);
    assert!(err.contains("is a catalogued backup"), "{err}");
    assert_eq!(std::fs::read(&backup).unwrap(), before);
    // A manifest naming `live` as its source makes it a known live database.
    let newest = repo.join("shop-2026-11-23_08-00.db");
    std::fs::write(
        repo.join("shop-2026-11-23_08-00.db.lastgood.json"),
        format!(r#"{{"taken_at": "2026-11-23T08:00:00Z", "source": "{}"}}"#, s(&live)),
    )
    .unwrap();
    let live_before = std::fs::read(&live).unwrap();
    let err =
        fails(dir.path(), &["restore", "--repo", s(&repo), "--backup", s(&newest), "--into", s(&live), "--force"], 5);
    assert!(err.contains("is a live database"), "{err}");
    assert_eq!(std::fs::read(&live).unwrap(), live_before);
}

#[test]
fn into_a_folder_that_does_not_exist_is_a_usage_error() {
    let dir = tempdir();
    let (repo, _) = three_backups(&dir);
    let err = fails(dir.path(), &["restore", "--repo", s(&repo), "--at", "now", "--into", "missing/x.db"], 2);
    assert!(err.contains("folder `missing` does not exist"), "{err}");
    assert!(!dir.path().join("missing").exists());
}

#[test]
fn damaged_backups_are_refused_before_anything_is_written() {
    let dir = tempdir();
    let (repo, _) = three_backups(&dir);
    let newest = repo.join("shop-2026-11-23_08-00.db");
    let bytes = std::fs::read(&newest).unwrap();
    let bad = path(&dir, "bad");
    std::fs::create_dir(&bad).unwrap();
    // Truncated: half of the file.
    std::fs::write(bad.join("truncated-2026-11-23T09-00-00.db"), &bytes[..bytes.len() / 2]).unwrap();
    // A gzip stream cut short.
    gzip(&newest, &path(&dir, "full.gz"));
    let gz = std::fs::read(path(&dir, "full.gz")).unwrap();
    std::fs::write(bad.join("cut-2026-11-23T10-00-00.db.gz"), &gz[..gz.len() / 2]).unwrap();
    // A checksum that differs from its manifest (content of its own, so it is a backup of its own).
    let live = path(&dir, "live.db");
    sqlite3(&live, "INSERT INTO orders(customer_id, item) VALUES (3, 'late 3')");
    cli_backup(&live, &bad.join("sum-2026-11-23T11-00-00.db"));
    std::fs::write(
        bad.join("sum-2026-11-23T11-00-00.db.lastgood.json"),
        format!(r#"{{"taken_at": "2026-11-23T11:00:00Z", "sha256": "{}"}}"#, "ab".repeat(32)),
    )
    .unwrap();
    let out = path(&dir, "out");
    std::fs::create_dir(&out).unwrap();
    for (file, says) in [
        ("truncated-2026-11-23T09-00-00.db", "is truncated: "),
        ("cut-2026-11-23T10-00-00.db.gz", "gzip stream is damaged or cut short"),
        ("sum-2026-11-23T11-00-00.db", "checksum differs from its manifest"),
    ] {
        for tables in [None, Some("orders")] {
            let target = out.join("r.db");
            let backup = bad.join(file);
            let mut args = vec!["restore", "--repo", s(&bad), "--backup", s(&backup), "--into", s(&target)];
            args.extend(tables.map(|t| ["--tables", t]).into_iter().flatten());
            let err = fails(dir.path(), &args, 3);
            assert!(err.contains(file) && err.contains(says), "{file}: {err}");
            assert!(files_in(&out).is_empty(), "{file}: {:?}", files_in(&out));
        }
    }
    // --at passes over damaged backups to the newest healthy one, and says so.
    let target = out.join("at.db");
    let v = json(dir.path(), &["restore", "--repo", s(&bad), "--repo", s(&repo), "--at", "now", "--into", s(&target)]);
    assert_eq!(v["backup_path"], s(&newest));
    let why = v["why"].as_str().unwrap();
    assert_eq!(why.matches("skipped damaged backup").count(), 3, "{why}");
}

#[test]
fn backup_that_is_not_a_backup_is_bad_input() {
    let dir = tempdir();
    let (repo, _) = three_backups(&dir);
    std::fs::write(repo.join("notes.db"), "this is text, not SQLite\n").unwrap();
    std::fs::write(repo.join("empty-2026-11-23T09-00-00.db"), "").unwrap();
    let err =
        fails(dir.path(), &["restore", "--repo", s(&repo), "--backup", s(&repo.join("notes.db")), "--into", "x.db"], 3);
    assert!(err.contains("notes.db") && err.contains("not a SQLite database"), "{err}");
    let empty = repo.join("empty-2026-11-23T09-00-00.db");
    let err = fails(dir.path(), &["restore", "--repo", s(&repo), "--backup", s(&empty), "--into", "x.db"], 3);
    assert!(err.contains("empty-2026-11-23T09-00-00.db") && err.contains("empty file (0 bytes)"), "{err}");
    assert!(!dir.path().join("x.db").exists());
}

/// A backup damaged after it was catalogued (same size and mtime, so the catalog keeps its cached
/// facts and the plan goes ahead): the restore fails midway and leaves nothing at the target.
#[test]
fn restore_failing_midway_leaves_nothing_at_the_target() {
    let dir = tempdir();
    let (repo, live) = three_backups(&dir);
    let newest = repo.join("shop-2026-11-23_08-00.db");
    let gz = repo.join("shop-2026-11-23T09-00-00.db.gz");
    // Content of its own: a gzip copy of `newest` would be another copy of the same backup.
    sqlite3(&live, "INSERT INTO orders(customer_id, item) VALUES (3, 'late 3')");
    let plain9 = path(&dir, "nine.db");
    cli_backup(&live, &plain9);
    gzip(&plain9, &gz);
    json(dir.path(), &["catalog", "--repo", s(&repo)]);
    // 1. The gzip backup loses its second half (zeros instead), restored whole and by table.
    let mut bytes = std::fs::read(&gz).unwrap();
    let half = bytes.len() / 2;
    bytes[half..].fill(0);
    replace_keeping_stamp(&gz, &bytes);
    let out = path(&dir, "out");
    std::fs::create_dir(&out).unwrap();
    let target = out.join("r.db");
    for extra in [&[][..], &["--tables", "orders"][..]] {
        let mut args = vec!["restore", "--repo", s(&repo), "--backup", s(&gz), "--into", s(&target)];
        args.extend_from_slice(extra);
        let err = fails(dir.path(), &args, 3);
        assert!(err.contains("shop-2026-11-23T09-00-00.db.gz") && err.contains("gzip stream is damaged"), "{err}");
        assert!(files_in(&out).is_empty(), "{:?}", files_in(&out));
    }
    // 2. A bit flip in a leaf page of `orders` of the plain backup: the copy's checksum differs
    //    from the catalog's, and the quick_check of the result fails too.
    let (page_size, leaves) = leaf_pages(&newest, "orders");
    let mut bytes = std::fs::read(&newest).unwrap();
    let page = leaves[0];
    bytes[((page - 1) * page_size) as usize] ^= 0xff;
    replace_keeping_stamp(&newest, &bytes);
    for extra in [&[][..], &["--tables", "orders"][..]] {
        let mut args = vec!["restore", "--repo", s(&repo), "--backup", s(&newest), "--into", s(&target)];
        args.extend_from_slice(extra);
        let err = fails(dir.path(), &args, 3);
        assert!(err.contains("shop-2026-11-23_08-00.db"), "{err}");
        assert!(files_in(&out).is_empty(), "{:?}", files_in(&out));
    }
}

/// A damaged page that the catalog's row counts do not touch (they read the smaller index): the
/// catalog lists the backup, and the restore's quick_check catches the damage.
#[test]
fn quick_check_of_the_result_catches_a_damaged_page_the_catalog_missed() {
    let dir = tempdir();
    let (repo, _) = three_backups(&dir);
    let newest = repo.join("shop-2026-11-23_08-00.db");
    let (page_size, leaves) = leaf_pages(&newest, "orders");
    // The page header's type byte of a leaf of the `orders` table b-tree.
    flip_bytes(&newest, (leaves[0] - 1) * page_size, 1);
    let v = json(dir.path(), &["catalog", "--repo", s(&repo)]);
    let b = v["backups"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(b["problem"], serde_json::Value::Null, "catalog counted rows through the index");
    let target = path(&dir, "r.db");
    let err = fails(dir.path(), &["restore", "--repo", s(&repo), "--backup", "latest", "--into", s(&target)], 3);
    assert!(err.contains("shop-2026-11-23_08-00.db") && err.contains("fails quick_check"), "{err}");
    assert!(!target.exists());
    no_temp_files(dir.path());
}

/// A live WAL database copied with its `-wal` file (a common hand-made backup): the WAL's
/// committed rows are part of the backup. Catalog counts them without writing a `-shm` into the
/// repository, and whole and per-table restores bring them back.
#[test]
fn backup_with_a_wal_file_beside_it_restores_the_committed_rows_and_writes_nothing_in_the_repository() {
    let dir = tempdir();
    let live = path(&dir, "live.db");
    make_shop(&live, 10);
    let writer = Connection::open(&live).unwrap();
    writer.execute_batch("PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0;").unwrap();
    writer
        .execute_batch("INSERT INTO orders(customer_id, item) VALUES (1, 'in the wal'), (2, 'also in the wal');")
        .unwrap();
    let repo = path(&dir, "repo");
    std::fs::create_dir(&repo).unwrap();
    let backup = repo.join("shop-2026-11-23T06-00-00.db");
    std::fs::copy(&live, &backup).unwrap();
    std::fs::copy(dir.path().join("live.db-wal"), repo.join("shop-2026-11-23T06-00-00.db-wal")).unwrap();
    drop(writer);
    let in_repo = files_in(&repo);

    let v = json(dir.path(), &["catalog", "--repo", s(&repo)]);
    let orders = v["backups"][0]["tables"].as_array().unwrap().iter().find(|t| t["name"] == "orders").unwrap().clone();
    assert_eq!(orders["rows"], 12);
    let out = path(&dir, "out");
    std::fs::create_dir(&out).unwrap();
    json(dir.path(), &["restore", "--repo", s(&repo), "--backup", "latest", "--into", s(&out.join("whole.db"))]);
    json(
        dir.path(),
        &[
            "restore",
            "--repo",
            s(&repo),
            "--backup",
            "latest",
            "--tables",
            "orders",
            "--into",
            s(&out.join("orders.db")),
        ],
    );
    json(dir.path(), &["verify", "--all", "--repo", s(&repo)]);
    json(dir.path(), &["show", "latest", "--repo", s(&repo)]);
    assert_eq!(files_in(&out), ["orders.db", "whole.db"]);
    for f in ["whole.db", "orders.db"] {
        let items: Vec<String> = rows(&out.join(f), "orders").into_iter().map(|r| r[2].clone()).collect();
        assert_eq!(items.len(), 12, "{f}");
        assert!(items.last().unwrap().contains("also in the wal"), "{f}: {items:?}");
    }
    let mut now_in_repo = files_in(&repo);
    now_in_repo.retain(|f| f != ".lastgood");
    assert_eq!(now_in_repo, in_repo, "lastgood wrote into the repository");
}

#[test]
fn tables_with_a_foreign_key_to_a_table_left_out_restore() {
    // The bundled SQLite enforces foreign keys by default; a restored `child` must not need `parent`.
    let dir = tempdir();
    let repo = path(&dir, "repo");
    std::fs::create_dir(&repo).unwrap();
    let live = path(&dir, "live.db");
    sqlite3(
        &live,
        "CREATE TABLE parent(id INTEGER PRIMARY KEY);
         CREATE TABLE child(id INTEGER PRIMARY KEY, parent_id INTEGER NOT NULL REFERENCES parent(id), name TEXT);
         INSERT INTO parent VALUES (1), (2);
         INSERT INTO child VALUES (10, 1, 'a'), (11, 2, 'b');",
    );
    sqlite3(&live, &format!(".backup '{}'", repo.join("app-2026-11-24T06-00-00.db").display()));
    let into = path(&dir, "child.db");
    json(dir.path(), &["restore", "--repo", s(&repo), "--backup", "latest", "--tables", "child", "--into", s(&into)]);
    assert_eq!(tables(&into), ["child"]);
    assert_eq!(rows(&into, "child"), rows(&repo.join("app-2026-11-24T06-00-00.db"), "child"));
}

/// The hourly "copy the files" setup of a live WAL database, copied into two repositories (07:00
/// into the first given, 06:00 into the second): the main files are byte-identical, so the 06:00
/// and 07:00 copies used to be one backup whose first copy (07:00, after the incident) answered
/// `--at 06:30`. Each `--at` now restores exactly the state of its hour.
#[test]
fn restore_at_picks_the_hourly_wal_copy_of_that_hour() {
    let dir = tempdir();
    let live = path(&dir, "live.db");
    let (first, second) = (path(&dir, "first"), path(&dir, "second"));
    std::fs::create_dir(&first).unwrap();
    std::fs::create_dir(&second).unwrap();
    let app = wal_live(&live);
    app.execute("INSERT INTO orders(item) VALUES ('d')", []).unwrap();
    copy_with_wal(&live, &second.join("shop-2026-11-24T06-00-00.db"));
    let at_six = items(&second.join("shop-2026-11-24T06-00-00.db"));
    // The incident, then the 07:00 copy.
    app.execute_batch("DELETE FROM orders WHERE item IN ('a', 'b'); INSERT INTO orders(item) VALUES ('after');")
        .unwrap();
    copy_with_wal(&live, &first.join("shop-2026-11-24T07-00-00.db"));
    let at_seven = items(&live);
    assert_eq!(at_six, ["a", "b", "c", "d"]);
    assert_eq!(at_seven, ["c", "d", "after"]);
    std::fs::remove_file(path(&dir, "second/shop-2026-11-24T06-00-00.db-shm")).ok();

    let repos = ["--repo", s(&first), "--repo", s(&second)];
    for (at, want, file) in
        [("2026-11-24T06:30:00Z", &at_six, "T06-00-00.db"), ("2026-11-24T07:30:00Z", &at_seven, "T07-00-00.db")]
    {
        for (name, extra) in [("whole", &[][..]), ("orders", &["--tables", "orders"][..])] {
            let into = path(&dir, &format!("{name}-{}.db", &at[11..13]));
            let mut args = vec!["restore", "--at", at, "--into", s(&into)];
            args.extend_from_slice(&repos);
            args.extend_from_slice(extra);
            let r = json(dir.path(), &args);
            assert!(r["backup_path"].as_str().unwrap().ends_with(file), "--at {at}: {r:#}");
            assert_eq!(r["backup_wal"].as_str().unwrap(), format!("{}-wal", r["backup_path"].as_str().unwrap()));
            assert_eq!(&items(&into), want, "--at {at} {name}");
            assert_eq!(quick_check(&into), "ok");
        }
    }
    drop(app);
}

/// The restore's checksum check covers the `-wal`: a `-wal` changed after cataloguing (same size
/// and mtime, so cached facts still apply) is refused, whole and by table.
#[test]
fn restore_refuses_a_backup_whose_wal_changed_since_it_was_catalogued() {
    let dir = tempdir();
    let live = path(&dir, "live.db");
    let repo = path(&dir, "repo");
    std::fs::create_dir(&repo).unwrap();
    let app = wal_live(&live);
    app.execute("INSERT INTO orders(item) VALUES ('d')", []).unwrap();
    let backup = repo.join("shop-2026-11-24T06-00-00.db");
    copy_with_wal(&live, &backup);
    json(dir.path(), &["catalog", "--repo", s(&repo)]);
    let wal = repo.join("shop-2026-11-24T06-00-00.db-wal");
    let mut bytes = std::fs::read(&wal).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01; // inside the last frame: SQLite would simply ignore that frame
    replace_keeping_stamp(&wal, &bytes);
    let out = path(&dir, "out");
    std::fs::create_dir(&out).unwrap();
    let target = out.join("r.db");
    for extra in [&[][..], &["--tables", "orders"][..]] {
        let mut args = vec!["restore", "--repo", s(&repo), "--backup", s(&backup), "--into", s(&target)];
        args.extend_from_slice(extra);
        let err = fails(dir.path(), &args, 3);
        assert!(err.contains("changed since it was catalogued") && err.contains("-wal"), "{err}");
        assert!(files_in(&out).is_empty(), "{:?}", files_in(&out));
    }
    drop(app);
}

/// Backups dated in the future (a clock ahead) cannot be reached by any `--at`: `restore --at now`
/// says it passed over them instead of skipping them silently.
#[test]
fn restore_at_now_names_the_future_dated_backups_it_passed_over() {
    let dir = tempdir();
    let (repo, live) = three_backups(&dir);
    let ahead = chrono::Utc::now() + chrono::TimeDelta::hours(3);
    sqlite3(&live, "INSERT INTO orders(customer_id, item) VALUES (4, 'from the future')");
    cli_backup(&live, &repo.join(format!("shop-{}.db", ahead.format("%Y-%m-%dT%H-%M-%S"))));
    let into = path(&dir, "now.db");
    let r = json(dir.path(), &["restore", "--repo", s(&repo), "--at", "now", "--into", s(&into)]);
    assert!(r["backup_path"].as_str().unwrap().ends_with("shop-2026-11-23_08-00.db"), "{r:#}");
    let why = r["why"].as_str().unwrap();
    assert!(why.contains("passed over 1 backup(s) dated in the future (clock skew?)"), "{why}");
    assert!(why.contains("2h59m in the future") || why.contains("3h00m in the future"), "{why}");
    // Without --quiet it is a warning on stderr too.
    let out = std::process::Command::new(assert_cmd::cargo::cargo_bin("lastgood"))
        .current_dir(dir.path())
        .env_remove("LASTGOOD_REPO")
        .args(["restore", "--repo", s(&repo), "--at", "now", "--into", s(&path(&dir, "now2.db"))])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("warning: passed over 1 backup(s) dated in the future"));
}

/// Two backups with one taken-at: the choice follows the documented rule (here: more copies) and
/// says so, naming both; `latest` agrees.
#[test]
fn two_backups_with_the_same_taken_at_are_chosen_between_by_rule_and_named() {
    let dir = tempdir();
    let (repo, live) = three_backups(&dir);
    let other = path(&dir, "other");
    std::fs::create_dir(&other).unwrap();
    sqlite3(&live, "INSERT INTO orders(customer_id, item) VALUES (5, 'twin')");
    cli_backup(&live, &repo.join("twin-2026-11-23T09-00-00.db"));
    sqlite3(&live, "INSERT INTO orders(customer_id, item) VALUES (6, 'twin 2')");
    cli_backup(&live, &repo.join("shop-2026-11-23T09-00-00.db"));
    let catalog = json(dir.path(), &["catalog", "--repo", s(&repo)]);
    let id_of = |file: &str| {
        catalog["backups"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["copies"][0]["path"].as_str().unwrap().ends_with(file))
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (twin, shop) = (id_of("twin-2026-11-23T09-00-00.db"), id_of("shop-2026-11-23T09-00-00.db"));
    let choose = |repos: &[&str]| {
        let mut args = vec!["restore", "--at", "2026-11-23T09:30:00Z", "--dry-run", "--into", "x.db"];
        args.extend_from_slice(repos);
        let r = json(dir.path(), &args);
        let mut latest = vec!["show", "latest"];
        latest.extend_from_slice(repos);
        assert_eq!(json(dir.path(), &latest)["id"], r["backup_id"], "latest and --at disagree");
        (r["backup_id"].as_str().unwrap().to_string(), r["why"].as_str().unwrap().to_string())
    };
    // Equal ranks: the higher id.
    let (chosen, why) = choose(&["--repo", s(&repo)]);
    assert_eq!(chosen, twin.clone().max(shop.clone()), "{why}");
    assert!(why.contains(&twin) && why.contains(&shop) && why.contains("share taken-at"), "{why}");
    assert!(why.contains("more copies"), "the rule is named: {why}");
    // The lower id gets a second copy: it wins.
    let lower = twin.clone().min(shop.clone());
    let file = if lower == twin { "twin-2026-11-23T09-00-00.db" } else { "shop-2026-11-23T09-00-00.db" };
    std::fs::copy(repo.join(file), other.join(file)).unwrap();
    let (chosen, why) = choose(&["--repo", s(&repo), "--repo", s(&other)]);
    assert_eq!(chosen, lower, "{why}");
}

/// `--jobs 0` used to be accepted (and silently taken as 1): a usage error now, before anything.
#[test]
fn jobs_zero_is_a_usage_error() {
    let dir = tempdir();
    let (repo, _) = three_backups(&dir);
    for jobs in ["0", "two"] {
        let out = lastgood(dir.path())
            .args(["restore", "--repo", s(&repo), "--backup", "latest", "--into", "x.db", "--jobs", jobs])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "--jobs {jobs}: {err}");
        assert!(err.starts_with("error: ") && err.contains("--jobs"), "{err}");
        assert!(out.stdout.is_empty() && !dir.path().join("x.db").exists());
    }
    let out = lastgood(dir.path())
        .args(["restore", "--repo", s(&repo), "--backup", "latest", "--into", "x.db", "--jobs", "1"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// Restore used to read only the primary copy: one damaged since it was catalogued (same size
/// and mtime) failed the restore although another copy of the same content was healthy. It now
/// reads the first copy whose bytes verify and says which it passed over and why (human and
/// `--json`); `--backup PATH` reads exactly that copy; when no copy verifies it fails naming each.
#[test]
fn restore_reads_the_first_copy_whose_bytes_verify_and_backup_path_reads_that_copy() {
    let dir = tempdir();
    let live = path(&dir, "live.db");
    make_shop(&live, 300);
    let (r1, r2) = (path(&dir, "r1"), path(&dir, "r2"));
    std::fs::create_dir_all(&r1).unwrap();
    std::fs::create_dir_all(&r2).unwrap();
    let plain = r2.join("shop-2026-11-23T06-00-00.db");
    cli_backup(&live, &plain);
    let gz = r1.join("shop-2026-11-23T06-00-00.db.gz");
    gzip(&plain, &gz);
    let repos = ["--repo", s(&r1), "--repo", s(&r2)];
    let mut cat = vec!["catalog"];
    cat.extend(repos);
    let v = json(dir.path(), &cat);
    let copies: Vec<String> =
        v["backups"][0]["copies"].as_array().unwrap().iter().map(|c| c["path"].as_str().unwrap().to_string()).collect();
    assert_eq!(copies, [s(&gz), s(&plain)], "the .gz is the primary copy");
    let restore = |backup: &str, into: &str, extra: &[&str]| {
        let mut args = vec!["restore", "--backup", backup, "--into", into];
        args.extend(repos);
        args.extend_from_slice(extra);
        args.into_iter().map(str::to_string).collect::<Vec<String>>()
    };
    fn refs(v: &[String]) -> Vec<&str> {
        v.iter().map(String::as_str).collect()
    }

    // --backup naming the second copy reads it, not the primary.
    let t = path(&dir, "second.db");
    let r = json(dir.path(), &refs(&restore(s(&plain), s(&t), &[])));
    assert_eq!(r["backup_path"], s(&plain), "{r:#}");
    assert_eq!(r["passed_over_copies"].as_array().unwrap().len(), 0);

    // The .gz damaged since it was catalogued: restores read the plain copy and say so.
    let mut bytes = std::fs::read(&gz).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid..mid + 64].fill(0);
    replace_keeping_stamp(&gz, &bytes);
    for (name, extra) in [("whole", &[][..]), ("orders", &["--tables", "orders"][..])] {
        let t = path(&dir, &format!("{name}.db"));
        let r = json(dir.path(), &refs(&restore("latest", s(&t), extra)));
        assert_eq!(r["backup_path"], s(&plain), "{name}: {r:#}");
        let passed = r["passed_over_copies"].as_array().unwrap();
        assert_eq!(passed.len(), 1, "{r:#}");
        assert_eq!(passed[0]["path"], s(&gz));
        assert!(passed[0]["reason"].as_str().unwrap().contains("changed since it was catalogued"), "{r:#}");
        assert_eq!(rows(&t, "orders"), rows(&live, "orders"), "{name}");
    }
    let t = path(&dir, "human.db");
    let out = lastgood(dir.path()).args(refs(&restore("latest", s(&t), &[]))).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(&format!("passed over copy `{}`", s(&gz))), "{text}");
    assert!(text.contains(&format!("read copy `{}`", s(&plain))), "{text}");

    // --backup naming the damaged copy reads that copy only: it fails, nothing is left.
    let out_dir = path(&dir, "out");
    std::fs::create_dir_all(&out_dir).unwrap();
    let t = out_dir.join("r.db");
    let err = fails(dir.path(), &refs(&restore(s(&gz), s(&t), &[])), 3);
    assert!(err.contains(s(&gz)) && err.contains("changed since it was catalogued"), "{err}");
    // Both copies damaged: it fails naming each, nothing is left.
    let (page_size, leaves) = leaf_pages(&plain, "orders");
    let mut bytes = std::fs::read(&plain).unwrap();
    bytes[((leaves[0] - 1) * page_size + page_size / 2) as usize] ^= 0xff;
    replace_keeping_stamp(&plain, &bytes);
    let err = fails(dir.path(), &refs(&restore("latest", s(&t), &[])), 3);
    assert!(err.contains("no copy of backup") && err.contains(s(&gz)) && err.contains(s(&plain)), "{err}");
    assert!(files_in(&out_dir).is_empty(), "{:?}", files_in(&out_dir));
}
