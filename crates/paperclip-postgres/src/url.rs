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

/// The URL as libpq environment variables (`PGHOST`, `PGPORT`, `PGUSER`, `PGPASSWORD`,
/// `PGDATABASE`, `PGSSLMODE`…), for client tools: a password passed this way never shows in
/// the process list, as it would in an argument.
pub fn libpq_env(raw: &str) -> Result<Vec<(&'static str, String)>, String> {
    let u = url::Url::parse(raw).map_err(|e| format!("not a URL: {e}"))?;
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8_lossy()
            .into_owned()
    };
    let mut env = vec![("PGHOST", u.host_str().unwrap_or("localhost").to_string())];
    if let Some(p) = u.port() {
        env.push(("PGPORT", p.to_string()));
    }
    if !u.username().is_empty() {
        env.push(("PGUSER", decode(u.username())));
    }
    if let Some(p) = u.password() {
        env.push(("PGPASSWORD", decode(p)));
    }
    let db = u.path().trim_start_matches('/');
    if !db.is_empty() {
        env.push(("PGDATABASE", decode(db)));
    }
    for (k, v) in u.query_pairs() {
        let var = match k.as_ref() {
            "sslmode" => "PGSSLMODE",
            "sslrootcert" => "PGSSLROOTCERT",
            "application_name" => "PGAPPNAME",
            "options" => "PGOPTIONS",
            _ => continue,
        };
        env.push((var, v.into_owned()));
    }
    Ok(env)
}

/// Quotes an identifier for SQL text.
pub fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_becomes_libpq_variables() {
        let env = libpq_env(
            "postgres://us%40er:p%2Fss@db.example:6543/app?sslmode=require&pgbouncer=true",
        )
        .unwrap();
        let get = |k| env.iter().find(|(n, _)| *n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("PGHOST"), Some("db.example"));
        assert_eq!(get("PGPORT"), Some("6543"));
        assert_eq!(get("PGUSER"), Some("us@er"));
        assert_eq!(get("PGPASSWORD"), Some("p/ss"));
        assert_eq!(get("PGDATABASE"), Some("app"));
        assert_eq!(get("PGSSLMODE"), Some("require"));
        assert_eq!(env.len(), 6, "pgbouncer=true is not a libpq setting");
    }

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
