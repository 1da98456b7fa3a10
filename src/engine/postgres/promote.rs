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
//! When live does not exist on the server (a new server after the old one was lost), scratch is
//! renamed to live's name (its mark removed) and nothing is kept; the printed undo is `dropdb`. A
//! scratch lacking schemas, tables, views, sequences or functions live has is refused unless
//! `--allow-missing` names exactly those (`engine/missing.rs`). The printed undo swaps back and
//! carries the flags that takes: `--force` when the database properties differ, `--allow-missing`
//! for what scratch added.
//!
//! PostgreSQL refuses to rename a database anyone is connected to, so sessions on either
//! database are refused up front (exit 5, naming how many and which applications) unless
//! `--terminate-connections`, which ends them (`pg_terminate_backend`) and retries the rename
//! briefly while they go away.

use std::time::{Duration, Instant};

use anyhow::Result;
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::conn::PgConn;
use super::scratch::Admin;
use crate::engine::missing::{SchemaName, render_missing};
use crate::engine::{Printable, PromoteJob, PromoteRequest, WouldRefuse, dry_run_last_line, pretty_json, quote_ident};
use crate::error::{bad_input, refused, usage};
use crate::output::Output;
use crate::util::shell::shell_quote;

/// The COMMENT prefix of a previous live kept by promote.
pub const SAFETY_MARK: &str = "lastgood safety";

/// What a PostgreSQL promote will do; printable before anything is written.
#[derive(Debug, Clone, Serialize)]
pub struct PgPromotePlan {
    pub scratch: String,
    pub live: String,
    pub scratch_database: String,
    pub live_database: String,
    /// The name the previous live is kept under (`None` when live does not exist and is created).
    pub safety_database: Option<String>,
    /// Live does not exist on the server (a new server after the old one was lost): scratch is
    /// renamed to live's name, and there is nothing to keep.
    pub creates_live: bool,
    /// Schemas, tables, views, sequences, functions, … live has and scratch lacks: promote would
    /// drop them (refused unless `--allow-missing` names exactly these).
    pub missing: Vec<SchemaName>,
    /// The names given to `--allow-missing`.
    pub allow_missing: Vec<String>,
    /// Objects scratch has and live lacks (the undo names them in its `--allow-missing`).
    pub added: Vec<SchemaName>,
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
    /// Checks both databases (read-only). Errors: `Usage` when they are on different servers or the
    /// same database; `BadInput` when scratch does not exist. A live that does not exist is
    /// created from scratch (`creates_live`).
    pub fn new(
        scratch: &str,
        live: &str,
        terminate: bool,
        allow_missing: &[String],
        now: DateTime<Utc>,
    ) -> Result<PgPromotePlan> {
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
        let mut admin = Admin::connect(&l)?;
        if admin.comment(&s.dbname)?.is_none() {
            return Err(bad_input(format!(
                "scratch database `{}` does not exist on {}",
                s.dbname,
                l.describe_server()
            ))
            .into());
        }
        let creates_live = admin.comment(&l.dbname)?.is_none();
        let in_use =
            if creates_live { admin.sessions_on(&[&s.dbname])? } else { admin.sessions_on(&[&s.dbname, &l.dbname])? };
        let property_differences: Vec<String> = if creates_live {
            Vec::new()
        } else {
            let (lp, sp) = (admin.database_properties(&l.dbname)?, admin.database_properties(&s.dbname)?);
            lp.iter()
                .zip(&sp)
                .filter(|(a, b)| a.1 != b.1)
                .map(|(a, b)| format!("{}: live has `{}`, scratch has `{}`", a.0, a.1, b.1))
                .collect()
        };
        let (missing, added) = if creates_live {
            (Vec::new(), Vec::new())
        } else {
            let (so, lo) = (schema_names(&s)?, schema_names(&l)?);
            (crate::engine::missing::lacking(&lo, &so), crate::engine::missing::lacking(&so, &lo))
        };
        let mut steps = Vec::new();
        if terminate {
            steps.push(if creates_live {
                format!("end the other sessions on `{}`", s.dbname)
            } else {
                format!("end the other sessions on `{}` and `{}`", s.dbname, l.dbname)
            });
        }
        let (safety, undo) = if creates_live {
            steps.push(format!(
                "live `{}` does not exist on {}: no safety copy (nothing to lose); in one transaction rename scratch `{}` to `{}` and remove its scratch mark",
                l.dbname,
                l.describe_server(),
                s.dbname,
                l.dbname
            ));
            let undo = format!(
                "dropdb --host={} --port={} --username={} {}",
                shell_quote(&l.host),
                l.port,
                shell_quote(&l.user),
                shell_quote(&l.dbname)
            );
            (None, undo)
        } else {
            let stamp = now.format("%Y%m%d%H%M%S%3f").to_string();
            let live_part: String = l.dbname.chars().take(63 - "lastgood_safety__".len() - stamp.len()).collect();
            let safety = format!("lastgood_safety_{live_part}_{stamp}");
            steps.push(format!(
                "in one transaction: rename live `{}` to `{safety}`, scratch `{}` to `{}`, and swap their lastgood marks",
                l.dbname, s.dbname, l.dbname
            ));
            // The undo swaps back: the same property differences the other way round (hence
            // --force when there are any), and what scratch added goes.
            let mut undo = format!(
                "lastgood promote --scratch {} --live {} --yes",
                shell_quote(&l.with_dbname(&safety).describe()),
                shell_quote(&l.describe())
            );
            if !property_differences.is_empty() {
                undo.push_str(" --force");
            }
            if let Some(arg) = crate::engine::missing::allow_arg(&added) {
                undo.push(' ');
                undo.push_str(&arg);
            }
            (Some(safety), undo)
        };
        Ok(PgPromotePlan {
            scratch: s.describe(),
            live: l.describe(),
            scratch_database: s.dbname.clone(),
            live_database: l.dbname.clone(),
            safety_database: safety,
            creates_live,
            missing,
            allow_missing: allow_missing.to_vec(),
            added,
            steps,
            in_use,
            terminate_connections: terminate,
            property_differences,
            undo,
            server: l,
        })
    }

