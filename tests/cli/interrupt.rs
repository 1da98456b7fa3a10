//! Ctrl-C during a restore: exit 130 and nothing left behind, neither at the target, nor the
//! temporary file beside it, nor a decompressed copy in the temp folder.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;

/// A gzip backup that is small on disk but takes a while to decompress (100 MB of zeros).
fn slow_gzip_backup(dir: &tempfile::TempDir) -> std::path::PathBuf {
    let repo = path(dir, "repo");
    std::fs::create_dir(&repo).unwrap();
    let db = path(dir, "big.db");
    sqlite3(
        &db,
        "CREATE TABLE blobs(id INTEGER PRIMARY KEY, b BLOB);
         WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000)
           INSERT INTO blobs SELECT x, zeroblob(100000) FROM c;",
    );
    gzip(&db, &repo.join("big-2026-11-23T06-00-00.db.gz"));
    repo
}

#[test]
fn interrupted_restore_leaves_nothing_behind_and_exits_130() {
    let dir = tempdir();
    let repo = slow_gzip_backup(&dir);
    let tmp = path(&dir, "tmp");
    std::fs::create_dir(&tmp).unwrap();
    // Catalog first, so that the restore below starts copying at once.
    let out = lastgood(dir.path()).env("TMPDIR", &tmp).args(["catalog", "--repo", s(&repo)]).output().unwrap();
    assert!(out.status.success());
    let target_dir = path(&dir, "out");
    std::fs::create_dir(&target_dir).unwrap();
    for tables in [None, Some("blobs")] {
        let mut cmd = lastgood(dir.path());
        cmd.env("TMPDIR", &tmp).args(["restore", "--repo", s(&repo), "--backup", "latest", "--into"]);
        cmd.arg(target_dir.join("r.db")).args(tables.map(|t| ["--tables", t]).into_iter().flatten());
        let mut child = cmd.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
        // Wait until the restore is writing (a temporary file exists), then press Ctrl-C.
        let started = Instant::now();
        while files_in(&target_dir).is_empty() && files_in(&tmp).is_empty() {
            assert!(started.elapsed() < Duration::from_secs(30), "restore never started writing");
            assert!(child.try_wait().unwrap().is_none(), "restore ended before it could be interrupted");
            std::thread::sleep(Duration::from_millis(2));
        }
        let kill = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
        assert!(kill.success());
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(130), "{tables:?}: {stderr}");
        assert!(stderr.starts_with("error: interrupted"), "{stderr}");
        assert!(files_in(&target_dir).is_empty(), "{tables:?}: {:?}", files_in(&target_dir));
        assert!(files_in(&tmp).is_empty(), "{tables:?}: {:?}", files_in(&tmp));
    }
}
