//! Shared helpers for the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use assert_cmd::cargo::CommandCargoExt;
use rusqlite::Connection;

/// A `lastgood` command with `--quiet`, run in `cwd`, with no repository from the environment.
pub fn lastgood(cwd: &Path) -> Command {
    let mut cmd = Command::cargo_bin("lastgood").expect("binary built");
    cmd.current_dir(cwd)
        .env_remove("LASTGOOD_REPO")
        .env_remove("LASTGOOD_SCRATCH_DIR")
        .env_remove("LASTGOOD_LIVE")
        .arg("--quiet");
    cmd
}

/// Runs `lastgood --json ARGS` in `cwd`, asserts exit 0, and parses stdout.
pub fn json(cwd: &Path, args: &[&str]) -> serde_json::Value {
    let out = lastgood(cwd).arg("--json").args(args).output().expect("runs");
    assert!(out.status.success(), "lastgood {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("bad JSON from {args:?}: {e}: {}", String::from_utf8_lossy(&out.stdout)))
}

/// Runs `sqlite3 DB SQL` (the real command-line tool) and asserts success.
pub fn sqlite3(db: &Path, sql: &str) {
    let st = Command::new("sqlite3").arg(db).arg(sql).status().expect("sqlite3 installed (apt-get install sqlite3)");
    assert!(st.success(), "sqlite3 {} {sql:?} failed", db.display());
}

/// A small shop: `orders` (n rows, index on customer), `downloads` (AUTOINCREMENT, trigger),
/// `customers`.
pub fn make_shop(path: &Path, orders: i64) {
    let c = Connection::open(path).unwrap();
    c.execute_batch(&format!(
        "CREATE TABLE customers(id INTEGER PRIMARY KEY, name TEXT NOT NULL);
         CREATE TABLE orders(id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL, item TEXT, amount REAL, note BLOB);
         CREATE INDEX orders_customer ON orders(customer_id);
         CREATE TABLE downloads(id INTEGER PRIMARY KEY AUTOINCREMENT, order_id INTEGER, filename TEXT NOT NULL);
         CREATE TABLE audit(at TEXT, what TEXT);
         CREATE TRIGGER downloads_audit AFTER UPDATE ON downloads BEGIN INSERT INTO audit VALUES (datetime('now'), NEW.filename); END;
         WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 50)
           INSERT INTO customers SELECT x, 'customer ' || x FROM c;
         WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < {orders})
           INSERT INTO orders SELECT x, x % 50 + 1, 'item ' || x, x * 1.25, CASE WHEN x % 3 = 0 THEN NULL ELSE randomblob(8) END FROM c;
         INSERT INTO downloads(order_id, filename) SELECT id, 'file-' || id || '.zip' FROM orders WHERE id % 2 = 0;"
    ))
    .unwrap();
}

/// All rows of `table` as text, ordered, for row-by-row comparison across files.
pub fn rows(db: &Path, table: &str) -> Vec<Vec<String>> {
    let c = Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let mut st = c.prepare(&format!("SELECT * FROM \"{}\" ORDER BY 1", table.replace('"', "\"\""))).unwrap();
    let n = st.column_count();
    st.query_map([], |r| {
        (0..n)
            .map(|i| {
                let v: rusqlite::types::Value = r.get(i)?;
                Ok(format!("{v:?}"))
            })
            .collect::<rusqlite::Result<Vec<String>>>()
    })
    .unwrap()
    .collect::<rusqlite::Result<Vec<_>>>()
    .unwrap()
}

/// Names of the tables in a SQLite file.
pub fn tables(db: &Path) -> Vec<String> {
    let c = Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let mut st = c
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
        .unwrap();
    st.query_map([], |r| r.get(0)).unwrap().collect::<rusqlite::Result<Vec<_>>>().unwrap()
}

/// A path as the `&str` a command line takes (test paths are UTF-8).
pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `restore --repo REPO --backup BACKUP` followed by `rest`: how every restore command line of the
/// tests starts.
pub fn restore_args<'a>(repo: &'a str, backup: &'a str, rest: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["restore", "--repo", repo, "--backup", backup];
    args.extend_from_slice(rest);
    args
}

pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

pub fn path(dir: &tempfile::TempDir, name: &str) -> PathBuf {
    dir.path().join(name)
}

/// A backup of `live` at `dst` made with SQLite's online backup API (rusqlite), as an application
/// would make it.
pub fn api_backup(live: &Path, dst: &Path) {
    let src = Connection::open(live).unwrap();
    let mut dst = Connection::open(dst).unwrap();
    rusqlite::backup::Backup::new(&src, &mut dst)
        .unwrap()
        .run_to_completion(100, std::time::Duration::ZERO, None)
        .unwrap();
}

