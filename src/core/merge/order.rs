//! The order in which `diff --sql` and `merge` write changes into live, across tables and kinds
//! of change, so that every statement meets a database state it is accepted in, and no action a
//! foreign key sets off takes along a row the patch still needs.
//!
//! Two passes over the tables of the patch (`steps`):
//! 1. children before parents: each table's removals (rows live gained), then its updates;
//! 2. parents before children: each table's late updates (below), then its re-inserts.
//!
//! Why. Within a table removals come first: a row to re-insert may carry a key the table's
//! uniqueness calls equal to the key of a row the patch removes (`'a'` and `'A'` in a `NOCASE`
//! key, INTEGER `2` and REAL `2.0`, numerics `2` and `2.0`), and updates come before re-inserts,
//! which may hold unique values an updated row gives up. Across tables, children lose rows before
//! their parents and parents get rows back before their children, so a foreign key is never
//! broken on the way; and a child's updates come before its parents' removals, so a child row
//! pointed at a parent row the patch removes is pointed back before that removal could cascade
//! into it (ON DELETE CASCADE would delete it, SET NULL rewrite it).
//!
//! SQLite checks foreign keys at the commit (the patch and the merge defer them) and so does
//! PostgreSQL for DEFERRABLE keys (`SET CONSTRAINTS ALL DEFERRED`); a NOT DEFERRABLE key (the
//! default) is checked at each statement. A child table whose keys to other tables of the patch
//! include a NOT DEFERRABLE one, and none of which has a delete action that changes rows, has its
//! updates in pass 2 (late), after its parents' re-inserts: a restored child row typically points
//! back at a parent row the patch re-inserts, and a removal cannot cascade into it. (With both
//! kinds of need in one such table, some order of single statements cannot exist; the database
//! then refuses the statement and nothing is written.) Cycles between tables keep their order.

use anyhow::Result;

use crate::core::diff::{ChangeKind, TableSpec};
use crate::core::sqlgen::Dialect;
use crate::engine::ForeignKey;
use crate::value::{Row, Value};

/// A read-only query on live (a `Database`, or the write transaction).
pub type QueryFn<'a> = dyn FnMut(&str, &[Value], &mut dyn FnMut(Row) -> Result<()>) -> Result<()> + 'a;

/// Every foreign key of live, through `query`.
pub fn foreign_keys(query: &mut QueryFn, dialect: Dialect) -> Result<Vec<ForeignKey>> {
    let mut rows = Vec::new();
    query(dialect.foreign_keys_query(), &[], &mut |r| {
        rows.push(r);
        Ok(())
    })?;
    ForeignKey::from_rows(rows)
}

/// Which of a table's changes a step writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// Rows live gained since the backup: removed.
    Removals,
    /// Rows both hold with other values: scratch's values written.
    Updates,
    /// Rows live lost: re-inserted.
    Inserts,
}

impl Part {
    /// The part a change belongs to.
    pub fn of(kind: &ChangeKind) -> Part {
        match kind {
            ChangeKind::Inserted => Part::Removals,
            ChangeKind::Updated { .. } => Part::Updates,
            ChangeKind::Deleted => Part::Inserts,
        }
    }

    /// 0, 1, 2: for arrays of one thing per part.
    pub fn index(self) -> usize {
        match self {
            Part::Removals => 0,
            Part::Updates => 1,
            Part::Inserts => 2,
        }
    }
}

/// One step of the write order: one part of one table (an index into the specs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    pub table: usize,
    pub part: Part,
}

/// The steps, in order, for the tables `specs` given the foreign keys of live (see the module
/// docs). Every (table, part) occurs exactly once.
pub fn steps(specs: &[TableSpec], fks: &[ForeignKey], dialect: Dialect) -> Vec<Step> {
    let names: Vec<&str> = specs.iter().map(|s| s.table.as_str()).collect();
    let find = |name: &str| match dialect {
        // SQLite names are case-insensitive, also in REFERENCES.
        Dialect::Sqlite => names.iter().position(|n| n.eq_ignore_ascii_case(name)),
        Dialect::Postgres => names.iter().position(|n| *n == name),
    };
    // Foreign keys between two different tables of the patch: (child, parent, key).
    let edges: Vec<(usize, usize, &ForeignKey)> = fks
        .iter()
        .filter_map(|fk| Some((find(&fk.child)?, find(&fk.parent)?, fk)))
        .filter(|(c, p, _)| c != p)
        .collect();
    let late: Vec<bool> = (0..specs.len())
        .map(|t| {
            let mine: Vec<&ForeignKey> = edges.iter().filter(|(c, _, _)| *c == t).map(|(_, _, fk)| *fk).collect();
            dialect == Dialect::Postgres
                && mine.iter().any(|fk| !fk.deferrable)
                && !mine.iter().any(|fk| ForeignKey::changes_rows(&fk.on_delete))
        })
        .collect();
    let parents_first = parents_first(specs.len(), &edges.iter().map(|(c, p, _)| (*c, *p)).collect::<Vec<_>>());
    let mut out = Vec::with_capacity(specs.len() * 3);
    for &t in parents_first.iter().rev() {
        out.push(Step { table: t, part: Part::Removals });
        if !late[t] {
            out.push(Step { table: t, part: Part::Updates });
        }
    }
    for &t in &parents_first {
        if late[t] {
            out.push(Step { table: t, part: Part::Updates });
        }
        out.push(Step { table: t, part: Part::Inserts });
    }
    out
}

