//! Restoring tables as they were at a moment of a recovery window (`Engine::plan_recovery`):
//! `restore --at TIME | --before-txn XID | --after-txn XID [--tables …] --live URL`.
//!
//! The plan (`PitrPlan::new`, printable as a dry run) picks the base backup to start from — for a
//! time, the newest that ends at or before it; for a transaction, the newest whose starting
//! checkpoint comes before it (its next transaction id is at most XID), else the oldest — and
//! the server programs of its major version (`tools::server_bin`: a mismatch is `Environment`,
//! naming both). Its execution: leftover instances of dead lastgood runs are removed
//! (`instance::clean_leftovers`); the private instance folder under the scratch folder gets its
//! data folder from the window's source — the one pluggable step (`DataFolder`): a pg_basebackup
//! base backup copied or unpacked (`restore_command` reading the archive folder, decompressing
//! `.gz`/`.zst` with `gzip`/`zstd`), or `pgbackrest restore` of a pgBackRest backup
//! (`restore_command` its `archive-get` with a private configuration, `pgbackrest.rs`); the
//! instance replays the log to
//! `recovery_target_time` (inclusive) or `recovery_target_xid` (`before` = not inclusive,
//! `after` = inclusive) on the window's timeline, and pauses there (`pg_get_wal_replay_pause_state()
//! = 'paused'`). The selected tables (every user table without `--tables`) of live's database (or
//! of `RestoreTarget::database`, a drill's `dbname`) are then copied from the paused instance
//! into a new scratch database on live's server: their schema and sequence values dumped over
//! its socket (`pg_dump -Fc --exclude-table-data`) and restored by the pg_dump archive restore
//! (`restore.rs`), which brings their keys, indexes and constraints, and their rows piped
//! straight between the two servers by binary COPY, in parallel per table and across key ranges
//! (`copy.rs`), between the schema's two halves. The instance is stopped and its folder removed
//! afterwards, on any error and on Ctrl-C (`instance.rs`).
//!
//! Errors while replaying: recovery that ends before the target (the archive lacks WAL past a
//! gap, or the transaction never committed) or stops before the backup's consistent point is
//! `BadInput`; a server that dies otherwise is `Environment`, with the last lines of its log.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::conn::PgConn;
use super::instance::{DataFolder, Instance, RunAs, clean_leftovers};
use super::restore::{PgRestorePlan, PgRestoreReport, live_sources, server_for_restore};
use super::scratch::{Admin, LiveSource};
use super::tools;
use super::{archive, pgbackrest};
use crate::engine::source::{Target, Window};
use crate::engine::{
    BackupRef, CopyRef, Format, Location, PassedCopy, Printable, RecoveryRequest, RestoreDone, RestoreJob, TableFacts,
    pretty_json,
};
use crate::error::{bad_input, environment, usage};
use crate::output::Output;
use crate::util::compress::Compression;

/// The recovery window, as the plan shows it.
#[derive(Debug, Clone, Serialize)]
pub struct WindowView {
    pub id: String,
    pub system: Option<String>,
    pub timeline: Option<u32>,
    #[serde(flatten)]
    pub window: Window,
    pub log: PathBuf,
}

/// The base backup a recovery starts from.
#[derive(Debug, Clone, Serialize)]
pub struct BaseView {
    pub id: String,
    pub path: PathBuf,
    pub taken_at: DateTime<Utc>,
    pub layout: String,
    pub version: String,
    /// Why this one, in words.
    pub why: String,
}

/// What a restore to a moment will do; printable before anything is written.
#[derive(Debug, Clone, Serialize)]
pub struct PitrPlan {
    pub why: String,
    pub window: WindowView,
    pub base_backup: BaseView,
    pub target: Target,
    /// A second, later moment restored too, by the same instance moved forward.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub then: Option<Target>,
    /// The database of the backup whose tables are copied (live's name).
    pub database: String,
    /// Schema-qualified names as asked (resolved once the instance runs); `None`: every table.
    pub tables: Option<Vec<String>>,
    /// The scratch server, as `postgres://user@host:port` (no password).
    pub server: String,
    pub scratch_dir: PathBuf,
    /// The server programs the instance runs.
    pub server_programs: PathBuf,
    #[serde(skip)]
    job: Job,
}

