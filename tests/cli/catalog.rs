//! `lastgood catalog`.

use crate::common::*;

#[test]
fn lists_backups_made_by_sqlite3_and_the_backup_api_in_time_order() {
    let dir = tempdir();
    let live = path(&dir, "live.db");
    let repo = path(&dir, "repo");
    std::fs::create_dir(&repo).unwrap();
    make_shop(&live, 100);
    // 06:00 by the sqlite3 tool, 07:00 by the online backup API, 08:00 by sqlite3 again.
    sqlite3(&live, &format!(".backup '{}'", repo.join("shop-2026-11-24T06-00-00.db").display()));
    sqlite3(&live, "INSERT INTO orders(customer_id, item) VALUES (1, 'late 1')");
    {
        let src = rusqlite::Connection::open(&live).unwrap();
        let mut dst = rusqlite::Connection::open(repo.join("shop-20261124-070000.db")).unwrap();
        rusqlite::backup::Backup::new(&src, &mut dst)
            .unwrap()
            .run_to_completion(100, std::time::Duration::ZERO, None)
            .unwrap();
    }
    sqlite3(&live, "INSERT INTO orders(customer_id, item) VALUES (1, 'late 2')");
    sqlite3(&live, &format!(".backup '{}'", repo.join("shop-2026-11-24_08-00.db").display()));

    let v = json(dir.path(), &["catalog", "--repo", repo.to_str().unwrap()]);
    let backups = v["backups"].as_array().unwrap();
    assert_eq!(backups.len(), 3);
    let taken: Vec<&str> = backups.iter().map(|b| b["taken_at"].as_str().unwrap()).collect();
    assert_eq!(taken, ["2026-11-24T06:00:00Z", "2026-11-24T07:00:00Z", "2026-11-24T08:00:00Z"]);
    let orders: Vec<u64> = backups
        .iter()
        .map(|b| {
            b["tables"].as_array().unwrap().iter().find(|t| t["name"] == "orders").unwrap()["rows"].as_u64().unwrap()
        })
        .collect();
    assert_eq!(orders, [100, 101, 102]);
    for b in backups {
        assert_eq!(b["taken_at_source"], "file-name");
        let names: Vec<&str> = b["tables"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["audit", "customers", "downloads", "orders"]);
    }
}

fn backup_named<'a>(v: &'a serde_json::Value, file: &str) -> &'a serde_json::Value {
    v["backups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["copies"].as_array().unwrap().iter().any(|c| c["path"].as_str().unwrap().ends_with(file)))
        .unwrap_or_else(|| panic!("no backup {file} in {v:#}"))
}

fn orders_rows(b: &serde_json::Value) -> u64 {
    b["tables"].as_array().unwrap().iter().find(|t| t["name"] == "orders").unwrap()["rows"].as_u64().unwrap()
}

#[test]
fn taken_at_comes_from_manifest_then_each_file_name_pattern_then_mtime() {
    let dir = tempdir();
    let live = path(&dir, "live.db");
    let repo = path(&dir, "repo");
    std::fs::create_dir(&repo).unwrap();
    make_shop(&live, 5);
    let names = [
        ("a-2026-11-24T06:00:00Z.db", "2026-11-24T06:00:00Z"),
        ("b-2026-11-24T06-00-01.db", "2026-11-24T06:00:01Z"),
        ("c-20261124-060002.db", "2026-11-24T06:00:02Z"),
        ("d-2026-11-24_06-03.db", "2026-11-24T06:03:00Z"),
    ];
    for (i, (name, _)) in names.iter().enumerate() {
        // Distinct content per file, so each is its own backup.
        sqlite3(&live, &format!("INSERT INTO customers(name) VALUES ('n{i}')"));
        cli_backup(&live, &repo.join(name));
    }
    // A manifest wins over the time in the name.
    sqlite3(&live, "INSERT INTO customers(name) VALUES ('m')");
    cli_backup(&live, &repo.join("e-2026-11-24T07-00-00.db"));
    std::fs::write(
        repo.join("e-2026-11-24T07-00-00.db.lastgood.json"),
        r#"{"manifest_version": 1, "taken_at": "2026-11-20T05:00:00Z", "engine": "sqlite"}"#,
    )
    .unwrap();
    // No time in the name: the mtime.
    sqlite3(&live, "INSERT INTO customers(name) VALUES ('t')");
    let plain = repo.join("shop.db");
    cli_backup(&live, &plain);
    let mtime = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_790_000_000);
    std::fs::File::options().write(true).open(&plain).unwrap().set_modified(mtime).unwrap();

    let v = json(dir.path(), &["catalog", "--repo", s(&repo)]);
    for (name, at) in names {
        let b = backup_named(&v, name);
        assert_eq!(
            (b["taken_at"].as_str().unwrap(), b["taken_at_source"].as_str().unwrap()),
            (at, "file-name"),
            "{name}"
        );
    }
    let e = backup_named(&v, "e-2026-11-24T07-00-00.db");
    assert_eq!(
        (e["taken_at"].as_str().unwrap(), e["taken_at_source"].as_str().unwrap()),
        ("2026-11-20T05:00:00Z", "manifest")
    );
    let m = backup_named(&v, "shop.db");
    let expected = chrono::DateTime::<chrono::Utc>::from(mtime).to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
    assert_eq!((m["taken_at"].as_str().unwrap(), m["taken_at_source"].as_str().unwrap()), (expected.as_str(), "mtime"));
    // Oldest first: the manifest's 2026-11-20, the names of 2026-11-24, then the mtime (2026-09).
    let taken: Vec<&str> = v["backups"].as_array().unwrap().iter().map(|b| b["taken_at"].as_str().unwrap()).collect();
    let mut sorted = taken.clone();
    sorted.sort_by_key(|t| chrono::DateTime::parse_from_rfc3339(t).unwrap());
    assert_eq!(taken, sorted);
    // The human table says where each time came from.
    let out = lastgood(dir.path()).args(["catalog", "--repo", s(&repo)]).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("manifest") && text.contains("file name") && text.contains("mtime"), "{text}");
}

