//! Merge's spool: the selected changes of a plan, on disk, in a small binary form, read back per
//! table and part in the write order (see `Spool`).

use std::io::{BufReader, Read, Write};

use anyhow::{Context, Result};

use super::order::{Part, Step};
use crate::core::diff::{Change, ChangeKind, TableSpec};
use crate::core::spool::{Segment, TableSpool};
use crate::value::{Row, Value};

/// The selected changes of a plan, on disk (`spool::TableSpool`: unnamed temporary files, gone
/// when closed, even after SIGKILL), in a small binary form: one spool per part (removals,
/// updates, re-inserts), each table's records in one segment, so `replay` reads them back in the
/// write order (`order::steps`), whatever order the diff found them in.
#[derive(Debug)]
pub(super) struct Spool {
    parts: [TableSpool; 3],
}

impl Spool {
    pub(super) fn new() -> Result<Spool> {
        Ok(Spool { parts: [TableSpool::new()?, TableSpool::new()?, TableSpool::new()?] })
    }

    pub(super) fn write(&mut self, table: usize, spec: &TableSpec, c: &Change) -> Result<()> {
        let mut w = Vec::with_capacity(256);
        let (tag, cols): (u8, Vec<u16>) = match &c.kind {
            ChangeKind::Updated { columns } => {
                (0, columns.iter().map(|n| spec.columns.iter().position(|x| x == n).expect("column") as u16).collect())
            }
            ChangeKind::Deleted => (1, Vec::new()),
            ChangeKind::Inserted => (2, Vec::new()),
        };
        w.push(tag);
        w.extend_from_slice(&(cols.len() as u16).to_le_bytes());
        for i in cols {
            w.extend_from_slice(&i.to_le_bytes());
        }
        w.extend_from_slice(&c.scratch_copies.to_le_bytes());
        w.extend_from_slice(&c.live_copies.to_le_bytes());
        write_opt_row(&mut w, c.scratch_row.as_deref())?;
        write_opt_row(&mut w, c.live_row.as_deref())?;
        self.parts[Part::of(&c.kind).index()].write(table, &w)
    }

    /// The changes of one step (a part of one table), in the order the diff found them.
    pub(super) fn reader(&mut self, step: Step) -> Result<SpoolReader> {
        Ok(SpoolReader { r: self.parts[step.part.index()].segment(step.table)? })
    }
}

pub(super) struct SpoolReader {
    r: BufReader<Segment>,
}

