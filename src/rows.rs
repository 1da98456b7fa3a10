//! `Batch`: many rows encoded back to back in one buffer, so that diff streams rows without
//! allocating per value, and `ValueView`: one value of a batch, borrowed.
//!
//! The encoding is canonical: two values are equal (by `Value`'s exact equality) exactly when
//! their encoded bytes are equal, so unchanged rows are compared with `memcmp` and never decoded.
//! Each value is a tag byte (0 NULL, 1 INTEGER, 2 REAL, 3 TEXT, 4 BLOB) followed by its payload:
//! 8 bytes little-endian for INTEGER and for REAL's bits; for TEXT and BLOB their length (LEB128,
//! shortest form) then their bytes. Every value thus says where it ends, so the encoding of
//! several values in a row is canonical too: byte equality of any run of values (`raw_prefix`)
//! is exactly equality of each value (without the length, ('a\x03', 'c') and ('a', '\x03c')
//! would run together). `ValueView`'s order is `Value`'s order.

use std::cmp::Ordering;

use crate::value::{Row, Value, cmp_int_real, cmp_real};

/// One value inside a `Batch`.
#[derive(Debug, Clone, Copy)]
pub enum ValueView<'a> {
    Null,
    Integer(i64),
    Real(f64),
    Text(&'a [u8]),
    Blob(&'a [u8]),
}

impl ValueView<'_> {
    fn class_rank(&self) -> u8 {
        match self {
            ValueView::Null => 0,
            ValueView::Integer(_) | ValueView::Real(_) => 1,
            ValueView::Text(_) => 2,
            ValueView::Blob(_) => 3,
        }
    }

    /// The same order as `Value::cmp` (see `value.rs`).
    pub fn order(&self, other: &ValueView<'_>) -> Ordering {
        use ValueView::*;
        match (self, other) {
            (Integer(a), Integer(b)) => a.cmp(b),
            (Real(a), Real(b)) => cmp_real(*a, *b),
            (Integer(a), Real(b)) => cmp_int_real(*a, *b).then(Ordering::Less),
            (Real(a), Integer(b)) => cmp_int_real(*b, *a).reverse().then(Ordering::Greater),
            (Text(a), Text(b)) | (Blob(a), Blob(b)) => a.cmp(b),
            _ => self.class_rank().cmp(&other.class_rank()),
        }
    }

    pub fn to_value(self) -> Value {
        match self {
            ValueView::Null => Value::Null,
            ValueView::Integer(i) => Value::Integer(i),
            ValueView::Real(f) => Value::Real(f),
            ValueView::Text(t) => Value::Text(t.to_vec()),
            ValueView::Blob(b) => Value::Blob(b.to_vec()),
        }
    }
}

/// Rows of `width` values each, encoded in one buffer. Invariant: `ends` holds 0, then the end
/// offset of every value pushed, so row `r` column `c` spans `ends[r*width + c] ..
/// ends[r*width + c + 1]` (no special case for the first value).
#[derive(Debug, Clone)]
pub struct Batch {
    buf: Vec<u8>,
    ends: Vec<u32>,
    width: usize,
}

impl Default for Batch {
    fn default() -> Batch {
        Batch::new(1)
    }
}

impl Batch {
    pub fn new(width: usize) -> Batch {
        Batch { buf: Vec::new(), ends: vec![0], width: width.max(1) }
    }

    /// Empties the batch for reuse with rows of `width` values (keeps the allocations).
    pub fn reset(&mut self, width: usize) {
        self.buf.clear();
        self.ends.clear();
        self.ends.push(0);
        self.width = width.max(1);
    }

    pub fn width(&self) -> usize {
        self.width
    }

    /// Complete rows held.
    pub fn rows(&self) -> usize {
        (self.ends.len() - 1) / self.width
    }

    /// Bytes held (for flushing batches by size).
    pub fn bytes(&self) -> usize {
        self.buf.len() + 4 * (self.ends.len() - 1)
    }

    #[inline]
    fn end(&mut self) {
        self.ends.push(self.buf.len() as u32);
    }

    #[inline]
    pub fn push_null(&mut self) {
        self.buf.push(0);
        self.end();
    }
    #[inline]
    pub fn push_integer(&mut self, i: i64) {
        self.push_fixed(1, i.to_le_bytes());
    }
    #[inline]
    pub fn push_real(&mut self, f: f64) {
        self.push_fixed(2, f.to_bits().to_le_bytes());
    }
    #[inline]
    pub fn push_text(&mut self, t: &[u8]) {
        self.push_bytes(3, t);
    }
    #[inline]
    pub fn push_blob(&mut self, b: &[u8]) {
        self.push_bytes(4, b);
    }

