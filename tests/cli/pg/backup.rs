//! PostgreSQL `backup --live postgres://…`: checksummed copies into every repository, with a
//! manifest, the password never stored; refusals before anything runs.

use std::path::Path;

use sha2::{Digest, Sha256};

use super::*;
use crate::cluster_or_skip;

fn sha256_hex(p: &Path) -> String {
    hex::encode(Sha256::digest(std::fs::read(p).unwrap()))
}

#[test]
fn backup_of_a_postgres_live_is_checksummed_into_two_repositories_with_a_manifest() {
    let c = cluster_or_skip!();
    make_shop(&c, 250);
    c.add_password_user("alice", "s3cret-pw");
    let dir = tempdir();
    let (r1, r2) = (repo(dir.path(), "main"), repo(dir.path(), "offsite"));
    let live = c.url_as("alice", Some("s3cret-pw"), "shop");
    let out = lastgood(dir.path())
        .args(["--json", "backup", "--live", &live, "--repo", r1.to_str().unwrap(), "--repo", r2.to_str().unwrap()])
        .output()
        .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{stderr}");
    assert!(!stdout.contains("s3cret") && !stderr.contains("s3cret"), "{stdout}{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let file = report["file"].as_str().unwrap().to_string();
    assert!(file.starts_with("shop-") && file.ends_with(".dump"), "{file}");
    let mut manifests = Vec::new();
    for r in [&r1, &r2] {
        let copy = r.join(&file);
        assert_eq!(&std::fs::read(&copy).unwrap()[..5], b"PGDMP", "a custom-format archive");
        assert_eq!(sha256_hex(&copy), report["sha256"].as_str().unwrap());
        let text = std::fs::read_to_string(r.join(format!("{file}.lastgood.json"))).unwrap();
        assert!(!text.contains("s3cret"), "{text}");
        let m: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(m["engine"], "postgres");
        assert_eq!(m["sha256"], report["sha256"]);
        assert!(m["source"].as_str().unwrap().starts_with("postgres://alice:***@127.0.0.1:"), "{m:#}");
        let rows = |t: &str| m["tables"].as_array().unwrap().iter().find(|x| x["name"] == t).unwrap()["rows"].clone();
        assert_eq!(rows("public.orders"), 250);
        assert_eq!(rows("public.downloads"), 40);
        assert!(files_in(r).iter().all(|f| !f.starts_with(".lastgood-tmp")), "{:?}", files_in(r));
        manifests.push(m);
    }
    assert_eq!(manifests[0], manifests[1]);

    // The catalog lists it once, with two copies, taken at the time the archive records, which
    // is what the manifest says too.
    let cat = json(dir.path(), &["catalog", "--repo", r1.to_str().unwrap(), "--repo", r2.to_str().unwrap()]);
    let backups = cat["backups"].as_array().unwrap();
    assert_eq!(backups.len(), 1, "{cat:#}");
    let b = &backups[0];
    assert_eq!(b["copies"].as_array().unwrap().len(), 2, "{b:#}");
    assert_eq!(b["format"], "pg-custom", "{b:#}");
    assert_eq!(b["taken_at_source"], "archive", "{b:#}");
    let taken = |v: &serde_json::Value| chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap()).unwrap();
    assert_eq!(taken(&b["taken_at"]), taken(&manifests[0]["taken_at"]));
    assert!(b["problem"].is_null(), "{b:#}");

    // Compression on top of a custom archive is refused before anything runs.
    let (code, _, err) =
        run(dir.path(), &["backup", "--live", &c.url("shop"), "--repo", r1.to_str().unwrap(), "--compress", "gzip"]);
    assert_eq!(code, 2, "{err}");
    // A database that does not exist: one clear error, nothing stored.
    let (code, _, err) = run(dir.path(), &["backup", "--live", &c.url("nosuch"), "--repo", r1.to_str().unwrap()]);
    assert_eq!(code, 3, "{err}");
    assert_eq!(files_in(&r1).iter().filter(|f| f.ends_with(".dump")).count(), 1);

    // A SQLite scratch against a PostgreSQL live: refused, naming both sides.
    let sqlite_scratch = dir.path().join("scratch.db");
    sqlite3(&sqlite_scratch, "CREATE TABLE orders(id INTEGER PRIMARY KEY, amount REAL);");
    let live_url = c.url("shop");
    for extra in [&["diff"][..], &["merge", "--restore", "updated"][..]] {
        let args = [extra, &["--scratch", sqlite_scratch.to_str().unwrap(), "--live", &live_url][..]].concat();
        let line = fails(dir.path(), &args, 3);
        assert!(line.contains("SQLite") && line.contains("PostgreSQL") && line.contains("scratch.db"), "{line}");
    }
}

