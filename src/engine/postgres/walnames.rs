//! Naming the relations WAL records touch (`tablespace/database/filenode`) for `incidents`,
//! through the live database, and the `--table` filter as file nodes.
//!
//! A file node names a table when live's `pg_filenode_relation` knows it (its current storage),
//! or when it equals a table's oid: a table's first storage has its oid as file node (PostgreSQL
//! never gives a new file node a number some relation has as oid), so WAL written before a
//! TRUNCATE, VACUUM FULL, CLUSTER or rewriting ALTER TABLE still names it, with a note. A
//! partition is named by its partitioned root, as lastgood names tables. Indexes, TOAST tables,
//! sequences, materialized views and system catalogs are not tables here and are left out;
//! so are relations of other databases, which live cannot name, unless no table is selected:
//! then they, and every relation without a live database, show by file node with a note.
//!
//! The filter: each `--table` resolves in live (an unknown one is `BadInput`), with its
//! partitions; its current file nodes and its oid are the ones kept.

use std::collections::{HashMap, HashSet};

use anyhow::Result;

use super::PgDb;
use super::display_name;
use super::waldump::{Finished, RelKey};
use super::walfiles::FIRST_NORMAL_OID;
use crate::engine::Location;
use crate::engine::wal::{RelationTouch, TxnTouch};
use crate::error::usage;

/// What a file node is, for incidents.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Named {
    Table {
        name: String,
        note: Option<String>,
    },
    /// Not a table (index, TOAST, catalog…): left out.
    Skip,
    /// No name: why.
    Unknown(String),
}

const REWRITTEN: &str = "named by its oid: live stores it in another file node since (TRUNCATE, VACUUM FULL, CLUSTER or a rewriting ALTER TABLE)";

/// The names of relations, with live's connection when there is one.
pub struct Names {
    live: Option<(PgDb, u32)>,
    cache: HashMap<RelKey, Named>,
    /// The selected tables' `(database oid, file node)` and names.
    filter: Option<Vec<(u32, u32, Named)>>,
    /// The tables selected, as lastgood names them.
    pub tables: Vec<String>,
}

impl Names {
    /// Connects to `live` (PostgreSQL) and resolves `tables`. Errors: `Usage` for tables without
    /// a live database or a live database that is not PostgreSQL, `BadInput` for a table live
    /// does not have, `Environment` when live cannot be reached.
    pub fn open(live: Option<&Location>, tables: &[String]) -> Result<Names> {
        let mut names = Names { live: None, cache: HashMap::new(), filter: None, tables: Vec::new() };
        let Some(live) = live else {
            if !tables.is_empty() {
                return Err(usage("--table needs --live: WAL names tables by file node, which only live can map to names")
                    .hint("pass --live postgres://… (the database the WAL is from), or drop --table to list every relation by file node")
                    .into());
            }
            return Ok(names);
        };
        let Location::Postgres(spec) = live else {
            return Err(usage(format!(
                "`{}` is not a PostgreSQL database; WAL names a PostgreSQL server's tables",
                live.describe()
            ))
            .into());
        };
        let mut db = PgDb::open(spec)?;
        let conn = db.conn().clone();
        let oid: u32 = db
            .client()
            .query_one("SELECT oid FROM pg_database WHERE datname = current_database()", &[])
            .map_err(|e| conn.classify(e, "reading the database oid"))?
            .get(0);
        if !tables.is_empty() {
            let mut filter = Vec::new();
            for t in tables {
                let table = db.resolve_table(t)?;
                let name = table.display();
                for (rel_oid, node) in storage_of(&mut db, table.oid)? {
                    filter.push((oid, node, Named::Table { name: name.clone(), note: None }));
                    if rel_oid != node {
                        filter.push((oid, rel_oid, Named::Table { name: name.clone(), note: Some(REWRITTEN.into()) }));
                    }
                }
                names.tables.push(name);
            }
            names.filter = Some(filter);
        }
        names.live = Some((db, oid));
        Ok(names)
    }

    /// The `(database, file node)` pairs the tracker keeps; `None`: every relation.
    pub fn filter(&self) -> Option<Vec<(u32, u32)>> {
        self.filter.as_ref().map(|f| f.iter().map(|(db, node, _)| (*db, *node)).collect())
    }