/// A backup of `live` at `dst` made with the real `sqlite3 .backup` command.
pub fn cli_backup(live: &Path, dst: &Path) {
    sqlite3(live, &format!(".backup '{}'", dst.display()));
}

/// A repository `DIR/repo` with three backups of a shop (100, 101, 102 orders) taken at 06:00
/// (sqlite3 .backup), 07:00 (backup API) and 08:00 (sqlite3 .backup) on 2026-11-23, time in the
/// file names. Returns (repo, live).
pub fn three_backups(dir: &tempfile::TempDir) -> (PathBuf, PathBuf) {
    let live = path(dir, "live.db");
    let repo = path(dir, "repo");
    std::fs::create_dir_all(&repo).unwrap();
    make_shop(&live, 100);
    cli_backup(&live, &repo.join("shop-2026-11-23T06-00-00.db"));
    sqlite3(&live, "INSERT INTO orders(customer_id, item) VALUES (1, 'late 1')");
    api_backup(&live, &repo.join("shop-20261123-070000.db"));
    sqlite3(&live, "INSERT INTO orders(customer_id, item) VALUES (2, 'late 2')");
    cli_backup(&live, &repo.join("shop-2026-11-23_08-00.db"));
    (repo, live)
}

/// Runs `lastgood ARGS` in `cwd` expecting failure with exit `code`; asserts stderr starts with one
/// `error:` line (optionally followed by a `hint:` line) and nothing reached stdout. Returns the
/// error line.
pub fn fails(cwd: &Path, args: &[&str], code: i32) -> String {
    let out = lastgood(cwd).args(args).output().expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(code), "lastgood {args:?}: stderr {stderr}");
    assert!(out.stdout.is_empty(), "lastgood {args:?} wrote to stdout: {}", String::from_utf8_lossy(&out.stdout));
    let lines: Vec<&str> = stderr.lines().collect();
    assert!(lines.first().is_some_and(|l| l.starts_with("error: ")), "no error line: {stderr}");
    assert!(lines.len() == 1 || (lines.len() == 2 && lines[1].starts_with("hint: ")), "not one line: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    lines[0].to_string()
}

/// Files in `dir` (not recursive), sorted, for "nothing left behind" checks.
pub fn files_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    v.sort();
    v
}

/// Asserts no temporary restore file (`.lastgood-tmp-*`) is left in `dir`.
pub fn no_temp_files(dir: &Path) {
    let left: Vec<String> = files_in(dir).into_iter().filter(|f| f.starts_with(".lastgood-tmp")).collect();
    assert!(left.is_empty(), "left behind in {}: {left:?}", dir.display());
}

/// Page size and the pages of `name`'s b-tree (table or index) that are leaves, from the real
/// `sqlite3` tool's dbstat table.
pub fn leaf_pages(db: &Path, name: &str) -> (u64, Vec<u64>) {
    let c = Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let page_size = c.query_row("PRAGMA page_size", [], |r| r.get::<_, i64>(0)).unwrap() as u64;
    let mut st = c.prepare("SELECT pageno FROM dbstat WHERE name = ?1 AND pagetype = 'leaf' ORDER BY pageno").unwrap();
    let pages = st.query_map([name], |r| r.get::<_, i64>(0)).unwrap().map(|p| p.unwrap() as u64).collect();
    (page_size, pages)
}

/// Flips every bit of the bytes `at..at + len` of `file` (keeping its size).
pub fn flip_bytes(file: &Path, at: u64, len: u64) {
    let mut bytes = std::fs::read(file).unwrap();
    for b in &mut bytes[at as usize..(at + len) as usize] {
        *b ^= 0xff;
    }
    std::fs::write(file, bytes).unwrap();
}

/// Replaces `file`'s content with `bytes` of the same length, keeping its mtime, so that only a
/// re-read of the content can notice.
pub fn replace_keeping_stamp(file: &Path, bytes: &[u8]) {
    let meta = std::fs::metadata(file).unwrap();
    assert_eq!(meta.len(), bytes.len() as u64, "same size required");
    let mtime = meta.modified().unwrap();
    std::fs::write(file, bytes).unwrap();
    std::fs::File::options().write(true).open(file).unwrap().set_modified(mtime).unwrap();
    assert_eq!(std::fs::metadata(file).unwrap().modified().unwrap(), mtime);
}

/// gzip-compresses `src` into `dst` with the real `gzip` tool.
pub fn gzip(src: &Path, dst: &Path) {
    let out = Command::new("gzip").arg("-c").arg(src).output().expect("gzip installed");
    assert!(out.status.success());
    std::fs::write(dst, out.stdout).unwrap();
}

/// zstd-compresses `src` into `dst` (the zstd crate; the `zstd` tool may be absent).
pub fn zstd(src: &Path, dst: &Path) {
    let data = std::fs::read(src).unwrap();
    std::fs::write(dst, zstd::encode_all(&data[..], 3).unwrap()).unwrap();
}

