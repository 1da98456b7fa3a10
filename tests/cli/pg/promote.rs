//! PostgreSQL `promote`: databases renamed in one transaction, the previous live kept under a
//! safety name, sessions and database settings that block it, partial scratch refused, and printed
//! undos that swap back.

use super::*;
use crate::cluster_or_skip;

/// Promote on PostgreSQL renames databases in one transaction: scratch becomes live, the previous
/// live is kept whole under a safety name, marks are swapped so `scratch drop --all` never touches
/// the new live, sessions block it unless --terminate-connections, and the printed undo swaps back.
#[test]
fn promote_renames_scratch_into_live_and_keeps_the_previous_live() {
    let c = cluster_or_skip!();
    make_small_db(&c);
    let dir = tempdir();
    let repo = repo(dir.path(), "repo");
    c.pg_dump("shop", &["-Fc"], &repo.join("shop.dump"));
    c.psql("shop", r#"UPDATE "Order Items" SET "select" = 'bad'"#);
    let live = c.url("shop");
    let v = json(dir.path(), &restore_args(s(&repo), "latest", &["--live", &live]));
    let scratch_db = v["target_database"].as_str().unwrap().to_string();
    let scratch = c.url(&scratch_db);

    // Dry run: nothing renamed.
    let plan = json(dir.path(), &["promote", "--scratch", &scratch, "--live", &live]);
    assert_eq!(plan["dry_run"], true);
    assert!(
        c.psql("postgres", "SELECT datname FROM pg_database WHERE datname LIKE 'lastgood_safety%'").trim().is_empty()
    );

    // An application connected to live blocks it: refused, nothing renamed.
    let mut app = c.session("shop", "SELECT pg_sleep(30)");
    std::thread::sleep(std::time::Duration::from_millis(500));
    let (code, text) = run_text(dir.path(), &["promote", "--scratch", &scratch, "--live", &live, "--yes"], &[]);
    assert_eq!(code, 5, "{text}");
    assert!(text.contains("--terminate-connections"), "{text}");
    assert_eq!(c.psql("shop", r#"SELECT "select" FROM "Order Items" WHERE id = 1"#).trim(), "bad");

    let report =
        json(dir.path(), &["promote", "--scratch", &scratch, "--live", &live, "--yes", "--terminate-connections"]);
    app.wait().unwrap();
    assert_eq!(report["terminated_sessions"], 1);
    assert_eq!(c.psql("shop", r#"SELECT "select" FROM "Order Items" WHERE id = 1"#).trim(), "a", "live is scratch now");
    let safety = report["safety_database"].as_str().unwrap().to_string();
    assert_eq!(
        c.psql(&safety, r#"SELECT "select" FROM "Order Items" WHERE id = 1"#).trim(),
        "bad",
        "previous live kept"
    );
    assert_eq!(
        c.psql("postgres", &format!("SELECT count(*) FROM pg_database WHERE datname = '{scratch_db}'")).trim(),
        "0"
    );
    // The new live carries no scratch mark: dropping every scratch database leaves it alone.
    let dropped = json(dir.path(), &["scratch", "drop", "--all", "--live", &live]);
    assert_eq!(dropped["dropped"].as_array().unwrap().len(), 0);
    assert_eq!(
        c.psql("postgres", &format!("SELECT count(*) FROM pg_database WHERE datname IN ('shop', '{safety}')")).trim(),
        "2"
    );

    // The printed undo swaps back.
    let undo = report["undo"].as_str().unwrap();
    let words: Vec<String> = undo.split_whitespace().skip(1).map(|w| w.trim_matches('\'').to_string()).collect();
    let args: Vec<&str> = words.iter().map(String::as_str).collect();
    let (code, text) = run_text(dir.path(), &args, &[]);
    assert_eq!(code, 0, "{undo}: {text}");
    assert_eq!(c.psql("shop", r#"SELECT "select" FROM "Order Items" WHERE id = 1"#).trim(), "bad");
}

#[test]
fn promote_refuses_to_lose_lives_database_settings_unless_forced() {
    let c = cluster_or_skip!();
    make_small_db(&c);
    let dir = tempdir();
    let repo = dump_into_repo(&c, "shop", dir.path());
    c.psql("postgres", "ALTER DATABASE shop SET search_path = app, public; ALTER DATABASE shop SET work_mem = '8MB';");
    let live = c.url("shop");
    let v = json(dir.path(), &restore_args(s(&repo), "latest", &["--live", &live]));
    let scratch = c.url(v["target_database"].as_str().unwrap());
    let (code, text) = run_text(dir.path(), &["promote", "--scratch", &scratch, "--live", &live, "--yes"], &[]);
    assert_eq!(code, 5, "{text}");
    assert!(text.contains("settings") && text.contains("work_mem"), "{text}");
    assert!(
        c.psql("postgres", "SELECT datname FROM pg_database WHERE datname LIKE 'lastgood_safety%'").trim().is_empty()
    );
    // Once scratch carries the same settings, promote goes ahead.
    let scratch_db = v["target_database"].as_str().unwrap();
    c.psql("postgres", &format!("ALTER DATABASE \"{scratch_db}\" SET search_path = app, public; ALTER DATABASE \"{scratch_db}\" SET work_mem = '8MB';"));
    let (code, text) = run_text(dir.path(), &["promote", "--scratch", &scratch, "--live", &live, "--yes"], &[]);
    assert_eq!(code, 0, "{text}");
}

/// Issue 10, class 2 on PostgreSQL: promoting a scratch restored with `--tables` would drop
/// live's other schemas, tables, views, sequences and functions. Refused (exit 5) naming each,
/// in the dry run and its JSON too; `--allow-missing` must name exactly those; the printed undo
/// of the promote that went ahead brings them all back.
#[test]
fn promote_of_a_partial_pg_scratch_is_refused_naming_what_live_would_lose() {
    let c = cluster_or_skip!();
    make_small_db(&c);
    c.psql(
        "shop",
        "CREATE SCHEMA archive; CREATE TABLE archive.old(id int PRIMARY KEY);
         CREATE TABLE orders(id serial PRIMARY KEY, n int); INSERT INTO orders(n) VALUES (1), (2);
         CREATE VIEW big AS SELECT * FROM orders WHERE n > 1; CREATE MATERIALIZED VIEW mv AS SELECT 1 AS x;
         CREATE SEQUENCE tickets; CREATE FUNCTION add(a int, b int) RETURNS int LANGUAGE sql AS 'SELECT a + b';",
    );
    let dir = tempdir();
    let repo = dump_into_repo(&c, "shop", dir.path());
    let live = c.url("shop");
    let before = pg_content(&c, "shop");
    let v = json(dir.path(), &restore_args(s(&repo), "latest", &["--tables", "Order Items", "--live", &live]));
    let scratch = c.url(v["target_database"].as_str().unwrap());
    let (code, text) = run_text(dir.path(), &["promote", "--scratch", &scratch, "--live", &live, "--yes"], &[]);
    assert_eq!(code, 5, "{text}");
    let want = [
        "schema `archive`",
        "table `archive.old`",
        "table `public.orders`",
        "sequence `public.orders_id_seq`",
        "sequence `public.tickets`",
        "view `public.big`",
        "materialized view `public.mv`",
        "function `public.add(a integer, b integer)`",
    ];
    for w in want {
        assert!(text.contains(w), "{w} not named: {text}");
    }
    assert!(text.contains("--allow-missing"), "{text}");
    assert_eq!(pg_content(&c, "shop"), before, "live untouched");

    // The dry run lists the same objects, and refuses the same way.
    let out =
        lastgood(dir.path()).args(["--json", "promote", "--scratch", &scratch, "--live", &live]).output().unwrap();
    assert_eq!(out.status.code(), Some(5));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let missing: Vec<String> = plan["missing"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| format!("{} `{}`", m["kind"].as_str().unwrap(), m["name"].as_str().unwrap()))
        .collect();
    let mut sorted_want: Vec<String> = want.iter().map(|w| w.to_string()).collect();
    sorted_want.sort();
    let mut got = missing.clone();
    got.sort();
    assert_eq!(got, sorted_want);
    let names: Vec<String> =
        plan["missing"].as_array().unwrap().iter().map(|m| m["name"].as_str().unwrap().to_string()).collect();

    // One short, or one that is not missing: refused.
    let short = names[1..].join(",");
    let (code, text) = run_text(
        dir.path(),
        &["promote", "--scratch", &scratch, "--live", &live, "--yes", "--allow-missing", &short],
        &[],
    );
    assert_eq!(code, 5, "{text}");
    let extra = format!("{},public.Order Items", names.join(","));
    let (code, text) = run_text(
        dir.path(),
        &["promote", "--scratch", &scratch, "--live", &live, "--yes", "--allow-missing", &extra],
        &[],
    );
    assert_eq!(code, 5, "{text}");
    assert!(text.contains("`public.Order Items`"), "{text}");
    assert_eq!(pg_content(&c, "shop"), before, "live untouched");

    // Exactly those: promoted; the printed undo brings every object back.
    let all = names.join(",");
    let report =
        json(dir.path(), &["promote", "--scratch", &scratch, "--live", &live, "--yes", "--allow-missing", &all]);
    assert_eq!(c.psql("shop", "SELECT count(*) FROM pg_class WHERE relname = 'orders'").trim(), "0");
    let undo = report["undo"].as_str().unwrap();
    let out = run_printed(dir.path(), undo, Some(&c.bin));
    assert!(out.status.success(), "{undo}: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(pg_content(&c, "shop"), before, "undo put live back");
}

/// Issue 10, class 12: the undo printed by a PostgreSQL `promote --force` (live's database
/// settings differ from scratch's) runs as printed and swaps back, settings and rows.
#[test]
fn the_printed_undo_of_a_forced_pg_promote_runs_and_swaps_back() {
    let c = cluster_or_skip!();
    make_small_db(&c);
    let dir = tempdir();
    let repo = dump_into_repo(&c, "shop", dir.path());
    c.psql("shop", r#"UPDATE "Order Items" SET "select" = 'bad'"#);
    c.psql("postgres", "ALTER DATABASE shop SET work_mem = '8MB'");
    let live = c.url("shop");
    let before = pg_content(&c, "shop");
    let v = json(dir.path(), &restore_args(s(&repo), "latest", &["--live", &live]));
    let scratch = c.url(v["target_database"].as_str().unwrap());
    let report = json(dir.path(), &["promote", "--scratch", &scratch, "--live", &live, "--yes", "--force"]);
    assert_eq!(c.psql("shop", "SHOW work_mem").trim(), "4MB", "scratch's settings are live");
    let undo = report["undo"].as_str().unwrap();
    let out = run_printed(dir.path(), undo, Some(&c.bin));
    assert!(out.status.success(), "{undo}: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(pg_content(&c, "shop"), before);
    assert_eq!(c.psql("shop", "SHOW work_mem").trim(), "8MB", "live's settings are back");
}

/// The dry run of a PostgreSQL promote of a partial scratch (refused, exit 5) used to print "add
/// --yes to promote" first. It says it would be refused and why, human and `--json`; the same
/// for a scratch in use.
#[test]
fn dry_run_of_a_refused_pg_promote_says_it_would_be_refused_and_why() {
    let c = cluster_or_skip!();
    let dir = tempdir();
    let repo = shop_and_repo(&c, dir.path());
    c.psql("shop", "CREATE TABLE orders(id int PRIMARY KEY)");
    c.pg_dump("shop", &["-Fc"], &repo.join("shop.dump"));
    let (rs, live) = (repo.to_str().unwrap(), c.url("shop"));
    let v = json(
        dir.path(),
        &["restore", "--repo", rs, "--backup", "latest", "--tables", "items", "--live", &live, "--into", "part"],
    );
    assert_eq!(v["target_database"], "part");
    let scratch = c.url("part");
    let dry = ["promote", "--scratch", scratch.as_str(), "--live", live.as_str()];
    let (code, text, _) = run(dir.path(), &dry);
    assert_eq!(code, 5);
    assert!(!text.contains("add --yes"), "{text}");
    let last = text.lines().last().unwrap();
    assert!(
        last.starts_with("nothing written; --yes would be refused: ") && last.contains("table `public.orders`"),
        "{text}"
    );
    let mut as_json = vec!["--json"];
    as_json.extend(dry);
    let (code, out, _) = run(dir.path(), &as_json);
    assert_eq!(code, 5);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(v["would_refuse"]["reason"].as_str().unwrap().contains("public.orders"), "{v:#}");
    assert!(v["would_refuse"]["hint"].as_str().unwrap().contains("--allow-missing public.orders"), "{v:#}");

    // Allowed: it would go; with a session on scratch it would be refused for that instead.
    let mut allowed = dry.to_vec();
    allowed.extend(["--allow-missing", "public.orders"]);
    let v = json(dir.path(), &allowed);
    assert!(v["would_refuse"].is_null(), "{v:#}");
    let mut session = std::process::Command::new(c.bin.join("psql"))
        .args(["-X", "-q", "-d", &c.url("part"), "-c", "SELECT pg_sleep(30)"])
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while c.psql("postgres", "SELECT count(*) FROM pg_stat_activity WHERE datname = 'part'").trim() == "0" {
        assert!(std::time::Instant::now() < deadline, "the session never connected");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let (code, text, _) = run(dir.path(), &allowed);
    session.kill().unwrap();
    let _ = session.wait();
    assert_eq!(code, 5, "{text}");
    assert!(text.lines().last().unwrap().contains("--yes would be refused: 1 other session(s)"), "{text}");
    assert_eq!(c.psql("shop", "SELECT count(*) FROM orders").trim(), "0", "live untouched");
}
