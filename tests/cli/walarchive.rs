//! `lastgood wal-archive PATH NAME`: PostgreSQL's `archive_command` (the real server's use of it
//! is `pg/walarchive.rs`). Files stand in for WAL segments here: the command never reads what is
//! inside one.

use std::fs;
use std::path::{Path, PathBuf};

use assert_cmd::cargo::CommandCargoExt;

use crate::common::*;

const SEG1: &str = "000000010000000000000001";
const SEG2: &str = "000000010000000000000002";
const SEG3: &str = "000000010000000000000003";

/// `n` bytes that compress badly and differ with `seed`, as a WAL segment's would.
fn wal_bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// A file `pg_wal/NAME` under `dir` holding `bytes`; returns its path.
fn segment(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join("pg_wal").join(name);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(&p, bytes).unwrap();
    p
}

/// Runs `lastgood wal-archive ARGS` (with `--quiet`); returns (exit code, stdout, stderr).
fn archive(cwd: &Path, args: &[&str]) -> (i32, String, String) {
    let out = lastgood(cwd).arg("wal-archive").args(args).output().unwrap();
    let (o, e) = (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned());
    assert!(!e.contains("panicked"), "{e}");
    (out.status.code().unwrap_or(-1), o, e)
}

/// The pending folders `wal-archive` keeps in `repo`: (recorded repository, names pending).
fn pending(repo: &Path) -> Vec<(String, Vec<String>)> {
    let dir = repo.join(".lastgood/wal-pending");
    let Ok(entries) = fs::read_dir(&dir) else { return Vec::new() };
    entries
        .map(|e| {
            let folder = e.unwrap().path();
            let recorded = fs::read_to_string(folder.join("repository")).unwrap();
            let names = files_in(&folder).into_iter().filter(|n| n != "repository").collect();
            (recorded, names)
        })
        .collect()
}

#[test]
fn stores_the_file_byte_for_byte_and_an_identical_retry_succeeds_silently() {
    let dir = tempdir();
    let (a, b) = (path(&dir, "a"), path(&dir, "b"));
    fs::create_dir(&a).unwrap();
    fs::create_dir(&b).unwrap();
    let bytes = wal_bytes(1 << 20, 1);
    let seg = segment(dir.path(), SEG1, &bytes);
    // As PostgreSQL runs it: no --quiet, nothing on stdout or stderr on success; LASTGOOD_REPO
    // holds both repositories.
    for attempt in 0..2 {
        let out = std::process::Command::cargo_bin("lastgood")
            .unwrap()
            .current_dir(dir.path())
            .env("LASTGOOD_REPO", format!("{}:{}", s(&a), s(&b)))
            .args(["wal-archive", "pg_wal/000000010000000000000001", SEG1])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "attempt {attempt}: {}", String::from_utf8_lossy(&out.stderr));
        assert!(out.stdout.is_empty() && out.stderr.is_empty(), "attempt {attempt}: {out:?}");
    }
    for repo in [&a, &b] {
        assert_eq!(fs::read(repo.join("wal").join(SEG1)).unwrap(), bytes);
        assert_eq!(files_in(&repo.join("wal")), [SEG1], "no temporary file left");
    }
    let v = json(dir.path(), &["wal-archive", s(&seg), SEG1, "--repo", s(&a), "--repo", s(&b)]);
    let outcomes: Vec<&str> =
        v["repositories"].as_array().unwrap().iter().map(|r| r["outcome"].as_str().unwrap()).collect();
    assert_eq!(outcomes, ["already-archived", "already-archived"]);
    assert_eq!(v["size"], 1 << 20);
}

#[test]
fn a_different_file_under_an_archived_name_is_refused_and_left_unchanged() {
    let dir = tempdir();
    let a = path(&dir, "a");
    fs::create_dir(&a).unwrap();
    let first = wal_bytes(64 * 1024, 1);
    let seg = segment(dir.path(), SEG1, &first);
    assert_eq!(archive(dir.path(), &[s(&seg), SEG1, "--repo", s(&a)]).0, 0);
    // Same size, one byte different: only a comparison of the bytes can tell.
    let mut other = first.clone();
    other[40_000] ^= 1;
    let seg2 = segment(dir.path(), "other", &other);
    let err = fails(dir.path(), &["wal-archive", s(&seg2), SEG1, "--repo", s(&a)], 5);
    assert!(err.contains(SEG1) && err.contains("never overwritten"), "{err}");
    assert_eq!(fs::read(a.join("wal").join(SEG1)).unwrap(), first);
    assert_eq!(files_in(&a.join("wal")), [SEG1]);
    // A shorter file is different too.
    let seg3 = segment(dir.path(), "short", &first[..1000]);
    fails(dir.path(), &["wal-archive", s(&seg3), SEG1, "--repo", s(&a)], 5);
    assert_eq!(fs::read(a.join("wal").join(SEG1)).unwrap(), first);
}