/// What the execution needs besides what the plan shows.
#[derive(Debug, Clone)]
struct Job {
    server: PgConn,
    explicit: bool,
    into: Option<String>,
    live_db: Option<String>,
    sources: Vec<LiveSource>,
    force: bool,
    jobs: u32,
    now: DateTime<Utc>,
    run_as: RunAs,
    /// How the instance's data folder is made.
    data: Arc<dyn DataFolder>,
}

/// A pg_basebackup base backup, copied or unpacked; `restore_command` reads the WAL archive
/// folder `log`.
#[derive(Debug, Clone)]
struct Unpack {
    base: PathBuf,
    layout: String,
    log: PathBuf,
}

impl DataFolder for Unpack {
    fn doing(&self, base_id: &str) -> String {
        format!("unpacking base backup {base_id}")
    }

    fn produce(&self, inst: &Instance, _run_as: &RunAs, _target: Target) -> Result<u64> {
        inst.unpack(&self.base, &self.layout)
    }

    fn restore_command(&self, _inst: &Instance) -> String {
        restore_command(&self.log)
    }
}

/// Seconds per phase.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Phases {
    pub unpack: f64,
    pub replay: f64,
    pub copy: f64,
    pub total: f64,
}

/// What a restore to a moment did.
#[derive(Debug, Clone, Serialize)]
pub struct PitrReport {
    #[serde(flatten)]
    pub plan: PitrPlan,
    /// Where recovery stopped, as the server's log says it ("recovery stopping before commit of
    /// transaction 728, time …").
    pub reached: String,
    pub tables_restored: Vec<TableFacts>,
    pub scratch: String,
    pub scratch_database: String,
    /// Instance folders of earlier, dead runs removed first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub leftovers_removed: Vec<String>,
    pub seconds: Phases,
    /// The restore of the copied tables into scratch.
    pub restore: PgRestoreReport,
    /// The second moment (`then`), when asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub then: Option<Box<LaterSide>>,
}

/// The second moment of a two-sided restore: the same instance, its target moved forward.
#[derive(Debug, Clone, Serialize)]
pub struct LaterSide {
    pub target: Target,
    pub reached: String,
    pub tables_restored: Vec<TableFacts>,
    pub scratch: String,
    pub scratch_database: String,
    /// Seconds: the restart and replay to the later target, and the copy (no second unpack).
    pub seconds: Phases,
    pub restore: PgRestoreReport,
}

/// `Engine::plan_recovery` for PostgreSQL windows.
pub fn plan(req: RecoveryRequest) -> Result<Box<dyn RestoreJob>> {
    Ok(Box::new(PitrPlan::new(req)?))
}

impl PitrPlan {
    /// Checks the request (module docs). Errors: `Usage` without `--live`; `BadInput` for a
    /// window without a log or base backup; `Environment` for missing server programs or a
    /// version mismatch, and for a live server that cannot be reached.
    pub fn new(req: RecoveryRequest) -> Result<PitrPlan> {
        let RecoveryRequest { window, bases, to, then, why, tables, target, force, jobs, now, catalogued } = req;
        if then.is_some() && (target.into.is_some() || target.scratch_url.is_some()) {
            return Err(
                usage("two moments restore into two new scratch databases: --into and --scratch-url name one").into()
            );
        }
        let log = window
            .log
            .clone()
            .ok_or_else(|| bad_input(format!("recovery window {} has no WAL archive folder", window.id)))?;
        let (base, base_why) = choose_base(&bases, to)?;
        let facts = base.base.clone().ok_or_else(|| bad_input(format!("backup {} is not a base backup", base.id)))?;
        let bin = tools::server_bin(&facts.version)?;
        let (server, explicit, live_db) = server_for_restore(target.live.as_deref(), target.scratch_url.as_deref())?;
        let database = target.database.clone().or_else(|| live_db.clone()).ok_or_else(|| {
            usage("restoring to a moment of a recovery window needs --live: its database is the one whose tables are copied")
                .hint("pass --live postgres://…/dbname (scratch goes on its server, or on --scratch-url)")
        })?;
        let scratch_dir = target.scratch_dir.clone().unwrap_or_else(|| PathBuf::from("lastgood-scratch"));
        let data: Arc<dyn DataFolder> = if base.format == Format::PgBackRest {
            Arc::new(pgbackrest::Restore::of(&base.primary().path, window.timeline)?)
        } else {
            Arc::new(Unpack { base: base.primary().path.clone(), layout: facts.layout.clone(), log: log.clone() })
        };
        Ok(PitrPlan {
            why,
            window: WindowView {
                id: window.id,
                system: window.system,
                timeline: window.timeline,
                window: window.window,
                log,
            },
            base_backup: BaseView {
                id: base.id.clone(),
                path: base.primary().path.clone(),
                taken_at: base.taken_at,
                layout: facts.layout.clone(),
                version: facts.version.clone(),
                why: base_why,
            },
            target: to,
            then,
            database,
            tables,
            server: server.describe_server(),
            scratch_dir,
            server_programs: bin,
            job: Job {
                server,
                explicit,
                into: target.into.as_ref().map(|p| p.to_string_lossy().into_owned()),
                live_db,
                sources: live_sources(&catalogued.sources),
                force,
                jobs,
                now,
                run_as: RunAs::detect()?,
                data,
            },
        })
    }

