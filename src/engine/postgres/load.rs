//! Loading table data from a pg_dump archive over several connections at once.
//!
//! pg_restore loads one table's data with one COPY on one connection, so a restore of one big
//! table keeps one server core busy whatever `--jobs` says (its `-j` runs different tables side
//! by side, never one table). Here pg_restore still reads the archive, in every format and
//! compression it knows, and prints the data as its SQL script would (`-f -`); lastgood cuts each
//! COPY block at row boundaries (COPY text holds one row per line) into chunks of 256 KiB and
//! hands them to N connections, each running the block's own COPY statement.
//!
//! Invariants:
//! - every connection first runs the settings pg_restore printed before the block (encoding,
//!   `standard_conforming_strings`, `search_path`, `xmloption`, …), so values parse exactly as
//!   they would under pg_restore;
//! - text outside COPY blocks is only ever those settings and comments; anything else is refused,
//!   never run once per connection;
//! - the load succeeds or fails as a whole: the first error from pg_restore, the output or any
//!   connection stops every other part, and the caller drops the database it was loading;
//! - rows reach the table in chunk order per connection, so the heap order differs from the
//!   archive's; nothing in lastgood depends on heap order (diffs read in key order).

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};

use anyhow::{Context, Result, anyhow};

use super::archive::sql_ident;
use super::conn::PgConn;
use super::tools;
use crate::error::{bad_input, environment};

/// Bytes of rows sent to one connection at a time: large enough that per-message costs vanish,
/// small enough that N connections × `QUEUE` chunks stay a few MB.
const CHUNK: usize = 256 << 10;
/// Chunks queued per connection: enough to ride out a slow moment, little memory.
const QUEUE: usize = 4;

/// Rows loaded into one table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadedTable {
    pub schema: String,
    pub table: String,
    pub rows: u64,
}

/// Loads the data of the TOC entries `ids` (TABLE DATA entries) of the archive at `archive` into
/// the database `target` over `workers` connections. `what` names the backup in messages.
/// Errors: `BadInput` when pg_restore cannot read the archive or the server rejects a row;
/// `Environment` when a connection fails.
pub fn load(archive: &Path, ids: &[i32], target: &PgConn, workers: usize, what: &str) -> Result<Vec<LoadedTable>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let list = tools::list_file(ids)?;
    let mut child = tools::command("pg_restore", None)?
        .args(["--no-owner", "--no-privileges", "-f", "-", "-L"])
        .arg(list.path())
        .arg(archive)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| environment(format!("cannot run pg_restore: {e}")))?;
    let stdout = child.stdout.take().expect("piped stdout");
    let mut stderr = child.stderr.take().expect("piped stderr");
    let workers = workers.max(1);

    let (worker_results, dispatched, stderr_text) = std::thread::scope(|s| {
        let errors = s.spawn(move || {
            let mut text = Vec::new();
            let _ = stderr.read_to_end(&mut text);
            text
        });
        let mut senders = Vec::with_capacity(workers);
        let mut handles = Vec::with_capacity(workers);
        for _ in 0..workers {
            let (tx, rx) = sync_channel::<Msg>(QUEUE);
            senders.push(tx);
            handles.push(s.spawn(move || work(target, rx)));
        }
        let dispatched = dispatch(BufReader::with_capacity(CHUNK, stdout), &senders);
        // Closing the channels ends the workers: done, or aborted mid-block after an error.
        drop(senders);
        let results: Vec<Result<Vec<u64>, WorkError>> =
            handles.into_iter().map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))).collect();
        // pg_restore may be blocked writing what nobody reads any more.
        let stopped_early =
            matches!(dispatched, Err(Dispatch::Failed(_) | Dispatch::WorkerGone)) || results.iter().any(|r| r.is_err());
        if stopped_early {
            let _ = child.kill();
        }
        let stderr_text = errors.join().unwrap_or_default();
        (results, dispatched, stderr_text)
    });
    let status = child.wait().context("waiting for pg_restore")?;

    // The first real failure: a connection's, then pg_restore's own, then the output's.
    let mut counts = Vec::with_capacity(workers);
    for r in worker_results {
        match r {
            Ok(c) => counts.push(c),
            Err(WorkError::Failed(e)) => {
                return Err(e.context(format!("loading the data of backup {what} into `{}`", target.describe())));
            }
            Err(WorkError::Aborted) => {}
        }
    }
    // Output cut short is pg_restore failing to read the archive: its own words say why.
    if !status.success() && !matches!(dispatched, Err(Dispatch::Failed(_))) {
        let text = target.scrub(&String::from_utf8_lossy(&stderr_text));
        let tail: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        return Err(bad_input(format!(
            "pg_restore failed reading the data of backup {what}: {}",
            tail[tail.len().saturating_sub(3)..].join("; ")
        ))
        .into());
    }
    let blocks = match dispatched {
        Ok(blocks) => blocks,
        Err(Dispatch::Failed(e) | Dispatch::Truncated(e)) => {
            return Err(e.context(format!("loading the data of backup {what}")));
        }
        Err(Dispatch::WorkerGone) => {
            return Err(environment(format!("loading the data of backup {what}: a connection stopped")).into());
        }
    };
    Ok(blocks
        .into_iter()
        .enumerate()
        .map(|(i, (schema, table))| LoadedTable {
            schema,
            table,
            rows: counts.iter().map(|c| c.get(i).copied().unwrap_or(0)).sum(),
        })
        .collect())
}