#[test]
fn names_that_are_not_wal_files_are_refused() {
    let dir = tempdir();
    let a = path(&dir, "a");
    fs::create_dir(&a).unwrap();
    let seg = segment(dir.path(), SEG1, b"bytes");
    for bad in [
        "00000001000000000000001",
        "00000001000000000000000a",
        "../000000010000000000000001",
        "x.backup",
        "archive_status",
        "",
    ] {
        let err = fails(dir.path(), &["wal-archive", s(&seg), bad, "--repo", s(&a)], 2);
        assert!(err.contains("not the name of a WAL file"), "{bad}: {err}");
    }
    assert!(!a.join("wal").exists(), "nothing written");
    for good in [
        "00000002.history",
        "000000010000000000000001.partial",
        "000000010000000000000001.00000028.backup",
        "000000010000000000000004.zst",
    ] {
        assert_eq!(archive(dir.path(), &[s(&seg), good, "--repo", s(&a)]).0, 0, "{good}");
    }
    assert_eq!(files_in(&a.join("wal")).len(), 4);
    fails(dir.path(), &["wal-archive", s(&seg), SEG1, "--repo", s(&a), "--require", "2"], 2);
    fails(dir.path(), &["wal-archive", s(&seg), SEG1, "--repo", s(&a), "--require", "0"], 2);
    fails(dir.path(), &["wal-archive", s(&seg), SEG1], 2);
}

/// An off-site repository that cannot be reached (its path goes through a file: no one, not even
/// root, can create it) does not stop archiving; it catches up once it is back, and `catalog`
/// shows its lag meanwhile.
#[test]
fn an_unreachable_best_effort_repository_catches_up_later() {
    let dir = tempdir();
    let (a, mount, b) = reachable_and_unreachable(&dir);
    let (bytes1, bytes2, bytes3) = (wal_bytes(100_000, 1), wal_bytes(100_000, 2), wal_bytes(100_000, 3));
    for (name, bytes) in [(SEG1, &bytes1), (SEG2, &bytes2)] {
        let seg = segment(dir.path(), name, bytes);
        let (code, out, err) = archive(dir.path(), &[s(&seg), name, "--repo", s(&a), "--repo", s(&b)]);
        assert_eq!(code, 0, "{err}");
        assert!(out.is_empty(), "{out}");
    }
    assert_eq!(files_in(&a.join("wal")), [SEG1, SEG2]);
    assert_eq!(pending(&a), [(s(&b).to_string(), vec![SEG1.to_string(), SEG2.to_string()])]);
    // Without --quiet the server log gets a warning naming the repository.
    let seg = segment(dir.path(), SEG2, &bytes2);
    let out = std::process::Command::cargo_bin("lastgood")
        .unwrap()
        .current_dir(dir.path())
        .env_remove("LASTGOOD_REPO")
        .args(["wal-archive", s(&seg), SEG2, "--repo", s(&a), "--repo", s(&b)])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.starts_with("warning: ") && stderr.contains(s(&b)) && stderr.contains("retried"), "{stderr}");

    let v = json(dir.path(), &["catalog", "--repo", s(&a)]);
    assert_eq!(v["wal_lag"][0]["repository"], s(&b));
    assert_eq!(v["wal_lag"][0]["files"], 2);
    assert_eq!(v["wal_lag"][0]["oldest"], SEG1);
    assert_eq!(v["ignored"].as_array().unwrap().len(), 0, "archived WAL files are not backups: {v}");
    let human = lastgood(dir.path()).args(["catalog", "--repo", s(&a)]).output().unwrap();
    let text = String::from_utf8_lossy(&human.stdout);
    assert!(text.contains(&format!("`{}` lags 2 WAL file(s) behind", s(&b))), "{text}");

    // The repository is back: the next call stores its own file and what was missed.
    fs::remove_file(&mount).unwrap();
    fs::create_dir_all(&b).unwrap();
    let seg = segment(dir.path(), SEG3, &bytes3);
    let v = json(dir.path(), &["wal-archive", s(&seg), SEG3, "--repo", s(&a), "--repo", s(&b)]);
    assert_eq!(v["repositories"][1]["outcome"], "stored");
    assert_eq!(v["repositories"][1]["caught_up"], serde_json::json!([SEG1, SEG2]));
    for (name, bytes) in [(SEG1, &bytes1), (SEG2, &bytes2), (SEG3, &bytes3)] {
        assert_eq!(&fs::read(b.join("wal").join(name)).unwrap(), bytes, "{name}");
    }
    assert!(pending(&a).is_empty(), "records gone");
    assert_eq!(files_in(&a.join(".lastgood/wal-pending")), Vec::<String>::new());
    let v = json(dir.path(), &["catalog", "--repo", s(&a)]);
    assert_eq!(v["wal_lag"], serde_json::json!([]));
}

