//! PostgreSQL archives, verified: a bit flipped inside a table's compressed data (custom,
//! directory and tar formats) is found by `verify` and the catalog, so `restore --at` skips it; a
//! plain dump without its `dump complete` trailer is truncated for verify, drill and restore.

use std::path::Path;

use super::*;
use crate::cluster_or_skip;

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
    let line = fails(dir.path(), &restore_args(rs, ns, &["--live", &c.url("shop"), "--into", "shop_bad"]), 3);
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

fn gzip_bytes(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

/// A plain dump cut before its data (also gzip/zstd-compressed, as whole streams) lacks pg_dump's
/// `dump complete` trailer: the catalog lists it as truncated, verify fails it, the drill fails
/// on it and restore refuses it. Whole plain dumps (also ending in `\unrestrict KEY`, as newer
/// pg_dump writes) still pass.
#[test]
fn a_plain_dump_without_its_dump_complete_trailer_is_truncated_and_fails_verify_drill_and_restore() {
    let c = cluster_or_skip!();
    c.create_db("bb_p");
    c.psql(
        "bb_p",
        "CREATE TABLE customers(id int PRIMARY KEY); INSERT INTO customers SELECT x FROM generate_series(1, 30) x;",
    );
    let dir = tempdir();
    let full = dir.path().join("full.sql");
    c.pg_dump("bb_p", &["-Fp"], &full);
    let text = std::fs::read_to_string(&full).unwrap();
    assert!(text.contains("\n-- PostgreSQL database dump complete\n"), "{text}");
    let before_copy = &text[..text.find("\nCOPY public.customers").unwrap() + 1];
    let mid_copy = &text[..text.find("\n15\n").unwrap() + 1];

    // Truncated, in three repositories: plain text cut before its data, gzip and zstd cut inside.
    let (pr, pz, ok) = (repo(dir.path(), "pr"), repo(dir.path(), "pz"), repo(dir.path(), "ok"));
    std::fs::write(pr.join("bb_p-2026-11-24T07-00-00.sql"), before_copy).unwrap();
    std::fs::write(pz.join("bb_p-2026-11-24T07-00-00.sql.gz"), gzip_bytes(mid_copy.as_bytes())).unwrap();
    std::fs::write(pz.join("bb_p-2026-11-24T08-00-00.sql.zst"), zstd::encode_all(mid_copy.as_bytes(), 3).unwrap())
        .unwrap();
    // Whole: as pg_dump wrote it, gzip-compressed (the newest, which the drill restores), and as
    // newer pg_dump writes it, between `\restrict KEY` and `\unrestrict KEY` (which this psql
    // may not know: only verified).
    std::fs::copy(&full, ok.join("bb_p-2026-11-24T06-00-00.sql")).unwrap();
    std::fs::write(ok.join("bb_p-2026-11-24T06-30-00.sql.gz"), gzip_bytes(text.as_bytes())).unwrap();
    let restricted = text.replacen("--\n\n", "--\n\n\\restrict aBcD3\n\n", 1);
    assert!(restricted.starts_with("--\n-- PostgreSQL database dump\n--\n\n\\restrict aBcD3\n"), "{restricted}");
    std::fs::write(ok.join("bb_p-2026-11-24T05-45-00.sql"), format!("{restricted}\\unrestrict aBcD3\n\n")).unwrap();

    for r in [&pr, &pz] {
        let cat = json(dir.path(), &["catalog", "--repo", r.to_str().unwrap()]);
        for b in cat["backups"].as_array().unwrap() {
            let p = b["problem"].as_str().unwrap_or_else(|| panic!("not flagged: {b:#}"));
            let file = b["copies"][0]["path"].as_str().unwrap();
            assert!(p.contains("is truncated: no `dump complete` trailer") && p.contains(file), "{p}");
        }
        let (code, out, _) = run(dir.path(), &["verify", "--all", "--repo", r.to_str().unwrap()]);
        assert_eq!(code, 1, "{out}");
        assert!(out.lines().filter(|l| l.starts_with("FAILED")).all(|l| l.contains("truncated")), "{out}");
        assert!(out.contains("0 of "), "{out}");
    }
    let cat = json(dir.path(), &["catalog", "--repo", pz.to_str().unwrap()]);
    let zst = cat["backups"].as_array().unwrap().iter().find(|b| b["compression"] == "zstd").unwrap();
    assert!(zst["problem"].as_str().unwrap().contains("the data of table `public.customers` is cut short"), "{zst:#}");

    let (code, v) = drill(dir.path(), &["--repo", pr.to_str().unwrap(), "--scratch-url", &c.url("postgres")]);
    assert_eq!(code, 1, "{v:#}");
    let failed = failed_checks(&v);
    assert!(failed.iter().any(|f| f.starts_with("verify ") && f.contains("truncated")), "{failed:?}");
    assert!(failed.iter().any(|f| f.starts_with("restore: ") && f.contains("truncated")), "{failed:?}");
    let (code, _, err) =
        run(dir.path(), &restore_args(s(&pr), "latest", &["--live", &c.url("bb_p"), "--into", "bb_p_r"]));
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("truncated: no `dump complete` trailer"), "{err}");
    assert_eq!(scratch_dbs(&c), "");

    // The whole dumps verify, drill and restore.
    let (code, out, _) = run(dir.path(), &["verify", "--all", "--repo", ok.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("3 of 3 copies verified OK"), "{out}");
    let (code, v) = drill(
        dir.path(),
        &["--repo", ok.to_str().unwrap(), "--scratch-url", &c.url("postgres"), "--min-rows", "customers=30"],
    );
    assert_eq!(code, 0, "{:?}", failed_checks(&v));
    assert_eq!(scratch_dbs(&c), "");
}