    /// Carries the plan out (module docs); the instance is gone afterwards whatever happens, and
    /// a failure leaves no scratch database (the first side's is dropped if the second fails).
    pub fn execute(self, out: &Output) -> Result<PitrReport> {
        let started = Instant::now();
        let leftovers_removed = clean_leftovers(&self.scratch_dir);
        for l in &leftovers_removed {
            out.note(l);
        }
        let mut seconds = Phases::default();
        let mut inst =
            Instance::create(&self.scratch_dir, &self.window.id, &self.server_programs, self.job.run_as.clone())?;
        let t = Instant::now();
        let spinner = out.spinner(&self.job.data.doing(&self.base_backup.id));
        let unpacked = self.job.data.produce(&inst, &self.job.run_as, self.target);
        spinner.finish_and_clear();
        unpacked?;
        inst.configure(&self.settings(&inst, self.target), &self.window.log)?;
        seconds.unpack = t.elapsed().as_secs_f64();
        let t = Instant::now();
        inst.start()?;
        let role = superuser_name(&self.job.server);
        let conn = instance_conn(&inst, &role, &self.database)?;
        let reached = self.wait_paused(&mut inst, &conn, self.target, out)?;
        seconds.replay = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let restore = self.copy_tables(&inst, &conn, self.target, "tables.pgdump", &reached, out)?;
        seconds.copy = t.elapsed().as_secs_f64();
        // The later moment: the paused instance stops (a restartpoint), gets the new target and
        // replays on from where it was; nothing is unpacked again.
        let then = match self.then {
            None => None,
            Some(then) => {
                let mut secs = Phases::default();
                let t = Instant::now();
                let later = (|| {
                    inst.stop();
                    inst.configure(&self.settings(&inst, then), &self.window.log)?;
                    inst.start()?;
                    let reached = self.wait_paused(&mut inst, &conn, then, out)?;
                    secs.replay = t.elapsed().as_secs_f64();
                    let t = Instant::now();
                    let restore = self.copy_tables(&inst, &conn, then, "then.pgdump", &reached, out)?;
                    secs.copy = t.elapsed().as_secs_f64();
                    Ok::<_, anyhow::Error>((reached, restore))
                })();
                match later {
                    Ok((reached, restore)) => {
                        secs.total = secs.replay + secs.copy;
                        Some(Box::new(LaterSide {
                            target: then,
                            reached,
                            tables_restored: restore.tables_restored.clone(),
                            scratch: restore.plan.target.clone(),
                            scratch_database: restore.plan.target_database.clone(),
                            seconds: secs,
                            restore,
                        }))
                    }
                    Err(e) => {
                        let first = restore.plan.target_database.clone();
                        if let Err(d) = Admin::connect(&self.job.server).and_then(|mut a| a.drop(&first)) {
                            out.warn(&format!("could not drop scratch database `{first}` after the failure: {d:#}"));
                        }
                        return Err(e);
                    }
                }
            }
        };
        inst.stop();
        drop(inst);
        seconds.total = started.elapsed().as_secs_f64();
        Ok(PitrReport {
            tables_restored: restore.tables_restored.clone(),
            scratch: restore.plan.target.clone(),
            scratch_database: restore.plan.target_database.clone(),
            plan: self,
            reached,
            leftovers_removed,
            seconds,
            restore,
            then,
        })
    }

