//! PostgreSQL connection settings, resolved the way psql resolves them.
//!
//! The `postgres` crate reads no `PG*` variable and no password file, so lastgood does it here:
//! settings given in the connection string (a `postgres://` URL or a libpq `key=value` string) win;
//! missing ones come from PGHOST, PGPORT, PGUSER, PGDATABASE, PGPASSWORD and PGSSLMODE, then from
//! the password file (PGPASSFILE, default `~/.pgpass`, ignored when group- or world-readable, as
//! libpq does), then from libpq's defaults (the socket folder `/var/run/postgresql` or localhost,
//! port 5432, the OS user, a database named like the user).
//!
//! Invariants: `PgConn`'s `Debug` and `describe` never show the password; every driver error goes
//! through `classify`, which removes the password from its text; external tools (pg_restore, psql)
//! get the settings as environment variables, never on their command line, so the password is not
//! visible in the process list.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use anyhow::Result;
use postgres::config::{Host, SslMode};

use crate::error::{bad_input, environment, refused, usage};

/// Session settings every lastgood connection (and tool it runs) uses, so that the text form of
/// timestamps, dates and intervals is the same on live and scratch.
pub const SESSION_OPTIONS: &str =
    "-c TimeZone=UTC -c DateStyle=ISO,YMD -c IntervalStyle=postgres -c extra_float_digits=3";

/// One resolved set of connection settings.
#[derive(Clone, PartialEq, Eq)]
pub struct PgConn {
    /// A host name, an IP address, or a socket folder (starts with `/`).
    pub host: String,
    pub port: u16,
    pub user: String,
    pub dbname: String,
    password: Option<String>,
    /// `disable`, `allow` or `prefer` (this build speaks no TLS).
    pub sslmode: String,
}

impl std::fmt::Debug for PgConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl PgConn {
    /// Resolves `spec` (URL or key=value; may be empty) with the process environment.
    /// Errors: `Usage` for a string that does not parse, `Environment` for an sslmode needing TLS
    /// (`require`, `verify-ca`, `verify-full`).
    pub fn resolve(spec: &str) -> Result<PgConn> {
        Self::resolve_with(spec, &|k| std::env::var(k).ok())
    }

