//! External sort: rows in `Value` order in bounded memory, for the scans an engine cannot order
//! itself (SQLite refuses an ORDER BY of more than 2000 terms, and a table without a key is
//! ordered by all its columns plus a type tie-break for some: a wide keyless table exceeds that).
//!
//! Rows are gathered into a run of at most `RUN_BYTES` (estimated), which is sorted in memory and
//! written to an unnamed temporary file (the OS deletes it when it is closed, even if lastgood is
//! killed); the runs are then merged through a heap holding one row per run. Memory is one run
//! while gathering and one row per run (plus a read buffer) while merging, whatever the table's
//! size. The order is exactly `Value::cmp` over the key columns, so the result satisfies the scan
//! contract of `engine::Database::scan`; rows that sort equal come out in no particular order.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, Write};

use anyhow::Result;

use crate::error::environment;
use crate::value::{Row, Value};

/// Estimated bytes of rows held in memory before a run is written out.
const RUN_BYTES: usize = 64 << 20;

/// A sort in progress: push rows, then `finish` hands them over in order.
pub struct ExternalSort {
    /// Positions, within each row, of the columns rows are ordered by (in order).
    key: Vec<usize>,
    width: usize,
    run: Vec<Row>,
    run_bytes: usize,
    limit: usize,
    runs: Vec<File>,
}

impl ExternalSort {
    /// A sort of rows of `width` values by the values at `key`.
    pub fn new(width: usize, key: Vec<usize>) -> ExternalSort {
        Self::with_run_bytes(width, key, RUN_BYTES)
    }

    /// As `new`, writing a run every `limit` bytes (small in tests, to exercise the merge).
    pub fn with_run_bytes(width: usize, key: Vec<usize>, limit: usize) -> ExternalSort {
        ExternalSort { key, width, run: Vec::new(), run_bytes: 0, limit: limit.max(1), runs: Vec::new() }
    }

    pub fn push(&mut self, row: Row) -> Result<()> {
        debug_assert_eq!(row.len(), self.width);
        self.run_bytes += row.iter().map(estimated_size).sum::<usize>() + 24;
        self.run.push(row);
        if self.run_bytes >= self.limit {
            self.spill()?;
        }
        Ok(())
    }

    /// Hands every row to `sink` in order.
    pub fn finish(mut self, sink: &mut dyn FnMut(Row) -> Result<()>) -> Result<()> {
        let key = self.key.clone();
        if self.runs.is_empty() {
            // Everything fitted in memory: no file at all.
            self.run.sort_unstable_by(|a, b| cmp_at(&key, a, b));
            return self.run.into_iter().try_for_each(sink);
        }
        self.spill()?;
        let width = self.width;
        let mut readers: Vec<BufReader<File>> = Vec::with_capacity(self.runs.len());
        for mut f in self.runs {
            f.rewind().map_err(io_error)?;
            readers.push(BufReader::with_capacity(64 << 10, f));
        }
        let mut heap = BinaryHeap::with_capacity(readers.len());
        for (i, r) in readers.iter_mut().enumerate() {
            if let Some(row) = read_row(r, width)? {
                heap.push(Reverse(Head { row, run: i, key: &key }));
            }
        }
        while let Some(Reverse(Head { row, run, .. })) = heap.pop() {
            if let Some(next) = read_row(&mut readers[run], width)? {
                heap.push(Reverse(Head { row: next, run, key: &key }));
            }
            sink(row)?;
        }
        Ok(())
    }

    /// Sorts the run in memory and writes it to a new temporary file.
    fn spill(&mut self) -> Result<()> {
        let key = &self.key;
        self.run.sort_unstable_by(|a, b| cmp_at(key, a, b));
        let file = tempfile::tempfile()
            .map_err(|e| environment(format!("cannot create a temporary file to sort rows: {e}")))?;
        let mut w = BufWriter::with_capacity(1 << 20, file);
        for row in self.run.drain(..) {
            for v in &row {
                write_value(&mut w, v).map_err(io_error)?;
            }
        }
        let file = w.into_inner().map_err(|e| io_error(e.into_error()))?;
        self.runs.push(file);
        self.run_bytes = 0;
        Ok(())
    }
}

/// The head row of one run, ordered by the key (for the merge heap).
struct Head<'k> {
    row: Row,
    run: usize,
    key: &'k [usize],
}

impl PartialEq for Head<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Head<'_> {}
impl PartialOrd for Head<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Head<'_> {
    fn cmp(&self, other: &Self) -> Ordering {
        cmp_at(self.key, &self.row, &other.row)
    }
}

