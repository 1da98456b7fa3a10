//! Copying table rows straight from one server to another (the copy phase of a point-in-time
//! restore: from the paused recovery instance into the scratch database on live's server).
//!
//! Each table's rows go as one `COPY … TO STDOUT` on the source, piped into `COPY … FROM STDIN`
//! on the target, in PostgreSQL's binary format when both servers are of the same major version
//! (no text to print and parse; binary COPY is defined per major version), else in text. A big
//! table (at least `SPLIT_BYTES` on disk) is cut into `workers` ranges of its blocks copied side
//! by side (TID range scans, PostgreSQL 14 and later: each part reads only its blocks), and tables are copied side by side over `workers`
//! pairs of connections, biggest first, so even one big table keeps more than one core of each
//! server busy. The schema (tables before, keys, indexes and constraints after) is the pg_dump
//! archive restore's job (`restore.rs`); this module moves rows only.
//!
//! Invariants: the source does not change while it is read (a paused recovery instance: parts
//! read on different connections see the same rows); only the columns a row stores are copied
//! (generated and dropped columns are not); a table's own rows only (`COPY t TO` never reads
//! inheritance children, as pg_dump's data entries do not); the copy succeeds or fails whole:
//! the first error stops every worker after its current part, and the caller drops the target
//! database.

use std::io::{Read, Write};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use anyhow::Result;

use super::conn::PgConn;
use super::load::{LoadedTable, rejected};
use crate::engine::quote_ident;
use crate::error::{bad_input, environment};
use crate::output::Output;

/// Tables at least this big on disk are copied in block ranges side by side.
const SPLIT_BYTES: i64 = 8 << 20;
/// Bytes read from the source before they are written to the target.
const CHUNK: usize = 256 << 10;

/// One `COPY` pair: a whole table or one block range of it.
struct Part {
    table: usize,
    /// `COPY (…) TO STDOUT` on the source.
    out: String,
    /// `COPY … FROM STDIN` on the target.
    into: String,
    bytes: i64,
}

/// Copies the rows of `tables` (schema, name; ordinary tables that exist on both servers, empty
/// on the target) from `from` to `to` over `workers` pairs of connections. Progress in bytes on
/// stderr. Errors: `BadInput` when the target rejects a row, `Environment` when a connection
/// fails.
pub fn copy_rows(
    from: &PgConn,
    to: &PgConn,
    tables: &[(String, String)],
    workers: usize,
    out: &Output,
) -> Result<Vec<LoadedTable>> {
    if tables.is_empty() {
        return Ok(Vec::new());
    }
    let workers = workers.max(1);
    let mut src = from.connect()?;
    let source_major = major(&mut src, from)?;
    let binary = source_major == major(&mut to.connect()?, to)?;
    let format = if binary { " (FORMAT binary)" } else { "" };
    let mut parts = Vec::new();
    for (i, (schema, name)) in tables.iter().enumerate() {
        parts.extend(plan_table(&mut src, from, i, schema, name, workers, source_major >= 14, format)?);
    }
    drop(src);
    parts.sort_by_key(|p| std::cmp::Reverse(p.bytes));
    let total: i64 = parts.iter().map(|p| p.bytes).sum();
    let bar = out.bytes_bar(total.max(0) as u64, "copying rows from the recovery instance");
    let queue = Mutex::new(parts.into_iter());
    let rows: Vec<AtomicU64> = tables.iter().map(|_| AtomicU64::new(0)).collect();
    let stop = AtomicBool::new(false);
    let results: Vec<Result<()>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                s.spawn(|| {
                    let r = work(from, to, &queue, &rows, &stop, &|n| bar.inc(n));
                    if r.is_err() {
                        stop.store(true, Ordering::Relaxed);
                    }
                    r
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))).collect()
    });
    bar.finish_and_clear();
    for r in results {
        r?;
    }
    Ok(tables
        .iter()
        .zip(rows)
        .map(|((schema, table), n)| LoadedTable { schema: schema.clone(), table: table.clone(), rows: n.into_inner() })
        .collect())
}

/// The server's major version (`server_version_num / 10000`).
fn major(client: &mut postgres::Client, conn: &PgConn) -> Result<i32> {
    let v: String = client
        .query_one("SHOW server_version_num", &[])
        .map_err(|e| conn.classify(e, "reading the server version of"))?
        .get(0);
    Ok(v.trim().parse::<i32>().unwrap_or(0) / 10000)
}

