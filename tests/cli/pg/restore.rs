//! PostgreSQL `restore`: whole archives (pg_restore, psql) and `--tables` (lastgood's loader over
//! several connections) into scratch databases, the targets it refuses (live, a backup's own
//! source, a database in use that lastgood did not create), bad input and failures that leave no
//! database behind; and `scratch list`/`scratch drop`, which never drop live.

use super::*;
use crate::cluster_or_skip;
use crate::pgcluster::Cluster;

/// Rows of a table (text form, in key order) and the definitions of its indexes and constraints.
fn table_state(c: &Cluster, db: &str, table: &str, key: &str) -> (String, String, String) {
    let rows = c.psql(db, &format!("SELECT * FROM {table} ORDER BY {key}"));
    let regclass = table.replace('\'', "''");
    let indexes = c.psql(db, &format!("SELECT indexdef FROM pg_indexes WHERE format('%I.%I', schemaname, tablename)::regclass = '{regclass}'::regclass ORDER BY indexname"));
    let cons = c.psql(db, &format!("SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = '{regclass}'::regclass ORDER BY conname"));
    (rows, indexes, cons)
}

#[test]
fn restore_tables_brings_rows_indexes_constraints_and_sequences_in_every_binary_format() {
    let c = cluster_or_skip!();
    make_pg_shop(&c, "shop");
    let dir = tempdir();
    let repo = dir.path().join("repo");
    dump_all_formats(&c, "shop", &repo);
    let live = c.url("shop");
    for file in ["shop.dump", "shop.dir", "shop.tar"] {
        let backup = repo.join(file);
        let v = json(
            dir.path(),
            &restore_args(
                s(&repo),
                s(&backup),
                &["--live", &live, "--tables", "Order Items,orders,archive.old_orders"],
            ),
        );
        let scratch = v["target_database"].as_str().unwrap().to_string();
        assert!(scratch.starts_with("lastgood_scratch_"), "{v:#}");
        let mut restored: Vec<&str> =
            v["tables_restored"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
        restored.sort();
        assert_eq!(restored, ["archive.old_orders", "public.Order Items", "public.orders"], "{file}");
        for (table, key) in
            [("public.\"Order Items\"", "order_id, line"), ("public.orders", "id"), ("archive.old_orders", "id")]
        {
            let live_state = table_state(&c, "shop", table, key);
            let scratch_state = table_state(&c, &scratch, table, key);
            assert_eq!(scratch_state.0, live_state.0, "{file}: rows of {table}");
            assert_eq!(scratch_state.1, live_state.1, "{file}: indexes of {table}");
            if table == "public.orders" {
                // The FK to customers (not restored) is left out and reported.
                assert!(live_state.2.contains("orders_customer_id_fkey"));
                assert_eq!(
                    scratch_state.2,
                    live_state.2.lines().filter(|l| !l.contains("fkey")).map(|l| format!("{l}\n")).collect::<String>()
                );
                assert_eq!(v["skipped_foreign_keys"], serde_json::json!(["orders orders_customer_id_fkey"]), "{file}");
            } else {
                assert_eq!(scratch_state.2, live_state.2, "{file}: constraints of {table}");
            }
        }
        // The identity sequence came along with its value: a new order gets the next id.
        assert_eq!(
            c.psql(&scratch, "INSERT INTO orders(customer_id, amount) VALUES (1, 1) RETURNING id").trim(),
            "501"
        );
        // Tables not asked for are not there.
        assert_eq!(
            c.psql(&scratch, "SELECT count(*) FROM pg_tables WHERE tablename IN ('customers', 'pgbench_accounts')")
                .trim(),
            "0"
        );
        assert!(
            c.psql(
                "postgres",
                &format!("SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = '{scratch}'")
            )
            .starts_with("lastgood scratch")
        );
    }
    let list = json(dir.path(), &["scratch", "list", "--live", &live]);
    assert_eq!(list.as_array().unwrap().len(), 3);
    let dropped = json(dir.path(), &["scratch", "drop", "--all", "--live", &live]);
    assert_eq!(dropped["dropped"].as_array().unwrap().len(), 3);
    assert_eq!(c.psql("postgres", "SELECT count(*) FROM pg_database WHERE datname LIKE 'lastgood%'").trim(), "0");
    assert_eq!(
        c.psql("postgres", "SELECT count(*) FROM pg_database WHERE datname = 'shop'").trim(),
        "1",
        "live untouched"
    );
}

#[test]
fn restore_whole_archives_with_pg_restore_and_plain_gzip_with_psql() {
    let c = cluster_or_skip!();
    make_pg_shop(&c, "shop");
    let dir = tempdir();
    let repo = dir.path().join("repo");
    dump_all_formats(&c, "shop", &repo);
    for (file, into) in [("shop.dump", "whole_custom"), ("shop-plain.sql.gz", "whole_plain")] {
        let backup = repo.join(file);
        let v = json(dir.path(), &restore_args(s(&repo), s(&backup), &["--live", &c.url("shop"), "--into", into]));
        assert_eq!(v["target_database"], into);
        assert_eq!(v["tables_restored"].as_array().unwrap().len(), 9);
        for (table, key) in [("pgbench_accounts", "aid"), ("downloads", "id"), ("customers", "id")] {
            assert_eq!(table_state(&c, into, table, key), table_state(&c, "shop", table, key), "{file}: {table}");
        }
        // The trigger and its function came along.
        assert_eq!(
            c.psql(into, "INSERT INTO downloads(order_id, filename) VALUES (1, 'NEW.ZIP') RETURNING filename").trim(),
            "new.zip"
        );
    }
    // --dry-run prints the plan and creates nothing; --scratch-url restores into exactly that database.
    let dump = repo.join("shop.dump");
    let args = restore_args(s(&repo), s(&dump), &["--tables", "customers"]);
    let mut dry = args.to_vec();
    dry.extend(["--live", "postgres://postgres@127.0.0.1:1/nowhere", "--dry-run"]);
    let (code, text) = run_text(dir.path(), &dry, &[]);
    assert_eq!(code, 4, "--live is checked even for a dry run: {text}");
    let url = c.url("picked_by_url");
    let mut dry = args.to_vec();
    dry.extend(["--scratch-url", url.as_str(), "--dry-run"]);
    let plan = json(dir.path(), &dry);
    assert_eq!(plan["target_database"], "picked_by_url");
    assert_eq!(c.psql("postgres", "SELECT count(*) FROM pg_database WHERE datname = 'picked_by_url'").trim(), "0");
    let mut real = args.to_vec();
    real.extend(["--scratch-url", url.as_str()]);
    let v = json(dir.path(), &real);
    assert_eq!(v["tables_restored"][0]["rows"], 50);
    assert_eq!(c.psql("picked_by_url", "SELECT count(*) FROM customers").trim(), "50");
    // A database lastgood did not create is not replaced without --force.
    let out = lastgood(dir.path())
        .args(restore_args(s(&repo), s(&repo.join("shop.dump")), &["--live", &c.url("shop"), "--into", "postgres"]))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(5), "{}", String::from_utf8_lossy(&out.stderr));
    // Nor is live, even with --force.
    let out = lastgood(dir.path())
        .args(restore_args(s(&repo), "latest", &["--live", &c.url("shop"), "--into", "shop", "--force"]))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(5));
    assert_eq!(c.psql("shop", "SELECT count(*) FROM pgbench_accounts").trim(), "100000");
}

