//! Times as operators type them (`--at`, `--since`, …) and as backup file names carry them.
//!
//! Every parsed time becomes an absolute UTC instant; commands print it back with its zone so the
//! operator sees how the input was understood. Rules:
//! - `now`;
//! - RFC 3339 (`2026-11-24T06:00:00Z`, `2026-11-24T06:00:00+01:00`);
//! - `YYYY-MM-DD HH:MM[:SS]` or with `T`, optionally followed by an offset (`+01:00`, `Z`) —
//!   without an offset it is local time, or UTC with `--utc`.

use anyhow::Result;
use chrono::{DateTime, Local, LocalResult, NaiveDateTime, TimeZone, Utc};

use crate::error::usage;

/// Parses an operator-typed time. `utc` makes zone-less times UTC instead of local.
pub fn parse_time(input: &str, now: DateTime<Utc>, utc: bool) -> Result<DateTime<Utc>> {
    let s = input.trim();
    if s.eq_ignore_ascii_case("now") {
        return Ok(now);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    let normalized = s.replacen('T', " ", 1);
    // With an explicit offset after the time.
    for fmt in ["%Y-%m-%d %H:%M:%S %:z", "%Y-%m-%d %H:%M %:z", "%Y-%m-%d %H:%M:%S%:z", "%Y-%m-%d %H:%M%:z"] {
        if let Ok(t) = DateTime::parse_from_str(&normalized, fmt) {
            return Ok(t.with_timezone(&Utc));
        }
    }
    let (naive_part, zulu) = match normalized.strip_suffix('Z').or_else(|| normalized.strip_suffix(" UTC")) {
        Some(rest) => (rest.trim_end(), true),
        None => (normalized.as_str(), false),
    };
    for fmt in ["%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M"] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(naive_part, fmt) {
            return if zulu || utc { Ok(naive.and_utc()) } else { local_to_utc(naive, input) };
        }
    }
    Err(usage(format!("cannot read time `{input}`"))
        .hint("use RFC 3339 (2026-11-24T06:00:00Z), `YYYY-MM-DD HH:MM[:SS]` (local; --utc for UTC) or `now`")
        .into())
}

/// Local wall-clock time → UTC; refuses times that a DST change makes ambiguous or impossible.
pub fn local_to_utc(naive: NaiveDateTime, input: &str) -> Result<DateTime<Utc>> {
    match Local.from_local_datetime(&naive) {
        LocalResult::Single(t) => Ok(t.with_timezone(&Utc)),
        LocalResult::Ambiguous(a, b) => Err(usage(format!(
            "time `{input}` is ambiguous in the local zone (daylight saving change): {} or {}",
            a.to_rfc3339(),
            b.to_rfc3339()
        ))
        .hint("add an offset, e.g. `+01:00`, or pass --utc")
        .into()),
        LocalResult::None => {
            Err(usage(format!("time `{input}` does not exist in the local zone (skipped by a daylight saving change)"))
                .hint("add an offset, e.g. `+01:00`, or pass --utc")
                .into())
        }
    }
}

/// Shows an instant the way the operator thinks of it: local time with its offset.
pub fn show(t: DateTime<Utc>) -> String {
    t.with_timezone(&Local).format("%Y-%m-%d %H:%M:%S %:z").to_string()
}

/// A timestamp embedded in a backup file name, if any. Recognised (zone-less ones are UTC, the
/// convention of backup scripts): `2026-11-24T06:00:00Z`, `2026-11-24T06:00:00+01:00`,
/// `2026-11-24T06-00-00`, `20261124-060000`, `20261124T060000`, `2026-11-24_06-00`,
/// `2026-11-24_06-00-00`, `2026-11-24 06:00`.
pub fn timestamp_in_name(name: &str) -> Option<DateTime<Utc>> {
    let b = name.as_bytes();
    (0..b.len()).find_map(|i| {
        if !b[i].is_ascii_digit() || (i > 0 && b[i - 1].is_ascii_digit()) {
            return None;
        }
        parse_stamp_at(&name[i..])
    })
}