#[test]
fn same_content_in_two_repositories_is_one_backup_with_two_copies() {
    let dir = tempdir();
    let (repo, _) = three_backups(&dir);
    let offsite = path(&dir, "offsite");
    std::fs::create_dir_all(offsite.join("2026/11")).unwrap();
    std::fs::copy(repo.join("shop-20261123-070000.db"), offsite.join("2026/11/shop-20261123-070000.db")).unwrap();
    let v = json(dir.path(), &["catalog", "--repo", s(&repo), "--repo", s(&offsite)]);
    assert_eq!(v["backups"].as_array().unwrap().len(), 3);
    let b = backup_named(&v, "shop-20261123-070000.db");
    let copies: Vec<(&str, &str)> = b["copies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["repository"].as_str().unwrap(), c["path"].as_str().unwrap()))
        .collect();
    assert_eq!(copies.len(), 2, "{copies:?}");
    assert_eq!(copies[0].0, s(&repo));
    assert_eq!(copies[1], (s(&offsite), s(&offsite.join("2026/11/shop-20261123-070000.db"))));
    // LASTGOOD_REPO takes the same list, colon-separated.
    let out = lastgood(dir.path())
        .env("LASTGOOD_REPO", format!("{}:{}", s(&repo), s(&offsite)))
        .args(["--json", "catalog"])
        .output()
        .unwrap();
    let v2: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(backup_named(&v2, "shop-20261123-070000.db")["copies"].as_array().unwrap().len(), 2);
}

#[test]
fn a_damaged_copy_does_not_hide_a_healthy_copy_of_the_same_backup() {
    let dir = tempdir();
    let (repo, _) = three_backups(&dir);
    let offsite = path(&dir, "offsite");
    std::fs::create_dir(&offsite).unwrap();
    let file = "shop-20261123-070000.db";
    std::fs::copy(repo.join(file), offsite.join(file)).unwrap();
    // The primary repository's copy carries a manifest whose checksum does not match.
    std::fs::write(
        repo.join(format!("{file}.lastgood.json")),
        format!(r#"{{"taken_at": "2026-11-23T07:00:00Z", "sha256": "{}"}}"#, "00".repeat(32)),
    )
    .unwrap();
    let v = json(dir.path(), &["catalog", "--repo", s(&repo), "--repo", s(&offsite)]);
    let b = backup_named(&v, file);
    assert_eq!(b["problem"], serde_json::Value::Null);
    assert_eq!(b["copies"][0]["path"], s(&offsite.join(file)));
    assert_eq!(b["copies"].as_array().unwrap().len(), 2);
}

#[test]
fn cache_is_kept_in_the_repository_and_unchanged_files_are_not_read_again() {
    let dir = tempdir();
    let (repo, live) = three_backups(&dir);
    let first = json(dir.path(), &["catalog", "--repo", s(&repo)]);
    assert!(repo.join(".lastgood/catalog.db").is_file());
    let file = repo.join("shop-2026-11-23T06-00-00.db");
    assert_eq!(orders_rows(backup_named(&first, "shop-2026-11-23T06-00-00.db")), 100);

    // New content of the same size (delete rows: the page count stays), old mtime kept.
    let changed = path(&dir, "changed.db");
    std::fs::copy(&file, &changed).unwrap();
    sqlite3(&changed, "DELETE FROM orders WHERE id > 60");
    assert_eq!(std::fs::metadata(&changed).unwrap().len(), std::fs::metadata(&file).unwrap().len());
    replace_keeping_stamp(&file, &std::fs::read(&changed).unwrap());

    // Size and mtime unchanged: the cached facts (100 rows, old sha256) are used, not the file.
    let second = json(dir.path(), &["catalog", "--repo", s(&repo)]);
    let b = backup_named(&second, "shop-2026-11-23T06-00-00.db");
    assert_eq!(orders_rows(b), 100);
    assert_eq!(b["sha256"], backup_named(&first, "shop-2026-11-23T06-00-00.db")["sha256"]);

    // A new mtime: the file is read again.
    let later = std::fs::metadata(&file).unwrap().modified().unwrap() + std::time::Duration::from_secs(1);
    std::fs::File::options().write(true).open(&file).unwrap().set_modified(later).unwrap();
    let third = json(dir.path(), &["catalog", "--repo", s(&repo)]);
    let b = backup_named(&third, "shop-2026-11-23T06-00-00.db");
    assert_eq!(orders_rows(b), 60);
    assert_ne!(b["sha256"], backup_named(&first, "shop-2026-11-23T06-00-00.db")["sha256"]);

    // A manifest written later is noticed too, though the backup file did not change.
    std::fs::write(repo.join("shop-2026-11-23T06-00-00.db.lastgood.json"), r#"{"taken_at": "2026-11-23T05:55:00Z"}"#)
        .unwrap();
    let fourth = json(dir.path(), &["catalog", "--repo", s(&repo)]);
    assert_eq!(backup_named(&fourth, "shop-2026-11-23T06-00-00.db")["taken_at_source"], "manifest");
    // Removed files leave the catalog.
    std::fs::remove_file(repo.join("shop-20261123-070000.db")).unwrap();
    let fifth = json(dir.path(), &["catalog", "--repo", s(&repo)]);
    assert_eq!(fifth["backups"].as_array().unwrap().len(), 2);
    drop(live);
}

#[test]
fn damaged_and_non_backup_files_are_listed_with_their_problem() {
    let dir = tempdir();
    let (repo, _) = three_backups(&dir);
    let bytes = std::fs::read(repo.join("shop-2026-11-23_08-00.db")).unwrap();
    std::fs::write(repo.join("truncated-2026-11-23T09-00-00.db"), &bytes[..bytes.len() / 3]).unwrap();
    std::fs::write(repo.join("zero-2026-11-23T10-00-00.db"), "").unwrap();
    std::fs::write(repo.join("readme.db"), "plain text\n").unwrap();
    let v = json(dir.path(), &["catalog", "--repo", s(&repo)]);
    let t = backup_named(&v, "truncated-2026-11-23T09-00-00.db");
    assert!(t["problem"].as_str().unwrap().contains("is truncated: "), "{t}");
    let ignored: Vec<(String, String)> = v["ignored"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            let p = i["path"].as_str().unwrap();
            (p.rsplit('/').next().unwrap().to_string(), i["reason"].as_str().unwrap().to_string())
        })
        .collect();
    assert_eq!(
        ignored,
        [
            ("readme.db".to_string(), "not a SQLite database (no `SQLite format 3` header)".to_string()),
            ("zero-2026-11-23T10-00-00.db".to_string(), "empty file (0 bytes)".to_string()),
        ]
    );
    let out = lastgood(dir.path()).args(["catalog", "--repo", s(&repo)]).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("DAMAGED:") && text.contains("ignored `") && text.contains("readme.db"), "{text}");
}

#[test]
fn unreadable_repositories_are_environment_errors() {
    let dir = tempdir();
    let (repo, live) = three_backups(&dir);
    let missing = path(&dir, "nowhere");
    let err = fails(dir.path(), &["catalog", "--repo", s(&repo), "--repo", s(&missing)], 4);
    assert!(err.contains("cannot read repository") && err.contains("nowhere"), "{err}");
    let err = fails(dir.path(), &["catalog", "--repo", s(&live)], 4);
    assert!(err.contains("live.db") && err.contains("is not a directory"), "{err}");
    let err = fails(dir.path(), &["catalog"], 2);
    assert!(err.contains("no repository given"), "{err}");
    // Nothing was written: no cache beside a missing repository or a file.
    assert!(!missing.exists());
}

#[test]
fn fixtures_repo_of_the_readme_holds_three_backups_in_time_order() {
    let dir = tempdir();
    let repo = path(&dir, "repo");
    std::fs::create_dir(&repo).unwrap();
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/repo");
    for e in std::fs::read_dir(&fixtures).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_file() {
            std::fs::copy(e.path(), repo.join(e.file_name())).unwrap();
        }
    }
    let v = json(dir.path(), &["catalog", "--repo", s(&repo)]);
    let seen: Vec<(&str, u64, u64)> = v["backups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            let rows = |t: &str| {
                b["tables"].as_array().unwrap().iter().find(|x| x["name"] == t).unwrap()["rows"].as_u64().unwrap()
            };
            (b["taken_at"].as_str().unwrap(), rows("orders"), rows("downloads"))
        })
        .collect();
    assert_eq!(seen, [("2026-11-23T06:00:00Z", 3, 3), ("2026-11-23T12:00:00Z", 5, 5), ("2026-11-23T18:00:00Z", 6, 5)]);
    assert!(v["backups"].as_array().unwrap().iter().all(|b| b["size"].as_u64().unwrap() < 16_384));
}