/// Skips a test that needs something this machine does not allow (mounting, as root), saying so
/// on stderr; under CI (`CI=true`) that is a failure instead, so a CI run cannot pass without
/// running it.
pub fn skip_or_fail_in_ci(test: &str, why: &str) {
    if std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true")) {
        panic!("{test}: {why}, and CI=true: this test must run in CI");
    }
    eprintln!("SKIPPED {test}: {why}");
}

/// Runs a command line lastgood printed (an undo) exactly as an operator would paste it: through
/// `sh -c`, with this build's `lastgood` first on PATH (and `extra_path`, e.g. PostgreSQL's
/// programs, after it). Returns the output; asserts nothing.
pub fn run_printed(cwd: &Path, line: &str, extra_path: Option<&Path>) -> std::process::Output {
    let bin = assert_cmd::cargo::cargo_bin("lastgood");
    let mut dirs = vec![bin.parent().unwrap().to_path_buf()];
    dirs.extend(extra_path.map(Path::to_path_buf));
    dirs.extend(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()));
    Command::new("sh")
        .arg("-c")
        .arg(line)
        .current_dir(cwd)
        .env("PATH", std::env::join_paths(dirs).unwrap())
        .env_remove("LASTGOOD_REPO")
        .env_remove("LASTGOOD_SCRATCH_DIR")
        .env_remove("LASTGOOD_LIVE")
        .output()
        .expect("sh runs")
}

/// A temporary folder on another filesystem (device) than `tempdir()`'s: in `/dev/shm` (a tmpfs on
/// Linux). `None`, after `skip_or_fail_in_ci(test, …)`, when there is no such filesystem.
pub fn tempdir_on_another_device(test: &str) -> Option<tempfile::TempDir> {
    use std::os::unix::fs::MetadataExt;
    let here = std::fs::metadata(std::env::temp_dir()).map(|m| m.dev()).ok();
    let shm = Path::new("/dev/shm");
    match std::fs::metadata(shm) {
        Ok(m) if m.is_dir() && Some(m.dev()) != here => tempfile::tempdir_in(shm).ok(),
        _ => {
            skip_or_fail_in_ci(test, "no second filesystem (/dev/shm) to hold a copy on another device");
            None
        }
    }
}

/// A live WAL-mode database as an application holds it: open, automatic checkpoints off, so that
/// committed pages stay in its `-wal`. It starts with `orders` (ids 1–3, items `a`–`c`)
/// checkpointed into the main file; later writes only reach the `-wal`. Keep the connection open
/// while copying: closing it checkpoints and removes the `-wal`.
pub fn wal_live(path: &Path) -> Connection {
    let c = Connection::open(path).unwrap();
    let mode: String = c.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0)).unwrap();
    assert_eq!(mode, "wal");
    c.execute_batch(
        "PRAGMA wal_autocheckpoint = 0;
         CREATE TABLE orders(id INTEGER PRIMARY KEY, item TEXT NOT NULL);
         INSERT INTO orders(item) VALUES ('a'), ('b'), ('c');
         PRAGMA wal_checkpoint(TRUNCATE);",
    )
    .unwrap();
    c
}

/// The "copy the files every hour" backup: `live` and its `-wal` copied to `dst` and `dst-wal`.
pub fn copy_with_wal(live: &Path, dst: &Path) {
    std::fs::copy(live, dst).unwrap();
    let wal = |p: &Path| std::path::PathBuf::from(format!("{}-wal", p.display()));
    std::fs::copy(wal(live), wal(dst)).unwrap();
}

/// Every file below `dir` (but `.lastgood/`) with the sha256 of its bytes (a link: its target),
/// for "left exactly as it was" checks.
pub fn tree(dir: &Path) -> std::collections::BTreeMap<String, String> {
    use sha2::Digest;
    let hash = |b: &[u8]| hex::encode(sha2::Sha256::digest(b));
    let mut out = std::collections::BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let p = e.path();
            let ft = e.file_type().unwrap();
            if ft.is_dir() && e.file_name() != ".lastgood" {
                stack.push(p);
            } else if ft.is_file() {
                out.insert(p.strip_prefix(dir).unwrap().display().to_string(), hash(&std::fs::read(&p).unwrap()));
            } else if ft.is_symlink() {
                let to = std::fs::read_link(&p).unwrap();
                out.insert(p.strip_prefix(dir).unwrap().display().to_string(), format!("-> {}", to.display()));
            }
        }
    }
    out
}

/// The `item` column of `orders`, by id.
pub fn items(db: &Path) -> Vec<String> {
    let c = Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let mut st = c.prepare("SELECT item FROM orders ORDER BY id").unwrap();
    st.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect()
}