    /// lastgood's settings of the instance (module docs of `instance.rs`).
    fn settings(&self, inst: &Instance, target: Target) -> Vec<(&'static str, String)> {
        let mut s = vec![("restore_command", self.job.data.restore_command(inst))];
        match target {
            Target::Time(t) => {
                s.push(("recovery_target_time", t.format("%Y-%m-%d %H:%M:%S%.6f+00").to_string()));
                s.push(("recovery_target_inclusive", "on".into()));
            }
            Target::BeforeTxn(x) | Target::AfterTxn(x) => {
                // The WAL records 32-bit transaction ids; txid_current() adds the epoch above.
                s.push(("recovery_target_xid", (x & 0xFFFF_FFFF).to_string()));
                let inclusive = matches!(target, Target::AfterTxn(_));
                s.push(("recovery_target_inclusive", if inclusive { "on" } else { "off" }.into()));
            }
        }
        let timeline = self.window.timeline.map_or("current".to_string(), |t| t.to_string());
        s.extend([
            ("recovery_target_action", "pause".to_string()),
            ("recovery_target_timeline", timeline),
            ("hot_standby", "on".into()),
            ("listen_addresses", String::new()),
            ("port", inst.port.to_string()),
            ("unix_socket_directories", inst.socket.display().to_string()),
            ("unix_socket_permissions", "0700".into()),
            ("archive_mode", "off".into()),
            ("archive_command", String::new()),
            ("archive_library", String::new()),
            ("archive_cleanup_command", String::new()),
            ("recovery_end_command", String::new()),
            ("primary_conninfo", String::new()),
            ("primary_slot_name", String::new()),
            ("synchronous_standby_names", String::new()),
            ("shared_buffers", "128MB".into()),
            // Throwaway: nothing in the folder outlives a crash (the next run removes it), so
            // restartpoints and the stop between two sides need not wait for the disk.
            ("fsync", "off".into()),
            ("huge_pages", "off".into()),
            ("logging_collector", "off".into()),
            ("log_destination", "stderr".into()),
            ("ssl", "off".into()),
            ("cluster_name", "lastgood-recovery".into()),
        ]);
        s
    }

    /// Polls the instance until replay pauses at the target; returns where it stopped.
    fn wait_paused(&self, inst: &mut Instance, conn: &PgConn, target: Target, out: &Output) -> Result<String> {
        let spinner = out.spinner(&format!("replaying WAL to {}", target.describe()));
        let mut client: Option<postgres::Client> = None;
        let result = loop {
            if let Some(status) = inst.exited() {
                break Err(self.ended(inst, target, status));
            }
            if client.is_none() {
                client = conn.config().connect_timeout(Duration::from_secs(2)).connect(postgres::NoTls).ok();
            }
            if let Some(c) = client.as_mut() {
                match replay_state(c) {
                    Ok((false, _, _)) => {
                        break Err(environment("the recovery instance left recovery (it must only pause)").into());
                    }
                    Ok((true, state, at)) if state == "paused" => {
                        break Ok(stop_point(&inst.log_text()).unwrap_or_else(|| format!("paused at {at}")));
                    }
                    Ok((true, _, at)) => {
                        spinner.set_message(format!("replaying WAL to {}: at {at}", target.describe()))
                    }
                    Err(_) => client = None,
                }
            }
            std::thread::sleep(Duration::from_millis(200));
        };
        spinner.finish_and_clear();
        result
    }

    /// Why the instance stopped before pausing (module docs).
    fn ended(&self, inst: &Instance, target: Target, status: std::process::ExitStatus) -> anyhow::Error {
        let log = inst.log_text();
        let tail = inst.log_tail(6);
        let target = target.describe();
        if log.contains("recovery ended before configured recovery target was reached") {
            return bad_input(format!(
                "the WAL archive ends before {target}: recovery replayed all it found and stopped (server log: {tail})"
            ))
            .hint(format!(
                "the transaction may never have committed, or the archive lacks WAL past a gap; the window: {}",
                self.window.window.describe()
            ))
            .into();
        }
        if log.contains("pg_tblspc") && (log.contains("Permission denied") || log.contains("could not create")) {
            return bad_input(format!(
                "the WAL before {target} creates a tablespace (CREATE TABLESPACE after base backup {}): replaying it would write into that tablespace's folder on this host, which may be production's; the recovery instance stopped (server log: {tail})",
                self.base_backup.id
            ))
            .hint("restore from a base backup taken after the tablespace was created, or restore to a moment before it")
            .into();
        }
        if log.contains("before consistent recovery point") {
            return bad_input(format!(
                "{target} is before base backup {}'s end, where its data becomes consistent (server log: {tail})",
                self.base_backup.id
            ))
            .into();
        }
        environment(format!("the recovery instance stopped ({status}) before reaching {target}: {tail}")).into()
    }

