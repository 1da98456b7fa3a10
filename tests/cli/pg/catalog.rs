//! PostgreSQL `catalog` (and `show`, `verify --all`) of pg_dump archives in every format.

use super::*;
use crate::cluster_or_skip;

fn backup_with_format<'a>(catalog: &'a serde_json::Value, format: &str) -> &'a serde_json::Value {
    let plain_copy = |b: &serde_json::Value| b["copies"].as_array().unwrap().iter().any(|c| c["compression"] == "none");
    catalog["backups"].as_array().unwrap().iter().find(|b| b["format"] == format && plain_copy(b)).unwrap()
}

fn table_names(b: &serde_json::Value) -> Vec<String> {
    b["tables"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap().to_string()).collect()
}

#[test]
fn catalog_lists_pg_dump_archives_in_every_format_with_archive_facts() {
    let c = cluster_or_skip!();
    make_pg_shop(&c, "shop");
    let dir = tempdir();
    let repo = dir.path().join("repo");
    let before = chrono::Utc::now() - chrono::TimeDelta::seconds(2);
    dump_all_formats(&c, "shop", &repo);
    let after = chrono::Utc::now() + chrono::TimeDelta::seconds(2);

    let v = json(dir.path(), &["catalog", "--repo", repo.to_str().unwrap()]);
    let backups = v["backups"].as_array().unwrap();
    // The gzip-compressed plain dump holds the same text as the plain one: one backup, two copies.
    assert_eq!(backups.len(), 4, "{v:#}");
    let mut formats: Vec<String> = backups.iter().map(|b| b["format"].as_str().unwrap().to_string()).collect();
    formats.sort();
    assert_eq!(formats, ["pg-custom", "pg-directory", "pg-plain", "pg-tar"]);
    let plain_copies: Vec<&str> = backup_with_format(&v, "pg-plain")["copies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["compression"].as_str().unwrap())
        .collect();
    assert_eq!(plain_copies, ["gzip", "none"]);
    let expected_tables = [
        "archive.old_orders",
        "public.Order Items",
        "public.customers",
        "public.downloads",
        "public.orders",
        "public.pgbench_accounts",
        "public.pgbench_branches",
        "public.pgbench_history",
        "public.pgbench_tellers",
    ];
    for b in backups {
        assert!(b["problem"].is_null(), "{b:#}");
        assert_eq!(b["taken_at_source"], "archive", "{b:#}");
        let t: chrono::DateTime<chrono::Utc> = b["taken_at"].as_str().unwrap().parse().unwrap();
        assert!(t >= before.with_nanosecond0() && t <= after, "taken at {t} outside the dump's run");
        assert_eq!(table_names(b), expected_tables);
        assert!(b["archive"]["server_version"].as_str().unwrap().starts_with(&c.server_major()));
        assert!(b["archive"]["pg_dump_version"].as_str().unwrap().contains('.'));
    }
    for f in ["pg-custom", "pg-directory", "pg-tar"] {
        assert_eq!(backup_with_format(&v, f)["archive"]["dbname"], "shop");
    }
    // Plain dumps carry row counts (COPY lines); binary archives count on demand in `show`.
    let plain = backup_with_format(&v, "pg-plain");
    let accounts = plain["tables"].as_array().unwrap().iter().find(|t| t["name"] == "public.pgbench_accounts").unwrap();
    assert_eq!(accounts["rows"], 100_000);
    let custom_id = backup_with_format(&v, "pg-custom")["id"].as_str().unwrap().to_string();
    let shown = json(dir.path(), &["show", "--repo", repo.to_str().unwrap(), &custom_id]);
    let items = shown["tables"].as_array().unwrap().iter().find(|t| t["name"] == "public.Order Items").unwrap();
    assert_eq!(items["rows"], 1500);
    assert!(
        shown["schema"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o["kind"] == "index" && o["name"] == "public.Order Items by select")
    );
    // And every copy verifies.
    let out = lastgood(dir.path()).args(["verify", "--all", "--repo", repo.to_str().unwrap()]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
}

trait Second0 {
    fn with_nanosecond0(self) -> Self;
}

impl Second0 for chrono::DateTime<chrono::Utc> {
    fn with_nanosecond0(self) -> Self {
        chrono::Timelike::with_nanosecond(&self, 0).unwrap()
    }
}
