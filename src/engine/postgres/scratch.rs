//! Scratch databases on a PostgreSQL server: creating them under a free name with lastgood's
//! mark (a database COMMENT), listing and dropping them, and the live databases they must never
//! be (`LiveSource`).
//!
//! Invariants: only a database carrying the mark (`MARK`) is ever listed or dropped as scratch,
//! and never one that is live (the `--live` database, a catalogued backup's source), even when
//! it carries the mark; a database lastgood did not create is replaced only with `--force` and
//! never while sessions are connected to it (`Admin::prepare_target`).

use anyhow::Result;

use super::conn::PgConn;
use crate::engine::{KeptDb, ScratchDb, quote_ident};
use crate::error::{bad_input, refused};

/// Every scratch database lastgood creates carries a COMMENT starting with this.
pub const MARK: &str = "lastgood scratch";
/// The COMMENT of a database restored with `--force` over one lastgood did not create: not a
/// scratch database, so `scratch list`/`drop` leave it alone and replacing it again needs `--force`.
pub const RESTORED_NOTE: &str = "lastgood restored";
/// Default scratch database names start with this.
pub const PREFIX: &str = "lastgood_scratch_";
/// PostgreSQL's longest name (NAMEDATALEN - 1 bytes); a longer one is cut silently by the server.
pub const MAX_NAME: usize = 63;

/// A connection to the server's maintenance database, for CREATE/DROP DATABASE.
pub struct Admin {
    client: postgres::Client,
    /// The maintenance database it is connected to.
    pub(super) conn: PgConn,
}

impl Admin {
    /// Connects to database `postgres` (else `template1`) on the server of `conn`.
    pub fn connect(conn: &PgConn) -> Result<Admin> {
        let maint = conn.with_dbname("postgres");
        match maint.connect() {
            Ok(client) => Ok(Admin { client, conn: maint }),
            Err(e) if crate::error::classify(&e).is_some_and(|f| f.kind == crate::error::Kind::BadInput) => {
                let t1 = conn.with_dbname("template1");
                Ok(Admin { client: t1.connect()?, conn: t1 })
            }
            Err(e) => Err(e),
        }
    }

    /// The COMMENT of database `name`, `None` when it does not exist (`Some("")` without one).
    pub fn comment(&mut self, name: &str) -> Result<Option<String>> {
        let rows = self
            .client
            .query(
                "SELECT coalesce(shobj_description(oid, 'pg_database'), '') FROM pg_database WHERE datname = $1",
                &[&name],
            )
            .map_err(|e| self.conn.classify(e, "looking up a database"))?;
        Ok(rows.first().map(|r| r.get(0)))
    }

    /// What a database carries besides its contents, which a rename-based promote would not carry
    /// over: owner, database-level settings (`ALTER DATABASE … SET`) and grants, as text.
    pub fn database_properties(&mut self, name: &str) -> Result<Vec<(String, String)>> {
        let rows = self
            .client
            .query(
                "SELECT pg_get_userbyid(d.datdba)::text, coalesce(d.datacl::text, ''),
                        coalesce((SELECT array_to_string(s.setconfig, ', ') FROM pg_db_role_setting s
                                  WHERE s.setdatabase = d.oid AND s.setrole = 0), '')
                 FROM pg_database d WHERE d.datname = $1",
                &[&name],
            )
            .map_err(|e| self.conn.classify(e, "reading database properties"))?;
        let Some(r) = rows.first() else { return Ok(Vec::new()) };
        Ok(vec![
            ("owner".to_string(), r.get::<_, String>(0)),
            ("grants".to_string(), r.get::<_, String>(1)),
            ("settings".to_string(), r.get::<_, String>(2)),
        ])
    }