    /// Copies the tables out of the paused instance into a new scratch database: their schema
    /// dumped into the instance folder (`dump_schema`) and restored as `restore --tables` does,
    /// their rows copied straight from the instance (`copy.rs`) between the two halves.
    fn copy_tables(
        &self,
        inst: &Instance,
        conn: &PgConn,
        target: Target,
        file: &str,
        reached: &str,
        out: &Output,
    ) -> Result<PgRestoreReport> {
        let dump = self.dump_schema(inst, conn, target, file, out)?;
        self.restore_dump(&dump, conn, target, reached, out)
    }

    /// Dumps the tables' schema and sequence values (no table rows) from the paused instance
    /// into the instance folder.
    fn dump_schema(&self, inst: &Instance, conn: &PgConn, target: Target, file: &str, out: &Output) -> Result<PathBuf> {
        let have = user_tables(conn)?;
        let wanted = match &self.tables {
            None => None,
            Some(names) => Some(resolve(names, &have, &self.base_backup.id, &self.database)?),
        };
        let dump = inst.folder.join(file);
        let mut cmd = tools::command_at(&self.server_programs.join("pg_dump"), Some(conn));
        cmd.args(["-Fc", "--no-password", "--exclude-table-data=*.*", "-f"]).arg(&dump);
        for (schema, name) in wanted.iter().flatten() {
            cmd.arg("-t").arg(format!("\"{}\".\"{}\"", schema.replace('"', "\"\""), name.replace('"', "\"\"")));
        }
        let spinner = out.spinner(&format!("reading the schema of the recovery instance ({})", target.describe()));
        let done = tools::output(&mut cmd);
        spinner.finish_and_clear();
        let done = done?;
        if !done.status.success() {
            return Err(environment(format!(
                "pg_dump from the recovery instance failed: {}",
                tools::stderr_tail(&done, Some(conn), 3)
            ))
            .into());
        }
        Ok(dump)
    }

    /// Restores the schema dump into a new scratch database on the server, as `restore --tables`
    /// does, with the rows copied from the instance at `from`.
    fn restore_dump(
        &self,
        dump: &Path,
        from: &PgConn,
        target: Target,
        reached: &str,
        out: &Output,
    ) -> Result<PgRestoreReport> {
        let a = archive::read_custom(dump)?;
        let taken_at = match target {
            Target::Time(t) => t,
            _ => self.job.now,
        };
        let backup = BackupRef {
            id: self.window.id.clone(),
            format: Format::PgCustom,
            taken_at,
            tables: a.tables().into_iter().map(|name| TableFacts { name, rows: None }).collect(),
            skipped_tables: a.foreign_tables(),
            copies: vec![CopyRef {
                path: dump.to_path_buf(),
                sha256: crate::util::hash::sha256_file(dump)?,
                compression: Compression::None,
                wal: None,
            }],
            problem: None,
            source: None,
            archive: Some(a.info),
            base: None,
        };
        let why = format!("recovery window {} replayed to {}: {reached}", self.window.id, target.describe());
        let j = &self.job;
        let plan = PgRestorePlan::new(
            &backup,
            why,
            None,
            &j.server,
            j.explicit,
            j.into.as_deref(),
            j.live_db.as_deref(),
            &j.sources,
            j.force,
            j.jobs,
            j.now,
        )?;
        plan.rows_from(from.clone()).execute(out)
    }
}

/// The base backup to start from, and why (module docs). Errors: `BadInput` with none.
fn choose_base(bases: &[BackupRef], to: Target) -> Result<(&BackupRef, String)> {
    let usable: Vec<&BackupRef> = bases.iter().filter(|b| b.base.is_some() && b.problem.is_none()).collect();
    let oldest = *usable.first().ok_or_else(|| bad_input("the recovery window has no usable base backup"))?;
    let (chosen, why) = match to {
        Target::Time(t) => match usable.iter().rev().find(|b| b.taken_at <= t) {
            Some(b) => (*b, format!("the newest base backup that ends at or before {}", crate::time::show(t))),
            None => (oldest, "the oldest base backup of the window".to_string()),
        },
        Target::BeforeTxn(x) | Target::AfterTxn(x) => {
            let before = |b: &&&BackupRef| b.base.as_ref().and_then(|f| f.next_txn).is_some_and(|n| n <= x);
            match usable.iter().rev().find(before) {
                Some(b) => (*b, format!("the newest base backup that started before transaction {x}")),
                None => (oldest, "the oldest base backup of the window".to_string()),
            }
        }
    };
    Ok((chosen, why))
}

