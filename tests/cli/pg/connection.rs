//! PostgreSQL connections, whatever the command: passwords never appear in output and are found
//! as psql finds them (URL, PGPASSWORD, PGPASSFILE, PG* variables); every sslmode that needs TLS
//! gets the same clear refusal.

use super::*;
use crate::cluster_or_skip;

#[test]
fn passwords_never_appear_and_are_found_like_psql_finds_them() {
    let c = cluster_or_skip!();
    make_small_db(&c);
    c.add_password_user("alice", "Sesame-4711");
    let dir = tempdir();
    let url_wrong = c.url_as("alice", Some("Wrong-0815"), "shop");
    for json_flag in [false, true] {
        let mut args = vec!["scratch", "list", "--live", url_wrong.as_str()];
        if json_flag {
            args.insert(0, "--json");
        }
        let (code, text) = run_text(dir.path(), &args, &[]);
        assert_eq!(code, 4, "{text}");
        assert!(text.contains("password authentication failed") || text.contains("login refused"), "{text}");
        assert!(!text.contains("Wrong-0815"), "password leaked: {text}");
    }
    // Wrong password from PGPASSWORD, key=value string: refused, not echoed.
    let kv = c.conn_as("alice", "shop");
    let (code, text) = run_text(dir.path(), &["scratch", "list", "--live", &kv], &[("PGPASSWORD", "Wrong-0815")]);
    assert_eq!(code, 4, "{text}");
    assert!(!text.contains("Wrong-0815"), "{text}");
    // The right password from a password file (PGPASSFILE), with host/port/user from PG* variables.
    let passfile = dir.path().join("pgpass");
    std::fs::write(&passfile, format!("127.0.0.1:{}:*:alice:Sesame-4711\n", c.port)).unwrap();
    std::os::unix::fs::PermissionsExt::set_mode(&mut std::fs::metadata(&passfile).unwrap().permissions(), 0o600);
    std::fs::set_permissions(&passfile, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let port = c.port.to_string();
    let env = [
        ("PGHOST", "127.0.0.1"),
        ("PGPORT", port.as_str()),
        ("PGUSER", "alice"),
        ("PGPASSFILE", passfile.to_str().unwrap()),
    ];
    let (code, text) = run_text(dir.path(), &["scratch", "list", "--live", "dbname=shop"], &env);
    assert_eq!(code, 0, "{text}");
    // A full restore with the password in the URL: the JSON report and messages omit it.
    let repo = repo(dir.path(), "repo");
    c.pg_dump("shop", &["-Fc"], &repo.join("shop.dump"));
    let url_right = c.url_as("alice", Some("Sesame-4711"), "shop");
    let (code, text) = run_text(
        dir.path(),
        &["--json", "restore", "--repo", repo.to_str().unwrap(), "--backup", "latest", "--live", &url_right],
        &[],
    );
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("postgres://alice@127.0.0.1"), "{text}");
    assert!(!text.contains("Sesame-4711"), "password leaked: {text}");
}

#[test]
fn every_sslmode_that_needs_tls_gets_the_same_clear_refusal() {
    let c = cluster_or_skip!();
    let dir = tempdir();
    let url = c.url("postgres");
    for spec in [
        format!("{url}?sslmode=require"),
        format!("{url}?sslmode=verify-ca"),
        format!("{url}?sslmode=verify-full"),
        format!("{} sslmode=verify-full", c.conn("postgres")),
        format!("{} sslmode='verify-ca'", c.conn("postgres")),
    ] {
        let err = fails(dir.path(), &["scratch", "list", "--live", &spec], 4);
        assert!(err.contains("sslmode `verify-") || err.contains("sslmode `require`"), "{spec}: {err}");
        assert!(err.contains("needs TLS"), "{spec}: {err}");
    }
    // `allow` asks for TLS only when the server insists: it connects.
    let (code, text) = run_text(dir.path(), &["scratch", "list", "--live", &format!("{url}?sslmode=allow")], &[]);
    assert_eq!(code, 0, "{text}");
}