    /// Tag and 8 bytes, in one copy.
    #[inline]
    fn push_fixed(&mut self, tag: u8, payload: [u8; 8]) {
        let mut v = [tag; 9];
        v[1..].copy_from_slice(&payload);
        self.buf.extend_from_slice(&v);
        self.end();
    }

    /// Tag, length (LEB128, shortest form, so that the encoding stays canonical), bytes.
    #[inline]
    fn push_bytes(&mut self, tag: u8, bytes: &[u8]) {
        let n = bytes.len();
        if n < 0x80 {
            self.buf.extend_from_slice(&[tag, n as u8]);
        } else {
            self.push_long_header(tag, n);
        }
        self.buf.extend_from_slice(bytes);
        self.end();
    }

    #[cold]
    fn push_long_header(&mut self, tag: u8, mut n: usize) {
        self.buf.push(tag);
        while n >= 0x80 {
            self.buf.push((n as u8 & 0x7f) | 0x80);
            n >>= 7;
        }
        self.buf.push(n as u8);
    }

    pub fn push_value(&mut self, v: &Value) {
        match v {
            Value::Null => self.push_null(),
            Value::Integer(i) => self.push_integer(*i),
            Value::Real(f) => self.push_real(*f),
            Value::Text(s) => self.push_text(s),
            Value::Blob(b) => self.push_blob(b),
        }
    }

    /// Writes the batch to `w` for a spill file: width, value count, the ends, the bytes
    /// (little-endian `u32`s). `read_from` reads it back.
    pub fn write_to(&self, w: &mut dyn std::io::Write) -> std::io::Result<()> {
        let values = self.ends.len() - 1;
        w.write_all(&(self.width as u32).to_le_bytes())?;
        w.write_all(&(values as u32).to_le_bytes())?;
        for e in &self.ends[1..] {
            w.write_all(&e.to_le_bytes())?;
        }
        w.write_all(&self.buf)
    }

    /// The next batch `write_to` wrote to `r`; `None` at its end.
    pub fn read_from(r: &mut dyn std::io::Read) -> std::io::Result<Option<Batch>> {
        let mut word = [0u8; 4];
        match r.read_exact(&mut word) {
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
            other => other?,
        }
        let width = u32::from_le_bytes(word) as usize;
        r.read_exact(&mut word)?;
        let values = u32::from_le_bytes(word) as usize;
        let mut raw = vec![0u8; 4 * values];
        r.read_exact(&mut raw)?;
        let mut ends = Vec::with_capacity(values + 1);
        ends.push(0);
        ends.extend(raw.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])));
        let mut buf = vec![0u8; *ends.last().unwrap_or(&0) as usize];
        r.read_exact(&mut buf)?;
        Ok(Some(Batch { buf, ends, width: width.max(1) }))
    }

    /// Appends the first `n` values of row `r` of `other` (raw bytes, no decoding).
    pub fn push_from(&mut self, other: &Batch, r: usize, n: usize) {
        for c in 0..n {
            self.buf.extend_from_slice(other.raw(r, c));
            self.end();
        }
    }

    /// The encoded bytes of one value (tag included).
    #[inline]
    pub fn raw(&self, r: usize, c: usize) -> &[u8] {
        let i = r * self.width + c;
        &self.buf[self.ends[i] as usize..self.ends[i + 1] as usize]
    }

    /// The encoded bytes of the first `n` values of row `r`.
    #[inline]
    pub fn raw_prefix(&self, r: usize, n: usize) -> &[u8] {
        let i = r * self.width;
        &self.buf[self.ends[i] as usize..self.ends[i + n] as usize]
    }

    /// Row `r` column `c` if it is an INTEGER.
    #[inline]
    pub fn integer(&self, r: usize, c: usize) -> Option<i64> {
        match self.raw(r, c) {
            [1, x @ ..] => Some(i64::from_le_bytes(eight(x))),
            _ => None,
        }
    }

    pub fn get(&self, r: usize, c: usize) -> ValueView<'_> {
        view(self.raw(r, c))
    }

    /// Row `r`'s first `n` values, decoded.
    pub fn row(&self, r: usize, n: usize) -> Row {
        (0..n).map(|c| self.get(r, c).to_value()).collect()
    }

    /// A batch holding `rows` (for tests and for engines without a batch scan).
    pub fn from_rows(width: usize, rows: &[Row]) -> Batch {
        let mut b = Batch::new(width);
        for r in rows {
            for v in r {
                b.push_value(v);
            }
        }
        b
    }
}

