//! PostgreSQL: `diff --sql` patches that apply with the real `psql -v ON_ERROR_STOP=1` and leave
//! exactly scratch, and merges that do the same, on what used to break them: identity ALWAYS
//! and generated columns, booleans and other types written as literals, numeric keys the
//! table calls equal although the diff tells them apart (`2` and `2.0`), parents and children
//! under NOT DEFERRABLE keys; sequences moved past re-inserted keys; and all of it at once by
//! property, on random data. Every test starts its own throwaway cluster.

use std::path::Path;

use crate::cluster_or_skip;
use crate::common::*;
use crate::pgcluster::Cluster;

/// Creates `scratch` with `schema` and `rows`, `live` as a copy of it changed by `changes`.
fn pair(c: &Cluster, scratch: &str, live: &str, schema: &str, rows: &str, changes: &str) {
    c.create_db(scratch);
    c.psql(scratch, &format!("{schema}\n{rows}"));
    copy_db(c, scratch, live);
    c.psql(live, changes);
}

/// Creates database `new` as a copy of `from` (by file copy where the server offers it: twice
/// as fast as its WAL-logged copy on a small database).
fn copy_db(c: &Cluster, from: &str, new: &str) {
    let strategy = if c.server_major().parse::<u32>().unwrap_or(0) >= 15 { " STRATEGY FILE_COPY" } else { "" };
    c.psql("postgres", &format!("CREATE DATABASE \"{new}\" TEMPLATE \"{from}\"{strategy}"));
}

/// `lastgood ARGS`: (exit code, stdout, stderr).
fn run(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = lastgood(dir).args(args).output().unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code().unwrap_or(-1), text(&out.stdout), text(&out.stderr))
}

/// Every table of `db`, each row as its composite text, sorted: an exact dump that does not go
/// through lastgood.
fn dump(c: &Cluster, db: &str) -> Vec<(String, String)> {
    let tables = c.psql(
        db,
        "SELECT format('%I.%I', schemaname, tablename) FROM pg_tables \
         WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1",
    );
    tables
        .lines()
        .map(|t| (t.to_string(), c.psql(db, &format!("SELECT x::text FROM {t} x ORDER BY x::text COLLATE \"C\""))))
        .collect()
}

/// Applies `diff --sql` of (scratch, live) to a copy of live with psql (stop at the first error)
/// and asserts the copy equals scratch, by an independent dump and by `lastgood diff`.
fn patch_restores_scratch(c: &Cluster, dir: &Path, scratch: &str, live: &str, what: &str) {
    let (s, l) = (c.url(scratch), c.url(live));
    let (code, patch, err) = run(dir, &["diff", "--sql", "--scratch", &s, "--live", &l]);
    assert_eq!(code, 1, "{what}: diff --sql: {err}");
    let copy = format!("{live}_patched");
    copy_db(c, live, &copy);
    let file = dir.join(format!("{copy}.sql"));
    std::fs::write(&file, &patch).unwrap();
    let out = c.tool("psql", &copy).args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-f"]).arg(&file).output().unwrap();
    assert!(
        out.status.success(),
        "{what}: the patch does not apply: {}\n{patch}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(dump(c, &copy), dump(c, scratch), "{what}: patched live differs from scratch\n{patch}");
    let (code, text, _) = run(dir, &["diff", "--scratch", &s, "--live", &c.url(&copy)]);
    assert_eq!(code, 0, "{what}: diff after the patch: {text}");
}

/// Merges every kind of change into a copy of live and asserts it then equals scratch; returns
/// the merge's JSON report.
fn merge_restores_scratch(c: &Cluster, dir: &Path, scratch: &str, live: &str, what: &str) -> serde_json::Value {
    let copy = format!("{live}_merged");
    copy_db(c, live, &copy);
    let (s, m) = (c.url(scratch), c.url(&copy));
    let args = ["--json", "merge", "--restore", "updated,deleted,inserted", "--apply", "--scratch", &s, "--live", &m];
    let (code, out, err) = run(dir, &args);
    assert_eq!(code, 0, "{what}: merge: {err}");
    assert_eq!(dump(c, &copy), dump(c, scratch), "{what}: merged live differs from scratch");
    serde_json::from_str(&out).unwrap()
}

#[test]
fn identity_always_and_generated_columns_are_reinserted_and_never_written() {
    let c = cluster_or_skip!();
    let dir = tempdir();
    pair(
        &c,
        "gen",
        "gen_live",
        "CREATE TABLE acct(id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name text,
           name_len int GENERATED ALWAYS AS (length(name)) STORED, flag bool);
         CREATE TABLE note(n bigint GENERATED ALWAYS AS IDENTITY, msg text, loud text GENERATED ALWAYS AS (upper(msg)) STORED);",
        "INSERT INTO acct(name, flag) SELECT 'name ' || g, g % 2 = 0 FROM generate_series(1, 20) g;
         INSERT INTO note(msg) VALUES ('a'), ('b'), ('b');",
        "DELETE FROM acct WHERE id IN (3, 7, 11); UPDATE acct SET name = 'renamed', flag = NOT flag WHERE id IN (4, 5);
         INSERT INTO acct(name) VALUES ('new one'), ('new two');
         DELETE FROM note WHERE n = 1; INSERT INTO note(msg) VALUES ('c');",
    );
    patch_restores_scratch(&c, dir.path(), "gen", "gen_live", "identity and generated");
    merge_restores_scratch(&c, dir.path(), "gen", "gen_live", "identity and generated");
}

