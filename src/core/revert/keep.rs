//! The incident's rows of base and damaged, kept while the plan reads them, so that the re-check
//! after the commit reads live alone against them instead of all three sides again.
//!
//! Rows equal in base and damaged were not the incident's and never make a write, so a
//! three-way comparison of live against only the rows where base and damaged differ (or where
//! one of them has the key) finds exactly the writes the whole comparison finds. The rows go to
//! two unnamed temporary files in key order, a batch at a time: memory holds one batch per side
//! whatever the incident's size.

use std::fs::File;
use std::io::{BufReader, BufWriter, Seek, SeekFrom, Write};

use anyhow::Result;

use crate::core::diff::{BATCH_BYTES, BatchSource};
use crate::rows::Batch;

/// Base's and damaged's incident rows of one table, being written.
pub struct Kept {
    files: [BufWriter<File>; 2],
    filling: [Batch; 2],
    width: usize,
}

/// One side's kept rows, read back in key order.
#[derive(Debug)]
pub struct KeptSide {
    file: BufReader<File>,
}

impl Kept {
    /// Rows of `width` values (the scan's columns and its `--where` flag).
    pub fn new(width: usize) -> Result<Kept> {
        let file = || -> Result<BufWriter<File>> { Ok(BufWriter::new(tempfile::tempfile()?)) };
        Ok(Kept { files: [file()?, file()?], filling: [Batch::new(width), Batch::new(width)], width })
    }

    /// Keeps row `r` of `batch` for `side` (0 base, 1 damaged); rows come in key order.
    pub fn push(&mut self, side: usize, batch: &Batch, r: usize) -> Result<()> {
        self.filling[side].push_from(batch, r, self.width);
        if self.filling[side].bytes() >= BATCH_BYTES {
            self.flush(side)?;
        }
        Ok(())
    }

    fn flush(&mut self, side: usize) -> Result<()> {
        if self.filling[side].rows() > 0 {
            self.filling[side].write_to(&mut self.files[side])?;
            self.filling[side].reset(self.width);
        }
        Ok(())
    }

    /// Both sides, ready to be read from their first row.
    pub fn finish(mut self) -> Result<[KeptSide; 2]> {
        self.flush(0)?;
        self.flush(1)?;
        let [a, b] = self.files;
        let back = |w: BufWriter<File>| -> Result<KeptSide> {
            let mut f = w.into_inner().map_err(|e| e.into_error())?;
            f.flush()?;
            f.seek(SeekFrom::Start(0))?;
            Ok(KeptSide { file: BufReader::new(f) })
        };
        Ok([back(a)?, back(b)?])
    }
}

impl BatchSource for KeptSide {
    fn next_batch(&mut self, _spent: Batch) -> Result<Option<Batch>> {
        Ok(Batch::read_from(&mut self.file)?)
    }
}