/// What the reader sends each connection.
enum Msg {
    /// A COPY block starts: run `settings` (may be empty), then `copy` once rows arrive.
    Begin { settings: Arc<str>, copy: Arc<str> },
    /// Whole rows of the current block.
    Rows(Vec<u8>),
    /// The block is complete.
    End,
}

enum WorkError {
    /// The reader stopped early; the reason is reported by whoever stopped it.
    Aborted,
    Failed(anyhow::Error),
}

enum Dispatch {
    /// A connection closed its queue: it failed, and says why.
    WorkerGone,
    /// pg_restore's output ended inside a COPY block.
    Truncated(anyhow::Error),
    Failed(anyhow::Error),
}

/// One connection: per block, the settings, then one COPY fed with the chunks it is given.
/// Returns the rows it loaded per block.
fn work(target: &PgConn, rx: Receiver<Msg>) -> Result<Vec<u64>, WorkError> {
    let mut client = target.connect().map_err(WorkError::Failed)?;
    let mut counts = Vec::new();
    loop {
        let (settings, copy) = match rx.recv() {
            Ok(Msg::Begin { settings, copy }) => (settings, copy),
            Ok(_) => return Err(WorkError::Failed(anyhow!("rows arrived outside a COPY block"))),
            Err(_) => return Ok(counts),
        };
        if !settings.is_empty() {
            client.batch_execute(&settings).map_err(|e| WorkError::Failed(rejected(target, e, &copy)))?;
        }
        let unexpected = |what: &str| WorkError::Failed(anyhow!("{what} arrived inside a COPY block"));
        let rows = match rx.recv() {
            Ok(Msg::End) => 0,
            Ok(Msg::Rows(mut buf)) => {
                let mut w = client.copy_in(&*copy).map_err(|e| WorkError::Failed(rejected(target, e, &copy)))?;
                loop {
                    if let Err(io) = w.write_all(&buf) {
                        // The server's own reason, when it gave one, comes with finishing.
                        return Err(WorkError::Failed(match w.finish() {
                            Err(e) => rejected(target, e, &copy),
                            Ok(_) => environment(format!("sending rows for `{copy}`: {io}")).into(),
                        }));
                    }
                    match rx.recv() {
                        Ok(Msg::Rows(next)) => buf = next,
                        Ok(Msg::End) => break,
                        Ok(Msg::Begin { .. }) => return Err(unexpected("a COPY block")),
                        // Dropping an unfinished writer abandons the COPY (CopyFail): nothing is kept.
                        Err(_) => return Err(WorkError::Aborted),
                    }
                }
                w.finish().map_err(|e| WorkError::Failed(rejected(target, e, &copy)))?
            }
            Ok(Msg::Begin { .. }) => return Err(unexpected("a COPY block")),
            Err(_) => return Err(WorkError::Aborted),
        };
        counts.push(rows);
    }
}

/// A server error while loading: rejected rows are bad input, a lost connection is the
/// environment's.
pub(super) fn rejected(target: &PgConn, e: postgres::Error, copy: &str) -> anyhow::Error {
    let statement: String = copy.chars().take(80).collect();
    match e.code() {
        Some(_) => bad_input(format!("the server rejected `{statement}`: {}", target.scrub(&driver_text(&e)))).into(),
        None => target.classify(e, "loading rows into"),
    }
}

/// The driver's message, with the server's context for a rejected row (`COPY t, line 5, …`).
fn driver_text(e: &postgres::Error) -> String {
    let mut text = super::conn::driver_message(e);
    if let Some(w) = e.as_db_error().and_then(|db| db.where_()) {
        text.push_str(&format!(" ({w})"));
    }
    text
}