    fn name(&mut self, key: RelKey) -> Result<Named> {
        if let Some(n) = self.cache.get(&key) {
            return Ok(n.clone());
        }
        let named = if let Some(f) = &self.filter {
            f.iter().find(|(db, node, _)| *db == key.db && *node == key.node).map_or(Named::Skip, |(_, _, n)| n.clone())
        } else if key.node < FIRST_NORMAL_OID || key.db == 0 {
            Named::Skip
        } else {
            match &mut self.live {
                None => Named::Unknown("no --live to name it".into()),
                Some((_, oid)) if *oid != key.db => Named::Unknown(format!("in another database (oid {})", key.db)),
                Some((db, _)) => lookup(db, key)?,
            }
        };
        self.cache.insert(key, named.clone());
        Ok(named)
    }

    /// A finished transaction, named: relations that are not tables are left out, those of one
    /// table merged; `None` when nothing is left. `seen` are the relations with heap records in
    /// the scan: a dropped storage that nothing names and nothing wrote (an index, a TOAST table)
    /// is left out.
    pub fn touch(&mut self, f: Finished, seen: &HashSet<RelKey>) -> Result<Option<TxnTouch>> {
        let mut rels: Vec<RelationTouch> = Vec::new();
        for (key, c) in f.rels {
            let (table, note) = match self.name(key)? {
                Named::Skip => continue,
                Named::Unknown(_) if c.rows() == 0 && !seen.contains(&key) => continue,
                Named::Unknown(why) => (None, Some(why)),
                Named::Table { name, note } => (Some(name), note),
            };
            let touch = RelationTouch {
                table,
                filenode: key.label(),
                note,
                inserts: c.inserts,
                updates: c.updates,
                hot_updates: c.hot_updates,
                deletes: c.deletes,
                truncates: c.truncates,
            };
            match rels.iter_mut().find(|r| r.table.is_some() && r.table == touch.table) {
                Some(have) => {
                    have.add(&touch);
                    if have.note.is_none() {
                        have.note = touch.note;
                    }
                }
                None => rels.push(touch),
            }
        }
        if rels.is_empty() {
            return Ok(None);
        }
        Ok(Some(TxnTouch {
            xid: u64::from(f.xid),
            timeline: f.timeline,
            status: f.status,
            time: f.time,
            relations: rels,
        }))
    }
}

/// `(oid, file node)` of a table and of its partitions, at every level.
fn storage_of(db: &mut PgDb, table: u32) -> Result<Vec<(u32, u32)>> {
    let conn = db.conn().clone();
    let rows = db
        .client()
        .query(
            "SELECT c.oid, c.relfilenode FROM pg_class c WHERE c.oid = $1 \
             UNION SELECT c.oid, c.relfilenode FROM pg_partition_tree($1::oid::regclass) p JOIN pg_class c ON c.oid = p.relid",
            &[&table],
        )
        .map_err(|e| conn.classify(e, "reading a table's file nodes"))?;
    Ok(rows.iter().map(|r| (r.get::<_, u32>(0), r.get::<_, u32>(1))).filter(|(_, node)| *node != 0).collect())
}

/// What live says a file node of its database is (module docs).
fn lookup(db: &mut PgDb, key: RelKey) -> Result<Named> {
    let conn = db.conn().clone();
    let rows = db
        .client()
        .query(
            "SELECT o.relkind::text, n.nspname::text, c.relname::text, r.current \
             FROM (SELECT coalesce(pg_filenode_relation($1::oid, $2::oid), \
                     (SELECT oid FROM pg_class WHERE oid = $2::oid AND relkind IN ('r', 'p'))) AS rel, \
                   pg_filenode_relation($1::oid, $2::oid) IS NOT NULL AS current) r \
             JOIN pg_class o ON o.oid = r.rel \
             JOIN pg_class c ON c.oid = coalesce(pg_partition_root(r.rel), r.rel) \
             JOIN pg_namespace n ON n.oid = c.relnamespace",
            &[&key.spc, &key.node],
        )
        .map_err(|e| conn.classify(e, "naming a file node"))?;
    let Some(r) = rows.first() else {
        return Ok(Named::Unknown(
            "live has no relation stored there: dropped, or rewritten more than once since".into(),
        ));
    };
    let (kind, schema, name, current): (String, String, String, bool) = (r.get(0), r.get(1), r.get(2), r.get(3));
    let system = ["pg_catalog", "information_schema", "pg_toast"].contains(&schema.as_str())
        || schema.starts_with("pg_temp_")
        || schema.starts_with("pg_toast_temp_");
    if !matches!(kind.as_str(), "r" | "p") || system {
        return Ok(Named::Skip);
    }
    let note = (!current).then(|| REWRITTEN.to_string());
    Ok(Named::Table { name: display_name(&schema, &name), note })
}