/// Tables `0..n` with every parent before its children (`edges`: (child, parent)), otherwise in
/// index order; a table in a cycle comes when nothing outside the cycle is left before it.
fn parents_first(n: usize, edges: &[(usize, usize)]) -> Vec<usize> {
    let mut placed = vec![false; n];
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let ready = (0..n).find(|&t| !placed[t] && edges.iter().all(|&(c, p)| c != t || placed[p] || p == t));
        // A cycle: the first table left goes next.
        let t = ready.unwrap_or_else(|| (0..n).find(|&t| !placed[t]).expect("a table left"));
        placed[t] = true;
        out.push(t);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::diff::{Drift, KeyMode};

    fn spec(name: &str) -> TableSpec {
        TableSpec {
            table: name.into(),
            mode: KeyMode::PrimaryKey,
            columns: vec!["id".into()],
            key_len: 1,
            compared: Vec::new(),
            drift: Drift::default(),
            rowid: None,
            live_columns: Vec::new(),
            partitioned: false,
        }
    }

    fn fk(child: &str, parent: &str, on_delete: &str, deferrable: bool) -> ForeignKey {
        ForeignKey {
            child: child.into(),
            child_columns: vec!["p".into()],
            parent: parent.into(),
            parent_columns: vec!["id".into()],
            on_delete: on_delete.into(),
            on_update: "NO ACTION".into(),
            deferrable,
        }
    }

    fn names(specs: &[TableSpec], steps: &[Step]) -> Vec<String> {
        steps
            .iter()
            .map(|s| {
                let p = match s.part {
                    Part::Removals => "-",
                    Part::Updates => "~",
                    Part::Inserts => "+",
                };
                format!("{p}{}", specs[s.table].table)
            })
            .collect()
    }

    #[test]
    fn children_lose_rows_first_and_parents_get_them_back_first() {
        // a (child) → b → c (root); d unrelated; b refers to itself too.
        let specs: Vec<TableSpec> = ["a", "b", "c", "d"].into_iter().map(spec).collect();
        let fks = [fk("a", "b", "CASCADE", false), fk("B", "c", "NO ACTION", true), fk("b", "b", "CASCADE", false)];
        let got = names(&specs, &steps(&specs, &fks, Dialect::Sqlite));
        assert_eq!(got, ["-d", "~d", "-a", "~a", "-b", "~b", "-c", "~c", "+c", "+b", "+a", "+d"]);
    }

    #[test]
    fn postgres_updates_a_child_after_its_parents_where_a_key_is_checked_at_once() {
        let specs: Vec<TableSpec> = ["kid", "mum"].into_iter().map(spec).collect();
        let strict = [fk("kid", "mum", "NO ACTION", false)];
        assert_eq!(
            names(&specs, &steps(&specs, &strict, Dialect::Postgres)),
            ["-kid", "-mum", "~mum", "+mum", "~kid", "+kid"]
        );
        // A cascading key: the child is pointed away from doomed parents first.
        let cascading = [fk("kid", "mum", "CASCADE", false)];
        assert_eq!(
            names(&specs, &steps(&specs, &cascading, Dialect::Postgres)),
            ["-kid", "~kid", "-mum", "~mum", "+mum", "+kid"]
        );
    }

    #[test]
    fn a_cycle_keeps_index_order() {
        assert_eq!(parents_first(3, &[(0, 1), (1, 0), (2, 0)]), [0, 1, 2]);
        assert_eq!(parents_first(3, &[(0, 2), (1, 2)]), [2, 0, 1]);
    }
}
