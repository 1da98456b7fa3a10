//! Keeping passwords out of everything lastgood prints, logs or reports.
//!
//! Invariant: any connection string that reaches a message, a report or JSON goes through
//! `connection_string` first; an error from a driver goes through `text`, which removes any known
//! password that the driver echoed.

/// `postgres://u:secret@h/db` → `postgres://u:***@h/db`; `password=secret host=h` →
/// `password=*** host=h`. Paths and other strings pass through unchanged.
pub fn connection_string(s: &str) -> String {
    if let Some(scheme_end) = s.find("://") {
        let rest = &s[scheme_end + 3..];
        // A password may hold an unencoded `/` or `?`: the authority ends at the first `/` or `?`
        // after the last `@` (an `@` further on only makes the redaction wider, never leaky).
        let from = rest.rfind('@').unwrap_or(0);
        let authority_end = rest[from..].find(['/', '?']).map_or(rest.len(), |e| from + e);
        let authority = &rest[..authority_end];
        let redacted = match authority.rfind('@') {
            Some(at) => {
                let userinfo = &authority[..at];
                match userinfo.find(':') {
                    Some(colon) => format!("{}:***{}", &userinfo[..colon], &authority[at..]),
                    None => authority.to_string(),
                }
            }
            None => authority.to_string(),
        };
        let query = redact_query(&rest[authority_end..]);
        return format!("{}://{}{}", &s[..scheme_end], redacted, query);
    }
    redact_keyvalue(s)
}

fn redact_query(tail: &str) -> String {
    let Some(q) = tail.find('?') else { return tail.to_string() };
    let (path, query) = tail.split_at(q + 1);
    let parts: Vec<String> = query
        .split('&')
        .map(|kv| match kv.split_once('=') {
            Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
            _ => kv.to_string(),
        })
        .collect();
    format!("{path}{}", parts.join("&"))
}

fn redact_keyvalue(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(pos) = find_ci(rest, "password") {
        let after = &rest[pos + "password".len()..];
        let trimmed = after.trim_start();
        let boundary_ok = pos == 0 || rest[..pos].ends_with(|c: char| !c.is_alphanumeric() && c != '_');
        if !boundary_ok || !trimmed.starts_with('=') {
            out.push_str(&rest[..pos + "password".len()]);
            rest = after;
            continue;
        }
        out.push_str(&rest[..pos]);
        out.push_str("password=***");
        let value = trimmed[1..].trim_start();
        rest = skip_value(value);
    }
    out.push_str(rest);
    out
}

/// Skips one libpq value: quoted ('…' with \' escapes) or up to the next whitespace.
fn skip_value(v: &str) -> &str {
    if let Some(inner) = v.strip_prefix('\'') {
        let mut escaped = false;
        for (i, c) in inner.char_indices() {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '\'') => return &inner[i + 1..],
                _ => {}
            }
        }
        ""
    } else {
        let end = v.find(char::is_whitespace).unwrap_or(v.len());
        &v[end..]
    }
}

fn find_ci(hay: &str, needle: &str) -> Option<usize> {
    hay.to_ascii_lowercase().find(needle)
}

/// Redacts every connection string found inside free text (an error line, a log line): URLs
/// with a `postgres` scheme and `password=` settings. Each part is redacted once: the `password=`
/// pass runs only on the text between URLs, never again on a URL already redacted.
pub fn in_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = ["postgres://", "postgresql://"].iter().filter_map(|p| rest.find(p)).min() {
        out.push_str(&redact_keyvalue(&rest[..pos]));
        let end = rest[pos..]
            .find(|c: char| c.is_whitespace() || matches!(c, '`' | '"' | '\'' | ',' | ')'))
            .map_or(rest.len(), |e| pos + e);
        out.push_str(&connection_string(&rest[pos..end]));
        rest = &rest[end..];
    }
    out.push_str(&redact_keyvalue(rest));
    out
}

/// Removes every occurrence of each known secret from `text`.
///
/// Secrets shorter than 4 characters are left alone: replacing every `o` in a message would spell
/// the password out by the gaps it leaves, and mangle the message.
pub fn text(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_string();
    for s in secrets.iter().filter(|s| s.chars().count() >= 4) {
        out = out.replace(s, "***");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(connection_string("postgres://bob:s3cr%40t@db:5432/shop"), "postgres://bob:***@db:5432/shop");
        assert_eq!(connection_string("postgresql://bob@db/shop"), "postgresql://bob@db/shop");
        assert_eq!(
            connection_string("postgres://db/shop?user=bob&password=hunter2&sslmode=require"),
            "postgres://db/shop?user=bob&password=***&sslmode=require"
        );
    }

    #[test]
    fn keyvalue() {
        assert_eq!(connection_string("host=db password=hunter2 dbname=shop"), "host=db password=*** dbname=shop");
        assert_eq!(connection_string("host=db password = 'a b\\' c' dbname=shop"), "host=db password=*** dbname=shop");
        assert_eq!(connection_string("/var/db/shop.db"), "/var/db/shop.db");
    }

    #[test]
    fn free_text() {
        assert_eq!(
            in_text("error: cannot reach `postgres://a:pw@h/db`: refused (password=pw)"),
            "error: cannot reach `postgres://a:***@h/db`: refused (password=***"
        );
    }

    /// The URL's query is redacted once; the `password=` pass does not run again on it and eat
    /// the characters after `***`.
    #[test]
    fn a_password_in_a_url_query_inside_text_keeps_the_text_around_it() {
        assert_eq!(
            in_text("error: cannot reach `postgres://h/db?password=x`: refused"),
            "error: cannot reach `postgres://h/db?password=***`: refused"
        );
        assert_eq!(
            in_text("(postgres://h/db?sslmode=require&password=x), then password=y here"),
            "(postgres://h/db?sslmode=require&password=***), then password=*** here"
        );
    }

    #[test]
    fn a_password_with_an_unencoded_slash_or_question_mark_is_redacted() {
        assert_eq!(connection_string("postgres://bob:pa/ss@db:5432/shop"), "postgres://bob:***@db:5432/shop");
        assert_eq!(connection_string("postgres://bob:a?b/c@db/shop?x=1"), "postgres://bob:***@db/shop?x=1");
        assert_eq!(
            in_text("error: `postgres://bob:pa/ss@db/shop`: refused"),
            "error: `postgres://bob:***@db/shop`: refused"
        );
        assert!(!connection_string("postgres://bob:s3/cr3t@db/shop?user=a@b").contains("s3"));
    }
}
