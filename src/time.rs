//! Times as operators type them (`--at`, `--since`, `--until`, …) and as backup file names carry them.
//!
//! `parse_time` is the one entry point for operator-typed times. Every parsed time becomes an
//! absolute UTC instant; commands print it back with its zone (`show`, `explain`) so the operator
//! sees how the input was understood. Rules (case-insensitive):
//! - `now`;
//! - relative, back from now: `-3h`, `-90m`, `-1h30m`, `-2d`, `-1w`, `-45s`, or the same followed by
//!   `ago` (`3h ago`), or in words: `2 hours ago`, `1 day 6 hours ago`, `90 minutes ago`. Units:
//!   s/sec/second, m/min/minute, h/hr/hour, d/day, w/week (plural allowed). Months and years are
//!   refused (no fixed length), and so are times in the future (`+3h`);
//! - a time of day, today: `06:00`, `06:00:30` (refused when still in the future: today's or
//!   yesterday's? `today 06:00` says it); `today 06:00`, `yesterday 18:00`;
//! - a date, optionally with a time: `2026-11-24` (midnight), `2026-11-24 06:00[:SS]`, also with
//!   `T` between date and time;
//! - any of the last two followed by a zone: `Z`, `UTC`, `+01:00`, `+0100`
//!   (`2026-11-24 06:00 +01:00`); RFC 3339 (`2026-11-24T06:00:00Z`) is covered by this;
//! - without a zone, wall-clock times are local (UTC with `--utc`); a local time that a daylight
//!   saving change makes ambiguous or skips is refused.
//!
//! Refused, with what was understood: `yesterday` or `today` without a time of day (midnight or 24
//! hours back?), bare numbers (`6`: an hour or a count?), dates with slashes (`11/12/2026`: which is
//! the month?), out-of-range fields (`25:00`, `2026-02-30`).

use anyhow::Result;
use chrono::{
    DateTime, Days, FixedOffset, Local, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, TimeZone,
    Timelike, Utc,
};

use crate::error::usage;

const FORMS_HINT: &str = "use `now`, `-3h`, `2 hours ago`, `06:00` (today), `yesterday 18:00`, `2026-11-24 06:00` (local; --utc for UTC), `2026-11-24 06:00 +01:00` or RFC 3339";

/// Parses an operator-typed time (rules in the module docs). `utc` makes zone-less wall-clock
/// times UTC instead of local. Errors: `Usage`, saying what was understood and what was not.
pub fn parse_time(input: &str, now: DateTime<Utc>, utc: bool) -> Result<DateTime<Utc>> {
    let t = parse_any(input, now, utc)?;
    // chrono reads `:60` as a leap second; no clock, file name or backup carries one.
    if t.nanosecond() >= 1_000_000_000 {
        return Err(refuse(input, "seconds run from 00 to 59").into());
    }
    Ok(t)
}

/// `parse_time` for a point to restore to (`--at`): a time after `now` is refused, since no backup
/// can have been taken then and a future date is most likely a typo (a wrong day or month).
pub fn parse_past_time(input: &str, now: DateTime<Utc>, utc: bool) -> Result<DateTime<Utc>> {
    let t = parse_time(input, now, utc)?;
    if t > now {
        return Err(usage(format!(
            "time `{input}` = {} is in the future; lastgood restores to a past moment",
            show(t)
        ))
        .hint("check the date; for the newest backup use `--at now` or `--backup latest`")
        .into());
    }
    Ok(t)
}