/// Decodes one value's encoding (as `Batch::raw` returns it).
#[inline]
fn view(raw: &[u8]) -> ValueView<'_> {
    match raw {
        [1, rest @ ..] => ValueView::Integer(i64::from_le_bytes(eight(rest))),
        [2, rest @ ..] => ValueView::Real(f64::from_bits(u64::from_le_bytes(eight(rest)))),
        [3, rest @ ..] => ValueView::Text(skip_length(rest)),
        [4, rest @ ..] => ValueView::Blob(skip_length(rest)),
        _ => ValueView::Null,
    }
}

#[inline]
fn eight(b: &[u8]) -> [u8; 8] {
    b.try_into().expect("8 bytes")
}

/// A TEXT or BLOB payload without its leading length (whose last byte has the high bit clear).
fn skip_length(payload: &[u8]) -> &[u8] {
    let n = payload.iter().position(|b| b & 0x80 == 0).expect("a length");
    &payload[n + 1..]
}

/// Fills batches row by row and hands each one that reached `batch_bytes` to `sink`, which
/// returns an empty batch to fill next (what `Database::scan_batches` implementations share).
pub struct BatchFiller<'s> {
    batch: Batch,
    width: usize,
    batch_bytes: usize,
    sink: &'s mut dyn FnMut(Batch) -> anyhow::Result<Batch>,
}

impl<'s> BatchFiller<'s> {
    pub fn new(width: usize, batch_bytes: usize, sink: &'s mut dyn FnMut(Batch) -> anyhow::Result<Batch>) -> Self {
        BatchFiller { batch: Batch::new(width), width, batch_bytes, sink }
    }

    /// The batch to push the current row's values into.
    pub fn batch(&mut self) -> &mut Batch {
        &mut self.batch
    }

    /// Call after pushing a whole row: hands the batch over once it is full.
    pub fn row_done(&mut self) -> anyhow::Result<()> {
        if self.batch.bytes() >= self.batch_bytes {
            let full = std::mem::replace(&mut self.batch, Batch::new(self.width));
            self.batch = (self.sink)(full)?;
            self.batch.reset(self.width);
        }
        Ok(())
    }

    /// Hands over the last, partly filled batch.
    pub fn finish(self) -> anyhow::Result<()> {
        if self.batch.rows() > 0 {
            (self.sink)(self.batch)?;
        }
        Ok(())
    }
}

