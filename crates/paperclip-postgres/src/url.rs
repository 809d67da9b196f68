//! Connection URL helpers.

/// The URL with its password replaced by `***`, for logs and status output.
pub fn redact(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut u) => {
            if u.password().is_some() {
                let _ = u.set_password(Some("***"));
            }
            u.to_string()
        }
        Err(_) => "<unparseable URL>".to_string(),
    }
}

/// Replaces the database name in a URL (`…/paperclip` → `…/postgres`).
pub fn with_database(raw: &str, db: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut u) => {
            u.set_path(&format!("/{db}"));
            u.to_string()
        }
        Err(_) => raw.to_string(),
    }
}

/// Quotes an identifier for SQL text.
pub fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_survive_redaction() {
        let r = redact("postgres://user:s3cret@db.example:6543/app?sslmode=require");
        assert!(!r.contains("s3cret"));
        assert!(r.contains("user:***@db.example:6543/app"));
        assert_eq!(redact("not a url"), "<unparseable URL>");
    }

    #[test]
    fn database_name_is_replaced() {
        assert_eq!(
            with_database("postgres://u:p@h:1/paperclip", "postgres"),
            "postgres://u:p@h:1/postgres"
        );
    }
}
