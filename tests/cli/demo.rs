//! `lastgood demo`: the walkthrough end to end on the incident sandbox.

use rusqlite::Connection;

use crate::common::*;

#[test]
fn demo_finds_the_0900_backup_restores_every_filename_and_loses_no_order() {
    let dir = tempdir();
    let sandbox = dir.path().join("demo");
    // A first build to record the orders as they stand before any merge (orders are deterministic).
    let out = lastgood(dir.path()).args(["demo", "--build-only", sandbox.to_str().unwrap()]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let live = sandbox.join("shop.db");
    let orders_before = rows(&live, "orders");
    assert!(orders_before.len() >= 100_000);

    let v = json(dir.path(), &["demo", sandbox.to_str().unwrap()]);
    let steps = v["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 7, "{v}");
    assert!(steps.iter().all(|s| s["exit_code"] == 0 || s["exit_code"] == 1), "{v}");

    // Bisect named the 09:00 backup as last known good.
    let catalog = json(dir.path(), &["catalog", "--repo", sandbox.join("backups").to_str().unwrap()]);
    let lkg: Vec<&serde_json::Value> =
        catalog["backups"].as_array().unwrap().iter().filter(|b| b["last_known_good"] == true).collect();
    assert_eq!(lkg.len(), 1, "{catalog}");
    assert!(lkg[0]["taken_at"].as_str().unwrap().ends_with("T09:00:00Z"), "{}", lkg[0]);
    assert_eq!(v["last_known_good"], lkg[0]["id"]);

    // Every filename is its product's again; not one order lost or changed.
    let c = Connection::open(&live).unwrap();
    let wrong: i64 = c
        .query_row(
            "SELECT count(*) FROM downloads d JOIN orders o ON o.id = d.order_id JOIN products p ON p.id = o.product_id
             WHERE d.filename <> p.filename",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(wrong, 0);
    assert!(v["wrong_filenames_before"].as_i64().unwrap() > 100_000);
    assert_eq!(rows(&live, "orders"), orders_before);
    let downloads: i64 = c.query_row("SELECT count(*) FROM downloads", [], |r| r.get(0)).unwrap();
    assert_eq!(downloads as usize, orders_before.len(), "one download per order, none lost");
    // The log trigger recorded the bad script's changes, and the merge (--triggers skip) added none.
    let (logged, other): (i64, i64) = c
        .query_row(
            "SELECT count(*), count(*) FILTER (WHERE new_filename <> 'seller-17-latest.zip') FROM download_log",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert!(logged > 100_000 && other == 0, "{logged} logged, {other} not by the bad script");
    let step5 = steps[4]["command"].as_str().unwrap();
    let step6 = steps[5]["command"].as_str().unwrap();
    assert!(!step5.contains("--triggers") && step6.contains("--triggers skip --apply"), "{step5}\n{step6}");
}
