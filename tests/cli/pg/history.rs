//! PostgreSQL `history`: per-backup digests over pg_dump archives, through probe scratch databases.

use super::*;
use crate::cluster_or_skip;

/// `history --scratch-url` over a repository holding a plain dump (which cannot be restored one
/// table at a time) used to fail outright (exit 3). That backup is now listed as `cannot tell`
/// with the reason, and the archives around it are digested, changes marked between them.
#[test]
fn history_lists_a_plain_dump_as_cannot_tell_and_digests_the_other_backups() {
    let c = cluster_or_skip!();
    let dir = tempdir();
    let repo = shop_and_repo(&c, dir.path());
    std::thread::sleep(std::time::Duration::from_millis(1100));
    c.psql("shop", "UPDATE items SET name = 'changed' WHERE id = 3");
    c.pg_dump("shop", &["-Fp"], &repo.join("shop-plain.sql"));
    std::thread::sleep(std::time::Duration::from_millis(1100));
    c.psql("shop", "UPDATE items SET name = 'changed again' WHERE id = 4");
    c.pg_dump("shop", &["-Fc"], &repo.join("shop-later.dump"));
    let rs = repo.to_str().unwrap();
    let server = c.url("postgres");
    let h =
        json(dir.path(), &["history", "--repo", rs, "--table", "items", "--column", "name", "--scratch-url", &server]);
    let entries = h["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 3, "{h:#}");
    let plain = &entries[1];
    let note = plain["note"].as_str().unwrap_or_default();
    assert!(note.starts_with("cannot tell: ") && note.contains("plain SQL dump"), "{plain:#}");
    assert_eq!(plain["table_digest"], serde_json::Value::Null);
    for e in [&entries[0], &entries[2]] {
        assert_eq!(e["rows"], 20, "{e:#}");
        assert!(e["note"].is_null(), "{e:#}");
    }
    assert_eq!(entries[2]["column_changed"], true, "compared with the archive before the plain dump");
    assert_eq!(h["changes"], 1);
    let (code, text, err) = run(dir.path(), &["history", "--repo", rs, "--table", "items", "--scratch-url", &server]);
    assert_eq!(code, 0, "{err}");
    assert!(text.contains("cannot tell: "), "{text}");
    assert_eq!(c.psql("postgres", "SELECT count(*) FROM pg_database WHERE datname LIKE 'lastgood%'").trim(), "0");
}
