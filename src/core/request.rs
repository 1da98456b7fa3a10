//! What the core hands the engines about the catalog: a catalogued backup as an
//! `engine::BackupRef` (its copies with their checksums, tables, archive facts), the reader that
//! gives an engine a copy's bytes as a local file (the catalog's `open_copy`), and what a restore
//! must never write over (`engine::Catalogued`). The engines never read the catalog itself.

use std::sync::Arc;

use anyhow::Result;

use crate::core::catalog::open::open_copy_with;
use crate::core::catalog::{self, Backup, Catalog};
use crate::engine::{self, BackupRef, BackupSource, Catalogued, CopyReader, CopyRef, LocalCopy, WalRef};

impl From<&Backup> for BackupRef {
    fn from(b: &Backup) -> BackupRef {
        BackupRef {
            id: b.id.clone(),
            format: b.format,
            taken_at: b.taken_at,
            tables: b.tables.iter().map(table_facts).collect(),
            skipped_tables: b.skipped_tables.clone(),
            copies: b.copies.iter().map(copy_ref).collect(),
            problem: b.problem.clone(),
            source: b.source.clone(),
            archive: b.archive.clone(),
            base: b.base.clone(),
        }
    }
}

/// A catalog table fact as the engines name it.
pub fn table_facts(t: &catalog::TableFacts) -> engine::TableFacts {
    engine::TableFacts { name: t.name.clone(), rows: t.rows }
}

/// An engine's table fact as the catalog names it.
pub fn catalog_facts(t: engine::TableFacts) -> catalog::TableFacts {
    catalog::TableFacts { name: t.name, rows: t.rows }
}

fn copy_ref(c: &catalog::Copy) -> CopyRef {
    CopyRef {
        path: c.path.clone(),
        sha256: c.sha256.clone(),
        compression: c.compression,
        wal: c.wal.as_ref().map(|w| WalRef { path: w.path.clone(), sha256: w.sha256.clone(), real: w.real.clone() }),
    }
}

/// The catalog's reader of one backup's copies (`catalog::open`).
pub struct CatalogReader {
    copies: Vec<catalog::Copy>,
}

impl CatalogReader {
    pub fn of(backup: &Backup) -> Arc<CatalogReader> {
        Arc::new(CatalogReader { copies: backup.copies.clone() })
    }
}

impl CopyReader for CatalogReader {
    fn local(&self, copy: &CopyRef, progress: Box<dyn FnMut(u64)>) -> Result<LocalCopy> {
        let c = self
            .copies
            .iter()
            .find(|c| c.path == copy.path)
            .ok_or_else(|| anyhow::anyhow!("`{}` is not a copy of this backup", copy.path.display()))?;
        let opened = open_copy_with(c, progress)?;
        Ok(LocalCopy {
            path: opened.path().to_path_buf(),
            with_wal: opened.wal_sha256.is_some(),
            sha256: opened.sha256.clone(),
            wal_sha256: opened.wal_sha256.clone(),
            keep: Box::new(opened),
        })
    }
}

/// What the catalog holds that a restore never writes over: every copy, every source.
pub fn catalogued(catalog: &Catalog) -> Catalogued {
    Catalogued {
        copies: catalog.backups.iter().flat_map(|b| &b.copies).map(|c| c.path.clone()).collect(),
        sources: catalog.backups.iter().map(source_of).collect(),
    }
}

fn source_of(b: &Backup) -> BackupSource {
    BackupSource {
        backup_id: b.id.clone(),
        format: b.format,
        source: b.source.clone(),
        dbname: b.archive.as_ref().and_then(|a| a.dbname.clone()),
    }
}
