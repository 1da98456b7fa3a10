//! `Value`: one cell, as diff and merge see it, whatever the engine.
//!
//! Equality is exact and documented in the README: NULL equals NULL; INTEGER, REAL, TEXT and BLOB
//! are distinct storage classes (integer `1`, real `1.0` and text `'1'` all differ); REAL compares
//! bit for bit (so `-0.0` differs from `0.0`, and a NaN equals the same NaN); TEXT and BLOB compare
//! byte for byte. TEXT holds the stored bytes as they are, valid UTF-8 or not (SQLite accepts any
//! bytes as TEXT), so a value read and written back is the same bytes; only the human rendering
//! converts lossily.
//!
//! Ordering (`Ord`) is SQLite's ORDER BY order with BINARY collation, which is what the engines
//! produce for key columns: NULL < numbers (INTEGER and REAL compared by value; on a tie INTEGER
//! first) < TEXT (bytes) < BLOB (bytes). Diff relies on both sides arriving in this order, so an
//! engine that scans "ordered by key" must sort exactly like this. Like SQLite's, the order
//! compares REALs by value, so `-0.0` and `0.0` sort as equal although they are not equal values:
//! `Ord` is deliberately coarser than `Eq` there, and diff compares such runs of equally sorting
//! rows as groups. (NaN, which SQLite stores as NULL, sorts after every other REAL.)

use std::cmp::Ordering;

use serde::ser::{SerializeMap, Serializer};

#[derive(Debug, Clone)]
pub enum Value {
    Null,
    Integer(i64),
    Real(f64),
    /// The stored bytes, usually but not necessarily UTF-8.
    Text(Vec<u8>),
    Blob(Vec<u8>),
}

/// A row: values in the order of the columns asked for.
pub type Row = Vec<Value>;

impl Value {
    fn class_rank(&self) -> u8 {
        match self {
            Value::Null => 0,
            Value::Integer(_) | Value::Real(_) => 1,
            Value::Text(_) => 2,
            Value::Blob(_) => 3,
        }
    }

    /// A TEXT value from a string.
    pub fn text(s: impl Into<String>) -> Value {
        Value::Text(s.into().into_bytes())
    }

    /// SQLite's name of the storage class.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Integer(_) => "integer",
            Value::Real(_) => "real",
            Value::Text(_) => "text",
            Value::Blob(_) => "blob",
        }
    }

    /// The value as an SQL literal, also its human form (REAL in shortest round-trip form,
    /// which a correctly rounding reader reads back exactly, as PostgreSQL does; SQLite does not
    /// always, so patches use `sqlgen::sqlite_real`. BLOB as `X'…'`, which `sqlgen` rewrites for
    /// PostgreSQL).
    pub fn sql_literal(&self) -> String {
        match self {
            Value::Null => "NULL".to_string(),
            Value::Integer(i) => i.to_string(),
            Value::Real(f) if f.is_nan() => "NULL".to_string(),
            Value::Real(f) if f.is_infinite() => if *f > 0.0 { "9e999" } else { "-9e999" }.to_string(),
            Value::Real(f) => {
                let s = format!("{f:?}");
                if s.contains(['.', 'e', 'E']) { s } else { format!("{s}.0") }
            }
            Value::Text(b) => match std::str::from_utf8(b) {
                Ok(s) if !s.contains('\0') => format!("'{}'", s.replace('\'', "''")),
                // Not UTF-8, or with a NUL (which ends a statement's text in C tools): spelled as
                // bytes, so the literal carries them exactly.
                _ => format!("CAST(X'{}' AS TEXT)", hex::encode_upper(b)),
            },
            Value::Blob(b) => format!("X'{}'", hex::encode_upper(b)),
        }
    }

    /// A short human rendering for tables of changes.
    pub fn display(&self) -> String {
        match self {
            Value::Null => "NULL".to_string(),
            // Not NULL and `9e999`, which is what `sql_literal` writes for them (SQLite stores NaN
            // as NULL, and reads an overflowing literal as infinity).
            Value::Real(f) if !f.is_finite() => non_finite_name(*f).to_string(),
            Value::Text(b) => match std::str::from_utf8(b) {
                Ok(s) => format!("{s:?}"),
                Err(_) => format!("{:?} (not UTF-8: x'{}')", String::from_utf8_lossy(b), hex::encode(b)),
            },
            Value::Blob(b) if b.len() > 16 => format!("x'{}…' ({} bytes)", hex::encode(&b[..16]), b.len()),
            other => other.sql_literal(),
        }
    }
}