#[test]
fn bad_input_gives_one_clear_error_and_a_documented_exit_code() {
    let c = cluster_or_skip!();
    make_small_db(&c);
    let dir = tempdir();
    let repo = repo(dir.path(), "repo");
    c.pg_dump("shop", &["-Fc"], &repo.join("good.dump"));
    let r = repo.to_str().unwrap().to_string();
    let good = repo.join("good.dump").to_str().unwrap().to_string();
    let live = c.url("shop");

    // --tables naming a table absent from the archive: 3, nothing created.
    let (code, text) = run_text(dir.path(), &restore_args(&r, &good, &["--live", &live, "--tables", "nope"]), &[]);
    assert_eq!(code, 3, "{text}");
    assert!(text.contains("has no table `nope`") && text.contains("public.Order Items"), "{text}");

    // A database that does not exist: 3, naming it.
    let (code, text) = run_text(dir.path(), &restore_args(&r, &good, &["--live", &c.url("shpo")]), &[]);
    assert_eq!(code, 3, "{text}");
    assert!(text.contains("database `shpo` does not exist"), "{text}");

    // pg_restore not installed (not on PATH): 4, and no scratch database left behind.
    let (code, text) = run_text(dir.path(), &restore_args(&r, &good, &["--live", &live]), &[("PATH", "/nonexistent")]);
    assert_eq!(code, 4, "{text}");
    assert!(text.contains("`pg_restore` not found"), "{text}");
    assert_eq!(c.psql("postgres", "SELECT count(*) FROM pg_database WHERE datname LIKE 'lastgood%'").trim(), "0");

    // A truncated custom archive: listed as damaged, and restore refuses it with 3.
    let bytes = std::fs::read(&good).unwrap();
    std::fs::write(repo.join("cut.dump"), &bytes[..bytes.len() - 40]).unwrap();
    let v = json(dir.path(), &["catalog", "--repo", &r]);
    let cut = v["backups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["copies"][0]["path"].as_str().unwrap().ends_with("cut.dump"))
        .unwrap();
    assert!(cut["problem"].as_str().unwrap().contains("truncated"), "{cut:#}");
    let cut_path = repo.join("cut.dump");
    let (code, text) = run_text(dir.path(), &restore_args(&r, s(&cut_path), &["--live", &live]), &[]);
    assert_eq!(code, 3, "{text}");
    assert!(text.contains("truncated"), "{text}");

    // An archive of a newer format than the local pg_restore reads (header rewritten to 1.15).
    // 1.15 stores the compression as one byte, not a 5-byte Int: the database name grows by the 4
    // bytes saved, so every data block stays at the offset the TOC records.
    let mut newer = bytes[..6].to_vec();
    newer.push(15);
    newer.extend_from_slice(&bytes[7..11]);
    newer.push(1);
    let dbname_at = 16 + 7 * 5;
    newer.extend_from_slice(&bytes[16..dbname_at]);
    let len = u32::from_le_bytes(bytes[dbname_at + 1..dbname_at + 5].try_into().unwrap());
    newer.push(0);
    newer.extend_from_slice(&(len + 4).to_le_bytes());
    newer.extend_from_slice(&bytes[dbname_at + 5..dbname_at + 5 + len as usize]);
    newer.extend_from_slice(b"_new");
    newer.extend_from_slice(&bytes[dbname_at + 5 + len as usize..]);
    assert_eq!(newer.len(), bytes.len());
    let newer_dir = dir.path().join("newer");
    std::fs::create_dir(&newer_dir).unwrap();
    std::fs::write(newer_dir.join("new.dump"), newer).unwrap();
    let (code, text) = run_text(dir.path(), &restore_args(s(&newer_dir), "latest", &["--live", &live]), &[]);
    if c.server_major().parse::<u32>().unwrap() < 16 {
        assert_eq!(code, 4, "{text}");
        assert!(text.contains("archive format 1.15") && text.contains("local pg_restore"), "{text}");
    }

    // A PostgreSQL archive without any server to restore into: usage, 2.
    let (code, text) = run_text(dir.path(), &restore_args(&r, &good, &[]), &[]);
    assert_eq!(code, 2, "{text}");

    // The server down: 4, "cannot reach".
    c.stop();
    let (code, text) = run_text(dir.path(), &restore_args(&r, &good, &["--live", &live]), &[]);
    assert_eq!(code, 4, "{text}");
    assert!(text.contains("cannot reach"), "{text}");
    assert_eq!(text.lines().filter(|l| l.starts_with("error:")).count(), 1, "{text}");
}

#[test]
fn a_failed_restore_drops_the_database_it_created() {
    let c = cluster_or_skip!();
    c.create_db("shop");
    // A row-level security policy for a role that exists when dumping and is gone when restoring
    // (owners and grants are not restored into scratch, but a policy's role is part of it).
    c.psql(
        "shop",
        "CREATE ROLE bob; CREATE TABLE t(id int PRIMARY KEY); CREATE POLICY p ON t TO bob USING (true); INSERT INTO t VALUES (1);",
    );
    let dir = tempdir();
    let repo = repo(dir.path(), "repo");
    c.pg_dump("shop", &["-Fc"], &repo.join("shop.dump"));
    c.pg_dump("shop", &["-Fp"], &repo.join("shop.sql"));
    c.psql("shop", "DROP TABLE t; DROP ROLE bob;");
    for file in ["shop.dump", "shop.sql"] {
        let backup = repo.join(file);
        let (code, text) = run_text(dir.path(), &restore_args(s(&repo), s(&backup), &["--live", &c.url("shop")]), &[]);
        assert_eq!(code, 3, "{text}");
        assert!(text.contains("role \"bob\" does not exist"), "{text}");
        assert_eq!(scratch_count(&c), "0", "{file}: the half-restored database was dropped");
    }
}

#[test]
fn a_database_name_given_to_into_is_never_read_as_a_connection_string() {
    let c = cluster_or_skip!();
    make_small_db(&c);
    c.create_db("victim");
    let dir = tempdir();
    let repo = dump_into_repo(&c, "shop", dir.path());
    let (code, text) = run_text(
        dir.path(),
        &restore_args(s(&repo), "latest", &["--live", &c.url("shop"), "--into", "dbname=victim"]),
        &[],
    );
    assert!(code == 0 || code == 2, "{text}");
    assert_eq!(
        c.psql("victim", "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").trim(),
        "0",
        "nothing was restored into `victim`: {text}"
    );
}

#[test]
fn a_non_superuser_restores_an_archive_whose_tables_belong_to_other_roles() {
    let c = cluster_or_skip!();
    make_small_db(&c);
    c.psql("postgres", "CREATE ROLE carol LOGIN CREATEDB; CREATE ROLE owner_gone; ");
    c.psql("shop", "CREATE TABLE owned(id int PRIMARY KEY); ALTER TABLE owned OWNER TO owner_gone; GRANT SELECT ON owned TO owner_gone;");
    let dir = tempdir();
    let repo = dump_into_repo(&c, "shop", dir.path());
    c.psql("shop", "DROP TABLE owned;");
    c.psql("postgres", "DROP ROLE owner_gone;");
    let carol = c.url_as("carol", None, "shop");
    let v = json(dir.path(), &restore_args(s(&repo), "latest", &["--live", &carol]));
    let scratch = v["target_database"].as_str().unwrap();
    assert_eq!(c.psql(scratch, "SELECT count(*) FROM pg_tables WHERE tablename = 'owned'").trim(), "1");
}

#[test]
fn force_never_replaces_a_database_in_use_that_lastgood_did_not_create() {
    let c = cluster_or_skip!();
    make_small_db(&c);
    c.create_db("fakeprod");
    c.psql("fakeprod", "CREATE TABLE important(id int PRIMARY KEY); INSERT INTO important VALUES (1);");
    let dir = tempdir();
    let repo = dump_into_repo(&c, "shop", dir.path());
    let mut session = c.session("fakeprod", "SELECT pg_sleep(4)");
    std::thread::sleep(std::time::Duration::from_millis(700));
    let (code, text) =
        run_text(dir.path(), &restore_args(s(&repo), "latest", &["--scratch-url", &c.url("fakeprod"), "--force"]), &[]);
    session.wait().unwrap();
    assert_eq!(code, 5, "{text}");
    assert!(text.contains("in use"), "{text}");
    assert_eq!(c.psql("fakeprod", "SELECT count(*) FROM important").trim(), "1");
}

/// Rows of every shape COPY text must carry (tabs, newlines, backslashes, `\.` inside a value,
/// NULLs, bytea, XML, arrays, JSON, multi-byte text), enough of them (about 9 MB) that the
/// loader's 256 KiB chunks go to every connection, an empty table, and a generated column.
fn make_awkward_rows(c: &Cluster, db: &str) {
    c.create_db(db);
    c.psql(
        db,
        r#"CREATE SCHEMA "Sales Dept";
           CREATE TABLE "Sales Dept"."Order Items"(id int PRIMARY KEY, "select" text, payload bytea, doc xml,
             tags text[], meta jsonb, amount numeric(12,2), at timestamptz,
             twice int GENERATED ALWAYS AS (id * 2) STORED);
           CREATE INDEX "Order Items by select" ON "Sales Dept"."Order Items"("select");
           CREATE TABLE empty_one(id int PRIMARY KEY);
           INSERT INTO "Sales Dept"."Order Items"(id, "select", payload, doc, tags, meta, amount, at)
             SELECT x,
                    CASE x % 5 WHEN 0 THEN NULL WHEN 1 THEN E'tab\there\nnew line \\ back\\.slash'
                         WHEN 2 THEN '\.' WHEN 3 THEN 'žluťoučký kůň ' || repeat('é', x % 40) ELSE 'plain ' || x END,
                    decode(md5(x::text), 'hex'), ('<a n="' || x || '">x &amp; y</a>')::xml,
                    ARRAY['a' || x, NULL, 'b"c'], jsonb_build_object('k', x, 's', E'q"\\'),
                    x * 1.25, timestamptz '2026-11-24 06:00:00+00' + x * interval '1 second'
             FROM generate_series(1, 60000) x;"#,
    );
}

#[test]
fn restore_loads_rows_over_several_connections_exactly_as_pg_restore_alone_does() {
    let c = cluster_or_skip!();
    make_awkward_rows(&c, "src");
    let dir = tempdir();
    let repo = repo(dir.path(), "repo");
    c.pg_dump("src", &["-Fc"], &repo.join("src.dump"));
    c.pg_dump("src", &["-Fd"], &repo.join("src.dir"));
    c.pg_dump("src", &["-Ft"], &repo.join("src.tar"));
    let table = r#""Sales Dept"."Order Items""#;
    let rows_of = |db: &str| c.psql(db, &format!("SELECT * FROM {table} ORDER BY id"));
    let expected = rows_of("src");
    for (file, jobs, tables) in [
        ("src.dump", "2", Some("Sales Dept.Order Items,empty_one")),
        ("src.dir", "3", Some("Sales Dept.Order Items,empty_one")),
        ("src.tar", "2", None),
        ("src.dump", "1", Some("Sales Dept.Order Items,empty_one")),
    ] {
        let backup = repo.join(file);
        let live = c.url("src");
        let mut args = restore_args(s(&repo), s(&backup), &["--live", &live]);
        args.extend(["--jobs", jobs]);
        if let Some(t) = tables {
            args.extend(["--tables", t]);
        }
        let v = json(dir.path(), &args);
        let scratch = v["target_database"].as_str().unwrap().to_string();
        let case = format!("{file} --jobs {jobs}");
        assert_eq!(rows_of(&scratch), expected, "{case}: rows");
        // The reported counts are the table's real contents.
        let counts: Vec<(String, u64)> = v["tables_restored"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| (t["name"].as_str().unwrap().to_string(), t["rows"].as_u64().unwrap()))
            .collect();
        assert_eq!(
            counts,
            [("Sales Dept.Order Items".to_string(), 60000), ("public.empty_one".to_string(), 0)],
            "{case}"
        );
        // One COPY per connection: each connection's rows carry its transaction id.
        let writers: usize =
            c.psql(&scratch, &format!("SELECT count(DISTINCT xmin::text) FROM {table}")).trim().parse().unwrap();
        let want = jobs.parse::<usize>().unwrap();
        assert_eq!(writers, want, "{case}: rows loaded by {want} connection(s)");
        // Indexes came after the rows, and the generated column is computed, not copied.
        assert_eq!(
            c.psql(&scratch, "SELECT indexname FROM pg_indexes WHERE tablename = 'Order Items' ORDER BY 1"),
            "Order Items by select\nOrder Items_pkey\n",
            "{case}"
        );
        assert_eq!(c.psql(&scratch, &format!("SELECT count(*) FROM {table} WHERE twice <> id * 2")).trim(), "0");
    }
}

#[test]
fn a_damaged_data_block_fails_the_parallel_load_and_leaves_no_database() {
    let c = cluster_or_skip!();
    make_awkward_rows(&c, "src");
    let dir = tempdir();
    let repo = repo(dir.path(), "repo");
    let dump = repo.join("src.dump");
    c.pg_dump("src", &["-Fc", "-Z", "6"], &dump);
    // Overwrite a stretch in the middle of the big table's compressed rows: the TOC and the
    // block boundaries stay intact, so only reading the rows can find it.
    let mut bytes = std::fs::read(&dump).unwrap();
    let mid = bytes.len() / 2;
    for b in &mut bytes[mid..mid + 64] {
        *b ^= 0x5a;
    }
    std::fs::write(&dump, &bytes).unwrap();
    let (code, text) = run_text(
        dir.path(),
        &restore_args(s(&repo), s(&dump), &["--live", &c.url("src"), "--tables", "Sales Dept.Order Items"]),
        &[],
    );
    assert_eq!(code, 3, "{text}");
    assert_eq!(text.trim().lines().filter(|l| l.starts_with("error")).count(), 1, "{text}");
    assert!(text.contains("src.dump"), "names the backup: {text}");
    assert!(!text.contains("panicked"), "{text}");
    assert_eq!(scratch_count(&c), "0", "the half-loaded database was dropped");
}

#[test]
fn a_pg_dump_t_archive_restores_without_its_foreign_keys_and_a_merge_undo_works() {
    let c = cluster_or_skip!();
    c.create_db("s");
    c.psql(
        "s",
        r#"CREATE TABLE customers(id int PRIMARY KEY);
           CREATE TABLE "Order Items"(id int PRIMARY KEY, v text, cust int REFERENCES customers(id),
             parent int REFERENCES "Order Items"(id));
           INSERT INTO customers VALUES (1);
           INSERT INTO "Order Items" VALUES (1, 'x', 1, NULL), (2, 'y', 1, 1);"#,
    );
    let dir = tempdir();
    let r2 = repo(dir.path(), "r2");
    c.pg_dump("s", &["-Fc", "-t", "\"Order Items\""], &r2.join("oi-2026-11-24T07-00-00.dump"));
    let live = c.url("s");
    let fk = "Order Items Order Items_cust_fkey";
    // Whole (by pg_restore alone and over several connections) and --tables: the FK to
    // customers (not in the archive) is left out and reported; the self-reference is kept.
    for (into, extra) in [
        ("u_whole", vec!["--jobs", "1"]),
        ("u_whole_par", vec![]),
        ("u_tables", vec!["--tables", "Order Items"]),
        ("u_tables_one", vec!["--tables", "Order Items", "--jobs", "1"]),
    ] {
        let mut args = restore_args(s(&r2), "latest", &["--live", &live]);
        args.extend(["--into", into]);
        args.extend(extra);
        let v = json(dir.path(), &args);
        assert_eq!(v["skipped_foreign_keys"], serde_json::json!([fk]), "{into}: {v:#}");
        assert_eq!(c.psql(into, r#"SELECT string_agg(v, ',' ORDER BY id) FROM "Order Items""#).trim(), "x,y");
        assert_eq!(
            c.psql(into, "SELECT string_agg(conname, ',' ORDER BY conname) FROM pg_constraint WHERE contype = 'f'")
                .trim(),
            "Order Items_parent_fkey",
            "{into}"
        );
    }

    // A merge into live's "Order Items", then its printed undo (restore from the pg_dump -t
    // safety snapshot, merge back) puts the table back as it was.
    let full = repo(dir.path(), "full");
    c.pg_dump("s", &["-Fc"], &full.join("s-2026-11-24T06-00-00.dump"));
    c.psql("s", r#"UPDATE "Order Items" SET v = 'bad'"#);
    let v = json(dir.path(), &restore_args(s(&full), "latest", &["--live", &live, "--tables", "Order Items"]));
    let scratch = c.url(v["target_database"].as_str().unwrap());
    let report = json(
        dir.path(),
        &[
            "merge",
            "--scratch",
            &scratch,
            "--live",
            &live,
            "--tables",
            "Order Items",
            "--restore",
            "updated",
            "--apply",
        ],
    );
    assert_eq!(report["applied"], 2, "{report:#}");
    assert_eq!(c.psql("s", r#"SELECT string_agg(v, ',' ORDER BY id) FROM "Order Items""#).trim(), "x,y");
    let undo = report["undo"]
        .as_str()
        .unwrap()
        .replace("lastgood ", &format!("{} --quiet ", assert_cmd::cargo::cargo_bin("lastgood").display()));
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(&undo)
        .current_dir(dir.path())
        .env_remove("LASTGOOD_REPO")
        .output()
        .unwrap();
    assert!(out.status.success(), "undo failed: {undo}: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(c.psql("s", r#"SELECT string_agg(v, ',' ORDER BY id) FROM "Order Items""#).trim(), "bad,bad");
}

/// Issue 10, class 3: a plain pg_dump archive (no manifest) names the database it was dumped from
/// but not its host, so that name is never a restore target, `--force` or not; a `--force`
/// replacement of someone else's database does not make it a scratch database (which `scratch
/// drop --all` would drop). The need behind it — live is lost, the backup becomes the new live
/// under its old name — goes through scratch and a promote onto a live that does not exist.
#[test]
fn pg_restore_never_targets_the_archives_own_database_and_a_lost_live_is_rebuilt_by_promote() {
    let c = cluster_or_skip!();
    make_small_db(&c);
    let dir = tempdir();
    let repo = dump_into_repo(&c, "shop", dir.path());
    let repo_s = repo.to_str().unwrap().to_string();
    c.psql("shop", r#"UPDATE "Order Items" SET "select" = 'changed since'"#);
    let before = pg_content(&c, "shop");
    let restore = |target: &[&str]| {
        let mut args = restore_args(&repo_s, "latest", &[]);
        args.extend_from_slice(target);
        run_text(dir.path(), &args, &[])
    };
    for target in [
        vec!["--scratch-url".to_string(), c.url("shop"), "--force".to_string()],
        vec!["--scratch-url".to_string(), c.url("shop")],
        vec!["--live".to_string(), c.url("postgres"), "--into".to_string(), "shop".to_string(), "--force".to_string()],
    ] {
        let t: Vec<&str> = target.iter().map(String::as_str).collect();
        let (code, text) = restore(&t);
        assert_eq!(code, 5, "{t:?}: {text}");
        assert!(text.contains("dumped from") && text.contains("lastgood promote"), "{text}");
        assert!(!text.contains("pass --force"), "{text}");
        assert_eq!(pg_content(&c, "shop"), before, "live untouched by {t:?}");
    }
    assert_eq!(
        c.psql(
            "postgres",
            "SELECT coalesce(shobj_description(oid, 'pg_database'), '') FROM pg_database WHERE datname = 'shop'"
        )
        .trim(),
        ""
    );

    // --force over a database lastgood did not create: replaced, but not marked scratch.
    c.create_db("staging");
    let (code, text) = restore(&["--scratch-url", &c.url("staging"), "--force"]);
    assert_eq!(code, 0, "{text}");
    let comment =
        c.psql("postgres", "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = 'staging'");
    assert!(comment.starts_with("lastgood restored") && !comment.contains("lastgood scratch"), "{comment}");
    let dropped = json(dir.path(), &["scratch", "drop", "--all", "--live", &c.url("postgres")]);
    assert_eq!(dropped["dropped"].as_array().unwrap().len(), 0, "{dropped}");
    assert_eq!(c.psql("postgres", "SELECT count(*) FROM pg_database WHERE datname = 'staging'").trim(), "1");

    // The fire: live is gone. Restore into scratch, then promote onto the name that no longer exists.
    c.psql("postgres", "DROP DATABASE shop");
    let v = json(dir.path(), &restore_args(&repo_s, "latest", &["--live", &c.url("postgres")]));
    let scratch_db = v["target_database"].as_str().unwrap().to_string();
    let plan = json(dir.path(), &["promote", "--scratch", &c.url(&scratch_db), "--live", &c.url("shop")]);
    assert_eq!(plan["creates_live"], true);
    assert!(plan["safety_database"].is_null());
    let report = json(dir.path(), &["promote", "--scratch", &c.url(&scratch_db), "--live", &c.url("shop"), "--yes"]);
    assert_eq!(c.psql("shop", r#"SELECT "select" FROM "Order Items" WHERE id = 1"#).trim(), "a", "the backup is live");
    assert_eq!(
        c.psql("postgres", "SELECT count(*) FROM pg_database WHERE datname LIKE 'lastgood%'").trim(),
        "0",
        "no safety copy, scratch renamed"
    );
    let dropped = json(dir.path(), &["scratch", "drop", "--all", "--live", &c.url("shop")]);
    assert_eq!(dropped["dropped"].as_array().unwrap().len(), 0, "the new live is no scratch database");
    // Its printed undo (dropdb) removes what promote created.
    let undo = report["undo"].as_str().unwrap();
    assert!(undo.starts_with("dropdb "), "{undo}");
    let out = run_printed(dir.path(), undo, Some(&c.bin));
    assert!(out.status.success(), "{undo}: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(c.psql("postgres", "SELECT count(*) FROM pg_database WHERE datname = 'shop'").trim(), "0");
}

#[test]
fn restore_never_writes_into_a_backups_source_and_scratch_drop_never_drops_live() {
    let c = cluster_or_skip!();
    make_shop(&c, 10);
    let dir = tempdir();
    let r = repo(dir.path(), "r");
    let rs = r.to_str().unwrap();
    // The manifest names the source without a port; the restore target spells it out.
    let live = c.url("shop");
    let live_other_spelling = format!("host=localhost port={} user=postgres dbname=shop", c.port);
    backup(dir.path(), &live, &[&r]);
    c.psql("shop", "INSERT INTO orders VALUES (11, 1)");
    // Without --live, with --force, by either spelling of the source: refused, nothing touched.
    for target in [&live, &live_other_spelling] {
        let err = fails(dir.path(), &restore_args(rs, "latest", &["--scratch-url", target, "--force"]), 5);
        assert!(err.contains("`shop`") && err.contains("live"), "{err}");
        assert_eq!(c.psql("shop", "SELECT count(*) FROM orders").trim(), "11", "live untouched");
    }
    // --into naming live on the source's server: refused as well.
    let err =
        fails(dir.path(), &restore_args(rs, "latest", &["--scratch-url", &c.url("postgres"), "--into", "shop"]), 5);
    assert!(err.contains("live"), "{err}");
    assert_eq!(
        c.psql(
            "postgres",
            "SELECT coalesce(shobj_description(oid, 'pg_database'), '') FROM pg_database WHERE datname = 'shop'"
        )
        .trim(),
        "",
        "live carries no scratch mark"
    );

    // Even if live carries the mark (as a past bug left it), scratch drop keeps it: by id
    // refused, with --all kept and said so; real scratch databases still go.
    c.psql("postgres", "COMMENT ON DATABASE shop IS 'lastgood scratch: backup x'");
    json(dir.path(), &restore_args(rs, "latest", &["--live", &live]));
    let err = fails(dir.path(), &["scratch", "drop", "shop", "--live", &live], 5);
    assert!(err.contains("`shop`") && err.contains("live"), "{err}");
    let (code, out, err) = run(dir.path(), &["scratch", "drop", "--all", "--live", &live]);
    assert_eq!(code, 0, "{err}");
    assert!(out.lines().any(|l| l.starts_with("kept shop: ")), "{out}");
    assert_eq!(out.lines().filter(|l| l.starts_with("dropped lastgood_scratch_")).count(), 1, "{out}");
    assert_eq!(scratch_dbs(&c), "");
    assert_eq!(c.psql("shop", "SELECT count(*) FROM orders").trim(), "11", "live still there");
    // Given another database on the server as --live, shop is still kept as the manifest's source.
    c.create_db("other");
    let dropped = json(dir.path(), &["--repo", rs, "scratch", "drop", "--all", "--live", &c.url("other")]);
    assert_eq!(dropped["dropped"].as_array().unwrap().len(), 0);
    assert_eq!(dropped["kept"][0]["database"], "shop", "{dropped}");
    // Without the repository, nothing says shop is live: it would be dropped; we stop here.
    assert_eq!(c.psql("shop", "SELECT count(*) FROM orders").trim(), "11");
}

/// Two restores of one backup in one second used to get the same default name, and the second
/// dropped the first (it carries lastgood's mark). Databases already holding the default names
/// of the next 20 seconds, and their `_2`, marked as lastgood's: the restore takes `_3` and every
/// one of them is still the same database (same oid).
#[test]
fn a_default_scratch_name_is_always_free_and_never_replaces_a_marked_database() {
    let c = cluster_or_skip!();
    let dir = tempdir();
    let repo = shop_and_repo(&c, dir.path());
    let (rs, live) = (repo.to_str().unwrap(), c.url("shop"));
    let plan = json(dir.path(), &["restore", "--repo", rs, "--backup", "latest", "--live", &live, "--dry-run"]);
    let name = plan["target_database"].as_str().unwrap().to_string();
    let (base, stamp) = name.rsplit_once('_').unwrap();
    let at = chrono::NaiveDateTime::parse_from_str(stamp, "%Y%m%d%H%M%S").unwrap();
    let taken: Vec<String> = (0..20)
        .flat_map(|k| {
            let n = format!("{base}_{}", (at + chrono::TimeDelta::seconds(k)).format("%Y%m%d%H%M%S"));
            [n.clone(), format!("{n}_2")]
        })
        .collect();
    let script: String = taken
        .iter()
        .map(|n| {
            format!(
                "CREATE DATABASE \"{n}\";\nCOMMENT ON DATABASE \"{n}\" IS 'lastgood scratch: an earlier restore';\n"
            )
        })
        .collect();
    psql_script(&c, "postgres", &script);
    let before: Vec<String> = taken.iter().map(|n| identity(&c, n)).collect();

    let v = json(dir.path(), &["restore", "--repo", rs, "--backup", "latest", "--live", &live]);
    let got = v["target_database"].as_str().unwrap();
    let first = got.strip_suffix("_3").unwrap_or_else(|| panic!("not a `_3` name: {got}"));
    assert!(taken.iter().any(|n| n == first), "{got} is outside the 20 s window the test prepared");
    assert_eq!(c.psql(got, "SELECT count(*) FROM items").trim(), "20");
    let after: Vec<String> = taken.iter().map(|n| identity(&c, n)).collect();
    assert_eq!(after, before, "every database already there is the same database");
}

/// `--into NAME` and `--scratch-url URL` naming a database that exists — even a scratch database
/// lastgood made — replace it only with `--force` (exit 5 otherwise, nothing touched), as a
/// SQLite restore never replaces an existing file without it.
#[test]
fn an_existing_database_named_with_into_or_scratch_url_is_replaced_only_with_force() {
    let c = cluster_or_skip!();
    let dir = tempdir();
    let repo = shop_and_repo(&c, dir.path());
    let (rs, live) = (repo.to_str().unwrap(), c.url("shop"));
    json(dir.path(), &["restore", "--repo", rs, "--backup", "latest", "--live", &live, "--into", "kept"]);
    assert!(identity(&c, "kept").contains("lastgood scratch"), "{}", identity(&c, "kept"));
    c.psql("kept", "CREATE TABLE notes(t text); INSERT INTO notes VALUES ('work in progress');");
    let was = identity(&c, "kept");
    let url = c.url("kept");
    for target in [&["--live", &live, "--into", "kept"][..], &["--scratch-url", &url][..]] {
        let mut args = vec!["restore", "--repo", rs, "--backup", "latest"];
        args.extend_from_slice(target);
        let (code, _, err) = run(dir.path(), &args);
        assert_eq!(code, 5, "{err}");
        assert!(err.contains("`kept` already exists") && err.contains("--force"), "{err}");
        assert_eq!(identity(&c, "kept"), was, "{target:?}: not replaced");
        assert_eq!(c.psql("kept", "SELECT t FROM notes").trim(), "work in progress");
    }
    // With --force: replaced by the backup, and still a scratch database.
    json(dir.path(), &["restore", "--repo", rs, "--backup", "latest", "--live", &live, "--into", "kept", "--force"]);
    assert_ne!(identity(&c, "kept"), was);
    assert!(identity(&c, "kept").contains("lastgood scratch"), "{}", identity(&c, "kept"));
    assert_eq!(c.psql("kept", "SELECT count(*) FROM pg_class WHERE relname = 'notes'").trim(), "0");
    assert_eq!(c.psql("kept", "SELECT count(*) FROM items").trim(), "20");
}

/// PostgreSQL restore used to read only the primary copy, unchecked: a plain dump edited since
/// it was catalogued (same size and mtime) restored its altered rows silently, although a `.gz`
/// of the same content was healthy. Restore now reads the first copy whose bytes verify (here
/// the `.gz`, decompressed as that copy needs), says which it passed over and why, and `--backup
/// PATH` reads exactly that copy; a custom archive damaged in one of two repositories the same.
#[test]
fn pg_restore_reads_the_first_copy_whose_bytes_verify_and_backup_path_reads_that_copy() {
    let c = cluster_or_skip!();
    let dir = tempdir();
    let d = dir.path();
    c.create_db("shop");
    c.psql("shop", "CREATE TABLE items(id int PRIMARY KEY, name text); INSERT INTO items SELECT x, 'item ' || x FROM generate_series(1, 20) x;");
    let (r1, r2) = (d.join("r1"), d.join("r2"));
    std::fs::create_dir_all(&r1).unwrap();
    std::fs::create_dir_all(&r2).unwrap();
    let plain = r1.join("shop.sql");
    c.pg_dump("shop", &["-Fp"], &plain);
    let gz = r2.join("shop.sql.gz");
    gzip(&plain, &gz);
    let (s1, s2) = (r1.to_str().unwrap(), r2.to_str().unwrap());
    let live = c.url("shop");
    let cat = json(d, &["catalog", "--repo", s1, "--repo", s2]);
    let paths: Vec<&str> =
        cat["backups"][0]["copies"].as_array().unwrap().iter().map(|c| c["path"].as_str().unwrap()).collect();
    assert_eq!(paths, [plain.to_str().unwrap(), gz.to_str().unwrap()], "one backup, the plain dump first");
    let restore = |backup: &str, into: &str| {
        json(d, &["restore", "--repo", s1, "--repo", s2, "--backup", backup, "--live", &live, "--into", into])
    };
    let names =
        |db: &str| c.psql(db, "SELECT string_agg(name, ',' ORDER BY id) FROM items WHERE id <= 3").trim().to_string();

    // --backup naming the .gz reads the .gz.
    let r = restore(gz.to_str().unwrap(), "from_gz");
    assert_eq!(r["backup_path"], gz.to_str().unwrap(), "{r:#}");
    assert_eq!(names("from_gz"), "item 1,item 2,item 3");

    // The plain dump edited since it was catalogued: the restore reads the .gz and says so.
    rewrite_keeping_stamp(&plain, b"item 2\n", b"EVIL 2\n");
    let r = restore("latest", "fallback");
    assert_eq!(r["backup_path"], gz.to_str().unwrap(), "{r:#}");
    let passed = r["passed_over_copies"].as_array().unwrap();
    assert_eq!(passed.len(), 1, "{r:#}");
    assert_eq!(passed[0]["path"], plain.to_str().unwrap());
    assert!(passed[0]["reason"].as_str().unwrap().contains("changed since it was catalogued"), "{r:#}");
    assert_eq!(names("fallback"), "item 1,item 2,item 3", "never the edited rows");
    let (code, text, err) =
        run(d, &["restore", "--repo", s1, "--repo", s2, "--backup", "latest", "--live", &live, "--into", "human"]);
    assert_eq!(code, 0, "{err}");
    assert!(text.contains("passed over copy `") && text.contains(&format!("read copy `{}`", gz.display())), "{text}");
    // --backup naming the edited copy reads that copy only: refused, no database left.
    let (code, _, err) = run(
        d,
        &["restore", "--repo", s1, "--repo", s2, "--backup", plain.to_str().unwrap(), "--live", &live, "--into", "bad"],
    );
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("changed since it was catalogued"), "{err}");
    assert_eq!(identity(&c, "bad"), "");

    // A custom archive in two repositories, the first copy damaged: read from the second.
    let (r3, r4) = (d.join("r3"), d.join("r4"));
    std::fs::create_dir_all(&r3).unwrap();
    std::fs::create_dir_all(&r4).unwrap();
    c.pg_dump("shop", &["-Fc", "-Z0"], &r3.join("shop.dump"));
    std::fs::copy(r3.join("shop.dump"), r4.join("shop.dump")).unwrap();
    let (s3, s4) = (r3.to_str().unwrap(), r4.to_str().unwrap());
    json(d, &["catalog", "--repo", s3, "--repo", s4]);
    rewrite_keeping_stamp(&r3.join("shop.dump"), b"item 2\n", b"EVIL 2\n");
    let r =
        json(d, &["restore", "--repo", s3, "--repo", s4, "--backup", "latest", "--live", &live, "--into", "custom"]);
    assert_eq!(r["backup_path"], r4.join("shop.dump").to_str().unwrap(), "{r:#}");
    assert_eq!(r["passed_over_copies"][0]["path"], r3.join("shop.dump").to_str().unwrap(), "{r:#}");
    assert_eq!(names("custom"), "item 1,item 2,item 3");
}