#[test]
fn the_same_repository_given_twice_is_scanned_once() {
    let dir = tempdir();
    let (repo, _) = three_backups(&dir);
    let again = format!("{}/.", s(&repo));
    let v = json(dir.path(), &["catalog", "--repo", s(&repo), "--repo", &again]);
    assert_eq!(v["backups"].as_array().unwrap().len(), 3);
    assert!(v["backups"].as_array().unwrap().iter().all(|b| b["copies"].as_array().unwrap().len() == 1), "{v:#}");
}

/// A copy cut short inside its last page still opens and answers queries; the catalog compares
/// its size with the header's page count and flags it.
#[test]
fn a_truncated_sqlite_file_is_flagged_as_truncated() {
    let dir = tempdir();
    let repo = crate::prune::small_backups_and_a_truncated_newest(&dir);
    let v = json(dir.path(), &["catalog", "--repo", repo.to_str().unwrap()]);
    let trunc = v["backups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["copies"][0]["path"].as_str().unwrap().ends_with("trunc-2026-11-23T04-00-00.db"))
        .unwrap_or_else(|| panic!("{v}"));
    let problem = trunc["problem"].as_str().unwrap_or_else(|| panic!("not flagged: {trunc}"));
    assert!(problem.contains("truncated: 5000 bytes, but its header says 2 pages of 4096 bytes"), "{problem}");
    let healthy = v["backups"].as_array().unwrap().iter().filter(|b| b["problem"].is_null()).count();
    assert_eq!(healthy, 3, "{v}");
}

/// gzip-compresses `bytes` with no file name in the header (flate2), so offset 10 is the start of
/// the deflate stream.
fn gzip_bytes(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

/// Backups whose content fails to decode: one beside its manifest with a damaged header, a gzip
/// and a zstd stream with flipped bytes, a zstd file cut to 200 bytes and one whose magic bytes
/// are overwritten. Each is a backup
/// listed with its problem (naming the file in the repository), never passed over as "not a
/// backup"; `restore --at` says it skipped them.
#[test]
fn backups_that_no_longer_decode_are_listed_damaged_not_ignored() {
    let dir = tempdir();
    let live = path(&dir, "live.db");
    let repo = path(&dir, "repo");
    std::fs::create_dir(&repo).unwrap();
    make_shop(&live, 200);
    let db = path(&dir, "plain.db");
    cli_backup(&live, &db);
    let bytes = std::fs::read(&db).unwrap();
    // A healthy backup at 09:00, then three damaged ones at 10:00, 11:00 and 12:00.
    std::fs::copy(&db, repo.join("shop-2026-11-23T09-00-00.db")).unwrap();
    let mut gz = gzip_bytes(&bytes);
    for b in &mut gz[10..14] {
        *b ^= 0xff;
    }
    std::fs::write(repo.join("shop-2026-11-23T10-00-00.db.gz"), &gz).unwrap();
    let mut zst = zstd::encode_all(&bytes[..], 3).unwrap();
    for b in &mut zst[4..8] {
        *b ^= 0xff;
    }
    std::fs::write(repo.join("shop-2026-11-23T11-00-00.db.zst"), &zst).unwrap();
    let zst = zstd::encode_all(&bytes[..], 3).unwrap();
    assert!(zst.len() > 400, "{}", zst.len());
    std::fs::write(repo.join("shop-2026-11-23T12-00-00.db.zst"), &zst[..200]).unwrap();
    // Named `.zst`, with the stream's magic bytes overwritten.
    let mut magic = zst.clone();
    magic[..4].copy_from_slice(b"XXXX");
    std::fs::write(repo.join("shop-2026-11-23T12-15-00.db.zst"), &magic).unwrap();

    // Two backups by lastgood itself (with manifests); the newer one's header is overwritten.
    let first = json(dir.path(), &["backup", "--live", s(&live), "--repo", s(&repo)]);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    sqlite3(&live, "INSERT INTO orders(customer_id, item) VALUES (1, 'late')");
    let second = json(dir.path(), &["backup", "--live", s(&live), "--repo", s(&repo)]);
    let newest = repo.join(second["file"].as_str().unwrap());
    let mut head = std::fs::read(&newest).unwrap();
    head[..4].copy_from_slice(b"XXXX");
    std::fs::write(&newest, head).unwrap();

    let v = json(dir.path(), &["catalog", "--repo", s(&repo)]);
    assert_eq!(v["ignored"].as_array().unwrap().len(), 0, "{v:#}");
    assert_eq!(v["backups"].as_array().unwrap().len(), 7, "{v:#}");
    let newest_name = newest.file_name().unwrap().to_str().unwrap();
    for (file, says) in [
        (newest_name, "no `SQLite format 3` header"),
        ("shop-2026-11-23T10-00-00.db.gz", "gzip stream is damaged or cut short"),
        ("shop-2026-11-23T11-00-00.db.zst", "zstd stream is damaged or cut short"),
        ("shop-2026-11-23T12-00-00.db.zst", "zstd stream is damaged or cut short"),
        ("shop-2026-11-23T12-15-00.db.zst", "is not a zstd stream (no zstd header)"),
    ] {
        let b = backup_named(&v, file);
        let problem = b["problem"].as_str().unwrap_or_else(|| panic!("{file} not flagged: {b:#}"));
        assert!(problem.contains(says) && problem.contains(s(&repo.join(file))), "{file}: {problem}");
        assert!(!problem.contains("/tmp/") || s(&repo).starts_with("/tmp/"), "{problem}");
    }
    // The manifest's taken-at still places the damaged backup last.
    let last = v["backups"].as_array().unwrap().last().unwrap();
    assert_eq!(last["copies"][0]["path"], s(&newest), "{v:#}");
    assert_eq!(last["taken_at_source"], "manifest");
    // The human table says DAMAGED.
    let out = lastgood(dir.path()).args(["catalog", "--repo", s(&repo)]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.matches("DAMAGED: ").count(), 5, "{text}");

    // restore --at passes over the damaged newest to the older lastgood backup, and says so.
    let target = path(&dir, "at.db");
    let r = json(dir.path(), &["restore", "--repo", s(&repo), "--at", "now", "--into", s(&target)]);
    assert_eq!(r["backup_path"], s(&repo.join(first["file"].as_str().unwrap())));
    assert_eq!(r["why"].as_str().unwrap().matches("skipped damaged backup").count(), 1, "{r:#}");
    assert_eq!(rows(&target, "orders").len(), 200);
    // ...and over the four compressed ones to the 09:00 backup.
    let target = path(&dir, "at12.db");
    let r = json(dir.path(), &["restore", "--repo", s(&repo), "--at", "2026-11-23T12:30:00Z", "--into", s(&target)]);
    assert_eq!(r["backup_path"], s(&repo.join("shop-2026-11-23T09-00-00.db")));
    assert_eq!(r["why"].as_str().unwrap().matches("skipped damaged backup").count(), 4, "{r:#}");
}

/// A backup read through a temporary copy (decompressed, or copied with its `-wal`) whose schema
/// page is corrupt: the problem names the backup in the repository, not the temporary file.
#[test]
fn problems_of_backups_read_through_a_temporary_copy_name_the_backup() {
    let dir = tempdir();
    let live = path(&dir, "live.db");
    let repo = path(&dir, "repo");
    std::fs::create_dir(&repo).unwrap();
    make_shop(&live, 50);
    let db = path(&dir, "corrupt.db");
    cli_backup(&live, &db);
    // Page 1's b-tree page type (byte 100) is not one SQLite knows: sqlite_schema is unreadable.
    let mut bytes = std::fs::read(&db).unwrap();
    bytes[100] = 0xff;
    std::fs::write(&db, &bytes).unwrap();
    gzip(&db, &repo.join("gz-2026-11-23T06-00-00.db.gz"));
    // Each of a content of its own (one content stored thrice would be one backup): the user
    // version (bytes 60–63) differs.
    bytes[63] ^= 1;
    std::fs::write(&db, &bytes).unwrap();
    zstd(&db, &repo.join("zst-2026-11-23T07-00-00.db.zst"));
    bytes[63] ^= 2;
    let wal_main = repo.join("wal-2026-11-23T08-00-00.db");
    std::fs::write(&wal_main, &bytes).unwrap();
    std::fs::write(repo.join("wal-2026-11-23T08-00-00.db-wal"), b"").unwrap();

    let v = json(dir.path(), &["catalog", "--repo", s(&repo)]);
    for file in ["gz-2026-11-23T06-00-00.db.gz", "zst-2026-11-23T07-00-00.db.zst", "wal-2026-11-23T08-00-00.db"] {
        let b = backup_named(&v, file);
        let problem = b["problem"].as_str().unwrap_or_else(|| panic!("{file} not flagged: {b:#}"));
        assert!(problem.contains(&format!("`{}`", s(&repo.join(file)))), "{file}: {problem}");
        assert!(!problem.contains("lastgood-") && !problem.contains("backup.db"), "{file}: {problem}");
    }
    // verify says the same.
    let out = lastgood(dir.path()).args(["verify", "--all", "--repo", s(&repo)]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(!text.contains("lastgood-") && !text.contains("backup.db"), "{text}");
}

/// Two hourly copies of a live WAL database taken with their `-wal` (the main file not
/// checkpointed in between, so byte-identical): two backups, told apart by their `-wal`, with the
/// row counts SQLite reads from main file plus WAL. They used to be one backup with two copies.
#[test]
fn hourly_copies_of_a_wal_database_with_their_wal_are_two_backups() {
    let dir = tempdir();
    let live = path(&dir, "live.db");
    let repo = path(&dir, "repo");
    std::fs::create_dir(&repo).unwrap();
    let app = wal_live(&live);
    app.execute("INSERT INTO orders(item) VALUES ('d')", []).unwrap();
    copy_with_wal(&live, &repo.join("shop-2026-11-24T06-00-00.db"));
    app.execute_batch("INSERT INTO orders(item) VALUES ('e'), ('f'); DELETE FROM orders WHERE item = 'a';").unwrap();
    copy_with_wal(&live, &repo.join("shop-2026-11-24T07-00-00.db"));
    let main = |h: &str| std::fs::read(repo.join(format!("shop-2026-11-24T{h}-00-00.db"))).unwrap();
    assert_eq!(main("06"), main("07"), "the repro needs main files that were not checkpointed");

    let v = json(dir.path(), &["catalog", "--repo", s(&repo)]);
    let backups = v["backups"].as_array().unwrap();
    assert_eq!(backups.len(), 2, "{v:#}");
    let (six, seven) = (backup_named(&v, "T06-00-00.db"), backup_named(&v, "T07-00-00.db"));
    assert_eq!((orders_rows(six), orders_rows(seven)), (4, 5));
    assert_ne!(six["content_sha256"], seven["content_sha256"]);
    assert_eq!(six["copies"][0]["sha256"], seven["copies"][0]["sha256"], "each copy keeps its stored sha256");
    assert_eq!(six["id"].as_str().unwrap(), &six["content_sha256"].as_str().unwrap()[..10]);
    for b in [six, seven] {
        assert_eq!(b["copies"].as_array().unwrap().len(), 1);
        assert!(b["copies"][0]["wal"]["sha256"].is_string(), "{b:#}");
        assert!(b["warnings"].as_array().unwrap().is_empty(), "{b:#}");
    }
    assert!(v["ignored"].as_array().unwrap().is_empty(), "a -wal is no backup of its own: {v:#}");
}

/// Every command that reads a backup reads main file and `-wal` through a private copy: the
/// repository is left byte for byte as it was (no `-shm`, the `-wal` not checkpointed away), and
/// each sees the WAL's rows.
#[test]
fn readers_of_a_wal_backup_see_its_wal_and_leave_the_repository_as_it_was() {
    let dir = tempdir();
    let live = path(&dir, "live.db");
    let repo = path(&dir, "repo");
    std::fs::create_dir(&repo).unwrap();
    let app = wal_live(&live);
    app.execute("INSERT INTO orders(item) VALUES ('bad.zip')", []).unwrap();
    let backup = repo.join("shop-2026-11-24T06-00-00.db");
    copy_with_wal(&live, &backup);
    json(dir.path(), &["catalog", "--repo", s(&repo)]);
    let before = tree(&repo);
    let r = s(&repo);

    let show = json(dir.path(), &["show", "latest", "--repo", r]);
    assert_eq!(orders_rows(&show), 4);
    let verdicts = json(dir.path(), &["verify", "--all", "--repo", r]);
    assert!(verdicts.as_array().unwrap().iter().all(|v| v["ok"] == true), "{verdicts:#}");
    let check = "SELECT count(*) = 0 FROM orders WHERE item = 'bad.zip'";
    let bisect = lastgood(dir.path()).args(["--json", "bisect", "--repo", r, "--check", check]).output().unwrap();
    let bisect: serde_json::Value = serde_json::from_slice(&bisect.stdout).unwrap();
    assert_eq!(bisect["evaluations"][0]["verdict"], "bad", "bisect read the WAL's row: {bisect:#}");
    let history = json(dir.path(), &["history", "--table", "orders", "--repo", r]);
    assert_eq!(history["entries"][0]["rows"], 4, "{history:#}");
    for (name, extra) in [("whole.db", &[][..]), ("orders.db", &["--tables", "orders"][..])] {
        let into = path(&dir, name);
        let mut args = vec!["restore", "--repo", r, "--backup", "latest", "--into", s(&into)];
        args.extend_from_slice(extra);
        json(dir.path(), &args);
        assert_eq!(items(&into), ["a", "b", "c", "bad.zip"], "{name}");
    }
    let drill = lastgood(dir.path()).args(["--json", "drill", "--repo", r, "--min-rows", "orders=4"]).output().unwrap();
    assert_eq!(drill.status.code(), Some(0), "{}", String::from_utf8_lossy(&drill.stdout));
    assert_eq!(tree(&repo), before, "a reader changed the repository");
    drop(app);
}

/// A WAL-mode main file copied without its `-wal`: listed (it is consistent as of its last
/// checkpoint) with a visible warning, in `--json` and in the human table.
#[test]
fn a_wal_mode_file_without_its_wal_gets_a_warning() {
    let dir = tempdir();
    let live = path(&dir, "live.db");
    let repo = path(&dir, "repo");
    std::fs::create_dir(&repo).unwrap();
    let app = wal_live(&live);
    app.execute("INSERT INTO orders(item) VALUES ('only in the wal')", []).unwrap();
    std::fs::copy(&live, repo.join("shop-2026-11-24T06-00-00.db")).unwrap();
    let v = json(dir.path(), &["catalog", "--repo", s(&repo)]);
    let b = &v["backups"][0];
    assert!(b["problem"].is_null(), "{b:#}");
    assert_eq!(orders_rows(b), 3, "the main file alone holds the checkpointed rows");
    let warning = b["warnings"][0].as_str().unwrap_or_else(|| panic!("no warning: {b:#}"));
    assert!(warning.contains("WAL-mode") && warning.contains("without its `-wal`"), "{warning}");
    let out = lastgood(dir.path()).args(["catalog", "--repo", s(&repo)]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("WARNING") && text.lines().any(|l| l.starts_with("warning: backup")), "{text}");
    drop(app);
}

/// Changing only the `-wal` (same main file, same stamp) is seen: the cache is keyed by the
/// `-wal`'s size and mtime too.
#[test]
fn a_changed_wal_is_read_again_despite_the_cache() {
    let dir = tempdir();
    let live = path(&dir, "live.db");
    let repo = path(&dir, "repo");
    std::fs::create_dir(&repo).unwrap();
    let app = wal_live(&live);
    app.execute("INSERT INTO orders(item) VALUES ('d')", []).unwrap();
    let backup = repo.join("shop-2026-11-24T06-00-00.db");
    copy_with_wal(&live, &backup);
    let first = json(dir.path(), &["catalog", "--repo", s(&repo)]);
    assert_eq!(orders_rows(&first["backups"][0]), 4);
    app.execute("INSERT INTO orders(item) VALUES ('e')", []).unwrap();
    // Only the -wal is copied again: the main file (not checkpointed) keeps its size and mtime.
    std::fs::copy(path(&dir, "live.db-wal"), repo.join("shop-2026-11-24T06-00-00.db-wal")).unwrap();
    let second = json(dir.path(), &["catalog", "--repo", s(&repo)]);
    assert_eq!(orders_rows(&second["backups"][0]), 5, "{second:#}");
    assert_ne!(first["backups"][0]["content_sha256"], second["backups"][0]["content_sha256"]);
    drop(app);
}

/// A `.gz`, a `.zst` and a plain copy of one database, in two repositories: one backup with three
/// copies, each with its own stored sha256 and compression; the id is the content's.
#[test]
fn compressed_and_plain_copies_of_one_database_are_one_backup() {
    let dir = tempdir();
    let (repo, _) = three_backups(&dir);
    let offsite = path(&dir, "offsite");
    std::fs::create_dir(&offsite).unwrap();
    let plain = repo.join("shop-2026-11-23_08-00.db");
    gzip(&plain, &offsite.join("shop-2026-11-23_08-00.db.gz"));
    zstd(&plain, &offsite.join("shop-2026-11-23_08-00.db.zst"));
    let v = json(dir.path(), &["catalog", "--repo", s(&repo), "--repo", s(&offsite)]);
    assert_eq!(v["backups"].as_array().unwrap().len(), 3, "{v:#}");
    let b = backup_named(&v, "08-00.db.gz");
    let copies = b["copies"].as_array().unwrap();
    let kinds: Vec<&str> = copies.iter().map(|c| c["compression"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["none", "gzip", "zstd"]);
    let shas: std::collections::BTreeSet<&str> = copies.iter().map(|c| c["sha256"].as_str().unwrap()).collect();
    assert_eq!(shas.len(), 3, "each copy keeps the checksum of its stored bytes");
    let content = b["content_sha256"].as_str().unwrap();
    assert_eq!(content, sha256_of(&plain));
    assert_eq!(b["id"].as_str().unwrap(), &content[..10]);
    assert_eq!(b["sha256"].as_str().unwrap(), content, "the primary copy is the plain one");
    // A compressed copy's stored checksum still selects the backup (ids before content ids).
    let gz_sha = copies[1]["sha256"].as_str().unwrap();
    let shown = json(dir.path(), &["show", &gz_sha[..12], "--repo", s(&repo), "--repo", s(&offsite)]);
    assert_eq!(shown["id"], b["id"]);
    let verdicts =
        json(dir.path(), &["verify", &b["id"].as_str().unwrap()[..8], "--repo", s(&repo), "--repo", s(&offsite)]);
    assert_eq!(verdicts.as_array().unwrap().iter().filter(|v| v["ok"] == true).count(), 3, "{verdicts:#}");
}

fn sha256_of(p: &std::path::Path) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(std::fs::read(p).unwrap()))
}

/// Hard links and links inside the repository are other names of one file: one backup, one copy,
/// the other names listed as aliases.
#[test]
fn hard_links_and_links_inside_the_repository_are_one_copy() {
    let dir = tempdir();
    let (repo, _) = three_backups(&dir);
    let newest = repo.join("shop-2026-11-23_08-00.db");
    std::fs::hard_link(&newest, repo.join("shop-hardlink-2026-11-23_08-00.db")).unwrap();
    std::fs::create_dir(repo.join("by-day")).unwrap();
    std::os::unix::fs::symlink(&newest, repo.join("latest.db")).unwrap();
    std::os::unix::fs::symlink("../shop-2026-11-23_08-00.db", repo.join("by-day/today.db")).unwrap();
    // A link to a folder inside the repository: its files are listed once.
    std::os::unix::fs::symlink(repo.join("by-day"), repo.join("current")).unwrap();
    let v = json(dir.path(), &["catalog", "--repo", s(&repo)]);
    assert_eq!(v["backups"].as_array().unwrap().len(), 3, "{v:#}");
    let b = backup_named(&v, "shop-2026-11-23_08-00.db");
    assert_eq!(b["copies"].as_array().unwrap().len(), 1, "{b:#}");
    let aliases: Vec<&str> =
        b["copies"][0]["aliases"].as_array().unwrap().iter().map(|a| a.as_str().unwrap()).collect();
    assert_eq!(aliases.len(), 3, "{aliases:?}");
    for name in ["shop-hardlink-2026-11-23_08-00.db", "latest.db", "by-day/today.db"] {
        assert!(aliases.iter().any(|a| a.ends_with(name)), "{name} not an alias: {aliases:?}");
    }
    assert!(v["ignored"].as_array().unwrap().is_empty(), "{v:#}");
    // A drill requiring two copies is not fooled by the second name.
    let out =
        lastgood(dir.path()).args(["--json", "drill", "--repo", s(&repo), "--require-copies", "2"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
}

/// Links that point outside every repository (a live data folder!), dangling links and loops are
/// listed as ignored with the reason; nothing behind them becomes a backup, and the scan ends.
#[test]
fn links_outside_the_repositories_dangling_or_looping_are_ignored_with_the_reason() {
    let dir = tempdir();
    let (repo, live) = three_backups(&dir);
    let app_data = path(&dir, "app-data");
    std::fs::create_dir(&app_data).unwrap();
    // Live files, newer than every backup, named like one.
    sqlite3(&live, "INSERT INTO orders(customer_id, item) VALUES (9, 'live only')");
    cli_backup(&live, &app_data.join("shop-2026-11-23T23-00-00.db"));
    let link = |to: &std::path::Path, name: &str| std::os::unix::fs::symlink(to, repo.join(name)).unwrap();
    link(&app_data, "app");
    link(&app_data.join("shop-2026-11-23T23-00-00.db"), "shop-2026-11-23T23-00-00.db");
    link(&path(&dir, "gone.db"), "gone.db");
    link(&repo, "loop");
    link(&repo.join("b.db"), "a.db");
    link(&repo.join("a.db"), "b.db");

    let v = json(dir.path(), &["catalog", "--repo", s(&repo)]);
    assert_eq!(v["backups"].as_array().unwrap().len(), 3, "{v:#}");
    let ignored: Vec<(String, String)> = v["ignored"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            assert_eq!(i["kind"], "link");
            let name = i["path"].as_str().unwrap().rsplit('/').next().unwrap().to_string();
            (name, i["reason"].as_str().unwrap().to_string())
        })
        .collect();
    let reason = |n: &str| &ignored.iter().find(|(m, _)| m == n).unwrap_or_else(|| panic!("{n}: {ignored:?}")).1;
    assert!(reason("app").starts_with("link points outside every repository"), "{ignored:?}");
    assert!(reason("shop-2026-11-23T23-00-00.db").contains(s(&app_data)), "{ignored:?}");
    assert!(reason("gone.db").starts_with("dangling link"), "{ignored:?}");
    assert!(reason("loop").starts_with("link loop"), "{ignored:?}");
    assert!(reason("a.db").starts_with("link loop") && reason("b.db").starts_with("link loop"), "{ignored:?}");
    let text =
        String::from_utf8_lossy(&lastgood(dir.path()).args(["catalog", "--repo", s(&repo)]).output().unwrap().stdout)
            .into_owned();
    assert!(text.contains("ignored `") && text.contains("link points outside every repository"), "{text}");
    // restore --at names the links it did not search; the newest backup is the 08:00 one.
    let into = path(&dir, "r.db");
    let r = json(dir.path(), &["restore", "--repo", s(&repo), "--at", "2026-11-23T23:30:00Z", "--into", s(&into)]);
    assert!(r["backup_path"].as_str().unwrap().ends_with("shop-2026-11-23_08-00.db"), "{r:#}");
    assert!(r["why"].as_str().unwrap().contains("links not followed"), "{r:#}");
}

/// A manifest whose taken_at has no zone is refused with a clear reason (it used to say
/// "premature end of input").
#[test]
fn a_manifest_time_without_a_zone_is_refused_clearly() {
    let dir = tempdir();
    let (repo, _) = three_backups(&dir);
    std::fs::write(
        repo.join("shop-2026-11-23_08-00.db.lastgood.json"),
        r#"{"taken_at": "2026-11-23T08:00:00", "engine": "sqlite"}"#,
    )
    .unwrap();
    let v = json(dir.path(), &["catalog", "--repo", s(&repo)]);
    let problem = backup_named(&v, "shop-2026-11-23_08-00.db")["problem"].as_str().unwrap().to_string();
    assert!(problem.contains("`2026-11-23T08:00:00` has no time zone"), "{problem}");
    assert!(problem.contains("2026-11-23T08:00:00Z"), "says how to write it: {problem}");
    assert!(!problem.contains("premature"), "{problem}");
}

/// The cache is written only below the repository's real root: a `.lastgood` that is a link
/// (here to a folder outside) is not written through; the repository is scanned without a cache.
#[test]
fn a_linked_cache_folder_is_never_written_through() {
    let dir = tempdir();
    let (repo, _) = three_backups(&dir);
    let elsewhere = path(&dir, "elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, repo.join(".lastgood")).unwrap();
    let v = json(dir.path(), &["catalog", "--repo", s(&repo)]);
    assert_eq!(v["backups"].as_array().unwrap().len(), 3);
    assert!(v["ignored"].as_array().unwrap().is_empty(), "{v:#}");
    let id = v["backups"][2]["id"].as_str().unwrap().to_string();
    assert!(lastgood(dir.path()).args(["verify", &id, "--repo", s(&repo)]).output().unwrap().status.success());
    assert!(files_in(&elsewhere).is_empty(), "written through the link: {:?}", files_in(&elsewhere));
}

/// A bug in lastgood (an error nothing classified, a panic, a panic in a worker thread) exits 70
/// with one `error: internal error: …` line and a hint, no backtrace; it used to exit 4, as if the
/// machine were at fault. The failures are simulated through a test-only variable.
#[test]
fn an_internal_error_or_a_panic_exits_70_with_one_line() {
    let dir = tempdir();
    for (what, says) in [
        ("error", "internal error: simulated invariant failure"),
        ("panic", "internal error: simulated panic at src/lib.rs:"),
        ("thread-panic", "internal error: a worker thread stopped (panic: simulated panic in a thread at src/lib.rs:"),
    ] {
        let out = lastgood(dir.path())
            .env("LASTGOOD_TEST_INTERNAL_FAILURE", what)
            .env("RUST_BACKTRACE", "1")
            .args(["catalog", "--repo", "."])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(70), "{what}: {err}");
        let lines: Vec<&str> = err.lines().collect();
        assert_eq!(lines.len(), 2, "{what}: {err}");
        assert!(lines[0].starts_with(&format!("error: {says}")), "{what}: {err}");
        assert!(lines[1].starts_with("hint: this is a bug in lastgood"), "{what}: {err}");
        assert!(out.stdout.is_empty());
    }
    // Environment failures keep exit 4.
    let line = fails(dir.path(), &["catalog", "--repo", "/nonexistent-lastgood-repo"], 4);
    assert!(line.contains("cannot read repository"), "{line}");
    let help = lastgood(dir.path()).arg("--help").output().unwrap();
    assert!(String::from_utf8_lossy(&help.stdout).contains("70 internal error"));
}

/// `--repo` and `LASTGOOD_REPO` take URLs: `file:///x` is the folder `/x`, a `:` followed by `//`
/// stays in its URL, and any other scheme is a usage error naming it (exit 2, one line).
#[test]
fn repositories_are_paths_or_file_urls_and_other_schemes_are_refused() {
    let dir = tempdir();
    let (repo, _) = three_backups(&dir);
    let offsite = path(&dir, "off site");
    std::fs::create_dir(&offsite).unwrap();
    std::fs::copy(repo.join("shop-20261123-070000.db"), offsite.join("shop-20261123-070000.db")).unwrap();
    let url = format!("file://{}", s(&repo));
    let v = json(dir.path(), &["catalog", "--repo", &url]);
    assert_eq!(v["backups"].as_array().unwrap().len(), 3);
    assert_eq!(v["repositories"][0], s(&repo), "the folder a file:// URL names");
    assert_eq!(v["windows"], serde_json::json!([]), "no recovery window yet");
    // A list: a file URL (its space escaped), then a path; the `://` keeps its colon.
    let list = format!("file://{}:{}", s(&repo), s(&offsite));
    let escaped = format!("file://{}", s(&offsite).replace(' ', "%20"));
    for list in [list, format!("{}:{escaped}", s(&repo))] {
        let out = lastgood(dir.path()).env("LASTGOOD_REPO", &list).args(["--json", "catalog"]).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["repositories"].as_array().unwrap().len(), 2, "{list}: {v}");
        assert_eq!(backup_named(&v, "shop-20261123-070000.db")["copies"].as_array().unwrap().len(), 2);
    }
    for (args, scheme) in [
        (vec!["catalog", "--repo", "s3://bucket/backups"], "s3"),
        (vec!["verify", "--all", "--repo", "gs://bucket"], "gs"),
    ] {
        let err = fails(dir.path(), &args, 2);
        assert!(err.contains(&format!("`{scheme}://`")) && err.contains("not supported yet"), "{err}");
    }
    // In LASTGOOD_REPO among folders: the URL is one entry, refused whole.
    let out = lastgood(dir.path())
        .env("LASTGOOD_REPO", format!("{}:s3://bucket:path/x", s(&repo)))
        .args(["catalog"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.starts_with("error: repository `s3://bucket`: `s3://`") && err.lines().count() == 1, "{err}");
}
