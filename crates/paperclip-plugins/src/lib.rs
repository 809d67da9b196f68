//! Plugins: what a plugin declares, and the names and rules of its database namespace.
//!
//! A plugin is a folder with a `paperclip-plugin.json` manifest. If it declares a `database`
//! block it gets its own PostgreSQL schema (`plugin_<slug>_<hash10>`) and its own login role
//! (`pc_plugin_<hash10>`) that owns that schema and may only read the core tables the manifest
//! whitelists. Isolation is enforced by PostgreSQL privileges (see `paperclip_store::plugins`);
//! [`sql`] keeps upstream's statement checks as a second wall.

pub mod manifest;
pub mod sql;

pub use manifest::{Manifest, ManifestError};

use sha2::{Digest, Sha256};

/// Core tables a plugin may be granted read access to (upstream's whitelist, as far as this
/// build has them).
pub const CORE_READ_TABLES: &[&str] = &[
    "companies",
    "projects",
    "goals",
    "agents",
    "issues",
    "issue_documents",
    "issue_comments",
    "cost_events",
    "approvals",
    "issue_approvals",
];

fn hash10(plugin_key: &str) -> String {
    hex::encode(Sha256::digest(plugin_key.as_bytes()))[..10].to_string()
}

/// Upstream's schema name: `plugin_<slug>_<first 10 hex of sha256(key)>`, at most 63 characters.
pub fn namespace_name(plugin_key: &str, slug: Option<&str>) -> String {
    let raw = slug.unwrap_or(plugin_key).to_lowercase();
    let mut s = String::new();
    for c in raw.chars() {
        if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' {
            s.push(c);
        } else if !s.ends_with('_') {
            s.push('_');
        }
    }
    while s.contains("__") {
        s = s.replace("__", "_");
    }
    let mut s: String = s.trim_matches('_').chars().take(36).collect();
    s = s.trim_end_matches('_').to_string();
    if s.is_empty() {
        s = "plugin".into();
    }
    let name = format!("plugin_{s}_{}", hash10(plugin_key));
    name.chars().take(63).collect()
}

/// The PostgreSQL role a plugin's SQL runs as.
pub fn role_name(plugin_key: &str) -> String {
    format!("pc_plugin_{}", hash10(plugin_key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_names_follow_upstream() {
        let n = namespace_name(
            "paperclipai.plugin-orchestration-smoke-example",
            Some("orchestration_smoke"),
        );
        assert!(
            n.starts_with("plugin_orchestration_smoke_")
                && n.len() == "plugin_orchestration_smoke_".len() + 10,
            "{n}"
        );
        assert!(namespace_name("Weird Key!!", None).starts_with("plugin_weird_key_"));
        assert!(namespace_name("x".repeat(100).as_str(), None).len() <= 63);
        assert_eq!(role_name("k"), role_name("k"));
        assert_ne!(role_name("a"), role_name("b"));
    }
}
