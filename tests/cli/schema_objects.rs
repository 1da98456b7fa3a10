//! Every command over a database holding one of each kind of schema object SQLite and PostgreSQL
//! have: nothing may crash (no signal, no panic, no backtrace), the commands that should succeed
//! do, with correct results where they mean something (a restore diffs equal to its source on
//! every ordinary table), and virtual, shadow and foreign tables are left out with a note, or
//! refused by name with one clear error.
//!
//! A merge that would fire a trigger is refused (`--triggers`, exit 5) and goes through with
//! `--triggers skip`; a promote of a scratch restored with `--tables` is refused (exit 5).

use std::path::Path;
use std::process::Output;

use rusqlite::Connection;

use crate::cluster_or_skip;
use crate::common::*;
use crate::pgcluster::Cluster;

/// What a run may end with.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// Exit 0.
    Ok,
    /// One of these exit codes; a non-zero one with an `error:` line when it is not 1.
    AnyOf(&'static [i32]),
}

/// Runs `lastgood ARGS` in `cwd` and asserts it did not crash and ended as `expect` says.
fn run(cwd: &Path, args: &[&str], expect: Expect) -> Output {
    let out = lastgood(cwd).args(args).output().expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let code = out.status.code();
    assert!(code.is_some(), "lastgood {args:?} was killed by a signal ({:?}): {stderr}", out.status);
    let code = code.unwrap();
    assert!(code < 128 && code != 101, "lastgood {args:?} crashed with exit {code}: {stderr}");
    assert!(!stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"), "lastgood {args:?}: {stderr}");
    match expect {
        Expect::Ok => assert_eq!(code, 0, "lastgood {args:?}: {stderr}\n{}", String::from_utf8_lossy(&out.stdout)),
        Expect::AnyOf(codes) => {
            assert!(codes.contains(&code), "lastgood {args:?} exited {code}, expected one of {codes:?}: {stderr}");
            if code > 1 {
                assert!(stderr.lines().any(|l| l.starts_with("error: ")), "no error line: {stderr}");
            }
        }
    }
    out
}

/// Runs with `--json` and parses stdout (a document, or the last line of JSON Lines).
fn run_json(cwd: &Path, args: &[&str], expect: Expect) -> serde_json::Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let out = run(cwd, &all, expect);
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(&text)
        .or_else(|_| serde_json::from_str(text.lines().last().unwrap_or("")))
        .unwrap_or_else(|e| panic!("bad JSON from {args:?}: {e}: {text}"))
}

/// Asserts a refusal: exit 3, one `error:` line naming `table`.
fn refused_by_name(cwd: &Path, args: &[&str], table: &str) {
    let line = fails(cwd, args, 3);
    assert!(line.contains(&format!("`{table}`")), "{line}");
    assert!(line.contains("virtual") || line.contains("shadow") || line.contains("foreign"), "{line}");
}

/// One of each kind of SQLite schema object, with a few rows in each table.
const SQLITE_SCHEMA: &str = r#"
CREATE TABLE plain(id INTEGER PRIMARY KEY, name TEXT NOT NULL COLLATE NOCASE, amount REAL CHECK (amount >= 0));
CREATE TABLE wr(k TEXT PRIMARY KEY, v INTEGER) WITHOUT ROWID;
CREATE TABLE st(id INTEGER PRIMARY KEY, a INT, b TEXT, c ANY) STRICT;
CREATE TABLE nokey(a, b TEXT);
CREATE TABLE comp(a INTEGER, b TEXT, c REAL, PRIMARY KEY (a, b));
CREATE TABLE gen(id INTEGER PRIMARY KEY, x INT, y INT GENERATED ALWAYS AS (x * 2) VIRTUAL,
  z INT GENERATED ALWAYS AS (x + 1) STORED);
CREATE TABLE auto(id INTEGER PRIMARY KEY AUTOINCREMENT, v TEXT);
CREATE TABLE parent(id INTEGER PRIMARY KEY, name TEXT UNIQUE);
CREATE TABLE child(id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES parent(id) ON DELETE RESTRICT, note TEXT);
CREATE INDEX child_parent ON child(parent_id);
CREATE INDEX plain_partial ON plain(amount) WHERE amount > 10;
CREATE INDEX plain_expr ON plain(lower(name));
CREATE UNIQUE INDEX wr_v ON wr(v);
CREATE VIEW v_child AS SELECT c.id, p.name FROM child c JOIN parent p ON p.id = c.parent_id;
CREATE TABLE log(at TEXT, what TEXT);
CREATE TRIGGER child_log AFTER INSERT ON child BEGIN INSERT INTO log VALUES ('now', NEW.note); END;
CREATE TRIGGER v_child_ins INSTEAD OF INSERT ON v_child BEGIN
  INSERT INTO child(parent_id, note) VALUES (NEW.id, NEW.name); END;