/// An identity ALWAYS column that differs cannot be restored (PostgreSQL lets an UPDATE set it
/// only to DEFAULT): refused with exit 3 and a hint, before anything is written; leaving the
/// column out with --columns merges the rest.
#[test]
fn an_identity_always_column_that_differs_is_refused_with_a_hint() {
    let c = cluster_or_skip!();
    let dir = tempdir();
    pair(
        &c,
        "idk",
        "idk_live",
        "CREATE TABLE t(k text PRIMARY KEY, n bigint GENERATED ALWAYS AS IDENTITY, v text);",
        "INSERT INTO t(k, v) VALUES ('a', 'x'), ('b', 'y');",
        "UPDATE t SET n = DEFAULT, v = 'damaged' WHERE k = 'a';",
    );
    let (s, l) = (c.url("idk"), c.url("idk_live"));
    for args in [
        vec!["merge", "--restore", "updated", "--apply", "--scratch", &s, "--live", &l],
        vec!["diff", "--sql", "--scratch", &s, "--live", &l],
    ] {
        let err = fails(dir.path(), &args, 3);
        assert!(err.contains("column `n` of `t`") && err.contains("GENERATED ALWAYS AS IDENTITY"), "{err}");
    }
    assert_eq!(c.psql("idk_live", "SELECT v FROM t WHERE k = 'a'").trim(), "damaged");
    let (code, _, err) =
        run(dir.path(), &["merge", "--restore", "updated", "--columns", "v", "--apply", "--scratch", &s, "--live", &l]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(c.psql("idk_live", "SELECT v FROM t WHERE k = 'a'").trim(), "x");
}

/// Re-inserted keys beyond a sequence's next value move it past them, so the application's next
/// insert does not collide; a sequence already ahead is never moved back.
#[test]
fn a_merge_moves_sequences_past_reinserted_keys_and_never_back() {
    let c = cluster_or_skip!();
    let dir = tempdir();
    pair(
        &c,
        "seq",
        "seq_live",
        "CREATE TABLE behind(id serial PRIMARY KEY, v text);
         CREATE TABLE ahead(id int GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, v text);",
        "INSERT INTO behind(v) SELECT 'b' || g FROM generate_series(1, 5) g;
         INSERT INTO ahead(v) SELECT 'a' || g FROM generate_series(1, 3) g;",
        "TRUNCATE behind RESTART IDENTITY; INSERT INTO behind(v) VALUES ('after'), ('truncate');
         DELETE FROM ahead WHERE id = 2; SELECT setval(pg_get_serial_sequence('ahead', 'id'), 100);",
    );
    let (s, l) = (c.url("seq"), c.url("seq_live"));
    let report = json(dir.path(), &["merge", "--restore", "updated,deleted", "--apply", "--scratch", &s, "--live", &l]);
    assert_eq!(c.psql("seq_live", "INSERT INTO behind(v) VALUES ('app') RETURNING id").trim(), "6");
    assert_eq!(c.psql("seq_live", "INSERT INTO ahead(v) VALUES ('app') RETURNING id").trim(), "101");
    let moved = report["sequences"].as_array().unwrap();
    assert_eq!(moved.len(), 1, "{report}");
    assert_eq!((moved[0]["table"].as_str(), moved[0]["last_value"].as_i64()), (Some("behind"), Some(5)), "{report}");
}

/// Booleans (read as 0/1) and the types read as their text form go into a patch as literals
/// psql reads back exactly: in values, keys and the row matches of a table without a key
/// (json has no equality operator at all).
#[test]
fn a_patch_writes_booleans_and_other_types_as_themselves() {
    let c = cluster_or_skip!();
    let dir = tempdir();
    pair(
        &c,
        "typ",
        "typ_live",
        r#"CREATE TABLE v(id int PRIMARY KEY, ok bool, n numeric(12, 3), at timestamptz, d date, gap interval,
             tags int[], doc jsonb, u uuid, b bytea, x float8, y real, t text, vc varchar(8), ch char(4));
           CREATE TABLE flags(on_off bool, k text, PRIMARY KEY (on_off, k));
           CREATE TABLE bag(j json, ok bool, f float8);"#,
        r#"INSERT INTO v VALUES (1, true, 2.5, '2026-11-24 06:00:00.123456+00', '2026-11-24', '1 day 02:03:04.5',
             '{1,NULL,3}', '{"a": [1, "é\"q"]}', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '\x00ff', 'NaN', '-Infinity',
             'back\slash ''quote''', 'short', 'ab'),
             (2, false, -0.001, 'infinity', '0001-01-01 BC', '-3 mons', '{}', 'null', NULL, '', '-0', '1.5e-40', '', NULL, NULL);
           INSERT INTO flags VALUES (true, 'a'), (false, 'a');
           INSERT INTO bag VALUES ('{"b":  1}', true, 'NaN'), ('{"b":  1}', true, 'NaN'), ('[]', NULL, 'Infinity');"#,
        "DELETE FROM v WHERE id = 1; UPDATE v SET ok = true, x = 1, t = 'changed', gap = '1 year' WHERE id = 2;
         DELETE FROM flags WHERE NOT on_off; INSERT INTO flags VALUES (false, 'b');
         DELETE FROM bag WHERE j::text = '[]'; INSERT INTO bag VALUES ('{\"b\":  1}', true, 'NaN'), ('{\"c\": 2}', false, 0);",
    );
    patch_restores_scratch(&c, dir.path(), "typ", "typ_live", "types");
    merge_restores_scratch(&c, dir.path(), "typ", "typ_live", "types");
}

