//! `paperclip-plugin.json`.

use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

/// A plugin's manifest (the parts this build uses; unknown keys are kept in `extra`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub id: String,
    pub version: String,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub capabilities: Vec<String>,
    #[serde(default)]
    pub database: Option<Database>,
    #[serde(default)]
    pub api_routes: Vec<serde_json::Value>,
    #[serde(default)]
    pub worker: Option<serde_json::Value>,
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// The `database` block.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Database {
    #[serde(default)]
    pub namespace_slug: Option<String>,
    pub migrations_dir: String,
    #[serde(default)]
    pub core_read_tables: Vec<String>,
}

/// Why a manifest was refused.
#[derive(Debug, thiserror::Error)]
#[error("invalid plugin manifest {path}: {message}")]
pub struct ManifestError {
    pub path: PathBuf,
    pub message: String,
}

/// The manifest file name inside a plugin folder.
pub const FILE: &str = "paperclip-plugin.json";

impl Manifest {
    /// Reads and validates `<dir>/paperclip-plugin.json`.
    pub fn load(dir: &Path) -> Result<Self, ManifestError> {
        let path = dir.join(FILE);
        let err = |message: String| ManifestError {
            path: path.clone(),
            message,
        };
        let text = std::fs::read_to_string(&path).map_err(|e| err(e.to_string()))?;
        let m: Manifest = serde_json::from_str(&text).map_err(|e| err(e.to_string()))?;
        m.validate().map_err(err)?;
        Ok(m)
    }

    /// Upstream's rules for ids, the database block and its capabilities.
    pub fn validate(&self) -> Result<(), String> {
        // The id names folders (the plugin's data folder): it starts with a letter or digit, so
        // it is never `.` or `..`.
        let id_ok = self.id.starts_with(|c: char| c.is_ascii_alphanumeric())
            && self.id.len() <= 200
            && self
                .id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
        if !id_ok {
            return Err(format!(
                "id {:?} must be 1-200 characters of letters, digits, '.', '_' or '-', starting with a letter or digit",
                self.id
            ));
        }
        if self.version.trim().is_empty() {
            return Err("version is required".into());
        }
        if let Some(db) = &self.database {
            for cap in ["database.namespace.migrate", "database.namespace.read"] {
                if !self.has(cap) {
                    return Err(format!("a database block requires the {cap} capability"));
                }
            }
            if let Some(slug) = &db.namespace_slug {
                let ok = slug.len() <= 40
                    && slug
                        .chars()
                        .next()
                        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
                    && slug
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
                if !ok {
                    return Err("database.namespaceSlug must match ^[a-z0-9][a-z0-9_]*$ (at most 40 characters)".into());
                }
            }
            let p = Path::new(&db.migrations_dir);
            if db.migrations_dir.contains('\\')
                || p.is_absolute()
                || p.components().any(|c| matches!(c, Component::ParentDir))
            {
                return Err(
                    "database.migrationsDir must be a relative path inside the plugin folder"
                        .into(),
                );
            }
            let mut seen = std::collections::HashSet::new();
            for t in &db.core_read_tables {
                if !crate::CORE_READ_TABLES.contains(&t.as_str()) {
                    return Err(format!(
                        "database.coreReadTables: {t} is not a readable core table"
                    ));
                }
                if !seen.insert(t) {
                    return Err(format!("database.coreReadTables: {t} is listed twice"));
                }
            }
        }
        Ok(())
    }

    /// Whether the manifest declares a capability.
    pub fn has(&self, capability: &str) -> bool {
        self.capabilities.iter().any(|c| c == capability)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(json: serde_json::Value) -> Result<(), String> {
        serde_json::from_value::<Manifest>(json).unwrap().validate()
    }

    #[test]
    fn database_blocks_need_their_capabilities_and_safe_paths() {
        let caps = serde_json::json!(["database.namespace.migrate", "database.namespace.read"]);
        assert!(m(serde_json::json!({"id": "a.b", "version": "1", "capabilities": caps, "database": {"migrationsDir": "migrations", "coreReadTables": ["issues"]}})).is_ok());
        assert!(m(
            serde_json::json!({"id": "a.b", "version": "1", "database": {"migrationsDir": "m"}})
        )
        .unwrap_err()
        .contains("capability"));
        assert!(m(serde_json::json!({"id": "a.b", "version": "1", "capabilities": caps, "database": {"migrationsDir": "../x"}})).is_err());
        assert!(m(serde_json::json!({"id": "a.b", "version": "1", "capabilities": caps, "database": {"migrationsDir": "m", "coreReadTables": ["company_secrets"]}})).unwrap_err().contains("company_secrets"));
        assert!(m(serde_json::json!({"id": "a b", "version": "1"})).is_err());
    }
}