    /// Refuses (exit 5) when scratch lacks objects live has that `--allow-missing` does not name
    /// exactly.
    pub fn check_missing(&self) -> Result<()> {
        crate::engine::missing::check(&self.missing, &self.allow_missing, &self.live_database, &self.scratch_database)
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
        let which = if self.creates_live {
            format!("`{}`", self.scratch_database)
        } else {
            format!("`{}` or `{}`", self.live_database, self.scratch_database)
        };
        Err(refused(format!(
            "{} other session(s) are connected to {which} ({}); PostgreSQL cannot rename a database in use",
            self.in_use.len(),
            self.in_use.join(", ")
        ))
        .hint("stop the application, or pass --terminate-connections to end those sessions")
        .into())
    }

    /// Swaps the databases. Errors: `Refused` when sessions remain; on any error nothing changed.
    pub fn execute(self) -> Result<PgPromoteReport> {
        let started = Instant::now();
        self.check_not_in_use()?;
        self.check_missing()?;
        let mut admin = Admin::connect(&self.server)?;
        let both = [self.scratch_database.as_str(), self.live_database.as_str()];
        let dbs = if self.creates_live { &both[..1] } else { &both[..] };
        let mut terminated = 0;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if self.terminate_connections {
                terminated += admin.terminate_sessions(dbs)?;
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

    fn swap(&self, admin: &mut Admin) -> Result<()> {
        let (live, scratch) = (quote_ident(&self.live_database), quote_ident(&self.scratch_database));
        let Some(safety_name) = &self.safety_database else {
            // A rename fails, changing nothing, if a database by live's name appeared meanwhile.
            return admin.in_transaction(&format!(
                "ALTER DATABASE {scratch} RENAME TO {live}; COMMENT ON DATABASE {live} IS NULL;"
            ));
        };
        let safety = quote_ident(safety_name);
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

/// `Engine::plan_promote`: the plan (`PgPromotePlan::new`) and the `--force` it runs with.
pub fn plan(req: &PromoteRequest) -> Result<Box<dyn PromoteJob>> {
    let (scratch, live) = (req.scratch.to_string_lossy(), req.live.to_string_lossy());
    let plan = PgPromotePlan::new(&scratch, &live, req.terminate_connections, &req.allow_missing, req.now)?;
    Ok(Box::new(Job { plan, force: req.force }))
}

/// A checked PostgreSQL promote; `force` lets it change live's database properties.
struct Job {
    plan: PgPromotePlan,
    force: bool,
}

/// A promote's dry run: the plan and the refusal `--yes` would meet.
#[derive(Serialize)]
struct DryRun<'a> {
    dry_run: bool,
    /// Why `--yes` would be refused (exit 5), as the refusal itself says; `null` when it would go.
    would_refuse: Option<WouldRefuse>,
    #[serde(flatten)]
    plan: &'a PgPromotePlan,
}

impl Printable for DryRun<'_> {
    fn json(&self) -> Result<String> {
        pretty_json(self)
    }

    fn text(&self) -> String {
        let p = self.plan;
        let mut s = if p.creates_live {
            format!("dry run: would create live database `{}` from scratch `{}`\n", p.live_database, p.scratch_database)
        } else {
            format!("dry run: would make scratch `{}` the live database `{}`\n", p.scratch_database, p.live_database)
        };
        for (i, step) in p.steps.iter().enumerate() {
            s.push_str(&format!("  {}. {step}\n", i + 1));
        }
        for who in &p.in_use {
            s.push_str(&format!("in use by {who}{}\n", if p.terminate_connections { " (would be ended)" } else { "" }));
        }
        s.push_str(&render_missing(&p.missing, &p.allow_missing));
        s + &dry_run_last_line(self.would_refuse.as_ref())
    }
}

impl PromoteJob for Job {
    fn dry_run(&self) -> (Box<dyn Printable + '_>, Option<anyhow::Error>) {
        let p = &self.plan;
        let refusal =
            p.check_not_in_use().and_then(|()| p.check_properties(self.force)).and_then(|()| p.check_missing()).err();
        let dry = DryRun { dry_run: true, would_refuse: refusal.as_ref().map(WouldRefuse::of), plan: p };
        (Box::new(dry), refusal)
    }

    fn warnings(&self) -> Vec<String> {
        Vec::new()
    }

    fn execute(self: Box<Self>, _out: &Output) -> Result<Box<dyn Printable>> {
        self.plan.check_properties(self.force)?;
        Ok(Box::new(self.plan.execute()?))
    }
}

impl Printable for PgPromoteReport {
    fn json(&self) -> Result<String> {
        pretty_json(self)
    }

    fn text(&self) -> String {
        let p = &self.plan;
        let ended = if self.terminated_sessions > 0 {
            format!(", {} session(s) ended", self.terminated_sessions)
        } else {
            String::new()
        };
        let Some(safety) = &p.safety_database else {
            return format!(
                "created live `{}` from scratch `{}` ({:.2}s{ended})\nlive did not exist: no safety copy (nothing to lose)\nundo (drops the new live): {}\n",
                p.live_database, p.scratch_database, self.seconds, p.undo
            );
        };
        let dropped: String =
            p.missing.iter().map(|m| format!("dropped from live ({}): {}\n", m.kind, m.name)).collect();
        format!(
            "{dropped}promoted `{}` to live `{}` ({:.2}s{ended})\nthe previous live is kept whole as database `{safety}`\nundo: {}\n",
            p.scratch_database, p.live_database, self.seconds, p.undo
        )
    }
}

/// The schema objects of a database that promote must not drop unseen: schemas, tables (plain,
/// partitioned, foreign), views, materialized views, sequences, functions, procedures and
/// aggregates (with their argument types), and extensions; objects that belong to an extension
/// are covered by the extension. System schemas are left out.
fn schema_names(conn: &PgConn) -> Result<Vec<SchemaName>> {
    let mut client = conn.connect()?;
    let user_ns = "n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'";
    let not_ext = |class: &str, oid: &str| {
        format!(
            "NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = '{class}'::regclass AND d.objid = {oid} AND d.deptype = 'e')"
        )
    };
    let sql = format!(
        "SELECT 'schema', n.nspname::text FROM pg_namespace n WHERE {user_ns} AND {ns_ext}
         UNION ALL
         SELECT CASE c.relkind WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view' WHEN 'S' THEN 'sequence'
                WHEN 'f' THEN 'foreign table' ELSE 'table' END, n.nspname || '.' || c.relname
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE c.relkind IN ('r', 'p', 'f', 'v', 'm', 'S') AND {user_ns} AND {rel_ext}
         UNION ALL
         SELECT CASE p.prokind WHEN 'p' THEN 'procedure' WHEN 'a' THEN 'aggregate' ELSE 'function' END,
                n.nspname || '.' || p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')'
         FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE {user_ns} AND {proc_ext}
         UNION ALL
         SELECT 'extension', extname::text FROM pg_extension
         ORDER BY 1, 2",
        ns_ext = not_ext("pg_namespace", "n.oid"),
        rel_ext = not_ext("pg_class", "c.oid"),
        proc_ext = not_ext("pg_proc", "p.oid"),
    );
    let rows = client.query(&sql, &[]).map_err(|e| conn.classify(e, "listing schema objects"))?;
    Ok(rows.iter().map(|r| SchemaName::new(r.get::<_, String>(0), r.get::<_, String>(1))).collect())
}

fn is_in_use(e: &anyhow::Error) -> bool {
    format!("{e:#}").contains("is being accessed by other users")
}