/// `restore_command`: the archived file `%f`, plain, `.gz` or `.zst`, copied to `%p`.
fn restore_command(log: &Path) -> String {
    let dir = crate::util::shell::shell_quote(&log.display().to_string()).replace('%', "%%");
    format!(
        "f={dir}/%f; if [ -f \"$f\" ]; then cp \"$f\" \"%p\"; elif [ -f \"$f.gz\" ]; then gzip -dc \"$f.gz\" > \"%p\"; \
         elif [ -f \"$f.zst\" ]; then zstd -dcq \"$f.zst\" > \"%p\"; else exit 1; fi"
    )
}

/// The cluster's bootstrap superuser, as live names it (live is the same cluster, so the backup
/// has it); `postgres` when live cannot say.
fn superuser_name(server: &PgConn) -> String {
    server
        .connect()
        .ok()
        .and_then(|mut c| c.query_one("SELECT rolname::text FROM pg_roles WHERE oid = 10", &[]).ok())
        .map(|r| r.get::<_, String>(0))
        .unwrap_or_else(|| "postgres".to_string())
}

/// The connection to the instance's database `db` over its socket, as `role`.
fn instance_conn(inst: &Instance, role: &str, db: &str) -> Result<PgConn> {
    let q = |s: &str| format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"));
    let spec = format!(
        "host={} port={} user={} dbname={} sslmode=disable",
        q(&inst.socket.display().to_string()),
        inst.port,
        q(role),
        q(db)
    );
    PgConn::resolve_with(&spec, &|_| None)
}

/// In recovery, pause state, replay position (and time) of the instance.
fn replay_state(c: &mut postgres::Client) -> Result<(bool, String, String)> {
    let r = c.query_one(
        "SELECT pg_is_in_recovery(), pg_get_wal_replay_pause_state(), \
         coalesce(pg_last_wal_replay_lsn()::text, '?') || coalesce(' (' || to_char(pg_last_xact_replay_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') || ' UTC)', '')",
        &[],
    )?;
    Ok((r.get(0), r.get(1), r.get(2)))
}

/// The last "recovery stopping …" line of the server's log, from those words on.
fn stop_point(log: &str) -> Option<String> {
    log.lines().rev().find_map(|l| l.find("recovery stopping").map(|i| l[i..].trim().to_string()))
}

