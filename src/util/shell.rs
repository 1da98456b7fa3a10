//! Quoting for the shell commands lastgood prints (undo commands, the demo's walkthrough), so
//! that a path with spaces or quotes can be pasted as it is shown.

/// Quotes a word for a POSIX shell when it needs it.
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "/._-+:=@,".contains(c)) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_quoted_when_needed() {
        assert_eq!(shell_quote("/a/b.db"), "/a/b.db");
        assert_eq!(shell_quote("/a b/it's.db"), "'/a b/it'\\''s.db'");
        assert_eq!(shell_quote(""), "''");
    }
}