/// `backup --base`: pg_basebackup of the whole cluster (tar, WAL included, SHA-256 manifest) stored
/// as `base/<name>/` in two repositories, byte-identical, that `pg_verifybackup` accepts after
/// unpacking; refused for a SQLite live and for zstd, with nothing stored.
#[test]
fn a_base_backup_is_stored_whole_in_every_repository_and_verifies() {
    let c = cluster_or_skip!();
    make_shop(&c, 50);
    let dir = tempdir();
    let (r1, r2) = (repo(dir.path(), "main"), repo(dir.path(), "offsite"));
    let (s1, s2) = (r1.to_str().unwrap(), r2.to_str().unwrap());
    let v = json(dir.path(), &["backup", "--base", "--live", &c.url("shop"), "--repo", s1, "--repo", s2]);
    let file = v["file"].as_str().unwrap().to_string();
    assert!(file.starts_with("base/base-"), "{v:#}");
    let (a, b) = (r1.join(&file), r2.join(&file));
    let mut names: Vec<String> =
        std::fs::read_dir(&a).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    assert_eq!(names, ["backup_manifest", "base.tar", "pg_wal.tar"], "{v:#}");
    for n in &names {
        assert_eq!(std::fs::read(a.join(n)).unwrap(), std::fs::read(b.join(n)).unwrap(), "{n}");
    }
    let manifest = std::fs::read_to_string(a.join("backup_manifest")).unwrap();
    assert!(manifest.contains("\"Checksum-Algorithm\": \"SHA256\""), "{manifest:.300}");
    // Nothing left under a temporary name.
    let leftovers: Vec<_> = std::fs::read_dir(r1.join("base")).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(leftovers.len(), 1, "{leftovers:?}");
    // The real pg_verifybackup checks every file against the manifest once unpacked.
    let unpacked = dir.path().join("unpacked");
    std::fs::create_dir_all(unpacked.join("pg_wal")).unwrap();
    for (tar, into) in [("base.tar", unpacked.clone()), ("pg_wal.tar", unpacked.join("pg_wal"))] {
        let st = std::process::Command::new("tar").arg("-xf").arg(a.join(tar)).arg("-C").arg(&into).status().unwrap();
        assert!(st.success());
    }
    std::fs::copy(a.join("backup_manifest"), unpacked.join("backup_manifest")).unwrap();
    let bin = crate::pgcluster::pg_bin_dir().unwrap();
    let out = std::process::Command::new(bin.join("pg_verifybackup")).arg(&unpacked).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // Refusals, nothing stored: zstd; a SQLite live.
    let line =
        fails(dir.path(), &["backup", "--base", "--compress", "zstd", "--live", &c.url("shop"), "--repo", s1], 2);
    assert!(line.contains("gzip"), "{line}");
    let db = dir.path().join("app.db");
    std::fs::write(&db, b"").unwrap();
    let line = fails(dir.path(), &["backup", "--base", "--live", db.to_str().unwrap(), "--repo", s1], 2);
    assert!(line.contains("--base") && line.contains("SQLite"), "{line}");
    assert_eq!(std::fs::read_dir(r1.join("base")).unwrap().count(), 1);
}