CREATE VIRTUAL TABLE docs5 USING fts5(title, body);
CREATE VIRTUAL TABLE docs4 USING fts4(title, body);
CREATE VIRTUAL TABLE boxes USING rtree(id, minx, maxx, miny, maxy);
CREATE TABLE "odd ""name"" é" ("col one" TEXT PRIMARY KEY, "ü" INTEGER);
CREATE TABLE hasrowid(rowid TEXT, v INTEGER);
INSERT INTO plain VALUES (1, 'Alice', 5.5), (2, 'bob', 20), (3, 'Carol', 0);
INSERT INTO wr VALUES ('a', 1), ('b', 2);
INSERT INTO st VALUES (1, 10, 'x', 1.5), (2, 20, 'y', 'text');
INSERT INTO nokey VALUES (1, 'a'), (1, 'a'), (2.0, 'b'), (NULL, NULL);
INSERT INTO comp VALUES (1, 'a', 1.0), (1, 'b', 2.0);
INSERT INTO gen(id, x) VALUES (1, 10), (2, 20);
INSERT INTO auto(v) VALUES ('a'), ('b'), ('c');
DELETE FROM auto WHERE id = 3;
INSERT INTO parent VALUES (1, 'p1'), (2, 'p2');
INSERT INTO child VALUES (1, 1, 'c1'), (2, 2, 'c2');
INSERT INTO docs5 VALUES ('hello', 'world'), ('foo', 'bar baz');
INSERT INTO docs4 VALUES ('hello', 'world'), ('foo', 'bar baz');
INSERT INTO boxes VALUES (1, 0, 1, 0, 1), (2, 5, 6, 5, 6);
INSERT INTO "odd ""name"" é" VALUES ('x', 1), ('it''s', NULL);
INSERT INTO hasrowid VALUES ('r1', 1), ('r2', 2);
"#;

/// The ordinary tables of `SQLITE_SCHEMA`.
const SQLITE_TABLES: &[&str] =
    &["auto", "child", "comp", "gen", "hasrowid", "log", "nokey", "odd \"name\" é", "parent", "plain", "st", "wr"];

fn fts_hits(db: &Path) -> i64 {
    let c = Connection::open(db).unwrap();
    c.query_row("SELECT count(*) FROM docs5 WHERE docs5 MATCH 'hello'", [], |r| r.get(0)).unwrap()
}

