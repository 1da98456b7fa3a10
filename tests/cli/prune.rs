//! `lastgood prune`: the backup it protects must pass verify now; it never removes every healthy
//! backup. (Retention rules themselves: drill.rs.)

use std::path::Path;

use crate::common::*;

fn kept(plan: &serde_json::Value) -> Vec<String> {
    plan["plan"]["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["keep"] == true)
        .map(|d| d["paths"][0].as_str().unwrap().rsplit('/').next().unwrap().to_string())
        .collect()
}

/// Three `sqlite3 .backup` files of a two-page database (01:00–03:00) and, newest, the first 5000
/// bytes of the last one: page 2 is cut inside its cell area, so every table still opens and
/// counts its rows. Returns the repository.
pub fn small_backups_and_a_truncated_newest(dir: &tempfile::TempDir) -> std::path::PathBuf {
    let live = path(dir, "live.db");
    let repo = path(dir, "repo");
    std::fs::create_dir_all(&repo).unwrap();
    sqlite3(
        &live,
        "CREATE TABLE orders(id INTEGER PRIMARY KEY, item TEXT);
         WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 100)
           INSERT INTO orders SELECT x, 'item ' || x FROM c;",
    );
    for h in 1..=3 {
        sqlite3(&live, "INSERT INTO orders(item) VALUES ('x')");
        cli_backup(&live, &repo.join(format!("shop-2026-11-23T0{h}-00-00.db")));
    }
    let newest = std::fs::read(repo.join("shop-2026-11-23T03-00-00.db")).unwrap();
    assert_eq!(newest.len(), 8192, "the repro needs a two-page database");
    std::fs::write(repo.join("trunc-2026-11-23T04-00-00.db"), &newest[..5000]).unwrap();
    repo
}

/// The reviewer's repro: --keep-last 1 used to keep only the truncated newest file (the catalog
/// saw no problem, and with nothing verified it was the protected "newest undamaged" one too).
#[test]
fn prune_keeps_a_healthy_backup_when_the_newest_is_truncated() {
    let dir = tempdir();
    let repo = small_backups_and_a_truncated_newest(&dir);
    let plan = json(dir.path(), &["prune", "--repo", s(&repo), "--keep-last", "1", "--dry-run"]);
    assert!(kept(&plan).contains(&"shop-2026-11-23T03-00-00.db".to_string()), "no healthy backup kept: {plan}");
    json(dir.path(), &["prune", "--repo", s(&repo), "--keep-last", "1"]);
    assert_eq!(rows(&repo.join("shop-2026-11-23T03-00-00.db"), "orders").len(), 103);
}

/// Backups the catalog sees no problem with (row counts read through an index) but that fail
/// integrity_check: the protected one is walked back to the newest that passes; when none
/// passes, prune refuses and removes nothing.
#[test]
fn prune_protects_the_newest_backup_that_passes_verify_and_refuses_when_none_does() {
    let dir = tempdir();
    let (repo, _) = three_backups(&dir);
    let damage = |name: &str| {
        let f = repo.join(name);
        let (page_size, leaves) = leaf_pages(&f, "orders");
        flip_bytes(&f, (leaves[0] - 1) * page_size + page_size / 2, 16);
    };
    damage("shop-2026-11-23_08-00.db");
    let catalog = json(dir.path(), &["catalog", "--repo", s(&repo)]);
    assert!(catalog["backups"].as_array().unwrap().iter().all(|b| b["problem"].is_null()), "{catalog}");
    let plan = json(dir.path(), &["prune", "--repo", s(&repo), "--keep-last", "1", "--dry-run"]);
    assert_eq!(kept(&plan), ["shop-2026-11-23_08-00.db", "shop-20261123-070000.db"], "{plan}");

    damage("shop-20261123-070000.db");
    damage("shop-2026-11-23T06-00-00.db");
    let before = files_in(&repo);
    let err = fails(dir.path(), &["prune", "--repo", s(&repo), "--keep-last", "1"], 5);
    assert!(err.contains("no backup can be shown healthy"), "{err}");
    assert_eq!(files_in(&repo), before, "removed something");
}