/// One call copies at most 32 missed files, so that it stays short; the rest follow.
#[test]
fn catching_up_is_bounded_per_call() {
    let dir = tempdir();
    let (a, mount, b) = reachable_and_unreachable(&dir);
    let names: Vec<String> = (1..=40).map(|i| format!("0000000100000000000000{i:02X}")).collect();
    for (i, name) in names.iter().enumerate() {
        let seg = segment(dir.path(), name, &wal_bytes(100, i as u64));
        assert_eq!(archive(dir.path(), &[s(&seg), name, "--repo", s(&a), "--repo", s(&b)]).0, 0);
    }
    assert_eq!(pending(&a)[0].1.len(), 40);
    fs::remove_file(&mount).unwrap();
    fs::create_dir_all(&b).unwrap();
    let last = "000000010000000000000050";
    let seg = segment(dir.path(), last, b"last");
    let v = json(dir.path(), &["wal-archive", s(&seg), last, "--repo", s(&a), "--repo", s(&b)]);
    assert_eq!(v["repositories"][1]["caught_up"].as_array().unwrap().len(), 32);
    assert_eq!(v["repositories"][1]["pending"], 8);
    assert_eq!(v["repositories"][1]["caught_up"][0], names[0], "oldest first");
    assert_eq!(files_in(&b.join("wal")).len(), 33);
    let v = json(dir.path(), &["wal-archive", s(&seg), last, "--repo", s(&a), "--repo", s(&b)]);
    assert_eq!(v["repositories"][1]["outcome"], "already-archived");
    assert_eq!(v["repositories"][1]["pending"], 0);
    assert_eq!(files_in(&b.join("wal")), files_in(&a.join("wal")));
    assert_eq!(files_in(&a.join("wal")).len(), 41);
}

/// A required repository that cannot take the file fails the call with exit 4, so PostgreSQL
/// keeps the segment and retries; the retry succeeds once the repository is back.
#[test]
fn an_unreachable_required_repository_fails_so_postgresql_retries() {
    let dir = tempdir();
    let (a, mount, b) = reachable_and_unreachable(&dir);
    let seg = segment(dir.path(), SEG1, &wal_bytes(1000, 1));
    let err = fails(dir.path(), &["wal-archive", s(&seg), SEG1, "--repo", s(&a), "--repo", s(&b), "--require", "2"], 4);
    assert!(err.contains(s(&b)), "{err}");
    fails(dir.path(), &["wal-archive", s(&seg), SEG1, "--repo", s(&b), "--repo", s(&a)], 4);
    let err = fails(dir.path(), &["wal-archive", "pg_wal/missing", SEG2, "--repo", s(&a)], 4);
    assert!(err.contains("missing"), "{err}");
    fs::remove_file(&mount).unwrap();
    fs::create_dir_all(&b).unwrap();
    let (code, _, err) = archive(dir.path(), &[s(&seg), SEG1, "--repo", s(&a), "--repo", s(&b), "--require", "2"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(fs::read(b.join("wal").join(SEG1)).unwrap(), fs::read(&seg).unwrap());
    assert!(pending(&a).is_empty());
}

/// A first repository `a` and an off-site `b` that cannot be reached: its path goes through the
/// file `mount` (no one, not even root, can create it), until the test removes that file.
fn reachable_and_unreachable(dir: &tempfile::TempDir) -> (PathBuf, PathBuf, PathBuf) {
    let a = path(dir, "a");
    fs::create_dir(&a).unwrap();
    let mount = path(dir, "offsite");
    fs::write(&mount, b"not a folder").unwrap();
    let b = mount.join("b");
    (a, mount, b)
}
