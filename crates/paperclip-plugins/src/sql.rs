//! Upstream's statement checks, kept as a second wall behind PostgreSQL's own privileges.
//!
//! These checks read SQL text, which can never be complete (upstream's let an unqualified table
//! name through); the real boundary is the plugin's role. They exist to give a plugin author a
//! clear message early, and to refuse obviously hostile statements before they reach the server.

/// SQL with string literals, quoted identifiers and comments blanked out, lowercased.
pub fn normalize(sql: &str) -> String {
    let b = sql.as_bytes();
    let mut out = String::with_capacity(sql.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\'' => {
                i += 1;
                while i < b.len() && !(b[i] == b'\'' && b.get(i + 1) != Some(&b'\'')) {
                    i += if b[i] == b'\'' { 2 } else { 1 };
                }
                out.push_str(" '' ");
            }
            b'-' if b.get(i + 1) == Some(&b'-') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
                out.push(' ');
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i + 1 < b.len() && !(b[i] == b'*' && b[i + 1] == b'/') {
                    i += 1;
                }
                i += 1;
                out.push(' ');
            }
            c => out.push((c as char).to_ascii_lowercase()),
        }
        i += 1;
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

const BANNED: &[&str] = &[
    "create extension",
    "create trigger",
    "create event trigger",
    "create function",
    "create or replace function",
    "create procedure",
    "create language",
    "grant ",
    "revoke ",
    "security definer",
    "copy ",
    "call ",
    "do $",
    "do language",
    "set role",
    "reset role",
    "set session",
    "set_config",
    "alter role",
    "alter system",
    "create role",
    "alter default privileges",
    "dblink",
    "lo_import",
    "lo_export",
    "pg_read_file",
    "pg_ls_dir",
];

/// Refuses statements upstream bans everywhere (plus role and configuration changes).
pub fn check_banned(sql: &str) -> Result<(), String> {
    let n = normalize(sql);
    for b in BANNED {
        if n.contains(b) {
            return Err(format!(
                "Plugin SQL contains a disallowed statement or clause: {}",
                b.trim()
            ));
        }
    }
    Ok(())
}

/// A migration file: DDL and namespace-local backfills only, nothing destructive.
pub fn check_migration(sql: &str) -> Result<(), String> {
    check_banned(sql)?;
    for stmt in normalize(sql)
        .split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        if stmt.starts_with("drop ") || stmt.starts_with("truncate ") {
            return Err("Destructive plugin migrations are not allowed".into());
        }
        if stmt.starts_with("delete ") {
            return Err("Plugin migrations cannot delete data".into());
        }
        let allowed = [
            "create ",
            "alter ",
            "comment ",
            "insert into ",
            "update ",
            "with ",
        ];
        if !allowed.iter().any(|a| stmt.starts_with(a)) {
            return Err(format!("Plugin migrations may contain DDL or namespace-scoped backfill statements only: {}", stmt.chars().take(60).collect::<String>()));
        }
    }
    Ok(())
}

/// `db.query`: one SELECT (or WITH … SELECT).
pub fn check_query(sql: &str) -> Result<(), String> {
    check_banned(sql)?;
    let n = normalize(sql);
    let n = n.trim().trim_end_matches(';').trim();
    if n.contains(';') {
        return Err("Plugin runtime SQL must contain exactly one statement".into());
    }
    if !(n.starts_with("select ") || n.starts_with("with ")) {
        return Err("db.query only allows SELECT statements".into());
    }
    Ok(())
}

/// `db.execute`: one INSERT, UPDATE or DELETE.
pub fn check_execute(sql: &str) -> Result<(), String> {
    check_banned(sql)?;
    let n = normalize(sql);
    let n = n.trim().trim_end_matches(';').trim();
    if n.contains(';') {
        return Err("Plugin runtime SQL must contain exactly one statement".into());
    }
    if !(n.starts_with("insert into ") || n.starts_with("update ") || n.starts_with("delete from "))
    {
        return Err("db.execute only allows INSERT, UPDATE or DELETE".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_and_comments_do_not_trigger_or_hide_checks() {
        assert!(check_query("SELECT 'grant all' AS x -- revoke\n").is_ok());
        assert!(check_query("SELECT 1; SELECT 2").is_err());
        assert!(check_query("/* hi */ SET ROLE postgres").is_err());
        assert!(check_execute("DELETE FROM t WHERE a = 'x;y'").is_ok());
        assert!(check_migration("CREATE TABLE s.t (id int); DROP TABLE s.t").is_err());
        assert!(check_migration("CREATE TABLE s.t (id int); INSERT INTO s.t VALUES (1)").is_ok());
        assert!(check_banned("select set_config('role', 'x', false)").is_err());
    }
}