    /// Makes room for `name`, a name the operator gave (`--into`, `--scratch-url`): nothing to
    /// do when absent; an existing database is replaced only with `force` (like an existing file
    /// by a SQLite restore), even one carrying lastgood's mark, and never one lastgood did not
    /// create while sessions are connected to it. Returns whether it dropped a database lastgood
    /// did not create (which its replacement must not turn into a marked scratch database).
    pub fn prepare_target(&mut self, name: &str, force: bool) -> Result<bool> {
        let Some(comment) = self.comment(name)? else { return Ok(false) };
        let ours = comment.starts_with(MARK);
        if !force {
            let whose = if ours {
                format!("a scratch database lastgood made earlier ({comment})")
            } else {
                "not created by lastgood".to_string()
            };
            return Err(refused(format!(
                "database `{name}` already exists on {} ({whose}); it is replaced only with --force",
                self.conn.describe_server()
            ))
            .hint(if ours {
                "pick another --into / --scratch-url (or none: a default name is always free); or pass --force to drop it and restore in its place"
            } else {
                "pick another --into / --scratch-url; or, if it is a copy you mean to overwrite, pass --force (it is dropped and restored, and does not become a scratch database)"
            })
            .into());
        }
        if ours {
            return self.drop(name).map(|_| false);
        }
        // Not ours, and --force: still never while anyone is connected (it may be someone's live).
        let sessions = self.sessions_on(&[name])?;
        if !sessions.is_empty() {
            return Err(refused(format!(
                "database `{name}` was not created by lastgood and is in use ({}); it is not replaced, even with --force",
                sessions.join(", ")
            ))
            .hint("pick another --into / --scratch-url")
            .into());
        }
        self.drop(name).map(|_| true)
    }

    /// A name for a new database: `base` when no database has it, else `base_2`, `base_3`, …
    /// (`base` cut to keep the name within PostgreSQL's 63 bytes).
    pub fn free_name(&mut self, base: &str) -> Result<String> {
        for n in 1u32..10_000 {
            let suffix = if n == 1 { String::new() } else { format!("_{n}") };
            let mut cut = MAX_NAME.saturating_sub(suffix.len()).min(base.len());
            while !base.is_char_boundary(cut) {
                cut -= 1;
            }
            let name = format!("{}{suffix}", &base[..cut]);
            if self.comment(&name)?.is_none() {
                return Ok(name);
            }
        }
        Err(refused(format!("no free database name `{base}_N` on {}", self.conn.describe_server()))
            .hint("drop old scratch databases with `lastgood scratch drop --all`, or pick a name with --into")
            .into())
    }

    /// Creates database `name` marked with `comment`; `false` (nothing done) when a database of
    /// that name exists already.
    pub fn create(&mut self, name: &str, comment: &str) -> Result<bool> {
        let q = quote_ident(name);
        match self.client.batch_execute(&format!("CREATE DATABASE {q} TEMPLATE template0")) {
            Ok(()) => {}
            Err(e) if e.code() == Some(&postgres::error::SqlState::DUPLICATE_DATABASE) => return Ok(false),
            Err(e) => return Err(self.conn.classify(e, &format!("creating database `{name}`"))),
        }
        // COMMENT takes no parameters; the text is a quoted literal built from our own strings.
        let lit = format!("'{}'", comment.replace('\'', "''"));
        let marked = self.client.batch_execute(&format!("COMMENT ON DATABASE {q} IS {lit}"));
        if let Err(e) = marked {
            let _ = self.drop(name);
            return Err(self.conn.classify(e, &format!("marking database `{name}`")));
        }
        Ok(true)
    }

    /// Drops `name`, ending any session still connected to it.
    pub fn drop(&mut self, name: &str) -> Result<()> {
        self.client
            .batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", quote_ident(name)))
            .map_err(|e| self.conn.classify(e, &format!("dropping database `{name}`")))
    }