/// Reads pg_restore's script and deals its COPY blocks out to `senders`. Returns each block's
/// table, in order.
fn dispatch(mut r: impl BufRead, senders: &[SyncSender<Msg>]) -> Result<Vec<(String, String)>, Dispatch> {
    let failed = |e: anyhow::Error| Dispatch::Failed(e);
    let mut blocks = Vec::new();
    let mut settings = String::new();
    let mut line = Vec::new();
    let mut next = 0usize;
    loop {
        line.clear();
        let n = r
            .read_until(b'\n', &mut line)
            .map_err(|e| failed(environment(format!("reading pg_restore's output: {e}")).into()))?;
        if n == 0 {
            return Ok(blocks);
        }
        let text = String::from_utf8_lossy(&line);
        let trimmed = text.trim();
        if trimmed.is_empty() || trimmed.starts_with("--") {
            continue;
        }
        if let Some(meta) = trimmed.strip_prefix('\\') {
            // pg_dump 17.6, 16.10, 15.14 and later fence their scripts with \restrict/\unrestrict.
            if meta.starts_with("restrict ") || meta.starts_with("unrestrict ") {
                continue;
            }
            return Err(failed(
                bad_input(format!("unexpected psql command in pg_restore's output: `{trimmed}`")).into(),
            ));
        }
        if trimmed.starts_with("COPY ") && trimmed.ends_with(" FROM stdin;") {
            let table = copy_target(trimmed).unwrap_or_default();
            let copy: Arc<str> = Arc::from(trimmed.trim_end_matches(';'));
            let settings_now: Arc<str> = Arc::from(std::mem::take(&mut settings));
            for tx in senders {
                tx.send(Msg::Begin { settings: settings_now.clone(), copy: copy.clone() })
                    .map_err(|_| Dispatch::WorkerGone)?;
            }
            copy_block(&mut r, senders, &mut next, &copy)?;
            for tx in senders {
                tx.send(Msg::End).map_err(|_| Dispatch::WorkerGone)?;
            }
            blocks.push(table);
            continue;
        }
        if trimmed.starts_with("SET ") || trimmed.starts_with("SELECT pg_catalog.set_config(") {
            settings.push_str(trimmed);
            settings.push('\n');
            continue;
        }
        let shown: String = trimmed.chars().take(60).collect();
        return Err(failed(
            bad_input(format!("unexpected statement in pg_restore's data output: `{shown}`"))
                .hint("restore with --jobs 1, which leaves the whole restore to pg_restore")
                .into(),
        ));
    }
}

/// Deals the rows of one COPY block, up to its `\.` line, out in chunks.
fn copy_block(r: &mut impl BufRead, senders: &[SyncSender<Msg>], next: &mut usize, copy: &str) -> Result<(), Dispatch> {
    let mut chunk = Vec::with_capacity(CHUNK + (64 << 10));
    loop {
        let start = chunk.len();
        let n = r
            .read_until(b'\n', &mut chunk)
            .map_err(|e| Dispatch::Failed(environment(format!("reading pg_restore's output: {e}")).into()))?;
        if n == 0 {
            return Err(Dispatch::Truncated(
                bad_input(format!("pg_restore's output ended inside the rows of `{copy}`")).into(),
            ));
        }
        let end = matches!(&chunk[start..], b"\\.\n" | b"\\.\r\n" | b"\\.");
        if end {
            chunk.truncate(start);
        }
        if (end && !chunk.is_empty()) || chunk.len() >= CHUNK {
            send_rows(senders, next, std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK + (64 << 10))))?;
        }
        if end {
            return Ok(());
        }
    }
}

/// Gives `rows` to the first connection with room in its queue, starting after the last one
/// served; waits for the next in turn when every queue is full.
fn send_rows(senders: &[SyncSender<Msg>], next: &mut usize, rows: Vec<u8>) -> Result<(), Dispatch> {
    let mut msg = Msg::Rows(rows);
    for k in 0..senders.len() {
        let i = (*next + k) % senders.len();
        match senders[i].try_send(msg) {
            Ok(()) => {
                *next = (i + 1) % senders.len();
                return Ok(());
            }
            Err(TrySendError::Full(m)) => msg = m,
            Err(TrySendError::Disconnected(_)) => return Err(Dispatch::WorkerGone),
        }
    }
    let i = *next;
    *next = (i + 1) % senders.len();
    senders[i].send(msg).map_err(|_| Dispatch::WorkerGone)
}