impl PartialEq for Value {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Value::Null, Value::Null) => true,
            (Value::Integer(a), Value::Integer(b)) => a == b,
            (Value::Real(a), Value::Real(b)) => a.to_bits() == b.to_bits(),
            (Value::Text(a), Value::Text(b)) => a == b,
            (Value::Blob(a), Value::Blob(b)) => a == b,
            _ => false,
        }
    }
}
impl Eq for Value {}

impl PartialOrd for Value {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Value {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Value::Integer(a), Value::Integer(b)) => a.cmp(b),
            (Value::Real(a), Value::Real(b)) => cmp_real(*a, *b),
            (Value::Integer(a), Value::Real(b)) => cmp_int_real(*a, *b).then(Ordering::Less),
            (Value::Real(a), Value::Integer(b)) => cmp_int_real(*b, *a).reverse().then(Ordering::Greater),
            (Value::Text(a), Value::Text(b)) => a.cmp(b),
            (Value::Blob(a), Value::Blob(b)) => a.cmp(b),
            _ => self.class_rank().cmp(&other.class_rank()),
        }
    }
}

/// Compares two REALs by value as SQLite's ORDER BY does: `-0.0` equals `0.0`; a NaN (never
/// stored by SQLite) sorts after every number and equal to another NaN.
pub(crate) fn cmp_real(a: f64, b: f64) -> Ordering {
    match a.partial_cmp(&b) {
        Some(o) => o,
        None => a.is_nan().cmp(&b.is_nan()),
    }
}

/// Compares an integer with a real by value, exactly (no lossy i64 → f64 rounding at the edges).
pub(crate) fn cmp_int_real(i: i64, r: f64) -> Ordering {
    if r.is_nan() {
        return Ordering::Greater;
    }
    if r >= 9_223_372_036_854_775_808.0 {
        return Ordering::Less;
    }
    if r < -9_223_372_036_854_775_808.0 {
        return Ordering::Greater;
    }
    let t = r.trunc() as i64;
    i.cmp(&t).then_with(|| {
        let frac = r - r.trunc();
        if frac > 0.0 {
            Ordering::Less
        } else if frac < 0.0 {
            Ordering::Greater
        } else {
            Ordering::Equal
        }
    })
}

/// `Infinity`, `-Infinity` or `NaN`: PostgreSQL's (and JavaScript's) spelling of a non-finite REAL.
fn non_finite_name(f: f64) -> &'static str {
    if f.is_nan() {
        "NaN"
    } else if f > 0.0 {
        "Infinity"
    } else {
        "-Infinity"
    }
}

