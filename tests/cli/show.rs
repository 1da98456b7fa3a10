//! `lastgood show`: one backup in detail, and a clear refusal for a damaged one.

use crate::common::*;

#[test]
fn shows_tables_row_counts_schema_and_copies() {
    let dir = tempdir();
    let (repo, _) = three_backups(&dir);
    let v = json(dir.path(), &["show", "latest~2", "--repo", s(&repo)]);
    assert_eq!(v["taken_at"], "2026-11-23T06:00:00Z");
    assert_eq!(v["copies"][0]["path"], s(&repo.join("shop-2026-11-23T06-00-00.db")));
    let tables: Vec<(&str, u64)> = v["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["name"].as_str().unwrap(), t["rows"].as_u64().unwrap()))
        .collect();
    assert_eq!(tables, [("audit", 0), ("customers", 50), ("downloads", 50), ("orders", 100)]);
    let schema: Vec<String> = v["schema"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| format!("{} {}", o["kind"].as_str().unwrap(), o["name"].as_str().unwrap()))
        .collect();
    assert_eq!(
        schema,
        [
            "table customers",
            "table orders",
            "index orders_customer",
            "table downloads",
            "table audit",
            "trigger downloads_audit"
        ]
    );
    assert!(v["schema"][1]["sql"].as_str().unwrap().starts_with("CREATE TABLE orders("));
    // By id prefix, too, and the human rendering holds the CREATE statements.
    let id = v["id"].as_str().unwrap();
    let out = lastgood(dir.path()).args(["show", &id[..6], "--repo", s(&repo)]).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("CREATE INDEX orders_customer ON orders(customer_id);"), "{text}");
}

#[test]
fn damaged_or_non_backup_files_say_so() {
    let dir = tempdir();
    let (repo, _) = three_backups(&dir);
    let bytes = std::fs::read(repo.join("shop-2026-11-23_08-00.db")).unwrap();
    let truncated = repo.join("truncated-2026-11-24T01-00-00.db");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let err = fails(dir.path(), &["show", s(&truncated), "--repo", s(&repo)], 3);
    assert!(err.contains("truncated-2026-11-24T01-00-00.db") && err.contains("is damaged"), "{err}");
    let text = repo.join("notes.db");
    std::fs::write(&text, "hello\n").unwrap();
    let err = fails(dir.path(), &["show", s(&text), "--repo", s(&repo)], 3);
    assert!(err.contains("notes.db") && err.contains("not a SQLite database"), "{err}");
    let err = fails(dir.path(), &["show", "latest~7", "--repo", s(&repo)], 3);
    assert!(err.contains("no backup `latest~7`"), "{err}");
}
