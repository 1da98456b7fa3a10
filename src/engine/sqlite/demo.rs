//! The incident sandbox behind `lastgood demo`: the 2008 download-shop incident, replayed on the
//! embedded SQLite engine.
//!
//! A live shop database (customers, products, ≥ 100k orders, one download per order) is backed up
//! every hour from 00:00 to 12:00 of one day (yesterday, UTC). At 09:14 a bad script sets every
//! `downloads.filename` to one value, so the 10:00, 11:00 and 12:00 backups hold the bad data.
//! Orders keep arriving every hour at :30, before and after the incident. The invariant the
//! walkthrough relies on: a download's correct filename is its product's `filename`, so "every
//! filename is back" is a query, and every download that existed at 09:14 already existed at 09:00.
//! A trigger logs every filename change into `download_log` (so the bad script logged 100k+
//! rows): the merge plan lists it, and the walkthrough skips it (`--triggers skip`).
//!
//! Invariants: the sandbox is only ever (re)built inside a folder that is empty or carries the
//! `.lastgood-demo` marker; backups are real SQLite files made by `VACUUM INTO`. The marker lists
//! every file and folder the demo made (`record`, after the build and after each walkthrough
//! step); a rebuild removes exactly those, and refuses, removing nothing, when the folder holds
//! anything else (a file the user put there is never deleted).

use std::path::{Path, PathBuf};

use anyhow::Result;
use chrono::{DateTime, Duration, NaiveTime, Utc};
use rusqlite::Connection;

use crate::error::{environment, refused};

pub const MARKER: &str = ".lastgood-demo";
/// Orders placed before the day of the incident.
pub const BASE_ORDERS: i64 = 100_000;
/// Orders placed each hour, at :30.
pub const ORDERS_PER_HOUR: i64 = 400;
/// The value the bad script wrote into every `downloads.filename`.
pub const BAD_FILENAME: &str = "seller-17-latest.zip";
/// The check that tells good data from bad: no download carries the bad script's filename.
pub const CHECK: &str = "SELECT count(*) = 0 FROM downloads WHERE filename = 'seller-17-latest.zip'";

/// Where the sandbox's pieces are.
#[derive(Debug, Clone)]
pub struct Sandbox {
    pub dir: PathBuf,
    pub live: PathBuf,
    pub backups: PathBuf,
    pub scratch: PathBuf,
    pub day: DateTime<Utc>,
}

impl Sandbox {
    /// The time `hh:mm` on the day of the incident, UTC.
    pub fn at(&self, hh: u32, mm: u32) -> DateTime<Utc> {
        self.day + Duration::hours(hh.into()) + Duration::minutes(mm.into())
    }
}

/// Builds the sandbox in `dir`. Errors: `Refused` when `dir` holds anything but a previous demo.
pub fn build(dir: &Path, now: DateTime<Utc>) -> Result<Sandbox> {
    prepare_dir(dir)?;
    let day = (now - Duration::days(1)).date_naive().and_time(NaiveTime::MIN).and_utc();
    let sb = Sandbox {
        dir: dir.to_path_buf(),
        live: dir.join("shop.db"),
        backups: dir.join("backups"),
        scratch: dir.join("scratch"),
        day,
    };
    for d in [&sb.backups, &sb.scratch] {
        std::fs::create_dir_all(d).map_err(|e| environment(format!("cannot create `{}`: {e}", d.display())))?;
    }
    let conn = Connection::open(&sb.live)?;
    conn.execute_batch(SCHEMA)?;
    seed(&conn, day)?;
    for hour in 0..=12u32 {
        let stamp = sb.at(hour, 0);
        let file = sb.backups.join(format!("shop-{}.db", stamp.format("%Y-%m-%dT%H-%M-%SZ")));
        conn.execute("VACUUM INTO ?1", [file.to_string_lossy()])?;
        if hour == 9 {
            // 09:14: the script that was meant for one seller's account runs for everyone.
            conn.execute("UPDATE downloads SET filename = ?1", [BAD_FILENAME])?;
        }
        add_orders(&conn, sb.at(hour, 30))?;
    }
    drop(conn);
    record(dir)?;
    Ok(sb)
}

/// The first line of the marker; the paths the demo made follow, one per line (folders end
/// with `/`).
const MARKER_HEAD: &str = "A lastgood demo sandbox; `lastgood demo` rebuilds it, removing only the files listed below.";