/// Numeric keys `2` and `2.0` are different values to the diff but one key to the table: the
/// patch removes live's before it re-inserts scratch's.
#[test]
fn a_patch_removes_numeric_keys_before_reinserting_equal_ones() {
    let c = cluster_or_skip!();
    let dir = tempdir();
    pair(
        &c,
        "num",
        "num_live",
        "CREATE TABLE nums(k numeric PRIMARY KEY, v text);",
        "INSERT INTO nums VALUES (1, 'one'), (2, 'two'), (3.0, 'three');",
        "DELETE FROM nums WHERE k IN (2, 3); INSERT INTO nums VALUES (2.0, 'two again'), (3, 'three again');",
    );
    patch_restores_scratch(&c, dir.path(), "num", "num_live", "numeric keys");
}

/// NOT DEFERRABLE foreign keys are checked at each statement. `c_kid` sorts before its parent
/// `p_mum`: a parent and its children that live lost come back parent first, children live
/// gained go before their parent, and a child pointed away from a parent live lost is pointed
/// back after that parent is back.
#[test]
fn parents_come_before_children_under_keys_checked_at_each_statement() {
    let c = cluster_or_skip!();
    let dir = tempdir();
    pair(
        &c,
        "fk",
        "fk_live",
        "CREATE TABLE p_mum(id int PRIMARY KEY, name text);
         CREATE TABLE c_kid(id int PRIMARY KEY, mum int NOT NULL REFERENCES p_mum(id), v text);",
        "INSERT INTO p_mum VALUES (1, 'one'), (2, 'two'), (3, 'three');
         INSERT INTO c_kid VALUES (10, 1, 'a'), (11, 2, 'b'), (12, 3, 'c');",
        "DELETE FROM c_kid WHERE mum = 1; UPDATE c_kid SET mum = 2 WHERE id = 12; DELETE FROM p_mum WHERE id IN (1, 3);
         INSERT INTO p_mum VALUES (9, 'new'); INSERT INTO c_kid VALUES (13, 9, 'e');",
    );
    patch_restores_scratch(&c, dir.path(), "fk", "fk_live", "foreign keys");
    merge_restores_scratch(&c, dir.path(), "fk", "fk_live", "foreign keys");
}