fn parse_any(input: &str, now: DateTime<Utc>, utc: bool) -> Result<DateTime<Utc>> {
    let s = input.trim();
    let lower = s.to_ascii_lowercase();
    if lower == "now" {
        return Ok(now);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    if let Some(ago) = relative(&lower).transpose()? {
        return now.checked_sub_signed(ago).ok_or_else(|| refuse(input, "it is too far back").into());
    }
    let words: Vec<&str> = lower.split_whitespace().collect();
    if let Some(day) = words.first().and_then(|w| day_word(w)) {
        return day_and_time(input, &words[1..], day, now, utc);
    }
    if let Some(t) = wall_clock(input, &lower, now, utc)? {
        return Ok(t);
    }
    Err(explain_failure(input, &lower))
}

/// How `input` was understood, for output: `` `2 hours ago` = 2026-11-24 04:00:00 +00:00 ``.
pub fn explain(input: &str, t: DateTime<Utc>) -> String {
    format!("`{input}` = {}", show(t))
}

fn refuse(input: &str, why: &str) -> crate::error::Failure {
    usage(format!("cannot read time `{input}`: {why}")).hint(FORMS_HINT)
}

/// `-3h`, `3h ago`, `2 hours 30 minutes ago` → how far back. `None` when the input is not of this
/// shape; an error when it is but a unit is unusable.
fn relative(lower: &str) -> Option<Result<TimeDelta>> {
    let body = if let Some(rest) = lower.strip_suffix("ago") {
        rest.trim()
    } else if let Some(rest) = lower.strip_prefix('-') {
        rest.trim()
    } else if lower.starts_with('+') || lower.starts_with("in ") {
        return Some(Err(refuse(
            lower,
            "times in the future are not accepted; lastgood looks back (`-3h`, `3 hours ago`)",
        )
        .into()));
    } else {
        return None;
    };
    let pairs = split_amounts(body)?;
    let mut total = TimeDelta::zero();
    for (n, unit) in pairs {
        let secs = match unit_seconds(&unit) {
            Some(s) => s,
            None if is_calendar_unit(&unit) => {
                return Some(Err(refuse(lower, &format!("understood {n} {unit}, but months and years have no fixed length; give days (`60 days ago`) or a date")).into()));
            }
            None => {
                return Some(Err(
                    refuse(lower, &format!("understood {n} but not the unit `{unit}` (s, m, h, d, w)")).into()
                ));
            }
        };
        let add = n.checked_mul(secs).and_then(TimeDelta::try_seconds);
        match add.and_then(|a| total.checked_add(&a)) {
            Some(t) => total = t,
            None => return Some(Err(refuse(lower, "it is too far back").into())),
        }
    }
    Some(Ok(total))
}

/// `1h30m` / `2 hours 30 minutes` → [(1, "h"), (30, "m")]; `None` unless the text is only
/// number–unit pairs.
fn split_amounts(body: &str) -> Option<Vec<(i64, String)>> {
    let mut pairs = Vec::new();
    let mut chars = body.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            break;
        }
        let mut digits = String::new();
        while let Some(c) = chars.peek().copied().filter(char::is_ascii_digit) {
            digits.push(c);
            chars.next();
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut unit = String::new();
        while let Some(c) = chars.peek().copied().filter(char::is_ascii_alphabetic) {
            unit.push(c);
            chars.next();
        }
        if digits.is_empty() || unit.is_empty() {
            return None;
        }
        pairs.push((digits.parse().ok()?, unit));
    }
    (!pairs.is_empty()).then_some(pairs)
}

fn unit_seconds(unit: &str) -> Option<i64> {
    let u = unit.strip_suffix('s').filter(|u| u.len() > 1).unwrap_or(unit);
    Some(match u {
        "s" | "sec" | "second" => 1,
        "m" | "min" | "minute" => 60,
        "h" | "hr" | "hour" => 3600,
        "d" | "day" => 86_400,
        "w" | "week" => 7 * 86_400,
        _ => return None,
    })
}

fn is_calendar_unit(unit: &str) -> bool {
    matches!(unit, "mo" | "month" | "months" | "y" | "yr" | "yrs" | "year" | "years")
}

/// `today` → 0, `yesterday` → 1 (days back).
fn day_word(w: &str) -> Option<u64> {
    match w {
        "today" => Some(0),
        "yesterday" => Some(1),
        _ => None,
    }
}

fn day_and_time(input: &str, rest: &[&str], days_back: u64, now: DateTime<Utc>, utc: bool) -> Result<DateTime<Utc>> {
    let day = input.split_whitespace().next().unwrap_or_default();
    let rest: Vec<&str> = rest.iter().copied().filter(|w| *w != "at").collect();
    let [clock] = rest.as_slice() else {
        let why = if rest.is_empty() {
            format!("understood `{day}`, but not which time of that day; add one, e.g. `{day} 18:00`")
        } else {
            format!("understood `{day}`, but not `{}` (expected one time of day, HH:MM[:SS])", rest.join(" "))
        };
        return Err(refuse(input, &why).into());
    };
    let Some(time) = time_of_day(clock) else {
        return Err(refuse(
            input,
            &format!("understood `{day}`, but `{clock}` is not a time of day (HH:MM or HH:MM:SS, 00:00–23:59)"),
        )
        .into());
    };
    let today = if utc { now.date_naive() } else { now.with_timezone(&Local).date_naive() };
    let date = today.checked_sub_days(Days::new(days_back)).ok_or_else(|| refuse(input, "it is too far back"))?;
    zoned(date.and_time(time), None, utc, input)
}