fn parse_stamp_at(s: &str) -> Option<DateTime<Utc>> {
    let digits = |s: &str, n: usize| -> Option<u32> {
        let p = s.get(..n)?;
        p.bytes().all(|c| c.is_ascii_digit()).then(|| p.parse().ok())?
    };
    // Date: YYYY-MM-DD or YYYYMMDD.
    let (y, mo, d, rest) = if s.get(4..5) == Some("-") {
        (digits(s, 4)?, digits(&s[5..], 2)?, digits(s.get(8..)?, 2)?, s.get(10..)?)
    } else {
        (digits(s, 4)?, digits(&s[4..], 2)?, digits(&s[6..], 2)?, s.get(8..)?)
    };
    let sep = rest.chars().next()?;
    if !matches!(sep, 'T' | '_' | '-' | ' ') {
        return None;
    }
    let t = &rest[1..];
    // Time: HH:MM[:SS], HH-MM[-SS], HHMM[SS].
    let (h, mi, sec, after) = if matches!(t.get(2..3), Some(":") | Some("-")) {
        let h = digits(t, 2)?;
        let mi = digits(t.get(3..)?, 2)?;
        let sep2 = t.get(2..3)?;
        match (t.get(5..6), digits(t.get(6..).unwrap_or(""), 2)) {
            (Some(x), Some(sec)) if x == sep2 => (h, mi, sec, &t[8..]),
            _ => (h, mi, 0, &t[5..]),
        }
    } else {
        let h = digits(t, 2)?;
        let mi = digits(t.get(2..)?, 2)?;
        match digits(t.get(4..).unwrap_or(""), 2) {
            Some(sec) => (h, mi, sec, &t[6..]),
            None => (h, mi, 0, &t[4..]),
        }
    };
    let after = after.strip_prefix('.').map_or(after, |a| a.trim_start_matches(|c: char| c.is_ascii_digit()));
    let naive = chrono::NaiveDate::from_ymd_opt(y as i32, mo, d)?.and_hms_opt(h, mi, sec)?;
    // Optional offset: Z, +HH:MM, +HHMM.
    if let Some(sign @ ('+' | '-')) = after.chars().next() {
        let o = &after[1..];
        let (oh, om) = match (digits(o, 2), o.get(2..3)) {
            (Some(oh), Some(":")) => (oh, digits(&o[3..], 2)?),
            (Some(oh), _) => (oh, digits(o.get(2..).unwrap_or(""), 2).unwrap_or(0)),
            _ => return Some(naive.and_utc()),
        };
        let secs = (oh * 3600 + om * 60) as i32 * if sign == '-' { -1 } else { 1 };
        let off = chrono::FixedOffset::east_opt(secs)?;
        return off.from_local_datetime(&naive).single().map(|t| t.with_timezone(&Utc));
    }
    Some(naive.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn file_name_stamps() {
        let six = utc("2026-11-24T06:00:00Z");
        for name in [
            "shop-2026-11-24T06:00:00Z.db",
            "shop-2026-11-24T06-00-00.db",
            "shop-20261124-060000.db",
            "shop_20261124T060000.sqlite.gz",
            "2026-11-24_06-00.db",
            "shop 2026-11-24 06:00.db",
            "shop-2026-11-24T07:00:00+01:00.db",
        ] {
            assert_eq!(timestamp_in_name(name), Some(six), "{name}");
        }
        assert_eq!(timestamp_in_name("shop.db"), None);
        assert_eq!(timestamp_in_name("shop-v2.db"), None);
        assert_eq!(timestamp_in_name("2026-13-40T06-00-00.db"), None);
    }

    #[test]
    fn operator_times() {
        let now = utc("2026-11-24T12:00:00Z");
        assert_eq!(parse_time("now", now, false).unwrap(), now);
        assert_eq!(parse_time("2026-11-24T06:00:00Z", now, false).unwrap(), utc("2026-11-24T06:00:00Z"));
        assert_eq!(parse_time("2026-11-24 06:00", now, true).unwrap(), utc("2026-11-24T06:00:00Z"));
        assert_eq!(parse_time("2026-11-24 06:00:30", now, true).unwrap(), utc("2026-11-24T06:00:30Z"));
        assert_eq!(parse_time("2026-11-24 07:00 +01:00", now, false).unwrap(), utc("2026-11-24T06:00:00Z"));
        assert!(parse_time("yesterday-ish", now, false).is_err());
        assert!(parse_time("2026-02-30 06:00", now, true).is_err());
    }
}
