//! PostgreSQL archives, guarded: a bit flipped inside a table's compressed data is found by
//! `verify` and the catalog (so `restore --at` skips it and says so); `prune` never removes the
//! last known good; a bisect check that no archive can evaluate (a table-name typo) is a usage
//! error that leaves the last-known-good mark alone. Archives are made by the real pg_dump on a
//! throwaway cluster (`pgcluster.rs`).

use std::path::{Path, PathBuf};

use crate::cluster_or_skip;
use crate::common::*;
use crate::pgcluster::Cluster;

fn run(cwd: &Path, args: &[&str]) -> (i32, String, String) {
    let out = lastgood(cwd).args(args).output().unwrap();
    let (o, e) = (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned());
    assert!(!e.contains("panicked"), "{e}");
    (out.status.code().unwrap_or(-1), o, e)
}

fn repo(dir: &Path, name: &str) -> PathBuf {
    let r = dir.join(name);
    std::fs::create_dir_all(&r).unwrap();
    r
}

/// `orders` holds 20,000 rows of hard-to-compress text, so its data block is most of the archive.
fn make_big_shop(c: &Cluster) {
    c.create_db("shop");
    c.psql(
        "shop",
        "CREATE TABLE downloads(id int PRIMARY KEY, filename text NOT NULL);
         CREATE TABLE orders(id int PRIMARY KEY, note text NOT NULL);
         INSERT INTO downloads SELECT x, 'file-' || x || '.zip' FROM generate_series(1, 40) x;
         INSERT INTO orders SELECT x, md5(x::text) || md5((x * 7)::text) FROM generate_series(1, 20000) x;",
    );
}

fn flip_bit(file: &Path, at: usize) {
    let mut bytes = std::fs::read(file).unwrap();
    bytes[at] ^= 0x08;
    std::fs::write(file, bytes).unwrap();
}

/// The repro: `verify` passed a bit-flipped custom archive (no manifest) and restore then
/// failed with "could not uncompress data". Now every data block is decompressed to its end.
#[test]
fn a_bit_flip_inside_compressed_table_data_fails_verify_and_restore_at_skips_the_archive() {
    let c = cluster_or_skip!();
    make_big_shop(&c);
    let dir = tempdir();
    let r = repo(dir.path(), "repo");
    // Taken-at comes from the archive header, in whole seconds.
    c.pg_dump("shop", &["-Fc"], &r.join("shop-1.dump"));
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let newest = r.join("shop-2.dump");
    c.pg_dump("shop", &["-Fc"], &newest);
    let rs = r.to_str().unwrap();
    let (code, out, _) = run(dir.path(), &["verify", "--all", "--repo", rs]);
    assert_eq!(code, 0, "{out}");
    let ns = newest.to_str().unwrap();
    let v = json(dir.path(), &["verify", ns, "--repo", rs]);
    let archive = v[0]["checks"].as_array().unwrap().iter().find(|c| c["name"] == "archive").unwrap().clone();
    assert!(archive["detail"].as_str().unwrap().contains("data block(s) decoded"), "{archive:#}");

    let len = std::fs::metadata(&newest).unwrap().len() as usize;
    flip_bit(&newest, len / 2);
    let (code, out, _) = run(dir.path(), &["verify", ns, "--repo", rs]);
    assert_eq!(code, 1, "{out}");
    let failed = out.lines().find(|l| l.starts_with("FAILED")).unwrap_or_else(|| panic!("{out}"));
    assert!(failed.contains(newest.to_str().unwrap()) && failed.contains("`public.orders`"), "{out}");
    assert!(failed.contains("does not decompress"), "{out}");

    // The catalog lists it DAMAGED, so `restore --at` takes the earlier archive and says why.
    let cat = json(dir.path(), &["catalog", "--repo", rs]);
    let damaged = &cat["backups"][1];
    assert_eq!(damaged["copies"][0]["path"], ns, "{cat:#}");
    assert!(damaged["problem"].as_str().unwrap_or_default().contains("`public.orders`"), "{cat:#}");
    let v = json(dir.path(), &["restore", "--repo", rs, "--at", "now", "--live", &c.url("shop"), "--into", "shop_r"]);
    assert!(
        v["why"].as_str().unwrap().contains(&format!("skipped damaged backup {}", damaged["id"].as_str().unwrap()))
    );
    assert_eq!(v["backup_id"], cat["backups"][0]["id"]);
    assert_eq!(c.psql("shop_r", "SELECT count(*) FROM orders").trim(), "20000");

    // Restoring it by name fails with one line naming the archive; nothing is created.
    let line = fails(
        dir.path(),
        &["restore", "--repo", rs, "--backup", ns, "--live", &c.url("shop"), "--into", "shop_bad"],
        3,
    );
    assert!(line.contains(newest.to_str().unwrap()) && line.contains("does not decompress"), "{line}");
    assert_eq!(c.psql("postgres", "SELECT count(*) FROM pg_database WHERE datname = 'shop_bad'").trim(), "0");
}

/// Directory archives: each table's `NNNN.dat.gz` is decompressed too; tar members are checked.
#[test]
fn a_bit_flip_in_a_directory_archives_data_file_or_a_tar_member_header_fails_verify() {
    let c = cluster_or_skip!();
    make_big_shop(&c);
    let dir = tempdir();
    let r = repo(dir.path(), "repo");
    let archive = r.join("shop.dir");
    c.pg_dump("shop", &["-Fd"], &archive);
    let rs = r.to_str().unwrap();
    assert_eq!(run(dir.path(), &["verify", "--all", "--repo", rs]).0, 0);
    let biggest = std::fs::read_dir(&archive)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".dat.gz"))
        .max_by_key(|p| std::fs::metadata(p).unwrap().len())
        .unwrap();
    let len = std::fs::metadata(&biggest).unwrap().len() as usize;
    flip_bit(&biggest, len / 2);
    let (code, out, _) = run(dir.path(), &["verify", "--all", "--repo", rs]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("`public.orders`") && out.contains("does not decompress"), "{out}");

    // Tar archives are never compressed: their member headers (checksummed) are checked.
    let t = repo(dir.path(), "tar");
    let tar = t.join("shop.tar");
    c.pg_dump("shop", &["-Ft"], &tar);
    let ts = t.to_str().unwrap();
    assert_eq!(run(dir.path(), &["verify", "--all", "--repo", ts]).0, 0);
    let bytes = std::fs::read(&tar).unwrap();
    let first_size = u64::from_str_radix(std::str::from_utf8(&bytes[124..135]).unwrap().trim_matches('\0'), 8).unwrap();
    let second = 512 + first_size.div_ceil(512) * 512;
    flip_bit(&tar, second as usize + 2);
    let (code, out, _) = run(dir.path(), &["verify", "--all", "--repo", ts]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("checksum does not match"), "{out}");
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