/// `COPY public."Order Items" (…) FROM stdin;` → (`public`, `Order Items`).
fn copy_target(line: &str) -> Option<(String, String)> {
    let rest = line.strip_prefix("COPY ")?;
    let (schema, rest) = sql_ident(rest)?;
    let rest = rest.strip_prefix('.')?;
    let (table, rest) = sql_ident(rest)?;
    rest.starts_with(' ').then_some((schema, table))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_targets_are_read_as_pg_dump_writes_them() {
        assert_eq!(
            copy_target("COPY public.pgbench_accounts (aid, bid) FROM stdin;"),
            Some(("public".into(), "pgbench_accounts".into()))
        );
        assert_eq!(
            copy_target(r#"COPY "My Schema"."Order ""Items""" ("select") FROM stdin;"#),
            Some(("My Schema".into(), r#"Order "Items""#.into()))
        );
        assert_eq!(copy_target("COPY nodot (a) FROM stdin;"), None);
    }

    /// Runs `dispatch` over `script` with `n` queues drained by threads; returns the blocks and
    /// what each queue received, as text.
    type Dealt = (Result<Vec<(String, String)>, String>, Vec<String>);

    fn deal(script: &str, n: usize) -> Dealt {
        let (txs, rxs): (Vec<_>, Vec<_>) = (0..n).map(|_| sync_channel::<Msg>(QUEUE)).unzip();
        let drains: Vec<_> = rxs
            .into_iter()
            .map(|rx| {
                std::thread::spawn(move || {
                    let mut seen = String::new();
                    for m in rx {
                        match m {
                            Msg::Begin { settings, copy } => seen.push_str(&format!("[{settings}|{copy}]")),
                            Msg::Rows(b) => seen.push_str(&String::from_utf8_lossy(&b)),
                            Msg::End => seen.push_str("[end]"),
                        }
                    }
                    seen
                })
            })
            .collect();
        let r = dispatch(std::io::Cursor::new(script.as_bytes().to_vec()), &txs).map_err(|e| match e {
            Dispatch::Failed(e) | Dispatch::Truncated(e) => format!("{e:#}"),
            Dispatch::WorkerGone => "gone".into(),
        });
        drop(txs);
        (r, drains.into_iter().map(|d| d.join().unwrap()).collect())
    }

    #[test]
    fn blocks_are_dealt_whole_rows_with_their_settings_and_end_markers() {
        let script = "--\n\\restrict abc\nSET client_encoding = 'UTF8';\nSELECT pg_catalog.set_config('search_path', '', false);\n\n\
                      COPY public.t (a, b) FROM stdin;\n1\tx\\\\.\n2\ty\n\\.\n\n-- next\nCOPY public.u (a) FROM stdin;\n\\.\n\\unrestrict abc\n";
        let (blocks, seen) = deal(script, 1);
        assert_eq!(blocks.unwrap(), vec![("public".into(), "t".into()), ("public".into(), "u".into())]);
        // `\.` inside a value is escaped (`\\.`), so only the bare `\.` line ends a block.
        assert_eq!(
            seen[0],
            "[SET client_encoding = 'UTF8';\nSELECT pg_catalog.set_config('search_path', '', false);\n|COPY public.t (a, b) FROM stdin]\
             1\tx\\\\.\n2\ty\n[end][|COPY public.u (a) FROM stdin][end]"
        );
    }

    #[test]
    fn big_blocks_are_spread_over_every_connection_in_whole_rows() {
        let rows: String = (0..40_000).map(|i| format!("{i}\t{}\n", "v".repeat(60))).collect();
        let script = format!("COPY public.t (a, b) FROM stdin;\n{rows}\\.\n");
        let (blocks, seen) = deal(&script, 3);
        assert_eq!(blocks.unwrap().len(), 1);
        let mut all: Vec<&str> = Vec::new();
        for s in &seen {
            let body = s.strip_prefix("[|COPY public.t (a, b) FROM stdin]").unwrap().strip_suffix("[end]").unwrap();
            assert!(!body.is_empty(), "every connection gets rows: {}", s.len());
            assert!(body.ends_with('\n'));
            all.extend(body.lines());
        }
        all.sort_by_key(|l| l.split('\t').next().unwrap().parse::<u32>().unwrap());
        let expected: Vec<&str> = rows.lines().collect();
        assert_eq!(all, expected);
    }

    #[test]
    fn a_cut_short_block_and_unknown_statements_are_refused() {
        let (r, _) = deal("COPY public.t (a) FROM stdin;\n1\n2\n", 2);
        assert!(r.unwrap_err().contains("ended inside the rows of `COPY public.t (a) FROM stdin`"));
        let (r, _) = deal("SET x = 1;\nINSERT INTO t VALUES (1);\n", 2);
        assert!(
            r.unwrap_err().contains("unexpected statement in pg_restore's data output: `INSERT INTO t VALUES (1);`")
        );
        let (r, _) = deal("\\connect other\n", 2);
        assert!(r.unwrap_err().contains("unexpected psql command"));
    }
}
