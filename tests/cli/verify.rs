//! `lastgood verify`: OK for healthy backups, FAILED with the reason and exit 1 for damaged ones.

use crate::common::*;

#[test]
fn healthy_backups_verify_ok_including_compressed_copies_and_manifests() {
    let dir = tempdir();
    let (repo, _) = three_backups(&dir);
    let newest = repo.join("shop-2026-11-23_08-00.db");
    gzip(&newest, &repo.join("shop-2026-11-23T09-00-00.db.gz"));
    zstd(&newest, &repo.join("shop-2026-11-23T10-00-00.db.zst"));
    let sha = json(dir.path(), &["catalog", "--repo", s(&repo)])["backups"][0]["sha256"].as_str().unwrap().to_string();
    std::fs::write(
        repo.join("shop-2026-11-23T06-00-00.db.lastgood.json"),
        format!(r#"{{"taken_at": "2026-11-23T06:00:00Z", "sha256": "{sha}"}}"#),
    )
    .unwrap();
    let v = json(dir.path(), &["verify", "--all", "--repo", s(&repo)]);
    let verdicts = v.as_array().unwrap();
    assert_eq!(verdicts.len(), 5);
    assert!(verdicts.iter().all(|c| c["ok"] == true), "{v:#}");
    let first = verdicts.iter().find(|c| c["path"].as_str().unwrap().ends_with("T06-00-00.db")).unwrap();
    assert_eq!(first["checks"][0]["detail"], "matches manifest");
    // The newest backup's content is stored three times (plain, gzip, zstd): one backup, three
    // copies.
    let out = lastgood(dir.path()).args(["verify", "latest", "--repo", s(&repo)]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("3 of 3 copies verified OK"));
}

#[test]
fn damaged_backups_fail_with_the_reason_and_exit_1() {
    let dir = tempdir();
    let (repo, live) = three_backups(&dir);
    let newest = repo.join("shop-2026-11-23_08-00.db");
    let bytes = std::fs::read(&newest).unwrap();
    // Truncated.
    std::fs::write(repo.join("truncated-2026-11-24T01-00-00.db"), &bytes[..bytes.len() / 2]).unwrap();
    // Flipped bits in a leaf page of the `orders` table: the catalog's row counts (read through the
    // index) miss it, integrity_check finds it.
    sqlite3(&live, "INSERT INTO orders(customer_id, item) VALUES (4, 'flip')");
    let flipped = repo.join("flipped-2026-11-24T02-00-00.db");
    cli_backup(&live, &flipped);
    let (page_size, leaves) = leaf_pages(&flipped, "orders");
    flip_bytes(&flipped, (leaves[0] - 1) * page_size + page_size / 2, 16);
    // A gzip stream cut short.
    gzip(&newest, &path(&dir, "full.gz"));
    let gz = std::fs::read(path(&dir, "full.gz")).unwrap();
    std::fs::write(repo.join("cut-2026-11-24T03-00-00.db.gz"), &gz[..gz.len() * 2 / 3]).unwrap();
    // A checksum that differs from its manifest.
    sqlite3(&live, "INSERT INTO orders(customer_id, item) VALUES (5, 'sum')");
    cli_backup(&live, &repo.join("sum-2026-11-24T04-00-00.db"));
    std::fs::write(
        repo.join("sum-2026-11-24T04-00-00.db.lastgood.json"),
        format!(r#"{{"taken_at": "2026-11-24T04:00:00Z", "sha256": "{}"}}"#, "cd".repeat(32)),
    )
    .unwrap();
    // Zero-length and a text file named like a backup.
    std::fs::write(repo.join("zero-2026-11-24T05-00-00.db"), "").unwrap();
    std::fs::write(repo.join("notes.db"), "not a database\n").unwrap();

    let out = lastgood(dir.path()).args(["verify", "--all", "--repo", s(&repo)]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout).unwrap();
    let line =
        |file: &str| text.lines().find(|l| l.contains(file)).unwrap_or_else(|| panic!("{file}: {text}")).to_string();
    for ok in ["shop-2026-11-23T06-00-00.db", "shop-20261123-070000.db", "shop-2026-11-23_08-00.db"] {
        assert!(line(ok).starts_with("OK "), "{}", line(ok));
    }
    for (file, reason) in [
        ("truncated-2026-11-24T01-00-00.db", "is truncated: "),
        ("flipped-2026-11-24T02-00-00.db", "integrity_check:"),
        ("cut-2026-11-24T03-00-00.db.gz", "gzip stream is damaged or cut short"),
        ("sum-2026-11-24T04-00-00.db", "differs from manifest"),
        ("zero-2026-11-24T05-00-00.db", "empty file (0 bytes)"),
        ("notes.db", "not a SQLite database"),
    ] {
        let l = line(file);
        assert!(l.starts_with("FAILED ") && l.contains(reason), "{l}");
    }
    assert!(text.contains("3 of 9 copies verified OK"), "{text}");

    // One backup by path: the same verdict; --json says which check failed.
    let out = lastgood(dir.path()).args(["--json", "verify", s(&flipped), "--repo", s(&repo)]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v[0]["ok"], false);
    let failed: Vec<&str> = v[0]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["ok"] == false)
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(failed, ["integrity_check"]);
}

#[test]
fn verify_of_an_unknown_backup_is_bad_input() {
    let dir = tempdir();
    let (repo, _) = three_backups(&dir);
    let err = fails(dir.path(), &["verify", "ffffffffff", "--repo", s(&repo)], 3);
    assert!(err.contains("no backup matches `ffffffffff`"), "{err}");
}

/// A backup beside its manifest whose header was overwritten, and gzip/zstd backups whose stream
/// fails to decode (flipped bytes, cut to 200 bytes): each is a catalogued backup (with an id)
/// that FAILS, with the reason.
#[test]
fn backups_that_no_longer_decode_fail_verify_with_their_id() {
    let dir = tempdir();
    let (repo, live) = three_backups(&dir);
    let newest = repo.join("shop-2026-11-23_08-00.db");
    let bytes = std::fs::read(&newest).unwrap();
    zstd(&newest, &path(&dir, "full.zst"));
    let zst = std::fs::read(path(&dir, "full.zst")).unwrap();
    std::fs::write(repo.join("cut-2026-11-24T01-00-00.db.zst"), &zst[..200]).unwrap();
    let mut flipped = zst.clone();
    for b in &mut flipped[4..8] {
        *b ^= 0xff;
    }
    std::fs::write(repo.join("flip-2026-11-24T02-00-00.db.zst"), &flipped).unwrap();
    let mut gz = {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(&bytes).unwrap();
        e.finish().unwrap()
    };
    for b in &mut gz[10..14] {
        *b ^= 0xff;
    }
    std::fs::write(repo.join("flip-2026-11-24T03-00-00.db.gz"), &gz).unwrap();
    let out = lastgood(dir.path()).args(["--json", "backup", "--live", s(&live), "--repo", s(&repo)]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let file = repo.join(serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()["file"].as_str().unwrap());
    let mut head = std::fs::read(&file).unwrap();
    head[..4].copy_from_slice(b"XXXX");
    std::fs::write(&file, head).unwrap();

    let out = lastgood(dir.path()).args(["verify", "--all", "--repo", s(&repo)]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout).unwrap();
    let name = file.file_name().unwrap().to_str().unwrap();
    for (f, reason) in [
        ("cut-2026-11-24T01-00-00.db.zst", "zstd stream is damaged or cut short"),
        ("flip-2026-11-24T02-00-00.db.zst", "zstd stream is damaged or cut short"),
        ("flip-2026-11-24T03-00-00.db.gz", "gzip stream is damaged or cut short"),
        (name, "no `SQLite format 3` header"),
    ] {
        let l = text.lines().find(|l| l.contains(f)).unwrap_or_else(|| panic!("{f}: {text}"));
        assert!(l.starts_with("FAILED  ") && !l.starts_with("FAILED  -") && l.contains(reason), "{l}");
    }
    let l = text.lines().find(|l| l.contains(name)).unwrap();
    assert!(l.contains("differs from manifest"), "{l}");
    assert!(text.contains("3 of 7 copies verified OK"), "{text}");
}