// The property: on random tricky data, the patch applied to a copy of live yields scratch.

/// An SQL string literal (standard_conforming_strings: only quotes are doubled).
fn q(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn pick<'a>(rng: &mut fastrand::Rng, from: &[&'a str]) -> &'a str {
    from[rng.usize(..from.len())]
}

fn text(rng: &mut fastrand::Rng) -> String {
    if rng.u8(0..8) == 0 {
        return "NULL".into();
    }
    let pieces = ["plain", "it's", "back\\slash", "é😀\u{202e}", "line\nbreak", "tab\t", "--", "/*", "$$", ""];
    q(&(0..rng.usize(0..3)).map(|_| pick(rng, &pieces)).collect::<String>())
}

fn float8(rng: &mut fastrand::Rng) -> String {
    match rng.u8(0..8) {
        0 => "'NaN'".into(),
        1 => pick(rng, &["'Infinity'", "'-Infinity'", "'-0'", "NULL"]).into(),
        2 => format!("'{:?}'", f64::from_bits(rng.u64(1..1 << 52))),
        _ => loop {
            let f = f64::from_bits(rng.u64(..));
            if f.is_finite() {
                break format!("'{f:?}'");
            }
        },
    }
}

fn float4(rng: &mut fastrand::Rng) -> String {
    loop {
        let f = f32::from_bits(rng.u32(..));
        if !f.is_infinite() {
            break if f.is_nan() { "'NaN'".into() } else { format!("'{f:?}'") };
        }
    }
}