/// Pruning removes a backup's real files below the repository — its main file and every
/// hard-linked name of it, its `-wal`, `-shm` and manifest — and never acts through a link: a link
/// to a file outside the repository leaves that file alone, and a link to a removed backup is left
/// in place (dangling, named in the plan).
#[test]
fn prune_removes_real_files_only_and_never_through_a_link() {
    let dir = tempdir();
    let (repo, live) = three_backups(&dir);
    let wal_db = path(&dir, "wal-live.db");
    let app = wal_live(&wal_db);
    copy_with_wal(&wal_db, &repo.join("wal-2026-11-23T05-00-00.db"));
    std::fs::write(repo.join("wal-2026-11-23T05-00-00.db-shm"), b"stale shared memory").unwrap();
    let six = repo.join("shop-2026-11-23T06-00-00.db");
    std::fs::hard_link(&six, repo.join("hard-2026-11-23T06-00-00.db")).unwrap();
    std::fs::write(manifest_of(&six), r#"{"taken_at": "2026-11-23T06:00:00Z"}"#).unwrap();
    std::os::unix::fs::symlink(&six, repo.join("six.db")).unwrap();
    // Outside every repository: a newer backup, reached only through a link.
    let outside = path(&dir, "outside");
    std::fs::create_dir(&outside).unwrap();
    sqlite3(&live, "INSERT INTO orders(customer_id, item) VALUES (7, 'outside')");
    cli_backup(&live, &outside.join("shop-2026-11-23T09-00-00.db"));
    let outside_before = tree(&outside);
    std::os::unix::fs::symlink(outside.join("shop-2026-11-23T09-00-00.db"), repo.join("ext-2026-11-23T09-00-00.db"))
        .unwrap();
    // Reachable only through a link: a database in a scratch folder inside the repository. It is
    // no backup (the catalog skips scratch folders), so prune leaves it and the link alone.
    let scratch = repo.join("lastgood-scratch");
    std::fs::create_dir(&scratch).unwrap();
    std::fs::write(scratch.join(".lastgood-scratch"), "scratch").unwrap();
    std::fs::copy(repo.join("shop-2026-11-23T06-00-00.db"), scratch.join("restored.db")).unwrap();
    std::os::unix::fs::symlink(scratch.join("restored.db"), repo.join("restored-2026-11-23T10-00-00.db")).unwrap();

    let done = json(dir.path(), &["prune", "--repo", s(&repo), "--keep-last", "1"]);
    assert_eq!(kept(&done), ["shop-2026-11-23_08-00.db"], "{done:#}");
    let left: Vec<String> = tree(&repo).into_keys().collect();
    let want = [
        "ext-2026-11-23T09-00-00.db",
        "lastgood-scratch/.lastgood-scratch",
        "lastgood-scratch/restored.db",
        "restored-2026-11-23T10-00-00.db",
        "shop-2026-11-23_08-00.db",
        "six.db",
    ];
    assert_eq!(left, want, "{done:#}");
    assert_eq!(tree(&outside), outside_before, "prune changed a file outside the repository");
    assert!(std::fs::symlink_metadata(repo.join("six.db")).unwrap().file_type().is_symlink());
    let six = done["plan"]["decisions"].as_array().unwrap().iter().find(|d| d["taken_at"] == "2026-11-23T06:00:00Z");
    let links_left = six.and_then(|d| d["links_left"].as_array()).unwrap_or_else(|| panic!("{done:#}"));
    assert!(links_left.len() == 1 && links_left[0].as_str().unwrap().ends_with("six.db"), "{links_left:?}");
    let v = json(dir.path(), &["catalog", "--repo", s(&repo)]);
    let reasons: Vec<&str> = v["ignored"].as_array().unwrap().iter().map(|i| i["reason"].as_str().unwrap()).collect();
    assert!(reasons.iter().any(|r| r.starts_with("dangling link")), "{reasons:?}");
    assert!(reasons.iter().any(|r| r.starts_with("link points outside every repository")), "{reasons:?}");
    assert!(reasons.iter().any(|r| r.contains("in a folder lastgood skips")), "{reasons:?}");
    drop(app);
}

fn manifest_of(p: &Path) -> std::path::PathBuf {
    std::path::PathBuf::from(format!("{}.lastgood.json", p.display()))
}

fn reasons_of(plan: &serde_json::Value, file: &str) -> Vec<String> {
    let d = plan["plan"]["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["paths"][0].as_str().unwrap().ends_with(file))
        .unwrap_or_else(|| panic!("{file} not in {plan}"));
    d["reasons"].as_array().unwrap().iter().map(|r| r.as_str().unwrap().to_string()).collect()
}

/// The issue's repro: bisect marked the 09:00 backup LKG, then `prune --keep-last 2` removed it and
/// kept two bad ones. Prune keeps the recorded LKG, every copy, in every repository given.
#[test]
fn prune_never_removes_the_last_known_good_in_any_repository() {
    let (dir, repo) = crate::bisect::incident_repo();
    let offsite = path(&dir, "offsite");
    std::fs::create_dir(&offsite).unwrap();
    for f in ["shop-2026-11-24T09-00-00.db", "shop-2026-11-24T12-00-00.db"] {
        std::fs::copy(repo.join(f), offsite.join(f)).unwrap();
    }
    let (r, o) = (s(&repo), s(&offsite));
    let v = json(dir.path(), &["bisect", "--repo", r, "--repo", o, "--check", crate::bisect::CHECK]);
    assert_eq!(v["last_known_good"]["taken_at"], "2026-11-24T09:00:00Z", "{v}");

    let plan = json(dir.path(), &["prune", "--repo", r, "--repo", o, "--keep-last", "2", "--dry-run"]);
    assert!(reasons_of(&plan, "repo/shop-2026-11-24T09-00-00.db").contains(&"last known good".to_string()), "{plan}");
    let human = lastgood(dir.path()).args(["prune", "--repo", r, "--keep-last", "2", "--dry-run"]).output().unwrap();
    let human = String::from_utf8_lossy(&human.stdout);
    assert!(human.lines().any(|l| l.contains("keep") && l.contains("last known good")), "{human}");

    json(dir.path(), &["prune", "--repo", r, "--repo", o, "--keep-last", "2"]);
    assert!(repo.join("shop-2026-11-24T09-00-00.db").exists(), "the LKG was removed");
    assert!(offsite.join("shop-2026-11-24T09-00-00.db").exists(), "a copy of the LKG was removed");
    assert!(!repo.join("shop-2026-11-24T10-00-00.db").exists() && !repo.join("shop-2026-11-24T08-00-00.db").exists());
    assert_eq!(rows(&repo.join("shop-2026-11-24T09-00-00.db"), "downloads").len(), 100);

    // The offsite repository alone: its own cache carries the mark too.
    json(dir.path(), &["prune", "--repo", o, "--keep-last", "1"]);
    assert!(offsite.join("shop-2026-11-24T09-00-00.db").exists());
}