    /// As `resolve`, with the environment given as a lookup function (for tests).
    pub fn resolve_with(spec: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<PgConn> {
        let spec = spec.trim();
        if let Some(rest) = spec.strip_prefix("postgres://").or_else(|| spec.strip_prefix("postgresql://")) {
            // `user:p@ss@host`: the host would be read as `ss@host`, part of the password.
            let before_query = rest.split('?').next().unwrap_or("");
            if before_query.matches('@').count() > 1 {
                return Err(usage(format!(
                    "bad PostgreSQL URL `{}`: more than one `@` before the host",
                    crate::redact::connection_string(spec)
                ))
                .hint("percent-encode `@` in the user name or password as %40 (and `/` as %2F)")
                .into());
            }
        }
        // The driver knows only disable/prefer/require and calls every other sslmode an invalid
        // connection string: the TLS modes get the same clear refusal as `require`, and `allow`
        // (TLS only if the server insists, so never here) is parsed as `prefer`.
        let given_sslmode = sslmode_in(spec);
        if let Some((mode, _)) = &given_sslmode
            && matches!(mode.as_str(), "require" | "verify-ca" | "verify-full")
        {
            return Err(no_tls(mode));
        }
        let rewritten;
        let spec = match &given_sslmode {
            Some((mode, range)) if mode == "allow" => {
                rewritten = format!("{}prefer{}", &spec[..range.start], &spec[range.end..]);
                rewritten.as_str()
            }
            _ => spec,
        };
        let parsed = if spec.is_empty() {
            postgres::Config::new()
        } else {
            postgres::Config::from_str(spec).map_err(|e| {
                usage(format!(
                    "bad PostgreSQL connection string `{}`: {}",
                    crate::redact::connection_string(spec),
                    crate::redact::in_text(&e.to_string())
                ))
                .hint("use postgres://user@host:port/dbname or `host=… port=… dbname=…`")
            })?
        };
        let host = match parsed.get_hosts().first() {
            Some(Host::Tcp(h)) => h.clone(),
            Some(Host::Unix(p)) => p.display().to_string(),
            None => env("PGHOST").filter(|h| !h.is_empty()).unwrap_or_else(default_host),
        };
        let port = match parsed.get_ports().first() {
            Some(p) => *p,
            None => match env("PGPORT").filter(|p| !p.is_empty()) {
                Some(p) => p.parse().map_err(|_| usage(format!("PGPORT `{p}` is not a port number")))?,
                None => 5432,
            },
        };
        let user = parsed
            .get_user()
            .map(str::to_string)
            .or_else(|| env("PGUSER").filter(|u| !u.is_empty()))
            .or_else(|| env("USER").filter(|u| !u.is_empty()))
            .unwrap_or_else(|| "postgres".to_string());
        let dbname = parsed
            .get_dbname()
            .map(str::to_string)
            .or_else(|| env("PGDATABASE").filter(|d| !d.is_empty()))
            .unwrap_or_else(|| user.clone());
        let sslmode = match given_sslmode {
            Some((mode, _)) if mode == "allow" => mode,
            _ if spec.contains("sslmode") => ssl_mode_name(parsed.get_ssl_mode()).to_string(),
            _ => env("PGSSLMODE").filter(|s| !s.is_empty()).unwrap_or_else(|| "prefer".to_string()),
        };
        if !matches!(sslmode.as_str(), "disable" | "allow" | "prefer") {
            return Err(no_tls(&sslmode));
        }
        let mut conn = PgConn { host, port, user, dbname, password: None, sslmode };
        conn.password = parsed
            .get_password()
            .map(|p| String::from_utf8_lossy(p).into_owned())
            .or_else(|| env("PGPASSWORD").filter(|p| !p.is_empty()))
            .or_else(|| password_from_file(&conn, env));
        Ok(conn)
    }

    /// The same server and credentials, another database.
    pub fn with_dbname(&self, dbname: &str) -> PgConn {
        PgConn { dbname: dbname.to_string(), ..self.clone() }
    }

    /// Whether `self` and `other` name the same database on the same server: same port and
    /// database name, and the same host, where `localhost`, `127.0.0.1`, `::1` and any socket
    /// folder all count as this machine (a socket's file name carries the port).
    pub fn same_database(&self, other: &PgConn) -> bool {
        fn host_key(h: &str) -> String {
            let h = h.trim_matches(['[', ']']).to_ascii_lowercase();
            if h.starts_with('/') || matches!(h.as_str(), "localhost" | "127.0.0.1" | "::1" | "") {
                "this machine".to_string()
            } else {
                h
            }
        }
        self.port == other.port && self.dbname == other.dbname && host_key(&self.host) == host_key(&other.host)
    }

    /// The settings as a libpq `key=value` string, password included: for opening this database
    /// again in this process, never for printing (`describe` is the printable form).
    pub fn conninfo(&self) -> String {
        fn q(v: &str) -> String {
            format!("'{}'", v.replace('\\', "\\\\").replace('\'', "\\'"))
        }
        let mut s = format!(
            "host={} port={} user={} dbname={} sslmode={}",
            q(&self.host),
            self.port,
            q(&self.user),
            q(&self.dbname),
            q(&self.sslmode)
        );
        if let Some(p) = &self.password {
            s.push_str(&format!(" password={}", q(p)));
        }
        s
    }

    pub fn password(&self) -> Option<&str> {
        self.password.as_deref()
    }

    /// `postgres://user@host:port/db`, never with a password.
    pub fn describe(&self) -> String {
        let host = if self.host.starts_with('/') { format!("[{}]", self.host) } else { self.host.clone() };
        format!("postgres://{}@{}:{}/{}", self.user, host, self.port, self.dbname)
    }

    /// The server part only, for messages about the server rather than a database.
    pub fn describe_server(&self) -> String {
        let host = if self.host.starts_with('/') { format!("[{}]", self.host) } else { self.host.clone() };
        format!("{}:{}", host, self.port)
    }

    /// The settings as a `postgres::Config`, with `SESSION_OPTIONS`.
    pub fn config(&self) -> postgres::Config {
        postgres::Config::from(self.async_config())
    }

    /// The same settings for `tokio_postgres`, which the streaming scans drive directly.
    pub fn async_config(&self) -> tokio_postgres::Config {
        let mut c = tokio_postgres::Config::new();
        if self.host.starts_with('/') {
            c.host_path(&self.host);
        } else {
            c.host(&self.host);
        }
        c.port(self.port).user(&self.user).dbname(&self.dbname).application_name("lastgood");
        // Values without a native mapping are compared by their text form, which must not depend
        // on per-database or per-role settings (a scratch database does not inherit live's
        // `ALTER DATABASE … SET timezone`): fix the settings that shape that text.
        c.options(SESSION_OPTIONS);
        c.ssl_mode(SslMode::Disable);
        c.connect_timeout(std::time::Duration::from_secs(10));
        if let Some(p) = &self.password {
            c.password(p);
        }
        c
    }

    /// Connects. Errors (password-free): `BadInput` when the database does not exist,
    /// `Environment` when the server cannot be reached or refuses the login.
    pub fn connect(&self) -> Result<postgres::Client> {
        self.config().connect(postgres::NoTls).map_err(|e| self.classify(e, "connecting"))
    }

    /// Environment variables that make libpq tools (psql, pg_restore) use these settings.
    pub fn tool_env(&self) -> Vec<(&'static str, String)> {
        let mut v = vec![
            ("PGHOST", self.host.clone()),
            ("PGPORT", self.port.to_string()),
            ("PGUSER", self.user.clone()),
            ("PGDATABASE", self.dbname.clone()),
            ("PGSSLMODE", self.sslmode.clone()),
            ("PGCONNECT_TIMEOUT", "10".to_string()),
            ("PGOPTIONS", SESSION_OPTIONS.to_string()),
        ];
        if let Some(p) = &self.password {
            v.push(("PGPASSWORD", p.clone()));
        }
        v
    }

    /// Removes this connection's password from `text`, and any connection-string password.
    pub fn scrub(&self, text: &str) -> String {
        let secrets: Vec<&str> = self.password.iter().map(String::as_str).collect();
        crate::redact::in_text(&crate::redact::text(text, &secrets))
    }

    /// Turns a driver error during `doing` into a classified, password-free failure.
    pub fn classify(&self, err: postgres::Error, doing: &str) -> anyhow::Error {
        let code = err.code().map(|c| c.code().to_string());
        let detail = self.scrub(&driver_message(&err));
        let what = self.describe();
        match code.as_deref() {
            Some("3D000") => {
                bad_input(format!("database `{}` does not exist on {}", self.dbname, self.describe_server()))
                    .hint("check the database name, or list databases with `psql -l`")
                    .into()
            }
            Some("28P01") | Some("28000") => environment(format!("{doing} `{what}`: login refused: {detail}"))
                .hint("check the user and password (PGPASSWORD, ~/.pgpass or the connection string)")
                .into(),
            Some("42P01") | Some("42703") | Some("42P07") | Some("23505") | Some("23503") | Some("22P02") => {
                bad_input(format!("{doing} on `{what}`: {detail}")).into()
            }
            Some("55006") | Some("57P01") | Some("53300") => environment(format!("{doing} `{what}`: {detail}")).into(),
            Some("42501") => refused(format!("{doing} on `{what}`: permission denied: {detail}")).into(),
            // The server refused for a reason of its own (disk full, a setting, a lock…).
            Some(_) => environment(format!("{doing} on `{what}`: {detail}")).into(),
            None if err.is_closed() || is_io(&err) => environment(format!("cannot reach `{what}`: {detail}"))
                .hint("is the server running and accepting connections? check host and port (PGHOST, PGPORT)")
                .into(),
            None if detail.contains("password missing") => {
                environment(format!("{doing} `{what}`: the server asks for a password and none is set"))
                    .hint("set PGPASSWORD, add a line to ~/.pgpass, or put it in the connection string")
                    .into()
            }
            None => environment(format!("{doing} `{what}`: {detail}")).into(),
        }
    }
}

fn is_io(err: &postgres::Error) -> bool {
    let mut src: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(err);
    while let Some(e) = src {
        if e.is::<std::io::Error>() {
            return true;
        }
        src = e.source();
    }
    err.to_string().contains("error connecting")
}

/// The driver's message with its causes, without duplicating the database error's fields.
pub(crate) fn driver_message(err: &postgres::Error) -> String {
    if let Some(db) = err.as_db_error() {
        let mut s = db.message().to_string();
        if let Some(d) = db.detail() {
            s.push_str(&format!(" ({d})"));
        }
        return s;
    }
    let mut s = err.to_string();
    let mut src = std::error::Error::source(err);
    while let Some(e) = src {
        let t = e.to_string();
        if !s.contains(&t) {
            s.push_str(&format!(": {t}"));
        }
        src = e.source();
    }
    s
}

/// The refusal for an sslmode that needs TLS. Error: `Environment`.
fn no_tls(sslmode: &str) -> anyhow::Error {
    environment(format!("sslmode `{sslmode}` needs TLS, which this build of lastgood does not speak"))
        .hint("connect with sslmode=prefer or disable (for example through a local socket or an SSH tunnel)")
        .into()
}

/// The `sslmode` a URL (`?sslmode=…`) or key=value string (`sslmode=…`, `sslmode = '…'`) gives,
/// with the byte range of its value in `spec`.
fn sslmode_in(spec: &str) -> Option<(String, std::ops::Range<usize>)> {
    let b = spec.as_bytes();
    let mut from = 0;
    while let Some(found) = spec[from..].find("sslmode") {
        let at = from + found;
        from = at + "sslmode".len();
        let boundary = at == 0 || matches!(b[at - 1], b'?' | b'&' | b' ' | b'\t' | b'\n');
        let after = spec[from..].trim_start();
        let Some(value) = after.strip_prefix('=').filter(|_| boundary) else { continue };
        let value = value.trim_start();
        let quoted = value.starts_with('\'');
        let value_text = if quoted { &value[1..] } else { value };
        let len = value_text.find(|c: char| c.is_whitespace() || c == '&' || c == '\'').unwrap_or(value_text.len());
        let start = spec.len() - value_text.len();
        return Some((spec[start..start + len].to_string(), start..start + len));
    }
    None
}

fn ssl_mode_name(m: SslMode) -> &'static str {
    match m {
        SslMode::Disable => "disable",
        SslMode::Prefer => "prefer",
        SslMode::Require => "require",
        _ => "require",
    }
}