/// Records everything now in the sandbox as the demo's own (called when no one else writes there:
/// after the build and after each walkthrough step).
pub fn record(dir: &Path) -> Result<()> {
    let mut text = format!("{MARKER_HEAD}\n");
    for p in contents(dir)? {
        text.push_str(&p);
        text.push('\n');
    }
    let marker = dir.join(MARKER);
    std::fs::write(&marker, text).map_err(|e| environment(format!("cannot write `{}`: {e}", marker.display())).into())
}

/// Every path under `dir` (relative, `/`-separated; folders end with `/`) except the marker.
fn contents(dir: &Path) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d).map_err(|e| environment(format!("cannot read `{}`: {e}", d.display())))?;
        for entry in entries {
            let entry = entry.map_err(|e| environment(format!("cannot read `{}`: {e}", d.display())))?;
            let path = entry.path();
            let rel = path.strip_prefix(dir).unwrap_or(&path).to_string_lossy().replace('\\', "/");
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                out.push(format!("{rel}/"));
                stack.push(path);
            } else if rel != MARKER {
                out.push(rel);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Makes `dir` ready for a build: created when absent; when it holds a previous demo, the files
/// and folders its marker lists are removed. Errors: `Refused` (nothing removed) when it holds
/// anything the demo did not make.
fn prepare_dir(dir: &Path) -> Result<()> {
    if dir.exists() {
        let found = contents(dir)?;
        let marker = std::fs::read_to_string(dir.join(MARKER)).ok();
        if !found.is_empty() || marker.is_some() {
            let Some(marker) = marker else {
                return Err(refused(format!("`{}` exists and is not a lastgood demo folder", dir.display()))
                    .hint("pass another folder: `lastgood demo DIR`")
                    .into());
            };
            let ours: std::collections::HashSet<&str> = marker.lines().skip(1).collect();
            // A listed database's side files are SQLite's, made by whoever opened it since.
            let side_of_ours = |p: &str| {
                ["-wal", "-shm", "-journal"].iter().any(|s| p.strip_suffix(s).is_some_and(|db| ours.contains(db)))
            };
            let foreign: Vec<&String> =
                found.iter().filter(|p| !ours.contains(p.as_str()) && !side_of_ours(p)).collect();
            if let Some(first) = foreign.first() {
                return Err(refused(format!(
                    "`{}` holds {} that `lastgood demo` did not make (`{first}`); it removes nothing",
                    dir.display(),
                    if foreign.len() == 1 { "a file".to_string() } else { format!("{} files", foreign.len()) }
                ))
                .hint("move them out of the folder, or pass another folder: `lastgood demo DIR`")
                .into());
            }
            remove_ours(dir, &found)?;
        }
    }
    std::fs::create_dir_all(dir).map_err(|e| environment(format!("cannot create `{}`: {e}", dir.display())))?;
    std::fs::write(dir.join(MARKER), format!("{MARKER_HEAD}\n"))?;
    Ok(())
}

/// Removes the listed files, then the listed folders, deepest first (each is empty by then).
fn remove_ours(dir: &Path, ours: &[String]) -> Result<()> {
    let cannot = |p: &Path, e: std::io::Error| environment(format!("cannot remove `{}`: {e}", p.display()));
    for f in ours.iter().filter(|p| !p.ends_with('/')) {
        let p = dir.join(f);
        std::fs::remove_file(&p).map_err(|e| cannot(&p, e))?;
    }
    let mut folders: Vec<&String> = ours.iter().filter(|p| p.ends_with('/')).collect();
    folders.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for f in folders {
        let p = dir.join(f);
        std::fs::remove_dir(&p).map_err(|e| cannot(&p, e))?;
    }
    Ok(())
}

const SCHEMA: &str = "
PRAGMA journal_mode = WAL;
PRAGMA synchronous = OFF;
CREATE TABLE customers(id INTEGER PRIMARY KEY, email TEXT NOT NULL UNIQUE, name TEXT NOT NULL);
CREATE TABLE products(id INTEGER PRIMARY KEY, name TEXT NOT NULL, price_cents INTEGER NOT NULL, filename TEXT NOT NULL);
CREATE TABLE orders(id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL REFERENCES customers(id),
                    product_id INTEGER NOT NULL REFERENCES products(id), placed_at TEXT NOT NULL,
                    amount_cents INTEGER NOT NULL);
CREATE INDEX orders_customer ON orders(customer_id);
CREATE TABLE downloads(id INTEGER PRIMARY KEY, order_id INTEGER NOT NULL REFERENCES orders(id),
                       filename TEXT NOT NULL, token TEXT NOT NULL);
CREATE INDEX downloads_order ON downloads(order_id);
CREATE TABLE download_log(id INTEGER PRIMARY KEY, download_id INTEGER NOT NULL, old_filename TEXT,
                          new_filename TEXT, changed_at TEXT NOT NULL);
CREATE TRIGGER downloads_log AFTER UPDATE OF filename ON downloads BEGIN
  INSERT INTO download_log(download_id, old_filename, new_filename, changed_at)
  VALUES (OLD.id, OLD.filename, NEW.filename, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'));
END;
";

fn seed(conn: &Connection, day: DateTime<Utc>) -> Result<()> {
    conn.execute_batch(
        "BEGIN;
         WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 2000)
           INSERT INTO customers SELECT x, 'buyer' || x || '@example.com', 'Buyer ' || x FROM c;
         WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 300)
           INSERT INTO products SELECT x, 'Track ' || x, 99 + x % 900, 'track-' || x || '-master.mp3' FROM c;
         COMMIT;",
    )?;
    // The base orders were placed over the 30 days before the incident.
    let start = day - Duration::days(30);
    insert_orders(conn, BASE_ORDERS, start, 30 * 86_400 / BASE_ORDERS)
}

