//! Promote's completeness check: the schema objects live has and scratch lacks, which a promote
//! would drop from live without a word (a scratch made with `restore --tables` holds only those
//! tables).
//!
//! Each engine lists its objects as (kind, name) — SQLite: tables and views (indexes and triggers
//! belong to their table); PostgreSQL: schemas, tables, views, materialized views, sequences,
//! functions, procedures and extensions, schema-qualified, functions with their argument types.
//! Objects are compared by name. A promote goes ahead only when nothing is missing, or when
//! `--allow-missing` names exactly the missing objects: a missing object not named, or a name that
//! is not missing, refuses (exit 5), so an override never covers more than the operator read.

use std::collections::BTreeSet;

use anyhow::Result;
use serde::Serialize;

use crate::error::refused;
use crate::util::shell::shell_quote;

/// One schema object of a database.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct SchemaName {
    /// `table`, `view`, `sequence`, `function`, `schema`, …
    pub kind: String,
    /// As `--allow-missing` takes it (PostgreSQL: `schema.name`, functions `schema.f(int4, text)`).
    pub name: String,
}

impl SchemaName {
    pub fn new(kind: impl Into<String>, name: impl Into<String>) -> SchemaName {
        SchemaName { kind: kind.into(), name: name.into() }
    }

    fn shown(&self) -> String {
        format!("{} `{}`", self.kind, self.name)
    }
}

/// The objects of `have` whose name `other` lacks, sorted by kind and name.
pub fn lacking(have: &[SchemaName], other: &[SchemaName]) -> Vec<SchemaName> {
    let names: BTreeSet<&str> = other.iter().map(|o| o.name.as_str()).collect();
    let set: BTreeSet<SchemaName> = have.iter().filter(|o| !names.contains(o.name.as_str())).cloned().collect();
    set.into_iter().collect()
}

/// Splits `--allow-missing` values at commas that are outside parentheses and double quotes (a
/// function's argument list has commas), trimming blanks; empty parts are dropped.
pub fn split_names(values: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for v in values {
        let (mut depth, mut quoted, mut cur) = (0i32, false, String::new());
        for c in v.chars() {
            match c {
                '"' => quoted = !quoted,
                '(' if !quoted => depth += 1,
                ')' if !quoted => depth -= 1,
                ',' if !quoted && depth <= 0 => {
                    out.push(std::mem::take(&mut cur));
                    continue;
                }
                _ => {}
            }
            cur.push(c);
        }
        out.push(cur);
    }
    out.into_iter().map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect()
}

/// The `--allow-missing` argument naming exactly `objects`, shell-quoted; `None` when empty.
pub fn allow_arg(objects: &[SchemaName]) -> Option<String> {
    if objects.is_empty() {
        return None;
    }
    let names: Vec<&str> = objects.iter().map(|o| o.name.as_str()).collect();
    Some(format!("--allow-missing {}", shell_quote(&names.join(","))))
}

/// Refuses (exit 5) unless `allowed` names exactly the `missing` objects. `live` and `scratch`
/// are how the two databases are shown.
pub fn check(missing: &[SchemaName], allowed: &[String], live: &str, scratch: &str) -> Result<()> {
    let missing_names: BTreeSet<&str> = missing.iter().map(|o| o.name.as_str()).collect();
    let unknown: Vec<&str> = allowed
        .iter()
        .map(String::as_str)
        .filter(|a| !missing_names.contains(a))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    if !unknown.is_empty() {
        let listed: Vec<String> = unknown.iter().map(|u| format!("`{u}`")).collect();
        let hint = match allow_arg(missing) {
            Some(arg) => format!("live objects missing from scratch, exactly: {arg}"),
            None => "scratch lacks nothing that live has: drop --allow-missing".to_string(),
        };
        return Err(refused(format!(
            "--allow-missing names {}, which is not a live object missing from scratch `{scratch}`",
            listed.join(", ")
        ))
        .hint(hint)
        .into());
    }
    let allowed: BTreeSet<&str> = allowed.iter().map(String::as_str).collect();
    let not_allowed: Vec<&SchemaName> = missing.iter().filter(|o| !allowed.contains(o.name.as_str())).collect();
    if not_allowed.is_empty() {
        return Ok(());
    }
    let shown: Vec<String> = not_allowed.iter().map(|o| o.shown()).collect();
    Err(refused(format!(
        "scratch `{scratch}` lacks {} object(s) that live `{live}` has, which promote would drop: {}",
        not_allowed.len(),
        shown.join(", ")
    ))
    .hint(format!(
        "restore the whole backup into scratch, or, to promote without them (the safety copy keeps them), pass {}",
        allow_arg(missing).unwrap_or_default()
    ))
    .into())
}

/// The live objects scratch lacks, one a line, each marked when `--allow-missing` names it (a
/// promote's dry run, every engine's).
pub fn render_missing(missing: &[SchemaName], allowed: &[String]) -> String {
    let mut s = String::new();
    if !missing.is_empty() {
        s.push_str(&format!(
            "scratch lacks {} object(s) that live has, which promote would drop from live (refused unless --allow-missing names exactly them):\n",
            missing.len()
        ));
    }
    for m in missing {
        let ok = if allowed.contains(&m.name) { " (allowed by --allow-missing)" } else { "" };
        s.push_str(&format!("  {} {}{ok}\n", m.kind, m.name));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[(&str, &str)]) -> Vec<SchemaName> {
        v.iter().map(|(k, n)| SchemaName::new(*k, *n)).collect()
    }

    #[test]
    fn allow_missing_must_name_exactly_the_missing_objects() {
        let live = names(&[("table", "orders"), ("table", "downloads"), ("view", "big_orders")]);
        let scratch = names(&[("table", "downloads")]);
        let missing = lacking(&live, &scratch);
        assert_eq!(missing, names(&[("table", "orders"), ("view", "big_orders")]));
        let allow = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert!(check(&missing, &allow(&["orders", "big_orders"]), "l", "s").is_ok());
        let e = check(&missing, &allow(&["orders"]), "l", "s").unwrap_err();
        assert!(format!("{e}").contains("view `big_orders`"), "{e}");
        let e = check(&missing, &allow(&["orders", "big_orders", "customers"]), "l", "s").unwrap_err();
        assert!(format!("{e}").contains("`customers`"), "{e}");
        assert!(check(&[], &allow(&["x"]), "l", "s").is_err());
        assert!(check(&[], &[], "l", "s").is_ok());
    }

    #[test]
    fn names_split_at_commas_outside_argument_lists() {
        let v = vec!["public.f(integer, text),public.t".to_string(), " a , b".to_string()];
        assert_eq!(split_names(&v), ["public.f(integer, text)", "public.t", "a", "b"]);
        assert_eq!(
            allow_arg(&names(&[("table", "public.Order Items")])).unwrap(),
            "--allow-missing 'public.Order Items'"
        );
    }
}
