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