impl SpoolReader {
    pub(super) fn next(&mut self, spec: &TableSpec) -> Result<Option<Change>> {
        let tag = match read_u8(&mut self.r) {
            Ok(t) => t,
            Err(e)
                if e.downcast_ref::<std::io::Error>()
                    .is_some_and(|e| e.kind() == std::io::ErrorKind::UnexpectedEof) =>
            {
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        let ncols = read_u16(&mut self.r)?;
        let mut cols = Vec::with_capacity(ncols as usize);
        for _ in 0..ncols {
            cols.push(spec.columns[read_u16(&mut self.r)? as usize].clone());
        }
        let scratch_copies = read_u64(&mut self.r)?;
        let live_copies = read_u64(&mut self.r)?;
        let scratch_row = read_opt_row(&mut self.r)?;
        let live_row = read_opt_row(&mut self.r)?;
        let kind = match tag {
            0 => ChangeKind::Updated { columns: cols },
            1 => ChangeKind::Deleted,
            _ => ChangeKind::Inserted,
        };
        let row = scratch_row.as_ref().or(live_row.as_ref()).context("spool record without a row")?;
        let key = row[..spec.order_len()].to_vec();
        Ok(Some(Change { kind, key, scratch_row, live_row, scratch_copies, live_copies, selected: true }))
    }
}

fn write_opt_row(w: &mut impl Write, row: Option<&[Value]>) -> Result<()> {
    let Some(row) = row else {
        w.write_all(&[0])?;
        return Ok(());
    };
    w.write_all(&[1])?;
    w.write_all(&(row.len() as u32).to_le_bytes())?;
    for v in row {
        match v {
            Value::Null => w.write_all(&[0])?,
            Value::Integer(i) => {
                w.write_all(&[1])?;
                w.write_all(&i.to_le_bytes())?;
            }
            Value::Real(f) => {
                w.write_all(&[2])?;
                w.write_all(&f.to_bits().to_le_bytes())?;
            }
            Value::Text(s) => {
                w.write_all(&[3])?;
                w.write_all(&(s.len() as u64).to_le_bytes())?;
                w.write_all(s)?;
            }
            Value::Blob(b) => {
                w.write_all(&[4])?;
                w.write_all(&(b.len() as u64).to_le_bytes())?;
                w.write_all(b)?;
            }
        }
    }
    Ok(())
}

fn read_opt_row(r: &mut impl Read) -> Result<Option<Row>> {
    if read_u8(r)? == 0 {
        return Ok(None);
    }
    let mut b4 = [0u8; 4];
    r.read_exact(&mut b4)?;
    let n = u32::from_le_bytes(b4) as usize;
    let mut row = Vec::with_capacity(n);
    for _ in 0..n {
        let v = match read_u8(r)? {
            0 => Value::Null,
            1 => Value::Integer(read_u64(r)? as i64),
            2 => Value::Real(f64::from_bits(read_u64(r)?)),
            3 => Value::Text(read_bytes(r)?),
            _ => Value::Blob(read_bytes(r)?),
        };
        row.push(v);
    }
    Ok(Some(row))
}

fn read_u8(r: &mut impl Read) -> Result<u8> {
    let mut b = [0u8; 1];
    r.read_exact(&mut b)?;
    Ok(b[0])
}

fn read_u16(r: &mut impl Read) -> Result<u16> {
    let mut b = [0u8; 2];
    r.read_exact(&mut b)?;
    Ok(u16::from_le_bytes(b))
}

fn read_u64(r: &mut impl Read) -> Result<u64> {
    let mut b = [0u8; 8];
    r.read_exact(&mut b)?;
    Ok(u64::from_le_bytes(b))
}

fn read_bytes(r: &mut impl Read) -> Result<Vec<u8>> {
    let n = read_u64(r)? as usize;
    let mut b = vec![0u8; n];
    r.read_exact(&mut b)?;
    Ok(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::diff::KeyMode;

    #[test]
    fn spool_round_trips_changes_exactly() {
        let spec = TableSpec {
            table: "t".into(),
            mode: KeyMode::PrimaryKey,
            columns: vec!["id".into(), "v".into()],
            key_len: 1,
            compared: vec![1],
            drift: Default::default(),
            rowid: Some("rowid".into()),
            live_columns: Vec::new(),
            partitioned: false,
        };
        let c = Change {
            kind: ChangeKind::Updated { columns: vec!["v".into()] },
            key: vec![Value::Integer(-3)],
            scratch_row: Some(vec![Value::Integer(-3), Value::Real(-0.0)]),
            live_row: Some(vec![Value::Integer(-3), Value::Blob(vec![0, 1])]),
            scratch_copies: 1,
            live_copies: 1,
            selected: true,
        };
        let d = Change {
            kind: ChangeKind::Deleted,
            live_row: None,
            scratch_row: Some(vec![Value::Integer(9), Value::Text(vec![0x41, 0xff, 0x42])]),
            key: vec![Value::Integer(9)],
            ..c.clone()
        };
        let mut sp = Spool::new().unwrap();
        sp.write(0, &spec, &c).unwrap();
        sp.write(0, &spec, &d).unwrap();
        let mut updates = sp.reader(Step { table: 0, part: Part::Updates }).unwrap();
        assert_eq!(updates.next(&spec).unwrap().unwrap(), c);
        assert!(updates.next(&spec).unwrap().is_none());
        let mut inserts = sp.reader(Step { table: 0, part: Part::Inserts }).unwrap();
        assert_eq!(inserts.next(&spec).unwrap().unwrap(), d);
        assert!(inserts.next(&spec).unwrap().is_none());
        assert!(sp.reader(Step { table: 0, part: Part::Removals }).unwrap().next(&spec).unwrap().is_none());
    }
}