#[test]
fn every_command_runs_cleanly_over_every_kind_of_sqlite_schema_object() {
    let dir = tempdir();
    let d = dir.path();
    let (live, repo) = (d.join("live.db"), d.join("repo"));
    std::fs::create_dir_all(&repo).unwrap();
    sqlite3(&live, SQLITE_SCHEMA);
    let at_backup = d.join("at-backup.db");
    cli_backup(&live, &at_backup);
    let r = repo.to_str().unwrap();
    run(d, &["--repo", r, "backup", "--live", "live.db"], Expect::Ok);
    // Live moves on: a row inserted, an FTS row changed, an R*Tree row added.
    sqlite3(
        &live,
        "INSERT INTO plain VALUES (4, 'Dan', 1); UPDATE docs5 SET body = 'changed' WHERE title = 'foo';
         INSERT INTO boxes VALUES (3, 1, 2, 1, 2); INSERT INTO nokey VALUES (3, 'c');",
    );
    run(d, &["--repo", r, "backup", "--live", "live.db", "--compress", "zstd"], Expect::Ok);

    // catalog and show: ordinary tables counted, the others listed apart, no backup damaged.
    let catalog = run_json(d, &["--repo", r, "catalog"], Expect::Ok);
    let backups = catalog["backups"].as_array().unwrap();
    assert_eq!(backups.len(), 2, "{catalog}");
    for b in backups {
        assert!(b["problem"].is_null(), "{b}");
        let names: Vec<&str> = b["tables"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
        assert_eq!(names, SQLITE_TABLES, "{b}");
        let skipped: Vec<(&str, &str)> = b["skipped_tables"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| (t["name"].as_str().unwrap(), t["kind"].as_str().unwrap()))
            .collect();
        for v in [("docs5", "virtual"), ("docs4", "virtual"), ("boxes", "virtual"), ("docs5_data", "shadow")] {
            assert!(skipped.contains(&v), "{v:?} in {skipped:?}");
        }
        assert!(skipped.contains(&("boxes_node", "shadow")) && skipped.contains(&("docs4_segdir", "shadow")));
    }
    let first = backups[0]["id"].as_str().unwrap().to_string();
    run(d, &["--repo", r, "catalog"], Expect::Ok);
    run(d, &["--repo", r, "show", "latest"], Expect::Ok);
    let shown = run_json(d, &["--repo", r, "show", &first], Expect::Ok);
    assert!(shown["schema"].as_array().unwrap().iter().any(|o| o["sql"].as_str().unwrap().contains("fts5")));
    run(d, &["--repo", r, "verify", "--all"], Expect::Ok);

    // restore, whole: every ordinary table equals the source; the FTS index came along.
    run(d, &["--repo", r, "restore", "--backup", &first, "--into", "whole.db"], Expect::Ok);
    run(d, &["diff", "--scratch", "whole.db", "--live", "at-backup.db"], Expect::Ok);
    assert_eq!(fts_hits(&d.join("whole.db")), 1);
    // restore --tables: every ordinary table, equal to the source too.
    let all = SQLITE_TABLES.join(",");
    run(d, &["--repo", r, "restore", "--backup", &first, "--tables", &all, "--into", "part.db"], Expect::Ok);
    for t in SQLITE_TABLES {
        assert_eq!(rows(&d.join("part.db"), t), rows(&at_backup, t), "table {t}");
    }
    run(d, &["diff", "--scratch", "part.db", "--live", "at-backup.db"], Expect::Ok);
    for t in ["docs5", "docs5_content", "boxes_rowid", "docs4"] {
        refused_by_name(d, &["--repo", r, "restore", "--backup", &first, "--tables", t, "--into", "x.db"], t);
    }
    assert!(!d.join("x.db").exists());

    // diff: the ordinary changes found, the virtual tables noted in human and JSON output.
    run(d, &["diff", "--scratch", "whole.db", "--live", "live.db"], Expect::AnyOf(&[1]));
    // Without --quiet, which hides notes like warnings.
    use assert_cmd::cargo::CommandCargoExt;
    let mut cmd = std::process::Command::cargo_bin("lastgood").unwrap();
    let noted = cmd.current_dir(d).args(["diff", "--scratch", "whole.db", "--live", "live.db"]).output().unwrap();
    let noted = String::from_utf8_lossy(&noted.stderr).into_owned();
    assert!(noted.lines().any(|l| l.starts_with("note: ") && l.contains("docs5 (fts5)")), "{noted}");
    let end = run_json(d, &["diff", "--scratch", "whole.db", "--live", "live.db"], Expect::AnyOf(&[1]));
    assert_eq!(end["type"], "end");
    assert!(end["skipped_tables"].as_array().unwrap().iter().any(|t| t["name"] == "boxes"), "{end}");
    run(d, &["diff", "--scratch", "whole.db", "--live", "live.db", "--rows", "--rowid"], Expect::AnyOf(&[1]));
    run(d, &["diff", "--scratch", "whole.db", "--live", "live.db", "--sql"], Expect::AnyOf(&[1]));
    for t in ["docs5", "boxes", "docs4_segdir"] {
        refused_by_name(d, &["diff", "--scratch", "whole.db", "--live", "live.db", "--tables", t], t);
        let merge = ["merge", "--scratch", "whole.db", "--live", "live.db", "--tables", t, "--restore", "updated"];
        refused_by_name(d, &merge, t);
    }

    // merge: a dry run over everything (tables with triggers may be refused by the trigger
    // policy: exit 5), then a safe selection applied, after which that table equals scratch.
    let kinds = "updated,deleted,inserted";
    run(d, &["merge", "--scratch", "whole.db", "--live", "live.db", "--restore", kinds], Expect::AnyOf(&[0, 5]));
    let plan = run_json(
        d,
        &["merge", "--scratch", "whole.db", "--live", "live.db", "--restore", kinds],
        Expect::AnyOf(&[0, 5]),
    );
    if plan.get("skipped_tables").is_some() {
        assert!(plan["skipped_tables"].as_array().unwrap().iter().any(|t| t["name"] == "docs5"), "{plan}");
    }
    for t in ["plain", "nokey"] {
        let args =
            ["merge", "--scratch", "whole.db", "--live", "live.db", "--tables", t, "--restore", kinds, "--apply"];
        run(d, &args, Expect::Ok);
        run(d, &["diff", "--scratch", "whole.db", "--live", "live.db", "--tables", t], Expect::Ok);
    }
    assert_eq!(fts_hits(&live), 1, "the merge left the FTS table alone");
    // A merge that would fire a trigger (re-inserting a row of `child` fires `child_log`) is
    // refused by default, nothing written; with `--triggers skip` it goes through, `log` untouched.
    sqlite3(&live, "DELETE FROM child WHERE id = 2");
    let log_before = rows(&live, "log");
    let child =
        ["merge", "--scratch", "whole.db", "--live", "live.db", "--tables", "child", "--restore", "deleted", "--apply"];
    fails(d, &child, 5);
    run(d, &["diff", "--scratch", "whole.db", "--live", "live.db", "--tables", "child"], Expect::AnyOf(&[1]));
    let mut skip = child.to_vec();
    skip.extend(["--triggers", "skip"]);
    run(d, &skip, Expect::Ok);
    run(d, &["diff", "--scratch", "whole.db", "--live", "live.db", "--tables", "child"], Expect::Ok);
    assert_eq!(rows(&live, "log"), log_before);

    // promote: a dry run, then for real onto a copy of live; the virtual tables come along.
    std::fs::copy(&live, d.join("copy.db")).unwrap();
    run(d, &["promote", "--scratch", "whole.db", "--live", "copy.db"], Expect::Ok);
    run(d, &["promote", "--scratch", "whole.db", "--live", "copy.db", "--yes"], Expect::Ok);
    assert_eq!(rows(&d.join("copy.db"), "plain"), rows(&at_backup, "plain"));
    assert_eq!(fts_hits(&d.join("copy.db")), 1);
    // A scratch restored with --tables lacks the view (and the virtual tables): refused, exit 5.
    std::fs::copy(&live, d.join("copy2.db")).unwrap();
    fails(d, &["promote", "--scratch", "part.db", "--live", "copy2.db", "--yes"], 5);
    assert_eq!(std::fs::read(d.join("copy2.db")).unwrap(), std::fs::read(&live).unwrap());

    // bisect, history, prune, drill, scratch.
    let check = "SELECT count(*) >= 4 FROM plain";
    run(d, &["--repo", r, "bisect", "--check", check], Expect::AnyOf(&[0, 1]));
    let fts = "SELECT count(*) FROM docs5 WHERE docs5 MATCH 'hello'";
    run(d, &["--repo", r, "bisect", "--check", fts, "--tables", "docs5", "--scan"], Expect::AnyOf(&[0, 1]));
    for t in SQLITE_TABLES {
        run(d, &["--repo", r, "history", "--table", t], Expect::Ok);
    }
    run(d, &["--repo", r, "history", "--table", "plain", "--column", "name"], Expect::Ok);
    refused_by_name(d, &["--repo", r, "history", "--table", "docs5"], "docs5");
    run(d, &["--repo", r, "prune", "--keep-last", "1", "--dry-run"], Expect::Ok);
    let drill = ["--repo", r, "drill", "--check", fts, "--min-rows", "plain=3", "--min-rows", "nokey=1"];
    run(d, &drill, Expect::Ok);
    run(d, &["scratch", "list"], Expect::AnyOf(&[2]));
}

/// A virtual table whose module this SQLite lacks (written into the schema directly, as an
/// application with its own module would leave it): every command still works on the rest.
#[test]
fn a_virtual_table_whose_module_is_missing_is_skipped_not_fatal() {
    let dir = tempdir();
    let d = dir.path();
    let live = d.join("live.db");
    sqlite3(
        &live,
        "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t VALUES (1, 'a');
         PRAGMA writable_schema = ON;
         INSERT INTO sqlite_schema VALUES ('table', 'vx', 'vx', 0, 'CREATE VIRTUAL TABLE vx USING nosuch(a, b)');",
    );
    let repo = d.join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    std::fs::copy(&live, repo.join("shop-2026-11-23T06-00-00.db")).unwrap();
    let r = repo.to_str().unwrap();
    let catalog = run_json(d, &["--repo", r, "catalog"], Expect::Ok);
    let b = &catalog["backups"][0];
    assert!(b["problem"].is_null(), "{b}");
    assert_eq!(b["skipped_tables"][0]["name"], "vx");
    assert_eq!(b["skipped_tables"][0]["of"], "nosuch");
    run(d, &["--repo", r, "show", "latest"], Expect::Ok);
    run(d, &["--repo", r, "restore", "--backup", "latest", "--into", "s.db"], Expect::Ok);
    run(d, &["diff", "--scratch", "s.db", "--live", "live.db"], Expect::Ok);
    refused_by_name(d, &["diff", "--scratch", "s.db", "--live", "live.db", "--tables", "vx"], "vx");
    run(d, &["--repo", r, "backup", "--live", "live.db"], Expect::Ok);
    run(d, &["--repo", r, "drill"], Expect::Ok);
}

/// One of each kind of PostgreSQL schema object (contrib extensions where installed: pg_trgm,
/// file_fdw for a foreign table).
const PG_SCHEMA: &str = r#"
CREATE SCHEMA app;
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE EXTENSION IF NOT EXISTS file_fdw;
CREATE SERVER files FOREIGN DATA WRAPPER file_fdw;
CREATE FOREIGN TABLE app.remote_lines(line text) SERVER files OPTIONS (filename '/dev/null', format 'text');
CREATE COLLATION app.ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
CREATE DOMAIN app.positive AS numeric CHECK (VALUE >= 0);
CREATE TYPE app.mood AS ENUM ('sad', 'ok', 'happy');
CREATE TYPE app.point2 AS (x float8, y float8);
CREATE TYPE app.floatrange AS RANGE (subtype = float8);
CREATE SEQUENCE app.ticket START 100;
CREATE TABLE app.items(
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name text NOT NULL COLLATE "C",
  label text COLLATE app.ci,
  price app.positive,
  mood app.mood DEFAULT 'ok',
  at app.point2,
  span app.floatrange,
  tags text[],
  grid int[][],
  doubled numeric GENERATED ALWAYS AS (price * 2) STORED,
  ticket bigint DEFAULT nextval('app.ticket'),
  CHECK (length(name) > 0));
CREATE INDEX items_trgm ON app.items USING gin (name gin_trgm_ops);
CREATE UNIQUE INDEX items_label ON app.items(lower(label)) WHERE label IS NOT NULL;
COMMENT ON TABLE app.items IS 'one of everything';
CREATE TABLE measures(city text NOT NULL, at date NOT NULL, value float8, PRIMARY KEY (city, at)) PARTITION BY RANGE (at);
CREATE TABLE measures_2025 PARTITION OF measures FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE TABLE measures_2026 PARTITION OF measures FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
CREATE TABLE animals(id int PRIMARY KEY, name text);
CREATE TABLE dogs(bark text) INHERITS (animals);
CREATE UNLOGGED TABLE cache(k text PRIMARY KEY, v jsonb);
CREATE TABLE nokey(a int, b text);
CREATE TABLE "Odd ""Name"" é"("col one" text PRIMARY KEY, "ü" int);
CREATE TABLE audit(at timestamptz DEFAULT now(), what text);
CREATE VIEW app.cheap AS SELECT id, name FROM app.items WHERE price < 10;
CREATE MATERIALIZED VIEW app.totals AS SELECT count(*) AS n FROM app.items;
CREATE FUNCTION app.log_item() RETURNS trigger LANGUAGE plpgsql AS
  $$BEGIN INSERT INTO audit(what) VALUES (NEW.name); RETURN NEW; END$$;
CREATE TRIGGER items_log AFTER INSERT ON app.items FOR EACH ROW EXECUTE FUNCTION app.log_item();
CREATE PROCEDURE app.bump() LANGUAGE sql AS $$UPDATE app.items SET price = price + 1$$;
CREATE RULE cache_no_delete AS ON DELETE TO cache WHERE OLD.k = 'keep' DO INSTEAD NOTHING;
ALTER TABLE animals ENABLE ROW LEVEL SECURITY;
CREATE POLICY animals_all ON animals USING (true);
INSERT INTO app.items(name, label, price, mood, at, span, tags, grid) VALUES
  ('apple', 'Red', 1.5, 'happy', '(1,2)', '[1,2)', '{a,b}', '{{1,2},{3,4}}'),
  ('pear', NULL, 12, 'sad', NULL, 'empty', '{}', NULL),
  ('fig', 'Green', 0, DEFAULT, '(0,-0)', '(,5]', '{"x y",NULL}', '{{5}}');
INSERT INTO measures VALUES ('Oslo', '2025-06-01', 12.5), ('Oslo', '2026-06-01', 'Infinity'), ('Rome', '2026-01-02', 'NaN');
INSERT INTO animals VALUES (1, 'cat');
INSERT INTO dogs VALUES (2, 'rex', 'woof');
INSERT INTO cache VALUES ('keep', '{"a": 1}'), ('drop', 'null');
INSERT INTO nokey VALUES (1, 'a'), (1, 'a'), (NULL, NULL);
INSERT INTO "Odd ""Name"" é" VALUES ('x', 1), ('it''s', NULL);
SELECT lo_from_bytea(0, '\xdeadbeef');
REFRESH MATERIALIZED VIEW app.totals;
"#;

#[test]
fn every_command_runs_cleanly_over_every_kind_of_postgres_schema_object() {
    let c = cluster_or_skip!();
    c.create_db("shop");
    c.psql("shop", PG_SCHEMA);
    let dir = tempdir();
    let d = dir.path();
    let repo = d.join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    let r = repo.to_str().unwrap();
    let live = c.url("shop");
    // The state at the backup, kept to diff restores against.
    c.psql("postgres", "CREATE DATABASE at_backup TEMPLATE shop");
    run(d, &["--repo", r, "backup", "--live", &live], Expect::Ok);
    c.pg_dump("shop", &["-Fd"], &repo.join("shop-2026-11-23T06-00-00.dir"));
    // A plain dump apart: `history` cannot restore one table from it (it refuses, exit 3).
    let plain = d.join("plain");
    std::fs::create_dir_all(&plain).unwrap();
    c.pg_dump("shop", &["-Fp"], &plain.join("shop-2026-11-23T05-00-00.sql"));
    let p = plain.to_str().unwrap();
    c.psql("shop", "INSERT INTO app.items(name, price) VALUES ('plum', 3); UPDATE nokey SET b = 'z' WHERE a IS NULL;");
    let at_backup = c.url("at_backup");

    let catalog = run_json(d, &["--repo", r, "--repo", p, "catalog"], Expect::Ok);
    let backups = catalog["backups"].as_array().unwrap();
    assert_eq!(backups.len(), 3, "{catalog}");
    for b in backups {
        assert!(b["problem"].is_null(), "{b}");
        let names: Vec<&str> = b["tables"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
        assert!(names.contains(&"app.items") && names.contains(&"public.measures"), "{names:?}");
    }
    let custom = backups.iter().find(|b| b["format"] == "pg-custom").unwrap_or(&backups[0]);
    let id = custom["id"].as_str().unwrap().to_string();
    run(d, &["--repo", r, "--repo", p, "catalog"], Expect::Ok);
    for b in backups {
        run(d, &["--repo", r, "--repo", p, "show", b["id"].as_str().unwrap()], Expect::Ok);
    }
    run(d, &["--repo", r, "--repo", p, "verify", "--all"], Expect::Ok);

    // restore, whole, from each archive: equal to the state at the backup on every table.
    for b in backups {
        let id = b["id"].as_str().unwrap();
        let v = run_json(d, &["--repo", r, "--repo", p, "restore", "--backup", id, "--live", &live], Expect::Ok);
        let scratch = c.url(v["target_database"].as_str().unwrap());
        run(d, &["diff", "--scratch", &scratch, "--live", &at_backup], Expect::Ok);
    }
    // restore --tables; the foreign table is refused by name.
    let tables = "app.items,measures,animals,dogs,cache,nokey,Odd \"Name\" é,audit";
    run(d, &["--repo", r, "restore", "--backup", &id, "--tables", tables, "--live", &live], Expect::Ok);
    let part = run_json(
        d,
        &[
            "--repo",
            r,
            "restore",
            "--backup",
            &id,
            "--tables",
            "app.items,nokey,measures",
            "--live",
            &live,
            "--into",
            "part",
        ],
        Expect::Ok,
    );
    let part = c.url(part["target_database"].as_str().unwrap());
    run(d, &["diff", "--scratch", &part, "--live", &at_backup], Expect::Ok);
    refused_by_name(
        d,
        &["--repo", r, "restore", "--backup", &id, "--tables", "app.remote_lines", "--live", &live],
        "app.remote_lines",
    );

    // diff and merge against live, on a scratch named with --into so the test can find it.
    let v = run_json(d, &["--repo", r, "restore", "--backup", &id, "--live", &live, "--into", "full"], Expect::Ok);
    let scratch = c.url(v["target_database"].as_str().unwrap());
    let end = run_json(d, &["diff", "--scratch", &scratch, "--live", &live], Expect::AnyOf(&[1]));
    assert!(end["skipped_tables"].as_array().unwrap().iter().any(|t| t["name"] == "app.remote_lines"), "{end}");
    run(d, &["diff", "--scratch", &scratch, "--live", &live, "--rows"], Expect::AnyOf(&[1]));
    run(d, &["diff", "--scratch", &scratch, "--live", &live, "--sql"], Expect::AnyOf(&[1]));
    refused_by_name(
        d,
        &["diff", "--scratch", &scratch, "--live", &live, "--tables", "app.remote_lines"],
        "app.remote_lines",
    );
    let kinds = "updated,deleted,inserted";
    run(d, &["merge", "--scratch", &scratch, "--live", &live, "--restore", kinds], Expect::AnyOf(&[0, 5]));
    run(
        d,
        &["merge", "--scratch", &scratch, "--live", &live, "--tables", "nokey", "--restore", kinds, "--apply"],
        Expect::Ok,
    );
    run(d, &["diff", "--scratch", &scratch, "--live", &live, "--tables", "nokey"], Expect::Ok);
    // app.items has a trigger: the trigger policy may refuse (exit 5); else it merges cleanly.
    let items =
        ["merge", "--scratch", &scratch, "--live", &live, "--tables", "app.items", "--restore", kinds, "--apply"];
    run(d, &items, Expect::AnyOf(&[0, 5]));

    // promote: dry run, then for real onto a copy of live.
    c.psql("postgres", "CREATE DATABASE live_copy TEMPLATE shop");
    let copy = c.url("live_copy");
    run(d, &["promote", "--scratch", &scratch, "--live", &copy], Expect::Ok);
    run(d, &["promote", "--scratch", &scratch, "--live", &copy, "--yes"], Expect::Ok);
    run(d, &["diff", "--scratch", &at_backup, "--live", &copy], Expect::Ok);
    c.psql("postgres", "CREATE DATABASE live_copy2 TEMPLATE shop");
    fails(d, &["promote", "--scratch", &part, "--live", &c.url("live_copy2"), "--yes"], 5);

    // bisect, history, backup, prune, drill, scratch.
    let server = c.url("postgres");
    let check = "SELECT count(*) >= 3 FROM app.items";
    run(
        d,
        &["--repo", r, "bisect", "--check", check, "--tables", "app.items", "--scratch-url", &server],
        Expect::AnyOf(&[0, 1]),
    );
    for t in ["app.items", "measures", "nokey", "\"Odd \"\"Name\"\" é\"", "Odd \"Name\" é", "dogs"] {
        run(d, &["--repo", r, "history", "--table", t, "--scratch-url", &server], Expect::AnyOf(&[0, 3]));
    }
    run(d, &["--repo", r, "history", "--table", "app.items", "--scratch-url", &server], Expect::Ok);
    run(d, &["--repo", r, "history", "--table", "app.items", "--column", "name", "--scratch-url", &server], Expect::Ok);
    refused_by_name(
        d,
        &["--repo", r, "history", "--table", "app.remote_lines", "--scratch-url", &server],
        "app.remote_lines",
    );
    run(d, &["--repo", r, "backup", "--live", &live], Expect::Ok);
    run(d, &["--repo", r, "prune", "--keep-last", "1", "--dry-run"], Expect::Ok);
    let drill = ["--repo", r, "drill", "--check", check, "--min-rows", "app.items=3", "--scratch-url", &server];
    run(d, &drill, Expect::Ok);
    run(d, &["scratch", "list", "--live", &live], Expect::Ok);
    run(d, &["scratch", "drop", "--all", "--live", &live], Expect::Ok);
    let _: &Cluster = &c;
}