fn default_host() -> String {
    if Path::new("/var/run/postgresql").is_dir() { "/var/run/postgresql".to_string() } else { "localhost".to_string() }
}

/// The password for `conn` from the password file, as libpq finds it.
fn password_from_file(conn: &PgConn, env: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    let path = env("PGPASSFILE")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .or_else(|| env("HOME").map(|h| Path::new(&h).join(".pgpass")))?;
    let meta = std::fs::metadata(&path).ok()?;
    use std::os::unix::fs::PermissionsExt;
    if !meta.is_file() || meta.permissions().mode() & 0o077 != 0 {
        return None;
    }
    let text = std::fs::read_to_string(&path).ok()?;
    let host = if conn.host.starts_with('/') { "localhost" } else { conn.host.as_str() };
    let port = conn.port.to_string();
    text.lines().filter(|l| !l.trim_start().starts_with('#') && !l.trim().is_empty()).find_map(|line| {
        let fields = split_pgpass_line(line);
        if fields.len() < 5 {
            return None;
        }
        let want = [host, port.as_str(), conn.dbname.as_str(), conn.user.as_str()];
        let matches = fields[..4].iter().zip(want).all(|(f, w)| f == "*" || f == w);
        matches.then(|| fields[4..].join(":"))
    })
}

/// Splits one `.pgpass` line at unescaped colons, undoing `\:` and `\\`.
fn split_pgpass_line(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(n) = chars.next() {
                    fields.last_mut().unwrap().push(n);
                }
            }
            ':' => fields.push(String::new()),
            c => fields.last_mut().unwrap().push(c),
        }
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let m: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |k| m.get(k).cloned()
    }

    #[test]
    fn string_wins_over_environment() {
        let env = env_of(&[("PGHOST", "envhost"), ("PGPORT", "6000"), ("PGUSER", "envuser"), ("PGDATABASE", "envdb")]);
        let c = PgConn::resolve_with("postgres://bob:pw@db.example:5433/shop", &env).unwrap();
        assert_eq!((c.host.as_str(), c.port, c.user.as_str(), c.dbname.as_str()), ("db.example", 5433, "bob", "shop"));
        assert_eq!(c.password(), Some("pw"));
        let c = PgConn::resolve_with("dbname=other", &env).unwrap();
        assert_eq!(
            (c.host.as_str(), c.port, c.user.as_str(), c.dbname.as_str()),
            ("envhost", 6000, "envuser", "other")
        );
        assert!(!format!("{c:?}").contains("pw"));
    }

    #[test]
    fn conninfo_reads_back_as_the_same_settings() {
        let env = env_of(&[]);
        let c = PgConn::resolve_with("host=/tmp/sock port=5499 user='o\\'b' dbname='a b' password='p\\'w\\\\x'", &env)
            .unwrap();
        assert_eq!((c.user.as_str(), c.dbname.as_str(), c.password()), ("o'b", "a b", Some("p'w\\x")));
        let again = PgConn::resolve_with(&c.with_dbname("scratch_1").conninfo(), &env).unwrap();
        assert_eq!(again, c.with_dbname("scratch_1"));
    }

    #[test]
    fn password_file_matches_like_libpq() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pgpass");
        std::fs::write(&file, "# comment\nother:*:*:*:nope\ndb:5432:*:bob:se\\:cret\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        let env = env_of(&[("PGPASSFILE", file.to_str().unwrap())]);
        let c = PgConn::resolve_with("host=db user=bob dbname=shop", &env).unwrap();
        assert_eq!(c.password(), Some("se:cret"));
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let c = PgConn::resolve_with("host=db user=bob dbname=shop", &env).unwrap();
        assert_eq!(c.password(), None, "a world-readable password file is ignored");
    }

    #[test]
    fn tls_modes_are_refused_clearly() {
        let env = env_of(&[("PGSSLMODE", "require")]);
        let err = PgConn::resolve_with("host=db", &env).unwrap_err();
        assert!(format!("{err:#}").contains("require"));
        let none = env_of(&[]);
        for spec in [
            "postgres://u@db/shop?sslmode=verify-full",
            "postgres://u@db/shop?connect_timeout=5&sslmode=verify-ca",
            "host=db sslmode = 'verify-full' dbname=shop",
            "sslmode=require host=db",
        ] {
            let err = PgConn::resolve_with(spec, &none).unwrap_err();
            assert!(format!("{err:#}").contains("needs TLS"), "{spec}: {err:#}");
        }
        let c = PgConn::resolve_with("postgres://u@db/shop?sslmode=allow", &none).unwrap();
        assert_eq!((c.sslmode.as_str(), c.dbname.as_str()), ("allow", "shop"));
        let c = PgConn::resolve_with("host=db dbname=xsslmode sslmode=disable", &none).unwrap();
        assert_eq!((c.sslmode.as_str(), c.dbname.as_str()), ("disable", "xsslmode"));
    }
}

#[cfg(test)]
mod url_tests {
    use super::PgConn;

    #[test]
    fn an_unencoded_at_sign_in_a_password_is_refused_without_echoing_it() {
        for url in ["postgres://bob:hunter@2@127.0.0.1:1/x", "postgres://bob:p@ss/w%40rd@127.0.0.1/x"] {
            let err = PgConn::resolve_with(url, &|_| None).unwrap_err();
            let hint = crate::error::classify(&err).and_then(|f| f.hint.clone()).unwrap_or_default();
            assert!(hint.contains("%40"), "{hint}");
            let e = format!("{err:#}");
            assert!(!e.contains("hunter") && !e.contains("ss/w"), "{e}");
        }
        assert!(PgConn::resolve_with("postgres://bob:p%40ss@127.0.0.1/x", &|_| None).is_ok());
    }
}