    /// Other sessions connected to any of `dbs`, as `application (pid N)`.
    pub fn sessions_on(&mut self, dbs: &[&str]) -> Result<Vec<String>> {
        let names: Vec<String> = dbs.iter().map(|d| d.to_string()).collect();
        let rows = self
            .client
            .query(
                "SELECT coalesce(nullif(application_name, ''), 'unnamed') || ' (pid ' || pid || ')' FROM pg_stat_activity \
                 WHERE datname = ANY($1) AND pid <> pg_backend_pid() ORDER BY pid",
                &[&names],
            )
            .map_err(|e| self.conn.classify(e, "listing sessions"))?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    /// Ends every other session on any of `dbs`; returns how many were signalled.
    pub fn terminate_sessions(&mut self, dbs: &[&str]) -> Result<u64> {
        let names: Vec<String> = dbs.iter().map(|d| d.to_string()).collect();
        let rows = self
            .client
            .query(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = ANY($1) AND pid <> pg_backend_pid()",
                &[&names],
            )
            .map_err(|e| self.conn.classify(e, "ending sessions"))?;
        Ok(rows.len() as u64)
    }

    /// Runs `sql` (several statements) in one transaction: all or nothing.
    pub fn in_transaction(&mut self, sql: &str) -> Result<()> {
        let conn = self.conn.clone();
        let mut tx = self.client.transaction().map_err(|e| conn.classify(e, "starting a transaction"))?;
        tx.batch_execute(sql).map_err(|e| conn.classify(e, "renaming databases"))?;
        tx.commit().map_err(|e| conn.classify(e, "committing the renames"))
    }

    /// Databases carrying lastgood's scratch mark.
    pub fn scratch_list(&mut self) -> Result<Vec<ScratchDb>> {
        let rows = self
            .client
            .query(
                "SELECT datname::text, shobj_description(oid, 'pg_database'), pg_database_size(oid) FROM pg_database \
                 WHERE shobj_description(oid, 'pg_database') LIKE $1 ORDER BY datname",
                &[&format!("{MARK}%")],
            )
            .map_err(|e| self.conn.classify(e, "listing scratch databases"))?;
        Ok(rows
            .iter()
            .map(|r| {
                let database: String = r.get(0);
                let id = database.strip_prefix(PREFIX).unwrap_or(&database).to_string();
                ScratchDb { id, database, comment: r.get(1), size: r.get(2) }
            })
            .collect())
    }
}

/// Drops scratch databases: the one whose id or name is `which`, or all (`None`). Only databases
/// carrying the mark are ever dropped, and never a live one (`live`: the `--live` database and
/// the catalogued backups' sources), even if it carries the mark: those are returned as kept.
/// Errors: `BadInput` when `which` matches none; `Refused` when `which` names a live database.
pub fn scratch_drop(
    server: &PgConn,
    which: Option<&str>,
    live: &[LiveSource],
) -> Result<(Vec<ScratchDb>, Vec<KeptDb>)> {
    let mut admin = Admin::connect(server)?;
    let all = admin.scratch_list()?;
    let chosen: Vec<ScratchDb> = match which {
        None => all,
        Some(w) => {
            let hit: Vec<ScratchDb> = all.into_iter().filter(|s| s.id == w || s.database == w).collect();
            if hit.is_empty() {
                return Err(bad_input(format!(
                    "no scratch database `{w}` on {} (only databases lastgood created are dropped)",
                    server.describe_server()
                ))
                .hint("list them with `lastgood scratch list`")
                .into());
            }
            hit
        }
    };
    let why_live = |name: &str| -> Option<String> {
        let db = server.with_dbname(name);
        if server.same_database(&db) {
            return Some("it is the --live database".to_string());
        }
        live.iter().find(|l| l.is(&db)).map(|l| format!("it is a live database ({})", l.reason()))
    };
    let (mut dropped, mut kept) = (Vec::new(), Vec::new());
    for s in chosen {
        match why_live(&s.database) {
            Some(reason) if which.is_some() => {
                return Err(refused(format!(
                    "`{}` carries lastgood's scratch mark but {reason}; lastgood never drops a live database",
                    s.database
                ))
                .hint("if it really is a leftover scratch copy, drop it by hand with DROP DATABASE")
                .into());
            }
            Some(reason) => kept.push(KeptDb { database: s.database, reason }),
            None => {
                admin.drop(&s.database)?;
                dropped.push(s);
            }
        }
    }
    Ok((dropped, kept))
}

/// A live database: restores never write into it and `scratch drop` never drops it.
#[derive(Debug, Clone)]
pub struct LiveSource {
    pub place: LivePlace,
    pub backup_id: String,
}

/// Where a live database is.
#[derive(Debug, Clone)]
pub enum LivePlace {
    /// One database on one server: a manifest's `source`.
    Database(PgConn),
    /// A database name on every server: a pg_dump archive's header names the database it was
    /// dumped from, but not the host, so that name is live wherever it is.
    AnyServer(String),
}

impl LiveSource {
    /// Whether `db` is this live database.
    pub fn is(&self, db: &PgConn) -> bool {
        match &self.place {
            LivePlace::Database(conn) => conn.same_database(db),
            LivePlace::AnyServer(name) => *name == db.dbname,
        }
    }

    /// Why it is live, in words.
    pub fn reason(&self) -> String {
        match &self.place {
            LivePlace::Database(_) => format!("the source of backup {}", self.backup_id),
            LivePlace::AnyServer(name) => format!(
                "backup {} was dumped from a database `{name}`, and its archive does not say on which server",
                self.backup_id
            ),
        }
    }
}
