//! Where an instance lives on disk (`~/.paperclip/instances/<id>/`).

use std::path::{Path, PathBuf};

use crate::{ConfigError, Env, Result};

/// The folders of one Paperclip instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstancePaths {
    /// `PAPERCLIP_HOME`, default `~/.paperclip`.
    pub home: PathBuf,
    /// `PAPERCLIP_INSTANCE_ID`, default `default`.
    pub instance_id: String,
    /// `<home>/instances/<id>`.
    pub root: PathBuf,
}

impl InstancePaths {
    /// Resolves the instance from `PAPERCLIP_HOME` and `PAPERCLIP_INSTANCE_ID`.
    pub fn resolve(env: &Env) -> Result<Self> {
        let home = match env.get("PAPERCLIP_HOME") {
            Some(h) => expand_tilde(h, env)?,
            None => home_dir(env)?.join(".paperclip"),
        };
        let instance_id = env.get("PAPERCLIP_INSTANCE_ID").unwrap_or("default");
        let valid = !instance_id.is_empty()
            && instance_id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !valid {
            return Err(ConfigError::InvalidEnv {
                var: "PAPERCLIP_INSTANCE_ID",
                expected: "must contain only letters, digits, '_' and '-'",
                value: instance_id.to_string(),
            });
        }
        let home = absolute(&home);
        let root = home.join("instances").join(instance_id);
        Ok(Self {
            home,
            instance_id: instance_id.to_string(),
            root,
        })
    }

    /// PostgreSQL builds `paperclipai postgres install` fetched, shared by the home's instances.
    pub fn postgres_dir(&self) -> PathBuf {
        self.home.join("postgres")
    }

    /// Default embedded PostgreSQL data directory.
    pub fn db_dir(&self) -> PathBuf {
        self.root.join("db")
    }

    /// Server and PostgreSQL logs.
    pub fn logs_dir(&self) -> PathBuf {
        self.root.join("logs")
    }

    /// Secrets (master key, embedded database credentials).
    pub fn secrets_dir(&self) -> PathBuf {
        self.root.join("secrets")
    }

    /// The lock file that makes one process the owner of the instance.
    pub fn lock_file(&self) -> PathBuf {
        self.root.join("instance.lock")
    }

    /// Plugin workers' data folders, one per plugin (the only files a worker may write).
    pub fn plugin_data_dir(&self) -> PathBuf {
        self.root.join("data").join("plugins")
    }

    /// Heartbeat run logs (`<company>/<agent>/<run>.ndjson`, upstream's `local_file` store).
    pub fn run_logs_dir(&self) -> PathBuf {
        self.root.join("data").join("run-logs")
    }

    /// Default `local_disk` storage folder (attachments).
    pub fn storage_dir(&self) -> PathBuf {
        self.root.join("data").join("storage")
    }

    /// Default backup folder.
    pub fn backups_dir(&self) -> PathBuf {
        self.root.join("data").join("backups")
    }
}

fn home_dir(env: &Env) -> Result<PathBuf> {
    env.get("HOME")
        .map(PathBuf::from)
        .ok_or(ConfigError::NoHome)
}

/// Expands a leading `~` or `~/` as upstream does for `PAPERCLIP_HOME` and config paths.
pub(crate) fn expand_tilde(value: &str, env: &Env) -> Result<PathBuf> {
    if value == "~" {
        return home_dir(env);
    }
    if let Some(rest) = value.strip_prefix("~/") {
        return Ok(home_dir(env)?.join(rest));
    }
    Ok(PathBuf::from(value))
}

/// Makes a path absolute against the working directory without touching the filesystem.
pub(crate) fn absolute(path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().map_or_else(|_| path.to_path_buf(), |cwd| cwd.join(path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_to_home_dot_paperclip_default_instance() {
        let env = Env::from_pairs([("HOME", "/home/u")]);
        let p = InstancePaths::resolve(&env).unwrap();
        assert_eq!(
            p.root,
            PathBuf::from("/home/u/.paperclip/instances/default")
        );
        assert_eq!(p.db_dir(), p.root.join("db"));
    }

    #[test]
    fn paperclip_home_and_instance_id_override_with_tilde_expansion() {
        let env = Env::from_pairs([
            ("HOME", "/home/u"),
            ("PAPERCLIP_HOME", "~/pc"),
            ("PAPERCLIP_INSTANCE_ID", "work_2"),
        ]);
        let p = InstancePaths::resolve(&env).unwrap();
        assert_eq!(p.root, PathBuf::from("/home/u/pc/instances/work_2"));
    }

    #[test]
    fn an_instance_id_with_a_slash_is_refused_by_name() {
        let env = Env::from_pairs([("HOME", "/h"), ("PAPERCLIP_INSTANCE_ID", "../x")]);
        let err = InstancePaths::resolve(&env).unwrap_err().to_string();
        assert!(err.contains("PAPERCLIP_INSTANCE_ID"), "{err}");
    }
}
