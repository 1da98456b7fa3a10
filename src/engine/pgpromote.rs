//! Promote on PostgreSQL: scratch becomes live by renaming databases, and the previous live is
//! kept whole under a safety name.
//!
//! Built like every write: `PgPromotePlan::new` inspects both databases without writing (a dry run
//! prints it), `execute` carries it out from the server's maintenance database, in ONE
//! transaction (PostgreSQL renames databases transactionally):
//! `ALTER DATABASE live RENAME TO lastgood_safety_<live>_<time>`,
//! `ALTER DATABASE scratch RENAME TO live`, and the COMMENT marks swapped: the new live loses the
//! `lastgood scratch` mark (so `scratch drop --all` can never drop it), the safety database gets a
//! `lastgood safety` mark. At every instant the name `live` is either the old live or scratch.
//!
//! PostgreSQL refuses to rename a database anyone is connected to, so sessions on either
//! database are refused up front (exit 5, naming how many and which applications) unless
//! `--terminate-connections`, which ends them (`pg_terminate_backend`) and retries the rename
//! briefly while they go away.

use std::time::{Duration, Instant};

use anyhow::Result;
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::pgconn::PgConn;
use super::quote_ident;
use crate::error::{bad_input, refused, usage};

/// The COMMENT prefix of a previous live kept by promote.
pub const SAFETY_MARK: &str = "lastgood safety";

/// What a PostgreSQL promote will do; printable before anything is written.
#[derive(Debug, Clone, Serialize)]
pub struct PgPromotePlan {
    pub scratch: String,
    pub live: String,
    pub scratch_database: String,
    pub live_database: String,
    /// The name the previous live is kept under.
    pub safety_database: String,
    pub steps: Vec<String>,
    /// Other sessions on live or scratch (application names), which block the rename.
    pub in_use: Vec<String>,
    pub terminate_connections: bool,
    /// Database-level properties (owner, grants, `ALTER DATABASE … SET` settings) in which live and
    /// scratch differ: renaming would not carry them over, so promote refuses unless `--force`.
    pub property_differences: Vec<String>,
    /// The command that swaps back.
    pub undo: String,
    #[serde(skip)]
    server: PgConn,
}

/// What a promote did.
#[derive(Debug, Clone, Serialize)]
pub struct PgPromoteReport {
    #[serde(flatten)]
    pub plan: PgPromotePlan,
    pub terminated_sessions: u64,
    pub seconds: f64,
}

impl PgPromotePlan {
    /// Checks both databases. Errors: `Usage` when they are on different servers or the same
    /// database; `BadInput` when one does not exist.
    pub fn new(scratch: &str, live: &str, terminate: bool, now: DateTime<Utc>) -> Result<PgPromotePlan> {
        let (s, l) = (PgConn::resolve(scratch)?, PgConn::resolve(live)?);
        if s.describe_server() != l.describe_server() {
            return Err(usage(format!(
                "promote renames databases, so scratch ({}) and live ({}) must be on the same server",
                s.describe_server(),
                l.describe_server()
            ))
            .hint("restore the backup into a scratch database on live's server (`lastgood restore --live …`)")
            .into());
        }
        if s.dbname == l.dbname {
            return Err(usage(format!("scratch and live are the same database `{}`", l.dbname)).into());
        }
        let mut admin = super::pgrestore::Admin::connect(&l)?;
        for (what, db) in [("scratch", &s.dbname), ("live", &l.dbname)] {
            if admin.comment(db)?.is_none() {
                return Err(
                    bad_input(format!("{what} database `{db}` does not exist on {}", l.describe_server())).into()
                );
            }
        }
        let in_use = admin.sessions_on(&[&s.dbname, &l.dbname])?;
        let (lp, sp) = (admin.database_properties(&l.dbname)?, admin.database_properties(&s.dbname)?);
        let property_differences: Vec<String> = lp
            .iter()
            .zip(&sp)
            .filter(|(a, b)| a.1 != b.1)
            .map(|(a, b)| format!("{}: live has `{}`, scratch has `{}`", a.0, a.1, b.1))
            .collect();
        let stamp = now.format("%Y%m%d%H%M%S%3f").to_string();
        let live_part: String = l.dbname.chars().take(63 - "lastgood_safety__".len() - stamp.len()).collect();
        let safety = format!("lastgood_safety_{live_part}_{stamp}");
        let mut steps = Vec::new();
        if terminate {
            steps.push(format!("end the other sessions on `{}` and `{}`", s.dbname, l.dbname));
        }
        steps.push(format!(
            "in one transaction: rename live `{}` to `{safety}`, scratch `{}` to `{}`, and swap their lastgood marks",
            l.dbname, s.dbname, l.dbname
        ));
        let undo = format!(
            "lastgood promote --scratch '{}' --live '{}' --yes",
            l.with_dbname(&safety).describe(),
            l.describe()
        );
        Ok(PgPromotePlan {
            scratch: s.describe(),
            live: l.describe(),
            scratch_database: s.dbname.clone(),
            live_database: l.dbname.clone(),
            safety_database: safety,
            steps,
            in_use,
            terminate_connections: terminate,
            property_differences,
            undo,
            server: l,
        })
    }

