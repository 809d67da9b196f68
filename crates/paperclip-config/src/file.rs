//! The instance's `config.json`: read as JSON, written back with unknown keys preserved.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::{ConfigError, Result};

/// A `config.json` document. Keys we do not know are kept as they are, so a file written by
/// upstream's CLI round-trips through ours.
#[derive(Debug, Clone)]
pub struct ConfigFile {
    path: PathBuf,
    root: Map<String, Value>,
    existed: bool,
}

impl ConfigFile {
    /// Reads the file at `path`; a missing file is an empty configuration.
    pub fn load(path: &Path) -> Result<Self> {
        let text = match fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Self {
                    path: path.to_path_buf(),
                    root: Map::new(),
                    existed: false,
                })
            }
            Err(source) => {
                return Err(ConfigError::Io {
                    action: "cannot read config",
                    path: path.to_path_buf(),
                    source,
                })
            }
        };
        let value: Value = serde_json::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        let Value::Object(root) = value else {
            return Err(ConfigError::Parse {
                path: path.to_path_buf(),
                message: "the top level must be a JSON object".into(),
            });
        };
        Ok(Self {
            path: path.to_path_buf(),
            root,
            existed: true,
        })
    }

    /// Where this file lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the file existed when it was loaded.
    pub fn existed(&self) -> bool {
        self.existed
    }

    /// The value at a dotted key such as `database.mode`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        let mut parts = key.split('.');
        let mut cur = self.root.get(parts.next()?)?;
        for part in parts {
            cur = cur.as_object()?.get(part)?;
        }
        (!cur.is_null()).then_some(cur)
    }

    /// A string at `key`; any other JSON type is an error naming the key.
    pub fn string(&self, key: &str) -> Result<Option<String>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(self.invalid(key, "must be a string")),
        }
    }

    /// A list of strings at `key`.
    pub fn strings(&self, key: &str) -> Result<Option<Vec<String>>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| v.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()
                .map(Some)
                .ok_or_else(|| self.invalid(key, "must be a list of strings")),
            Some(_) => Err(self.invalid(key, "must be a list of strings")),
        }
    }

    /// A boolean at `key`.
    pub fn boolean(&self, key: &str) -> Result<Option<bool>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(self.invalid(key, "must be true or false")),
        }
    }

    /// An integer at `key` within `min..=max`.
    pub fn integer(&self, key: &str, min: i64, max: i64) -> Result<Option<i64>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => match v.as_i64() {
                Some(n) if (min..=max).contains(&n) => Ok(Some(n)),
                _ => Err(self.invalid(key, &format!("must be an integer from {min} to {max}"))),
            },
        }
    }

    /// The error for a bad value at `key`.
    pub fn invalid(&self, key: &str, message: &str) -> ConfigError {
        ConfigError::InvalidKey {
            path: self.path.clone(),
            key: key.to_string(),
            message: message.to_string(),
        }
    }

    /// Sets the value at a dotted key, creating objects on the way.
    pub fn set(&mut self, key: &str, value: Value) {
        let parts: Vec<&str> = key.split('.').collect();
        let (last, parents) = parts.split_last().expect("key is not empty");
        let mut cur = &mut self.root;
        for part in parents {
            let entry = cur
                .entry(part.to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            if !entry.is_object() {
                *entry = Value::Object(Map::new());
            }
            cur = entry.as_object_mut().expect("just made an object");
        }
        cur.insert(last.to_string(), value);
    }

    /// Writes the file atomically (temporary file, fsync, rename), mode 0600 because it may hold
    /// a connection string with a password.
    pub fn save(&mut self, source: &str) -> Result<()> {
        self.set("$meta.version", Value::from(1));
        self.set(
            "$meta.updatedAt",
            Value::from(chrono::Utc::now().to_rfc3339()),
        );
        self.set("$meta.source", Value::from(source));
        let io = |action, source| ConfigError::Io {
            action,
            path: self.path.clone(),
            source,
        };
        let dir = self.path.parent().unwrap_or(Path::new("."));
        fs::create_dir_all(dir).map_err(|e| io("cannot create the folder of", e))?;
        // One temporary file per process: two first starts of one instance may both write the
        // initial config; each rename is atomic, and the instance lock then picks the owner.
        let tmp = self
            .path
            .with_extension(format!("json.tmp.{}", std::process::id()));
        let text = serde_json::to_string_pretty(&Value::Object(self.root.clone()))
            .expect("a JSON map always serializes");
        let write = || -> std::io::Result<()> {
            use std::os::unix::fs::OpenOptionsExt;
            let mut f = fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)?;
            f.write_all(text.as_bytes())?;
            f.write_all(b"\n")?;
            f.sync_all()?;
            fs::rename(&tmp, &self.path)
        };
        write().map_err(|e| io("cannot write config", e))?;
        self.existed = true;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_survive_a_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        fs::write(
            &path,
            r#"{"llm":{"provider":"claude"},"database":{"mode":"embedded-postgres"}}"#,
        )
        .unwrap();
        let mut cfg = ConfigFile::load(&path).unwrap();
        cfg.set("database.embeddedPostgresPort", Value::from(55000));
        cfg.save("test").unwrap();
        let again = ConfigFile::load(&path).unwrap();
        assert_eq!(
            again.string("llm.provider").unwrap().as_deref(),
            Some("claude")
        );
        assert_eq!(
            again
                .integer("database.embeddedPostgresPort", 1, 65535)
                .unwrap(),
            Some(55000)
        );
    }

    #[test]
    fn wrong_types_name_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        fs::write(&path, r#"{"server":{"port":"abc"}}"#).unwrap();
        let cfg = ConfigFile::load(&path).unwrap();
        let err = cfg
            .integer("server.port", 0, 65535)
            .unwrap_err()
            .to_string();
        assert!(err.contains("server.port"), "{err}");
    }

    #[test]
    fn invalid_json_is_reported_with_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        fs::write(&path, "{ nope").unwrap();
        let err = ConfigFile::load(&path).unwrap_err().to_string();
        assert!(err.contains("config.json"), "{err}");
    }
}