fn time_of_day(s: &str) -> Option<NaiveTime> {
    ["%H:%M:%S", "%H:%M:%S%.f", "%H:%M"].iter().find_map(|f| NaiveTime::parse_from_str(s, f).ok())
}

/// `06:00`, `2026-11-24`, `2026-11-24 06:00[:SS]` with an optional zone.
fn wall_clock(input: &str, lower: &str, now: DateTime<Utc>, utc: bool) -> Result<Option<DateTime<Utc>>> {
    let (text, zone) = split_zone(lower);
    let text = text.trim();
    if let Some(time) = time_of_day(text) {
        let today = match zone {
            Some(z) => now.with_timezone(&z).date_naive(),
            None if utc => now.date_naive(),
            None => now.with_timezone(&Local).date_naive(),
        };
        let t = zoned(today.and_time(time), zone, utc, input)?;
        if t > now {
            let why = format!(
                "understood today at {text}, {}, which is still in the future; say `yesterday {text}`, or `today {text}` if you mean it",
                show(t)
            );
            return Err(refuse(input, &why).into());
        }
        return Ok(Some(t));
    }
    let normalized = text.replacen('t', " ", 1);
    for fmt in ["%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%d %H:%M"] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(&normalized, fmt) {
            return zoned(naive, zone, utc, input).map(Some);
        }
    }
    if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return zoned(date.and_time(NaiveTime::MIN), zone, utc, input).map(Some);
    }
    Ok(None)
}

/// Splits a trailing zone (`z`, `utc`, `+01:00`, `+0100`, `-05`) off the text.
fn split_zone(lower: &str) -> (&str, Option<FixedOffset>) {
    if let Some(rest) = lower.strip_suffix("utc").or_else(|| lower.strip_suffix('z')) {
        return (rest, FixedOffset::east_opt(0));
    }
    let Some(pos) = lower.rfind(['+', '-']) else { return (lower, None) };
    let (text, off) = lower.split_at(pos);
    // A `-` inside a date is not a zone: the zone must follow a time (`…06:00-05:00`).
    if !text.trim_end().contains(':') {
        return (lower, None);
    }
    let sign = if off.starts_with('-') { -1 } else { 1 };
    let digits: String = off[1..].chars().filter(|c| *c != ':').collect();
    if !digits.chars().all(|c| c.is_ascii_digit()) || !matches!(digits.len(), 2 | 4) {
        return (lower, None);
    }
    let h: i32 = digits[..2].parse().unwrap_or(99);
    let m: i32 = digits.get(2..).map_or(0, |m| m.parse().unwrap_or(99));
    match FixedOffset::east_opt(sign * (h * 3600 + m * 60)) {
        Some(z) if h < 24 && m < 60 => (text, Some(z)),
        _ => (lower, None),
    }
}

fn zoned(naive: NaiveDateTime, zone: Option<FixedOffset>, utc: bool, input: &str) -> Result<DateTime<Utc>> {
    match zone {
        Some(z) => z
            .from_local_datetime(&naive)
            .single()
            .map(|t| t.with_timezone(&Utc))
            .ok_or_else(|| refuse(input, "out of range").into()),
        None if utc => Ok(naive.and_utc()),
        None => local_to_utc(naive, input),
    }
}

