//! `TableSpool`: bytes written once, table after table, and read back later table by table in
//! any order, kept on disk so that memory stays bounded whatever the size of a diff.
//!
//! The file is an unnamed temporary file (the OS deletes it when it is closed, even after
//! SIGKILL). Invariant: the records of one table are contiguous, because a diff handles one
//! table at a time; the spool remembers each table's segment (start, end) and refuses to reopen
//! a table it has closed. Reading uses positioned reads, so readers never move the writer.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::os::unix::fs::FileExt;

use anyhow::Result;

/// See the module docs.
#[derive(Debug)]
pub struct TableSpool {
    w: BufWriter<File>,
    /// Bytes written so far.
    len: u64,
    /// Closed segments by table index.
    segments: Vec<Option<(u64, u64)>>,
    /// The table being written and where its segment starts.
    open: Option<(usize, u64)>,
}

impl TableSpool {
    /// Errors: `Environment` when no temporary file can be created.
    pub fn new() -> Result<TableSpool> {
        let f = tempfile::tempfile()
            .map_err(|e| crate::error::environment(format!("cannot create a temporary file: {e}")))?;
        Ok(TableSpool { w: BufWriter::with_capacity(256 * 1024, f), len: 0, segments: Vec::new(), open: None })
    }

    /// Appends `bytes` to table `table`'s segment. Errors: the disk, or a table written again
    /// after another one (a bug: segments are contiguous).
    pub fn write(&mut self, table: usize, bytes: &[u8]) -> Result<()> {
        match self.open {
            Some((t, _)) if t == table => {}
            _ => {
                self.close();
                anyhow::ensure!(
                    self.segments.get(table).is_none_or(|s| s.is_none()),
                    "spooled changes of one table are not contiguous"
                );
                self.open = Some((table, self.len));
            }
        }
        self.w.write_all(bytes).map_err(spool_error)?;
        self.len += bytes.len() as u64;
        Ok(())
    }

    fn close(&mut self) {
        if let Some((t, start)) = self.open.take() {
            if self.segments.len() <= t {
                self.segments.resize(t + 1, None);
            }
            self.segments[t] = Some((start, self.len));
        }
    }

    /// Reads table `table`'s bytes (empty when nothing was written for it).
    pub fn segment(&mut self, table: usize) -> Result<BufReader<Segment>> {
        self.close();
        self.w.flush().map_err(spool_error)?;
        let (pos, end) = self.segments.get(table).copied().flatten().unwrap_or((0, 0));
        let file = self.w.get_ref().try_clone().map_err(spool_error)?;
        Ok(BufReader::with_capacity(256 * 1024, Segment { file, pos, end }))
    }
}

fn spool_error(e: std::io::Error) -> anyhow::Error {
    crate::error::environment(format!("cannot use the temporary spool file: {e}")).into()
}

/// One table's bytes of a spool.
#[derive(Debug)]
pub struct Segment {
    file: File,
    pos: u64,
    end: u64,
}

impl Read for Segment {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let want = buf.len().min((self.end - self.pos) as usize);
        if want == 0 {
            return Ok(0);
        }
        let n = self.file.read_at(&mut buf[..want], self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(s: &mut TableSpool, t: usize) -> String {
        let mut out = String::new();
        s.segment(t).unwrap().read_to_string(&mut out).unwrap();
        out
    }

    #[test]
    fn tables_read_back_in_any_order() {
        let mut s = TableSpool::new().unwrap();
        s.write(2, b"two ").unwrap();
        s.write(2, b"2").unwrap();
        s.write(0, b"zero").unwrap();
        assert_eq!(read_all(&mut s, 0), "zero");
        assert_eq!(read_all(&mut s, 2), "two 2");
        assert_eq!(read_all(&mut s, 1), "");
        assert_eq!(read_all(&mut s, 7), "");
        assert!(s.write(2, b"again").is_err());
    }
}