    /// Refuses when live's owner, grants or database-level settings differ from scratch's (the new
    /// live would silently lose them), unless `force`.
    pub fn check_properties(&self, force: bool) -> Result<()> {
        if self.property_differences.is_empty() || force {
            return Ok(());
        }
        Err(refused(format!(
            "promoting `{}` would change live's database properties: {}",
            self.scratch_database,
            self.property_differences.join("; ")
        ))
        .hint(format!(
            "give scratch the same owner, grants and settings (ALTER DATABASE \"{}\" OWNER TO … / SET … / GRANT …), or pass --force",
            self.scratch_database
        ))
        .into())
    }

    /// Refuses while other sessions use either database (unless ending them was asked for).
    pub fn check_not_in_use(&self) -> Result<()> {
        if self.in_use.is_empty() || self.terminate_connections {
            return Ok(());
        }
        Err(refused(format!(
            "{} other session(s) are connected to `{}` or `{}` ({}); PostgreSQL cannot rename a database in use",
            self.in_use.len(),
            self.live_database,
            self.scratch_database,
            self.in_use.join(", ")
        ))
        .hint("stop the application, or pass --terminate-connections to end those sessions")
        .into())
    }

    /// Swaps the databases. Errors: `Refused` when sessions remain; on any error nothing changed.
    pub fn execute(self) -> Result<PgPromoteReport> {
        let started = Instant::now();
        self.check_not_in_use()?;
        let mut admin = super::pgrestore::Admin::connect(&self.server)?;
        let dbs = [self.scratch_database.as_str(), self.live_database.as_str()];
        let mut terminated = 0;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if self.terminate_connections {
                terminated += admin.terminate_sessions(&dbs)?;
            }
            match self.swap(&mut admin) {
                Ok(()) => break,
                Err(e) if self.terminate_connections && is_in_use(&e) && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(e) if is_in_use(&e) => {
                    return Err(refused(format!(
                        "`{}` or `{}` is in use; nothing was renamed",
                        self.live_database, self.scratch_database
                    ))
                    .hint("stop the application, or pass --terminate-connections")
                    .into());
                }
                Err(e) => return Err(e),
            }
        }
        Ok(PgPromoteReport { plan: self, terminated_sessions: terminated, seconds: started.elapsed().as_secs_f64() })
    }

    fn swap(&self, admin: &mut super::pgrestore::Admin) -> Result<()> {
        let (live, scratch, safety) =
            (quote_ident(&self.live_database), quote_ident(&self.scratch_database), quote_ident(&self.safety_database));
        let mark = format!(
            "'{SAFETY_MARK}: previous live `{}`, replaced by promote at {}'",
            self.live_database.replace('\'', "''"),
            Utc::now().to_rfc3339()
        );
        admin.in_transaction(&format!(
            "ALTER DATABASE {live} RENAME TO {safety}; ALTER DATABASE {scratch} RENAME TO {live}; \
             COMMENT ON DATABASE {live} IS NULL; COMMENT ON DATABASE {safety} IS {mark};"
        ))
    }
}

fn is_in_use(e: &anyhow::Error) -> bool {
    format!("{e:#}").contains("is being accessed by other users")
}