/// The parts one table is copied in: its stored columns, and ranges of its blocks when it is big
/// and the source reads block ranges (`tid_ranges`: a TID range scan, PostgreSQL 14 and later,
/// reads only the blocks asked for, where a key range would scan the whole table per part).
#[allow(clippy::too_many_arguments)]
fn plan_table(
    src: &mut postgres::Client,
    from: &PgConn,
    table: usize,
    schema: &str,
    name: &str,
    workers: usize,
    tid_ranges: bool,
    format: &str,
) -> Result<Vec<Part>> {
    let qualified = format!("{}.{}", quote_ident(schema), quote_ident(name));
    let facts = src
        .query_opt(
            "SELECT pg_relation_size(c.oid), current_setting('block_size')::int8, \
               (SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum) FROM pg_attribute a \
                 WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''), \
               c.relkind = 'p' \
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p')",
            &[&schema, &name],
        )
        .map_err(|e| from.classify(e, "reading the tables of"))?
        .ok_or_else(|| bad_input(format!("table {qualified} is not an ordinary table of the recovery instance")))?;
    let (bytes, block, columns): (i64, i64, Option<String>) = (facts.get(0), facts.get(1), facts.get(2));
    if facts.get::<_, bool>(3) {
        return Ok(Vec::new()); // a partitioned table holds no rows of its own: its partitions do
    }
    let Some(columns) = columns else {
        // A table without stored columns holds only row counts: COPY moves them all the same.
        let out = format!("COPY {qualified} TO STDOUT{format}");
        let into = format!("COPY {qualified} FROM STDIN{format}");
        return Ok(vec![Part { table, out, into, bytes }]);
    };
    let into = format!("COPY {qualified} ({columns}) FROM STDIN{format}");
    let blocks = bytes / block.max(1);
    if !(tid_ranges && workers > 1 && bytes >= SPLIT_BYTES && blocks > 1) {
        let out = format!("COPY {qualified} ({columns}) TO STDOUT{format}");
        return Ok(vec![Part { table, out, into, bytes }]);
    }
    // The last range is open: blocks added after the size was read still go.
    Ok(ranges(0, blocks - 1, workers)
        .into_iter()
        .map(|(a, b)| {
            let cond = match b {
                Some(b) => format!("ctid >= '({a},0)'::tid AND ctid < '({b},0)'::tid"),
                None => format!("ctid >= '({a},0)'::tid"),
            };
            Part {
                table,
                out: format!("COPY (SELECT {columns} FROM ONLY {qualified} WHERE {cond}) TO STDOUT{format}"),
                into: into.clone(),
                bytes: bytes / workers as i64,
            }
        })
        .collect())
}

/// `n` ranges `[a, b)` covering `lo..=hi` (the last one open: `[a, ∞)`), about equally wide;
/// fewer when there are fewer numbers than ranges.
fn ranges(lo: i64, hi: i64, n: usize) -> Vec<(i64, Option<i64>)> {
    let span = hi as i128 - lo as i128 + 1;
    let n = (n as i128).clamp(1, span.max(1));
    let cut = |k: i128| (lo as i128 + span * k / n) as i64;
    (0..n).map(|k| (cut(k), (k + 1 < n).then(|| cut(k + 1)))).collect()
}

/// One worker: a connection to each server, parts taken from `queue` until it is empty or
/// another worker failed.
fn work(
    from: &PgConn,
    to: &PgConn,
    queue: &Mutex<std::vec::IntoIter<Part>>,
    rows: &[AtomicU64],
    stop: &AtomicBool,
    progress: &dyn Fn(u64),
) -> Result<()> {
    let mut src = from.connect()?;
    let mut dst = to.connect()?;
    loop {
        if stop.load(Ordering::Relaxed) {
            return Ok(());
        }
        let Some(part) = queue.lock().unwrap_or_else(std::sync::PoisonError::into_inner).next() else {
            return Ok(());
        };
        let n = copy_part(&mut src, &mut dst, from, to, &part, stop, progress)?;
        rows[part.table].fetch_add(n, Ordering::Relaxed);
    }
}

/// Pipes one part from the source into the target; returns the rows the target took.
fn copy_part(
    src: &mut postgres::Client,
    dst: &mut postgres::Client,
    from: &PgConn,
    to: &PgConn,
    part: &Part,
    stop: &AtomicBool,
    progress: &dyn Fn(u64),
) -> Result<u64> {
    let mut reader = src.copy_out(part.out.as_str()).map_err(|e| from.classify(e, "copying rows out of"))?;
    let mut writer = dst.copy_in(part.into.as_str()).map_err(|e| rejected(to, e, &part.into))?;
    let mut buf = vec![0u8; CHUNK];
    loop {
        if stop.load(Ordering::Relaxed) {
            // Dropping the unfinished writer abandons the COPY: nothing of it is kept.
            return Err(environment("the copy stopped: another part failed").into());
        }
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) => return Err(environment(format!("reading rows from {}: {e}", from.describe())).into()),
        };
        if let Err(io) = writer.write_all(&buf[..n]) {
            return Err(match writer.finish() {
                Err(e) => rejected(to, e, &part.into),
                Ok(_) => environment(format!("sending rows for `{}`: {io}", part.into)).into(),
            });
        }
        progress(n as u64);
    }
    writer.finish().map_err(|e| rejected(to, e, &part.into))
}

#[cfg(test)]
mod tests {
    use super::ranges;

    #[test]
    fn ranges_cover_every_number_once() {
        assert_eq!(ranges(1, 100, 2), vec![(1, Some(51)), (51, None)]);
        assert_eq!(ranges(5, 5, 4), vec![(5, None)]);
        assert_eq!(ranges(1, 3, 8), vec![(1, Some(2)), (2, Some(3)), (3, None)]);
        let r = ranges(i64::MIN, i64::MAX, 3);
        assert_eq!((r[0].0, r.len(), r[2].1), (i64::MIN, 3, None));
        assert!(r.windows(2).all(|w| w[0].1 == Some(w[1].0) && w[0].0 < w[1].0));
    }
}