fn add_orders(conn: &Connection, at: DateTime<Utc>) -> Result<()> {
    insert_orders(conn, ORDERS_PER_HOUR, at, 0)
}

/// Inserts `n` orders from `start`, `step_s` seconds apart, each with its download.
fn insert_orders(conn: &Connection, n: i64, start: DateTime<Utc>, step_s: i64) -> Result<()> {
    let first: i64 = conn.query_row("SELECT coalesce(max(id), 0) + 1 FROM orders", [], |r| r.get(0))?;
    let tx = conn.unchecked_transaction()?;
    tx.execute(
        "WITH RECURSIVE c(x) AS (SELECT ?1 UNION ALL SELECT x + 1 FROM c WHERE x < ?1 + ?2 - 1)
         INSERT INTO orders SELECT x, 1 + (x * 7919) % 2000, 1 + (x * 104729) % 300,
                strftime('%Y-%m-%dT%H:%M:%SZ', ?3, '+' || ((x - ?1) * ?4) || ' seconds'), 99 + x % 900 FROM c",
        rusqlite::params![first, n, start.format("%Y-%m-%d %H:%M:%S").to_string(), step_s],
    )?;
    tx.execute(
        "INSERT INTO downloads(id, order_id, filename, token)
         SELECT o.id, o.id, p.filename, lower(hex(randomblob(8))) FROM orders o JOIN products p ON p.id = o.product_id
         WHERE o.id >= ?1",
        [first],
    )?;
    tx.commit()?;
    Ok(())
}

/// Downloads whose filename is not their product's (0 when all are right).
pub fn wrong_filenames(live: &Path) -> Result<i64> {
    let c = Connection::open(live)?;
    Ok(c.query_row(
        "SELECT count(*) FROM downloads d JOIN orders o ON o.id = d.order_id JOIN products p ON p.id = o.product_id
         WHERE d.filename <> p.filename",
        [],
        |r| r.get(0),
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sandbox_has_the_incident_in_the_10_to_12_backups_only() {
        let dir = tempfile::tempdir().unwrap();
        let sb = build(&dir.path().join("demo"), Utc::now()).unwrap();
        let mut files: Vec<_> = std::fs::read_dir(&sb.backups).unwrap().map(|e| e.unwrap().path()).collect();
        files.sort();
        assert_eq!(files.len(), 13);
        for (hour, f) in files.iter().enumerate() {
            let bad = wrong_filenames(f).unwrap();
            assert_eq!(bad > 0, hour >= 10, "{} has {bad} wrong filenames", f.display());
        }
        let orders: i64 =
            Connection::open(&sb.live).unwrap().query_row("SELECT count(*) FROM orders", [], |r| r.get(0)).unwrap();
        assert_eq!(orders, BASE_ORDERS + 13 * ORDERS_PER_HOUR);
        // Refuses a folder that is not a demo.
        std::fs::write(dir.path().join("x"), "keep me").unwrap();
        assert!(build(dir.path(), Utc::now()).is_err());
        assert!(dir.path().join("x").exists());
        // Rebuilds its own folder, and refuses one where a file was added.
        build(&sb.dir, Utc::now()).unwrap();
        std::fs::write(sb.backups.join("notes.txt"), "mine").unwrap();
        assert!(build(&sb.dir, Utc::now()).is_err());
        assert!(sb.backups.join("notes.txt").exists() && sb.live.exists());
    }
}
