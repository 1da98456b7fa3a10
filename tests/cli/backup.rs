//! `lastgood backup`: file names, repositories that cannot be written.

use std::path::Path;

use crate::common::*;

/// Backups taken back to back (well within one second) each get their own file, and the catalog
/// orders them as taken.
#[test]
fn backups_within_the_same_second_get_distinct_files() {
    let dir = tempdir();
    let live = path(&dir, "shop.db");
    let repo = path(&dir, "repo");
    std::fs::create_dir_all(&repo).unwrap();
    make_shop(&live, 50);
    for i in 0..3 {
        sqlite3(&live, &format!("INSERT INTO orders(customer_id, item) VALUES (1, 'burst {i}')"));
        let out = lastgood(dir.path()).args(["backup", "--live", s(&live), "--repo", s(&repo)]).output().unwrap();
        assert!(out.status.success(), "backup {i}: {}", String::from_utf8_lossy(&out.stderr));
    }
    let dbs: Vec<String> = files_in(&repo).into_iter().filter(|f| f.ends_with(".db")).collect();
    assert_eq!(dbs.len(), 3, "{dbs:?}");
    let v = json(dir.path(), &["catalog", "--repo", s(&repo)]);
    let backups = v["backups"].as_array().unwrap_or_else(|| panic!("{v}"));
    assert_eq!(backups.len(), 3, "{v}");
    let paths: Vec<String> = backups
        .iter()
        .map(|b| {
            Path::new(b["copies"][0]["path"].as_str().unwrap()).file_name().unwrap().to_string_lossy().into_owned()
        })
        .collect();
    assert_eq!(paths, dbs, "catalog order is the order taken");
}

/// A read-only bind mount of a folder, unmounted on drop; `None` where mounting is not allowed.
/// (As root, `chmod` does not stop writes; a read-only mount does.)
struct ReadOnlyMount(std::path::PathBuf);

impl ReadOnlyMount {
    fn new(src: &Path, at: &Path) -> Option<ReadOnlyMount> {
        std::fs::create_dir_all(at).unwrap();
        let run = |args: &[&str]| {
            std::process::Command::new("mount")
                .args(args)
                .stderr(std::process::Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        if !run(&["--bind", s(src), s(at)]) {
            return None;
        }
        let mounted = ReadOnlyMount(at.to_path_buf());
        run(&["-o", "remount,bind,ro", s(at)]).then_some(mounted)
    }
}

impl Drop for ReadOnlyMount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

/// A repository on a read-only mount: that copy fails (exit 4, naming it), nothing is written
/// there, and the other repository still gets its copy.
#[test]
fn backup_into_a_read_only_repository_fails_naming_it_and_the_others_complete() {
    let dir = tempdir();
    let live = path(&dir, "shop.db");
    make_shop(&live, 20);
    let (under, ro, ok) = (path(&dir, "under"), path(&dir, "readonly-repo"), path(&dir, "ok-repo"));
    std::fs::create_dir_all(&under).unwrap();
    std::fs::create_dir_all(&ok).unwrap();
    let Some(_mount) = ReadOnlyMount::new(&under, &ro) else {
        skip_or_fail_in_ci("backup_into_a_read_only_repository", "cannot make a read-only bind mount (needs root)");
        return;
    };
    assert!(std::fs::write(ro.join("probe"), b"x").is_err(), "the mount is not read-only");
    let out =
        lastgood(dir.path()).args(["backup", "--live", s(&live), "--repo", s(&ro), "--repo", s(&ok)]).output().unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", String::from_utf8_lossy(&out.stderr));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("readonly-repo") && err.contains("1 of 2"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(files_in(&under).is_empty(), "{:?}", files_in(&under));
    let copies: Vec<String> = files_in(&ok).into_iter().filter(|f| f.ends_with(".db")).collect();
    assert_eq!(copies.len(), 1, "{copies:?}");
    assert_eq!(rows(&ok.join(&copies[0]), "orders").len(), 20);
}