fn child_values(rng: &mut fastrand::Rng) -> String {
    let bytes: String = (0..rng.usize(0..5)).map(|_| format!("{:02x}", rng.u8(..))).collect();
    let vals = [
        float8(rng),
        float4(rng),
        text(rng),
        format!("'\\x{bytes}'"),
        pick(rng, &["true", "false", "NULL"]).into(),
        pick(rng, &["2", "2.0", "-0.5", "1e-20", "'NaN'", "123456789012345678901234567890.123", "NULL"]).into(),
        format!("'2026-11-24 06:00:00+00'::timestamptz + {} * interval '1 microsecond'", rng.i64(-1 << 40..1 << 40)),
        pick(rng, &["'{1,NULL,3}'", "'{}'", "NULL", "'{-2147483648}'"]).into(),
        pick(rng, &[r#"'{"a": [1, "é\"q"]}'"#, "'null'", "'[]'", r#"'{"b": {"c": 1.50}}'"#]).into(),
        format!("'{:032x}'", rng.u128(..)),
        pick(rng, &["'1 day 02:03:04.5'", "'-3 mons'", "'0'", "NULL", "'-1 days +02:00:00'"]).into(),
    ];
    vals.join(", ")
}

const CHILD_COLUMNS: &str = "x, y, t, b, ok, n, at, tags, doc, u, gap";

const PG_PROPERTY_SCHEMA: &str = "
    CREATE TABLE parent(id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name text, flag bool);
    CREATE TABLE child(id bigint PRIMARY KEY, pid int REFERENCES parent(id) ON DELETE ACTION DEFERRABLE,
      x float8, y real, t text, b bytea, ok bool, n numeric, at timestamptz, tags int[], doc jsonb, u uuid, gap interval,
      g text GENERATED ALWAYS AS (coalesce(t, '') || '/' || coalesce(n::text, '')) STORED);
    CREATE TABLE kid(id int PRIMARY KEY, pid int NOT NULL REFERENCES parent(id), v text);
    CREATE TABLE nums(k numeric PRIMARY KEY, v text);
    CREATE TABLE pairs(k1 text, k2 bool, v json, PRIMARY KEY (k1, k2));
    CREATE TABLE bag(j json, f float8, s text);";

fn scratch_rows(rng: &mut fastrand::Rng) -> String {
    let mut sql = String::new();
    for i in 1..=20 {
        sql += &format!(
            "INSERT INTO parent(name, flag) VALUES ({}, {});\n",
            text(rng),
            pick(rng, &["true", "false", "NULL"])
        );
        sql += &format!("INSERT INTO kid VALUES ({i}, {}, {});\n", rng.i32(1..=i), text(rng));
    }
    for id in 1..=40 {
        let pid = if rng.u8(0..6) == 0 { "NULL".to_string() } else { rng.i32(1..=20).to_string() };
        sql += &format!("INSERT INTO child(id, pid, {CHILD_COLUMNS}) VALUES ({id}, {pid}, {});\n", child_values(rng));
    }
    for i in 0..12 {
        let k = if rng.bool() { format!("{i}") } else { format!("{i}.0") };
        sql += &format!("INSERT INTO nums VALUES ({k}, {});\n", text(rng));
    }
    for i in 0..12 {
        sql += &format!(
            "INSERT INTO pairs VALUES ('k{}', {}, '{{\"v\":  {i}}}') ON CONFLICT DO NOTHING;\n",
            i % 6,
            i % 2 == 0
        );
    }
    for _ in 0..20 {
        let j = pick(rng, &[r#"'{"b":  1}'"#, "'[]'", "NULL"]);
        sql += &format!(
            "INSERT INTO bag VALUES ({j}, {}, {});\n",
            pick(rng, &["'NaN'", "1.5", "NULL"]),
            pick(rng, &["'x'", "'y'"])
        );
    }
    sql
}

/// Live: scratch after random deletes, updates and inserts with its foreign keys kept. Rows of
/// `kid` (a NOT DEFERRABLE key) are pointed only at rows of `parent` scratch has too.
fn live_changes(rng: &mut fastrand::Rng, cascade: bool) -> String {
    let mut sql = String::new();
    for id in 1..=20 {
        match rng.u8(0..6) {
            0 => {
                let elsewhere = if id == 1 { 2 } else { 1 };
                sql += &format!(
                    "UPDATE kid SET pid = {elsewhere} WHERE pid = {id} AND id % 2 = 0; DELETE FROM kid WHERE pid = {id};\n"
                );
                if !cascade {
                    sql += &format!(
                        "UPDATE child SET pid = NULL WHERE pid = {id} AND id % 2 = 0; DELETE FROM child WHERE pid = {id};\n"
                    );
                }
                // Parents 1 and 2 stay: kid rows are pointed at them.
                if id > 2 {
                    sql += &format!("DELETE FROM parent WHERE id = {id};\n");
                }
            }
            1 => sql += &format!("UPDATE parent SET name = {}, flag = NOT flag WHERE id = {id};\n", text(rng)),
            _ => {}
        }
    }
    for _ in 0..4 {
        sql += &format!("INSERT INTO parent(name) VALUES ({});\n", text(rng));
    }
    for id in 1..=40 {
        match rng.u8(0..8) {
            0 => sql += &format!("DELETE FROM child WHERE id = {id};\n"),
            1 => {
                sql += &format!(
                    "UPDATE child SET pid = (SELECT id FROM parent ORDER BY md5(id::text || '{}') LIMIT 1) WHERE id = {id};\n",
                    rng.u32(..)
                )
            }
            2 => sql += &format!("UPDATE child SET ({CHILD_COLUMNS}) = ({}) WHERE id = {id};\n", child_values(rng)),
            3 => sql += &format!("UPDATE child SET x = {}, ok = NOT ok WHERE id = {id};\n", float8(rng)),
            _ => {}
        }
    }
    for id in 100..108 {
        sql += &format!(
            "INSERT INTO child(id, pid, {CHILD_COLUMNS}) SELECT {id}, (SELECT max(id) - {} FROM parent), {};\n",
            rng.u8(0..3),
            child_values(rng)
        );
        sql += &format!("INSERT INTO kid SELECT {id}, max(id), 'new' FROM parent;\n");
    }
    for i in 0..12 {
        match rng.u8(0..4) {
            0 => {
                sql += &format!(
                    "DELETE FROM nums WHERE k = {i}; INSERT INTO nums VALUES ({}, 'again');\n",
                    if rng.bool() { format!("{i}.00") } else { format!("{i}") }
                )
            }
            1 => sql += &format!("UPDATE nums SET v = {} WHERE k = {i};\n", text(rng)),
            _ => {}
        }
    }
    sql += &format!(
        "DELETE FROM pairs WHERE k1 = 'k{}'; UPDATE pairs SET v = '[1,  2]' WHERE k1 = 'k{}';\n",
        rng.u8(0..6),
        rng.u8(0..6)
    );
    sql += "INSERT INTO pairs VALUES ('new', true, '{}'), ('k1', NULL IS NULL, 'true') ON CONFLICT DO NOTHING;\n";
    sql += "DELETE FROM bag WHERE ctid IN (SELECT ctid FROM bag ORDER BY md5(ctid::text) LIMIT 4);\n";
    sql += r#"INSERT INTO bag VALUES ('{"b":  1}', 'NaN', 'x'), ('{"z": 0}', '-Infinity', NULL);"#;
    sql
}

#[test]
fn any_postgres_patch_applied_to_live_yields_scratch_and_so_does_a_merge() {
    let c = cluster_or_skip!();
    let seeds: Vec<u64> = match std::env::var("LASTGOOD_PATCH_SEED") {
        Ok(s) => vec![s.parse().expect("a number")],
        Err(_) => (0..3).map(|i| 0x9e5e_0000 + i).collect(),
    };
    for seed in seeds {
        let cascade = seed % 2 == 1;
        let dir = tempdir();
        let mut rng = fastrand::Rng::with_seed(seed);
        let schema = PG_PROPERTY_SCHEMA.replace("ACTION", if cascade { "CASCADE" } else { "NO ACTION" });
        let (scratch, live) = (format!("s{seed}"), format!("l{seed}"));
        let rows = scratch_rows(&mut rng);
        let changes = live_changes(&mut rng, cascade);
        pair(&c, &scratch, &live, &schema, &format!("BEGIN;\n{rows}COMMIT;"), &format!("BEGIN;\n{changes}COMMIT;"));
        let what = format!("seed {seed} (rerun with LASTGOOD_PATCH_SEED={seed})");
        patch_restores_scratch(&c, dir.path(), &scratch, &live, &what);
        // A merge refuses removals that would cascade (it changes only the rows it was asked to).
        if !cascade {
            merge_restores_scratch(&c, dir.path(), &scratch, &live, &what);
        }
    }
}
