//! PostgreSQL `bisect` (and `history`) over pg_dump archives: the last known good found with few
//! probes and no scratch database left, mixed SQLite/PostgreSQL catalogs, and a check no archive
//! can evaluate (a table-name typo) refused without touching the last-known-good mark, which
//! `prune` then keeps.

use std::path::{Path, PathBuf};

use super::*;
use crate::cluster_or_skip;
use crate::pgcluster::Cluster;

/// Six archives by the real pg_dump, one per second (archive times have whole seconds); the
/// downloads go bad after the second one, orders change all along.
fn six_archives_bad_from_the_third(c: &Cluster, repo: &Path) {
    for i in 1..=6 {
        if i == 3 {
            c.psql("shop", "UPDATE downloads SET filename = 'bad.zip'");
        }
        c.psql("shop", &format!("INSERT INTO orders VALUES ({}, 1)", 10_000 + i));
        c.pg_dump("shop", &["-Fc"], &repo.join(format!("shop-{i}.dump")));
        std::thread::sleep(std::time::Duration::from_millis(1050));
    }
}

#[test]
fn bisect_and_history_over_pg_dump_archives_find_the_last_good_and_leave_no_scratch() {
    let c = cluster_or_skip!();
    make_shop(&c, 100);
    let dir = tempdir();
    let r = repo(dir.path(), "repo");
    six_archives_bad_from_the_third(&c, &r);
    let rs = r.to_str().unwrap();
    let cat = json(dir.path(), &["catalog", "--repo", rs]);
    let ids: Vec<String> =
        cat["backups"].as_array().unwrap().iter().map(|b| b["id"].as_str().unwrap().to_string()).collect();
    let paths: Vec<String> = cat["backups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["copies"][0]["path"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 6);
    assert!(paths[1].ends_with("shop-2.dump"), "{paths:?}");

    // `~` is PostgreSQL's regex match: the check runs on the archive's engine, not SQLite's parser.
    let check = "SELECT count(*) = 0 FROM downloads WHERE filename ~ '^bad'";
    let args = ["bisect", "--repo", rs, "--check", check, "--tables", "downloads", "--scratch-url", &c.url("postgres")];
    let v = json(dir.path(), &args);
    assert_eq!(v["last_known_good"]["id"], ids[1].as_str(), "{v:#}");
    assert_eq!(v["first_bad"]["id"], ids[2].as_str(), "{v:#}");
    assert!(v["checks_run"].as_u64().unwrap() <= 3, "{v:#}");
    assert_eq!(scratch_dbs(&c), "", "every probe dropped its scratch database");
    // The LKG is recorded by archive checksum: the catalog marks it.
    let cat = json(dir.path(), &["catalog", "--repo", rs]);
    let marked: Vec<&serde_json::Value> =
        cat["backups"].as_array().unwrap().iter().filter(|b| b["last_known_good"] == true).collect();
    assert_eq!(marked.len(), 1, "{cat:#}");
    assert_eq!(marked[0]["id"], ids[1].as_str());

    // Each probe restores only --tables: a check on another table cannot tell on any archive,
    // which makes it an invalid check (exit 2), naming the table.
    let (code, out, err) = run(
        dir.path(),
        &[
            "--json",
            "bisect",
            "--repo",
            rs,
            "--check",
            "SELECT count(*) > 0 FROM orders",
            "--tables",
            "downloads",
            "--scratch-url",
            &c.url("postgres"),
        ],
    );
    assert_eq!(code, 2, "{err}");
    assert!(out.is_empty() && err.contains("\"orders\" does not exist"), "{err}");
    assert_eq!(scratch_dbs(&c), "");

    // Without a server: usage, before any probe. A check that is not SQL on PostgreSQL: usage.
    let line = fails(dir.path(), &["bisect", "--repo", rs, "--check", check, "--tables", "downloads"], 2);
    assert!(line.contains("pg_dump archive"), "{line}");
    let line = fails(
        dir.path(),
        &["bisect", "--repo", rs, "--check", "SELEKT 1", "--tables", "downloads", "--scratch-url", &c.url("postgres")],
        2,
    );
    assert!(line.contains("syntax error"), "{line}");
    assert_eq!(scratch_dbs(&c), "");

    // History: the filenames change in archive 3 only; orders change in every archive.
    let hist = |table: &str, column: Option<&str>| {
        let mut a = vec!["history", "--repo", rs, "--table", table, "--scratch-url"];
        let url = c.url("postgres");
        a.push(&url);
        if let Some(col) = column {
            a.extend(["--column", col]);
        }
        json(dir.path(), &a)
    };
    let h = hist("downloads", Some("filename"));
    let changed: Vec<serde_json::Value> =
        h["entries"].as_array().unwrap().iter().map(|e| e["column_changed"].clone()).collect();
    assert_eq!(changed, [serde_json::Value::Null, false.into(), true.into(), false.into(), false.into(), false.into()]);
    assert_eq!(h["entries"][0]["rows"], 40);
    assert_eq!(h["changes"], 1);
    assert_eq!(scratch_dbs(&c), "");
    let h = hist("orders", None);
    assert_eq!(h["changes"], 5, "{h:#}");
    assert_eq!(h["entries"][5]["rows"], 106);
    // Digests are cached by archive checksum: the second run restores nothing.
    let h = hist("downloads", Some("filename"));
    assert!(h["entries"].as_array().unwrap().iter().all(|e| e["cached"] == true), "{h:#}");
    assert_eq!(scratch_dbs(&c), "");
}

#[test]
fn bisect_over_a_mixed_catalog_checks_each_backup_with_its_own_engine() {
    let c = cluster_or_skip!();
    make_shop(&c, 10);
    let dir = tempdir();
    let r = repo(dir.path(), "repo");
    // Two older SQLite backups (taken-at from their names), both good.
    let live = dir.path().join("old.db");
    sqlite3(
        &live,
        "CREATE TABLE downloads(id INTEGER PRIMARY KEY, filename TEXT NOT NULL); INSERT INTO downloads VALUES (1, 'a.zip');",
    );
    std::fs::copy(&live, r.join("shop-2020-01-01T00-00-00Z.db")).unwrap();
    sqlite3(&live, "INSERT INTO downloads VALUES (2, 'b.zip');");
    std::fs::copy(&live, r.join("shop-2020-01-02T00-00-00Z.db")).unwrap();
    // Then four pg_dump archives: good, good, bad, bad.
    for i in 1..=4 {
        if i == 3 {
            c.psql("shop", "UPDATE downloads SET filename = 'bad.zip' WHERE id = 1");
        }
        c.pg_dump("shop", &["-Fc"], &r.join(format!("shop-{i}.dump")));
        std::thread::sleep(std::time::Duration::from_millis(1050));
    }
    let rs = r.to_str().unwrap();
    let v = json(
        dir.path(),
        &[
            "bisect",
            "--repo",
            rs,
            "--scan",
            "--check",
            "SELECT count(*) = 0 FROM downloads WHERE filename = 'bad.zip'",
            "--tables",
            "downloads",
            "--scratch-url",
            &c.url("postgres"),
        ],
    );
    let verdicts: Vec<&str> =
        v["evaluations"].as_array().unwrap().iter().map(|e| e["verdict"].as_str().unwrap()).collect();
    assert_eq!(verdicts, ["good", "good", "good", "good", "bad", "bad"], "{v:#}");
    assert!(v["last_known_good"]["path"].as_str().unwrap().ends_with("shop-2.dump"), "{v:#}");
    assert!(v["evaluations"][0]["path"].as_str().unwrap().ends_with(".db"), "{v:#}");
    assert_eq!(scratch_dbs(&c), "");
}

/// Four archives by the real pg_dump, one per second (archive times have whole seconds); the
/// downloads go bad after the second.
fn four_archives_bad_from_the_third(c: &Cluster, repo: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for i in 1..=4 {
        if i == 3 {
            c.psql("shop", "UPDATE downloads SET filename = 'bad.zip'");
        }
        c.psql("shop", &format!("INSERT INTO downloads VALUES ({}, 'late.zip')", 1000 + i));
        let f = repo.join(format!("shop-{i}.dump"));
        c.pg_dump("shop", &["-Fc"], &f);
        files.push(f);
        std::thread::sleep(std::time::Duration::from_millis(1050));
    }
    files
}

fn lkg_paths(cwd: &Path, rs: &str) -> Vec<String> {
    let cat = json(cwd, &["catalog", "--repo", rs]);
    cat["backups"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["last_known_good"] == true)
        .map(|b| b["copies"][0]["path"].as_str().unwrap().to_string())
        .collect()
}

/// The item 7 on pg_dump archives: bisect marks the second archive; a check naming a
/// table no archive has is exit 2 naming it and leaves the mark; prune keeps the marked archive.
#[test]
fn on_pg_dump_archives_a_typo_check_is_refused_and_prune_keeps_the_last_known_good() {
    let c = cluster_or_skip!();
    make_big_shop(&c);
    let dir = tempdir();
    let r = repo(dir.path(), "repo");
    let files = four_archives_bad_from_the_third(&c, &r);
    let rs = r.to_str().unwrap();
    let url = c.url("postgres");
    let check = "SELECT count(*) = 0 FROM downloads WHERE filename = 'bad.zip'";
    let v =
        json(dir.path(), &["bisect", "--repo", rs, "--check", check, "--tables", "downloads", "--scratch-url", &url]);
    assert_eq!(v["last_known_good"]["path"], files[1].to_str().unwrap(), "{v:#}");
    assert_eq!(lkg_paths(dir.path(), rs), [files[1].to_str().unwrap()]);

    let typo = "SELECT count(*) = 0 FROM dowloads WHERE filename = 'bad.zip'";
    let line = fails(dir.path(), &["bisect", "--repo", rs, "--check", typo, "--scratch-url", &url], 2);
    assert!(line.contains("\"dowloads\" does not exist") && line.contains("any of the 4 backup(s)"), "{line}");
    // With --tables, a probe restores only those: a check reading another table cannot be evaluated.
    let other = "SELECT count(*) > 0 FROM orders";
    let line = fails(
        dir.path(),
        &["bisect", "--repo", rs, "--check", other, "--tables", "downloads", "--scratch-url", &url],
        2,
    );
    assert!(line.contains("\"orders\" does not exist"), "{line}");
    assert_eq!(lkg_paths(dir.path(), rs), [files[1].to_str().unwrap()], "the mark was touched");
    let left = c.psql("postgres", "SELECT count(*) FROM pg_database WHERE datname LIKE 'lastgood%'");
    assert_eq!(left.trim(), "0", "scratch databases left behind");

    let plan = json(dir.path(), &["prune", "--repo", rs, "--keep-last", "1", "--dry-run"]);
    let kept: Vec<&str> = plan["plan"]["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["keep"] == true)
        .map(|d| d["paths"][0].as_str().unwrap())
        .collect();
    assert_eq!(kept, [files[3].to_str().unwrap(), files[1].to_str().unwrap()], "{plan:#}");
    json(dir.path(), &["prune", "--repo", rs, "--keep-last", "1"]);
    assert!(files[1].exists() && files[3].exists() && !files[0].exists() && !files[2].exists());
}