/// Compares the first `n` values of row `ra` of `a` with row `rb` of `b`, in `Value` order.
/// (Two INTEGERs, the usual key, are compared without decoding anything else.)
pub fn cmp_rows(a: &Batch, ra: usize, b: &Batch, rb: usize, n: usize) -> Ordering {
    for c in 0..n {
        let o = match (a.raw(ra, c), b.raw(rb, c)) {
            ([1, x @ ..], [1, y @ ..]) => i64::from_le_bytes(eight(x)).cmp(&i64::from_le_bytes(eight(y))),
            (x, y) => view(x).order(&view(y)),
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    Ordering::Equal
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::Value::*;

    #[test]
    fn batches_read_back_from_a_spill_file_exactly() {
        let rows = vec![vec![Integer(1), Text(b"a\x03".to_vec()), Null], vec![Integer(2), Blob(vec![]), Real(-0.0)]];
        let (a, b) = (Batch::from_rows(3, &rows), Batch::from_rows(3, &rows[..1]));
        let mut file = Vec::new();
        a.write_to(&mut file).unwrap();
        b.write_to(&mut file).unwrap();
        let mut r = &file[..];
        for want in [&a, &b] {
            let got = Batch::read_from(&mut r).unwrap().unwrap();
            assert_eq!((got.width(), got.rows(), got.bytes()), (want.width(), want.rows(), want.bytes()));
            for i in 0..want.rows() {
                assert_eq!(got.row(i, 3), want.row(i, 3));
            }
        }
        assert!(Batch::read_from(&mut r).unwrap().is_none());
        assert!(Batch::read_from(&mut &file[..7]).is_err(), "a cut-short file is an error, not an end");
    }

    #[test]
    fn views_sort_like_values_and_encodings_are_equal_exactly_when_values_are() {
        let vals = vec![
            Blob(vec![0]),
            Text("b".into()),
            Text("B".into()),
            Real(1.5),
            Integer(2),
            Integer(1),
            Real(1.0),
            Null,
            Real(-0.0),
            Real(0.0),
            Integer(0),
            Integer(i64::MAX),
            Real(9.3e18),
            Blob(vec![]),
            Text(Vec::new()),
            Text(vec![0x41, 0xff]),
        ];
        let b = Batch::from_rows(1, &vals.iter().map(|v| vec![v.clone()]).collect::<Vec<_>>());
        for (i, x) in vals.iter().enumerate() {
            for (j, y) in vals.iter().enumerate() {
                assert_eq!(b.get(i, 0).order(&b.get(j, 0)), x.cmp(y), "{x:?} vs {y:?}");
                assert_eq!(b.raw(i, 0) == b.raw(j, 0), x == y, "{x:?} vs {y:?}");
            }
            assert_eq!(&b.get(i, 0).to_value(), x);
        }
    }

    #[test]
    fn prefixes_of_several_values_are_equal_exactly_when_the_values_are() {
        // Rows that run together if TEXT and BLOB lengths are only implied by where the next
        // value starts: ('a\x03', 'c') and ('a', '\x03c') would both be [3,'a',3,3,'c'].
        let t = |b: &[u8]| Text(b.to_vec());
        let rows = vec![
            vec![t(b"a\x03"), t(b"c")],
            vec![t(b"a"), t(b"\x03c")],
            vec![Blob(vec![7, 4]), Blob(vec![1])],
            vec![Blob(vec![7]), Blob(vec![4, 1])],
            vec![t(b"x\x00"), Null],
            vec![t(b"x"), t(b"\x00")],
            vec![t(b""), t(b"\x03")],
            vec![t(b"\x03"), t(b"")],
            vec![Blob(vec![2, 0, 0, 0, 0, 0, 0, 0, 0]), Integer(0)],
            vec![Blob(vec![]), Real(0.0)],
            // Lengths of two bytes and more: 127 | 128 and 300 | 16384 split differently.
            vec![t(&[b'l'; 128]), t(&[b'l'; 127])],
            vec![t(&[b'l'; 127]), t(&[b'l'; 128])],
            vec![Blob(vec![9; 300]), Blob(vec![9; 16_384])],
            vec![Blob(vec![9; 16_384]), Blob(vec![9; 300])],
        ];
        let b = Batch::from_rows(2, &rows);
        for (i, x) in rows.iter().enumerate() {
            for (j, y) in rows.iter().enumerate() {
                assert_eq!(b.raw_prefix(i, 2) == b.raw_prefix(j, 2), x == y, "{x:?} vs {y:?}");
                assert_eq!(b.raw_prefix(i, 1) == b.raw_prefix(j, 1), x[0] == y[0], "{x:?} vs {y:?}");
            }
            assert_eq!(&b.row(i, 2), x);
        }
    }

    #[test]
    fn rows_compare_in_value_order_integers_by_the_short_path_too() {
        let vals = [Integer(-1), Integer(i64::MIN), Integer(i64::MAX), Integer(0), Real(0.5), Null, Text("a".into())];
        let rows: Vec<Row> = vals.iter().flat_map(|a| vals.iter().map(|b| vec![a.clone(), b.clone()])).collect();
        let b = Batch::from_rows(2, &rows);
        for (i, x) in rows.iter().enumerate() {
            for (j, y) in rows.iter().enumerate() {
                assert_eq!(cmp_rows(&b, i, &b, j, 2), x.cmp(y), "{x:?} vs {y:?}");
                assert_eq!(cmp_rows(&b, i, &b, j, 1), x[0].cmp(&y[0]), "{x:?} vs {y:?}");
            }
            let int = match x[0] {
                Integer(v) => Some(v),
                _ => None,
            };
            assert_eq!(b.integer(i, 0), int);
        }
    }

    #[test]
    fn rows_and_prefixes_round_trip() {
        let rows = vec![vec![Integer(1), Text("a".into())], vec![Integer(2), Null]];
        let b = Batch::from_rows(2, &rows);
        assert_eq!(b.rows(), 2);
        assert_eq!(b.row(1, 2), rows[1]);
        let mut c = Batch::new(1);
        c.push_from(&b, 1, 1);
        assert_eq!(c.row(0, 1), vec![Integer(2)]);
        assert_eq!(b.raw_prefix(1, 2), [b.raw(1, 0), b.raw(1, 1)].concat());
    }
}