/// The user tables of the instance's database (schema, name), partitions left to their parent.
fn user_tables(conn: &PgConn) -> Result<Vec<(String, String)>> {
    let mut c = conn.connect()?;
    let rows = c
        .query(
            "SELECT n.nspname::text, c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition \
             AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%' ORDER BY 1, 2",
            &[],
        )
        .map_err(|e| conn.classify(e, "listing the tables of the recovered database"))?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

/// Maps `--tables` names onto the recovered tables: a bare name is `public.name`, else
/// `schema.name` split at the first dot. Errors: `BadInput` naming the absent table.
fn resolve(names: &[String], have: &[(String, String)], base: &str, db: &str) -> Result<Vec<(String, String)>> {
    names
        .iter()
        .map(|n| {
            let public = ("public".to_string(), n.clone());
            if have.contains(&public) {
                return Ok(public);
            }
            if let Some((s, t)) = n.split_once('.')
                && have.iter().any(|(hs, ht)| hs == s && ht == t)
            {
                return Ok((s.to_string(), t.to_string()));
            }
            let list: Vec<String> = have.iter().map(|(s, t)| archive::qualified(s, t)).collect();
            Err(bad_input(format!(
                "database `{db}` of base backup {base} has no table `{n}` at that moment (it has: {})",
                list.join(", ")
            ))
            .hint("check the names given to --tables; tables outside public are schema.table")
            .into())
        })
        .collect()
}

impl RestoreJob for PitrPlan {
    fn why(&self) -> &str {
        &self.why
    }

    fn plan(&self) -> &dyn Printable {
        self
    }

    fn execute(self: Box<Self>, out: &Output) -> Result<Box<dyn RestoreDone>> {
        Ok(Box::new(PitrPlan::execute(*self, out)?))
    }
}

impl PitrPlan {
    fn what(&self) -> String {
        match &self.tables {
            None => format!("every table of database `{}`", self.database),
            Some(t) => format!("table(s) {} of database `{}`", t.join(", "), self.database),
        }
    }
}

impl Printable for PitrPlan {
    fn json(&self) -> Result<String> {
        pretty_json(self)
    }

    fn text(&self) -> String {
        format!(
            "{}\nwould start a recovery instance (PostgreSQL {}, `{}`) from base backup {} (`{}`, {}: {}) under `{}`, replay `{}` to {}, and copy {} into a new scratch database on {}\n",
            self.why,
            self.base_backup.version,
            self.server_programs.display(),
            self.base_backup.id,
            self.base_backup.path.display(),
            self.base_backup.layout,
            self.base_backup.why,
            self.scratch_dir.display(),
            self.window.log.display(),
            self.target.describe(),
            self.what(),
            self.server
        )
    }
}

impl Printable for PitrReport {
    fn json(&self) -> Result<String> {
        pretty_json(self)
    }

    fn text(&self) -> String {
        let p = &self.plan;
        let mut s = format!(
            "replayed recovery window {} from base backup {} to {}: {}\n",
            p.window.id,
            p.base_backup.id,
            p.target.describe(),
            self.reached
        );
        s.push_str(&format!("restored {} into {}\n", p.what(), self.scratch));
        for t in &self.tables_restored {
            s.push_str(&format!("  {:<30} {:>12} rows\n", t.name, t.rows_text()));
        }
        let x = &self.seconds;
        s.push_str(&format!(
            "unpack {:.2}s   replay {:.2}s   copy {:.2}s   total {:.2}s\n",
            x.unpack, x.replay, x.copy, x.total
        ));
        let mut drop = self.scratch_database.clone();
        if let Some(l) = &self.then {
            s.push_str(&format!(
                "moved the same instance on to {}: {}\nrestored {} into {}\n",
                l.target.describe(),
                l.reached,
                p.what(),
                l.scratch
            ));
            for t in &l.tables_restored {
                s.push_str(&format!("  {:<30} {:>12} rows\n", t.name, t.rows_text()));
            }
            s.push_str(&format!(
                "second side: replay {:.2}s   copy {:.2}s (no second unpack)\n",
                l.seconds.replay, l.seconds.copy
            ));
            drop = format!("{drop} --live …` and `lastgood scratch drop {}", l.scratch_database);
        }
        s.push_str(&format!("drop it when done: `lastgood scratch drop {drop} --live …`\n"));
        s
    }
}

impl RestoreDone for PitrReport {
    fn backup_path(&self) -> &Path {
        &self.plan.base_backup.path
    }

    fn passed_over_copies(&self) -> &[PassedCopy] {
        &[]
    }

    fn check(&self) -> Option<&str> {
        None
    }

    fn seconds(&self) -> f64 {
        self.seconds.total
    }

    fn restored(&self) -> Vec<(Location, String)> {
        let at = |db: &str| (Location::Postgres(self.plan.job.server.with_dbname(db).conninfo()), db.to_string());
        std::iter::once(at(&self.scratch_database)).chain(self.then.as_ref().map(|l| at(&l.scratch_database))).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restore_command_reads_plain_and_compressed_files_and_fails_on_missing_ones() {
        let c = restore_command(Path::new("/r/wal"));
        assert!(
            c.starts_with("f=/r/wal/%f;")
                && c.contains("gzip -dc")
                && c.contains("zstd -dcq")
                && c.ends_with("exit 1; fi")
        );
        assert!(restore_command(Path::new("/a b/50%")).starts_with("f='/a b/50%%'/%f;"));
        let log = "LOG:  starting point-in-time recovery to XID 728\nLOG:  recovery stopping before commit of transaction 728, time 2026-12-02 10:00:01.5+00\nLOG:  pausing at the end of recovery\n";
        assert_eq!(
            stop_point(log).as_deref(),
            Some("recovery stopping before commit of transaction 728, time 2026-12-02 10:00:01.5+00")
        );
    }
}