/// The clearest refusal for input no rule accepted.
fn explain_failure(input: &str, lower: &str) -> anyhow::Error {
    let t = lower.trim();
    let why = if !t.is_empty() && t.chars().all(|c| c.is_ascii_digit()) {
        format!("a bare number is ambiguous; write `{t}:00` for a time of day or `-{t}h` for {t} hours ago")
    } else if let Some(date) = t.get(..10).filter(|d| d.as_bytes().get(4) == Some(&b'-')) {
        match NaiveDate::parse_from_str(date, "%Y-%m-%d") {
            Ok(_) => format!(
                "understood the date `{date}`, but not `{}` (expected HH:MM[:SS] and an optional zone)",
                t[10..].trim()
            ),
            Err(_) => format!("`{date}` is not a valid date (YYYY-MM-DD)"),
        }
    } else if t.contains('/') {
        "dates with slashes are ambiguous (is 11/12 November 12 or December 11?); write YYYY-MM-DD".to_string()
    } else if t.contains(':') {
        "not a valid time of day (HH:MM or HH:MM:SS, 00:00–23:59), or an unknown zone".to_string()
    } else {
        "not a form lastgood reads".to_string()
    };
    refuse(input, &why).into()
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
/// `2026-11-24_06-00-00`, `2026-11-24 06:00`; seconds may carry a fraction (`2026-11-24T06-00-00.123Z`,
/// the form `backup` writes).
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
    // Optional fraction of a second: `.123` (milliseconds, as `backup` names files), up to `.123456789`.
    let (nanos, after) = match after.strip_prefix('.') {
        Some(a) => {
            let frac = &a[..a.bytes().take_while(u8::is_ascii_digit).count()];
            let nanos = frac
                .bytes()
                .take(9)
                .enumerate()
                .fold(0u32, |n, (i, c)| n + u32::from(c - b'0') * 10u32.pow(8 - i as u32));
            (nanos, &a[frac.len()..])
        }
        None => (0, after),
    };
    let naive = chrono::NaiveDate::from_ymd_opt(y as i32, mo, d)?.and_hms_nano_opt(h, mi, sec, nanos)?;
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

    /// `backup` names files with milliseconds; they are read back, so two backups in one second
    /// keep their order.
    #[test]
    fn file_name_stamps_with_milliseconds() {
        let ms = |s: &str| utc(s);
        assert_eq!(timestamp_in_name("shop-2026-11-24T06-00-00.123Z.db"), Some(ms("2026-11-24T06:00:00.123Z")));
        assert_eq!(timestamp_in_name("shop-2026-11-24T06-00-00.123Z-2.db.gz"), Some(ms("2026-11-24T06:00:00.123Z")));
        assert_eq!(timestamp_in_name("shop-2026-11-24T06-00-00.5Z.db"), Some(ms("2026-11-24T06:00:00.5Z")));
        assert_eq!(timestamp_in_name("shop-2026-11-24T07:00:00.250+01:00.db"), Some(ms("2026-11-24T06:00:00.250Z")));
        assert!(
            timestamp_in_name("a-2026-11-24T06-00-00.001Z.db") < timestamp_in_name("a-2026-11-24T06-00-00.002Z.db")
        );
    }

    #[test]
    fn operator_times() {
        let now = utc("2026-11-24T12:00:00Z");
        assert_eq!(parse_time("now", now, false).unwrap(), now);
        assert_eq!(parse_time("2026-11-24T06:00:00Z", now, false).unwrap(), utc("2026-11-24T06:00:00Z"));
        assert_eq!(parse_time("2026-11-24 06:00", now, true).unwrap(), utc("2026-11-24T06:00:00Z"));
        assert_eq!(parse_time("2026-11-24 06:00:30", now, true).unwrap(), utc("2026-11-24T06:00:30Z"));
        assert_eq!(parse_time("2026-11-24 07:00 +01:00", now, false).unwrap(), utc("2026-11-24T06:00:00Z"));
        assert_eq!(parse_time("2026-11-24 07:00 +0100", now, false).unwrap(), utc("2026-11-24T06:00:00Z"));
        assert_eq!(parse_time("2026-11-24T01:00-05:00", now, false).unwrap(), utc("2026-11-24T06:00:00Z"));
        assert_eq!(parse_time("2026-11-24 06:00 UTC", now, false).unwrap(), utc("2026-11-24T06:00:00Z"));
        assert_eq!(parse_time("2026-11-24", now, true).unwrap(), utc("2026-11-24T00:00:00Z"));
        assert!(parse_time("yesterday-ish", now, false).is_err());
        assert!(parse_time("2026-02-30 06:00", now, true).is_err());
    }

    #[test]
    fn relative_times() {
        let now = utc("2026-11-24T12:00:00Z");
        for (input, want) in [
            ("-3h", "2026-11-24T09:00:00Z"),
            ("-90m", "2026-11-24T10:30:00Z"),
            ("-1h30m", "2026-11-24T10:30:00Z"),
            ("-2d", "2026-11-22T12:00:00Z"),
            ("-1w", "2026-11-17T12:00:00Z"),
            ("-45s", "2026-11-24T11:59:15Z"),
            ("-3 hours", "2026-11-24T09:00:00Z"),
            ("2 hours ago", "2026-11-24T10:00:00Z"),
            ("2 Hours Ago", "2026-11-24T10:00:00Z"),
            ("1 hour ago", "2026-11-24T11:00:00Z"),
            ("3h ago", "2026-11-24T09:00:00Z"),
            ("1 day 6 hours ago", "2026-11-23T06:00:00Z"),
            ("90 minutes ago", "2026-11-24T10:30:00Z"),
            ("10 secs ago", "2026-11-24T11:59:50Z"),
        ] {
            assert_eq!(parse_time(input, now, false).unwrap(), utc(want), "{input}");
        }
    }

    #[test]
    fn days_and_times_of_day() {
        let now = utc("2026-11-24T12:00:00Z");
        assert_eq!(parse_time("06:00", now, true).unwrap(), utc("2026-11-24T06:00:00Z"));
        assert_eq!(parse_time("06:00:30", now, true).unwrap(), utc("2026-11-24T06:00:30Z"));
        assert_eq!(parse_time("yesterday 18:00", now, true).unwrap(), utc("2026-11-23T18:00:00Z"));
        assert_eq!(parse_time("yesterday at 18:00", now, true).unwrap(), utc("2026-11-23T18:00:00Z"));
        assert_eq!(parse_time("today 06:00", now, true).unwrap(), utc("2026-11-24T06:00:00Z"));
        assert_eq!(parse_time("06:00 +01:00", now, false).unwrap(), utc("2026-11-24T05:00:00Z"));
        // Local wall-clock time: today's date in the local zone (midnight is never in the future).
        let local_midnight = Local
            .from_local_datetime(&now.with_timezone(&Local).date_naive().and_hms_opt(0, 0, 0).unwrap())
            .single()
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(parse_time("00:00", now, false).unwrap(), local_midnight);
    }

    #[test]
    fn leap_seconds_and_future_restore_points_are_refused() {
        let now = utc("2026-11-24T07:30:00Z");
        for input in ["2026-11-24 06:00:60", "2026-11-24T06:00:60Z", "06:00:60"] {
            let err = parse_time(input, now, true).unwrap_err().to_string();
            assert!(err.contains("seconds run from 00 to 59"), "{input}: {err}");
        }
        assert_eq!(parse_past_time("2026-11-24 07:30", now, true).unwrap(), now);
        assert_eq!(parse_past_time("now", now, true).unwrap(), now);
        for input in ["2026-11-25 06:00", "9999-12-31", "2026-11-24T07:30:01Z"] {
            let err = parse_past_time(input, now, true).unwrap_err().to_string();
            assert!(err.contains("is in the future"), "{input}: {err}");
            // A bound of a search (--until) may lie ahead.
            assert!(parse_time(input, now, true).is_ok(), "{input}");
        }
    }

    #[test]
    fn refusals_say_what_was_understood() {
        let now = utc("2026-11-24T12:00:00Z");
        let msg = |s: &str| {
            let e = parse_time(s, now, true).unwrap_err();
            assert_eq!(crate::error::classify(&e).unwrap().kind, crate::error::Kind::Usage, "{s}");
            format!("{e:#}")
        };
        assert!(msg("yesterday").contains("understood `yesterday`, but not which time"), "{}", msg("yesterday"));
        assert!(msg("yesterday 25:00").contains("`25:00` is not a time of day"), "{}", msg("yesterday 25:00"));
        assert!(msg("2 months ago").contains("months and years have no fixed length"));
        assert!(msg("3 fortnights ago").contains("not the unit `fortnights`"));
        assert!(msg("+3h").contains("future"));
        assert!(msg("6").contains("bare number is ambiguous"));
        assert!(msg("11/12/2026").contains("slashes are ambiguous"));
        assert!(msg("2026-11-24 06:00 Europe/Rome").contains("understood the date `2026-11-24`"));
        assert!(msg("2026-13-01").contains("not a valid date"));
        assert!(msg("25:00").contains("not a valid time of day"));
        assert!(msg("whenever").contains("not a form"));
        assert!(msg("13:00").contains("still in the future; say `yesterday 13:00`"), "{}", msg("13:00"));
        assert_eq!(parse_time("today 13:00", now, true).unwrap(), utc("2026-11-24T13:00:00Z"));
    }

    #[test]
    fn explain_prints_the_zone() {
        let t = utc("2026-11-24T06:00:00Z");
        let e = explain("-3h", t);
        assert!(e.starts_with("`-3h` = 2026-11-2"), "{e}");
        // Ends with the zone's offset, `+HH:MM` or `-HH:MM` (the date's dashes do not count).
        let offset = &e[e.len() - 7..];
        let b = offset.as_bytes();
        assert!(b[0] == b' ' && matches!(b[1], b'+' | b'-') && b[4] == b':', "no zone offset at the end: {e}");
        assert!(offset[2..4].bytes().chain(offset[5..].bytes()).all(|c| c.is_ascii_digit()), "{e}");
        // And the local time shown is the instant: reading it back gives `t`.
        let shown = e.trim_start_matches("`-3h` = ");
        assert_eq!(DateTime::parse_from_str(shown, "%Y-%m-%d %H:%M:%S %:z").unwrap().with_timezone(&Utc), t);
    }
}