/// JSON, the one mapping every `--json` output uses: null, numbers, strings; a BLOB as
/// `{"blob": "<hex>"}`; TEXT that is not valid UTF-8 as `{"text_hex": "<hex>"}` (its exact
/// bytes); a REAL that JSON numbers cannot carry (±Infinity, NaN) as `{"real": "Infinity"}`,
/// `{"real": "-Infinity"}` or `{"real": "NaN"}`, so it never reads as the TEXT `'Infinity'`.
impl serde::Serialize for Value {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Null => s.serialize_unit(),
            Value::Integer(i) => s.serialize_i64(*i),
            Value::Real(f) if f.is_finite() => s.serialize_f64(*f),
            Value::Real(f) => {
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry("real", non_finite_name(*f))?;
                m.end()
            }
            Value::Text(t) => match std::str::from_utf8(t) {
                Ok(text) => s.serialize_str(text),
                Err(_) => {
                    let mut m = s.serialize_map(Some(1))?;
                    m.serialize_entry("text_hex", &hex::encode(t))?;
                    m.end()
                }
            },
            Value::Blob(b) => {
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry("blob", &hex::encode(b))?;
                m.end()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Value::*;
    use super::*;

    #[test]
    fn storage_classes_differ() {
        assert_ne!(Integer(1), Real(1.0));
        assert_ne!(Integer(1), Text("1".into()));
        assert_ne!(Real(0.0), Real(-0.0));
        assert_eq!(Null, Null);
        assert_eq!(Real(f64::NAN), Real(f64::NAN));
    }

    #[test]
    fn sqlite_order() {
        let mut v =
            vec![Blob(vec![0]), Text("b".into()), Text("B".into()), Real(1.5), Integer(2), Integer(1), Real(1.0), Null];
        v.sort();
        assert_eq!(
            v,
            vec![Null, Integer(1), Real(1.0), Real(1.5), Integer(2), Text("B".into()), Text("b".into()), Blob(vec![0])]
        );
        assert_eq!(Integer(i64::MAX).cmp(&Real(9.3e18)), Ordering::Less);
    }

    #[test]
    fn negative_zero_sorts_equal_to_zero_but_is_a_different_value() {
        assert_eq!(Real(-0.0).cmp(&Real(0.0)), Ordering::Equal);
        assert_ne!(Real(-0.0), Real(0.0));
        assert_eq!(Integer(0).cmp(&Real(-0.0)), Ordering::Less);
        assert_eq!(Real(-0.0).cmp(&Real(-1e-300)), Ordering::Greater);
    }

    #[test]
    fn literals_round_trip_shape() {
        assert_eq!(Real(1.0).sql_literal(), "1.0");
        assert_eq!(Real(0.1).sql_literal(), "0.1");
        assert_eq!(Real(1e300).sql_literal(), "1e300");
        assert_eq!(Text("it's".into()).sql_literal(), "'it''s'");
        assert_eq!(Blob(vec![0xab, 1]).sql_literal(), "X'AB01'");
        assert_eq!(Real(f64::NAN).display(), "NaN");
        assert_eq!(Real(f64::INFINITY).display(), "Infinity");
        assert_eq!(Real(f64::NEG_INFINITY).display(), "-Infinity");
        assert_eq!(Real(-0.0).display(), "-0.0");
    }

    #[test]
    fn non_finite_reals_in_json_are_tagged_and_never_read_as_text() {
        let json = |v: &Value| serde_json::to_string(v).unwrap();
        assert_eq!(json(&Real(f64::INFINITY)), r#"{"real":"Infinity"}"#);
        assert_eq!(json(&Real(f64::NEG_INFINITY)), r#"{"real":"-Infinity"}"#);
        assert_eq!(json(&Real(f64::NAN)), r#"{"real":"NaN"}"#);
        assert_ne!(json(&Real(f64::INFINITY)), json(&Text("Infinity".into())));
        assert_ne!(json(&Real(f64::INFINITY)), json(&Text("inf".into())));
        assert_eq!(json(&Real(1.5)), "1.5");
    }

    #[test]
    fn text_that_is_not_utf8_keeps_its_bytes() {
        let t = Text(vec![0x41, 0xff, 0x42]);
        assert_eq!(t.sql_literal(), "CAST(X'41FF42' AS TEXT)");
        assert_ne!(t, Text("A\u{fffd}B".into()));
        assert_eq!(serde_json::to_string(&t).unwrap(), r#"{"text_hex":"41ff42"}"#);
        assert_eq!(serde_json::to_string(&Text("é".into())).unwrap(), r#""é""#);
        assert!(t.display().contains("41ff42"));
    }
}
