//! `lastgood history`: where the damage shows up, backup by backup.

use crate::bisect::incident_repo;
use crate::common::*;

fn hour(e: &serde_json::Value) -> String {
    e["taken_at"].as_str().unwrap()[11..16].to_string()
}

#[test]
fn column_history_shows_the_damage_at_1000_and_is_cached() {
    let (dir, repo) = incident_repo();
    let r = repo.to_str().unwrap();
    let v = json(dir.path(), &["--repo", r, "history", "--table", "downloads", "--column", "filename"]);
    let entries = v["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 13);
    let changed: Vec<String> = entries.iter().filter(|e| e["column_changed"] == true).map(hour).collect();
    assert_eq!(changed, ["10:00"]);
    assert_eq!(v["changes"], 1);
    assert!(entries.iter().all(|e| e["rows"] == 100 && e["cached"] == false));
    assert_eq!(entries[0]["changed"], serde_json::Value::Null, "nothing to compare the first with");

    // Orders change every hour; downloads only once.
    let o = json(dir.path(), &["--repo", r, "history", "--table", "orders"]);
    let rows: Vec<u64> = o["entries"].as_array().unwrap().iter().map(|e| e["rows"].as_u64().unwrap()).collect();
    assert_eq!(rows, (0..13).map(|h| 200 + 10 * h).collect::<Vec<u64>>());
    assert_eq!(o["changes"], 12);

    // Second run: every digest from the cache, and the same answers.
    let again = json(dir.path(), &["--repo", r, "history", "--table", "downloads", "--column", "filename"]);
    let e2 = again["entries"].as_array().unwrap();
    assert!(e2.iter().all(|e| e["cached"] == true));
    for (a, b) in entries.iter().zip(e2) {
        assert_eq!(a["column_digest"], b["column_digest"]);
        assert_eq!(a["table_digest"], b["table_digest"]);
    }
    // The digest reflects content: the 10:00 backup's column digest differs from 09:00's.
    assert_ne!(entries[9]["column_digest"], entries[10]["column_digest"]);
    assert_eq!(entries[10]["column_digest"], entries[12]["column_digest"]);
}

#[test]
fn unknown_table_or_column_is_bad_input_and_missing_tables_are_noted() {
    let (dir, repo) = incident_repo();
    let r = repo.to_str().unwrap();
    let out = lastgood(dir.path()).args(["--repo", r, "history", "--table", "nope"]).output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no usable backup has a table `nope`"));
    let out = lastgood(dir.path())
        .args(["--repo", r, "history", "--table", "downloads", "--column", "nope"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no backup has a column `nope`"));

    let early = path(&dir, "early.db");
    sqlite3(&early, "CREATE TABLE orders(id INTEGER PRIMARY KEY); INSERT INTO orders VALUES (1);");
    sqlite3(&early, &format!(".backup '{}'", repo.join("shop-2026-11-23T23-00-00.db").display()));
    let v = json(dir.path(), &["--repo", r, "history", "--table", "downloads"]);
    let first = &v["entries"][0];
    assert_eq!(first["present"], false);
    assert_eq!(first["note"], "no table `downloads`");
    assert_eq!(v["entries"][1]["changed"], serde_json::Value::Null);
}
