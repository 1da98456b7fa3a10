//! `lastgood backup`: file names, repositories that cannot be written.

use std::path::Path;

use crate::common::*;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

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
        .map(|b| Path::new(b["copies"][0]["path"].as_str().unwrap()).file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(paths, dbs, "catalog order is the order taken");
}
