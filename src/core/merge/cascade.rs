//! Cascading foreign keys: a merge changes only the rows it was asked to change, so a planned
//! removal or referenced-key update that an ON DELETE / ON UPDATE action would carry into rows
//! live holds is refused, in the plan and again right before the write.

use anyhow::{Context, Result};

use super::key_text;
use super::order::QueryFn;
use crate::core::diff::{Change, ChangeKind, TableSpec};
use crate::core::sqlgen::Dialect;
use crate::engine::ForeignKey;
use crate::error::refused;
use crate::value::Value;

/// The foreign keys in live through which removing or updating rows of a merged table would
/// change rows elsewhere (ON DELETE / ON UPDATE CASCADE, SET NULL, SET DEFAULT), per table of the
/// merge. A merge changes only the rows it was asked to change: a planned write that would set
/// off such an action on rows live holds is refused, in the plan (so the dry run says so) and
/// again in the write transaction right before the write. (Actions that refuse instead,
/// RESTRICT and NO ACTION, are left to the database, which fails the commit naming the orphans.)
pub(super) struct Cascades {
    dialect: Dialect,
    pub(super) by_table: Vec<Vec<ForeignKey>>,
}

impl Cascades {
    pub(super) fn none() -> Cascades {
        Cascades { dialect: Dialect::Sqlite, by_table: Vec::new() }
    }

    pub(super) fn new(fks: &[ForeignKey], dialect: Dialect, specs: &[TableSpec]) -> Cascades {
        let refers_to = |fk: &ForeignKey, table: &str| match dialect {
            // SQLite names are case-insensitive, also in REFERENCES.
            Dialect::Sqlite => fk.parent.eq_ignore_ascii_case(table),
            Dialect::Postgres => fk.parent == table,
        };
        let by_table = specs
            .iter()
            .map(|spec| {
                fks.iter()
                    .filter(|fk| refers_to(fk, &spec.table))
                    .filter(|fk| ForeignKey::changes_rows(&fk.on_delete) || ForeignKey::changes_rows(&fk.on_update))
                    .cloned()
                    .collect()
            })
            .collect();
        Cascades { dialect, by_table }
    }

    /// Errors: `Refused` when writing `c` (a row of table `ti` to remove, or an update of columns
    /// a foreign key refers to) would make a cascading action change rows live holds now.
    pub(super) fn check(&self, query: &mut QueryFn, ti: usize, spec: &TableSpec, c: &Change) -> Result<()> {
        let Some(fks) = self.by_table.get(ti).filter(|f| !f.is_empty()) else { return Ok(()) };
        for fk in fks {
            let (what, action, clause) = match &c.kind {
                ChangeKind::Inserted => ("remove", &fk.on_delete, "ON DELETE"),
                ChangeKind::Updated { columns } if fk.parent_columns.iter().any(|p| columns.contains(p)) => {
                    ("change the referenced column(s) of", &fk.on_update, "ON UPDATE")
                }
                _ => continue,
            };
            if !ForeignKey::changes_rows(action) {
                continue;
            }
            let row = c.live_row.as_ref().context("a planned change without live's row")?;
            let mut values = Vec::new();
            for p in &fk.parent_columns {
                let Some(i) = spec.columns.iter().position(|x| x.eq_ignore_ascii_case(p)) else {
                    return Err(refused(format!(
                        "`{}` refers to column `{p}` of `{}` ({clause} {action}), which is not in both scratch and live, so the merge cannot tell which rows depend on the merged ones; nothing was written",
                        fk.child, spec.table
                    ))
                    .hint(format!("leave `{}` out of the merge with --tables", spec.table))
                    .into());
                };
                values.push(row[i].clone());
            }
            if values.iter().any(|v| matches!(v, Value::Null)) {
                continue; // a NULL refers to no row
            }
            let mut n = 0i64;
            query(&self.dialect.count_referencing(&fk.child, &fk.child_columns), &values, &mut |r| {
                if let Some(Value::Integer(k)) = r.first() {
                    n = *k;
                }
                Ok(())
            })?;
            if n > 0 {
                return Err(refused(format!(
                    "merging would {what} the row of `{}` ({}), and {n} row(s) of `{}` refer to it ({} → {}, {clause} {action}): they would change too, which the merge was not asked to do; nothing was written",
                    spec.table,
                    key_text(spec, c),
                    fk.child,
                    fk.child_columns.join(", "),
                    fk.parent_columns.join(", "),
                ))
                .hint(format!(
                    "leave `{}` out of --restore or narrow the merge with --where; or deal with those rows of `{}` first",
                    c.kind.name(),
                    fk.child
                ))
                .into());
            }
        }
        Ok(())
    }
}