fn cmp_at(key: &[usize], a: &Row, b: &Row) -> Ordering {
    key.iter().map(|&i| a[i].cmp(&b[i])).find(|o| o.is_ne()).unwrap_or(Ordering::Equal)
}

fn estimated_size(v: &Value) -> usize {
    32 + match v {
        Value::Text(b) | Value::Blob(b) => b.len(),
        _ => 0,
    }
}

fn io_error(e: std::io::Error) -> anyhow::Error {
    environment(format!("writing or reading a temporary file to sort rows: {e}")).into()
}

/// A value on disk: a tag byte (0 NULL, 1 INTEGER, 2 REAL, 3 TEXT, 4 BLOB), then 8 bytes
/// little-endian for INTEGER and REAL's bits, or a u32 length and the bytes for TEXT and BLOB.
fn write_value(w: &mut impl Write, v: &Value) -> std::io::Result<()> {
    match v {
        Value::Null => w.write_all(&[0]),
        Value::Integer(i) => {
            w.write_all(&[1])?;
            w.write_all(&i.to_le_bytes())
        }
        Value::Real(f) => {
            w.write_all(&[2])?;
            w.write_all(&f.to_bits().to_le_bytes())
        }
        Value::Text(b) | Value::Blob(b) => {
            w.write_all(&[if matches!(v, Value::Text(_)) { 3 } else { 4 }])?;
            w.write_all(&(b.len() as u32).to_le_bytes())?;
            w.write_all(b)
        }
    }
}

/// The next row of a run, `None` at its end.
fn read_row(r: &mut impl Read, width: usize) -> Result<Option<Row>> {
    let mut row = Vec::with_capacity(width);
    for c in 0..width {
        let mut tag = [0u8; 1];
        match r.read_exact(&mut tag) {
            Err(e) if c == 0 && e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
            other => other.map_err(io_error)?,
        }
        let mut eight = [0u8; 8];
        row.push(match tag[0] {
            0 => Value::Null,
            1 | 2 => {
                r.read_exact(&mut eight).map_err(io_error)?;
                let n = u64::from_le_bytes(eight);
                if tag[0] == 1 { Value::Integer(n as i64) } else { Value::Real(f64::from_bits(n)) }
            }
            t => {
                let mut len = [0u8; 4];
                r.read_exact(&mut len).map_err(io_error)?;
                let mut bytes = vec![0u8; u32::from_le_bytes(len) as usize];
                r.read_exact(&mut bytes).map_err(io_error)?;
                if t == 3 { Value::Text(bytes) } else { Value::Blob(bytes) }
            }
        });
    }
    Ok(Some(row))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sorted(rows: Vec<Row>, key: Vec<usize>, run_bytes: usize) -> Vec<Row> {
        let width = rows[0].len();
        let mut s = ExternalSort::with_run_bytes(width, key, run_bytes);
        for r in rows {
            s.push(r).unwrap();
        }
        let mut out = Vec::new();
        s.finish(&mut |r| {
            out.push(r);
            Ok(())
        })
        .unwrap();
        out
    }

    #[test]
    fn merged_runs_come_out_in_value_order_with_every_row_kept() {
        let mut state = 7u64;
        let mut next = || {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            state >> 33
        };
        let rows: Vec<Row> = (0..2000)
            .map(|_| {
                let a = match next() % 6 {
                    0 => Value::Null,
                    1 => Value::Integer((next() % 5) as i64),
                    2 => Value::Real((next() % 5) as f64),
                    3 => Value::Real(-0.0),
                    4 => Value::Text(vec![b'a' + (next() % 3) as u8, 0xff]),
                    _ => Value::Blob(vec![(next() % 3) as u8]),
                };
                vec![a, Value::Integer((next() % 3) as i64)]
            })
            .collect();
        let mut expected = rows.clone();
        expected.sort_by(|a, b| cmp_at(&[0, 1], a, b));
        // Runs of a few rows each: dozens of runs to merge.
        let got = sorted(rows.clone(), vec![0, 1], 3000);
        assert_eq!(got.len(), rows.len());
        for w in got.windows(2) {
            assert_ne!(cmp_at(&[0, 1], &w[0], &w[1]), Ordering::Greater, "{w:?}");
        }
        let as_multiset = |mut v: Vec<Row>| {
            v.sort_by_key(|r| format!("{r:?}"));
            v
        };
        assert_eq!(as_multiset(got), as_multiset(expected));
        assert_eq!(sorted(rows.clone(), vec![0, 1], usize::MAX).len(), rows.len());
    }
}
