//! A snapshot of environment variables with typed accessors.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use crate::{ConfigError, Result};

/// Environment variables as seen by Paperclip: the process environment, then (without
/// overriding anything already set) the instance's `.env` and the working directory's `.env`.
#[derive(Debug, Clone, Default)]
pub struct Env {
    vars: BTreeMap<String, String>,
}

impl Env {
    /// Snapshot of the current process environment.
    pub fn from_process() -> Self {
        Self {
            vars: std::env::vars().collect(),
        }
    }

    /// An environment made of exactly these pairs (tests, embedding).
    pub fn from_pairs<I, K, V>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        Self {
            vars: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }

    /// Adds the variables of a dotenv file that are not set yet. A missing file is not an error.
    pub fn merge_dotenv(&mut self, path: &Path) -> Result<()> {
        if !path.is_file() {
            return Ok(());
        }
        let iter = dotenvy::from_path_iter(path).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        for item in iter {
            let (k, v) = item.map_err(|e| ConfigError::Parse {
                path: path.to_path_buf(),
                message: e.to_string(),
            })?;
            self.vars.entry(k).or_insert(v);
        }
        Ok(())
    }

    /// The value of `name`, treating an empty or blank value as unset.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars
            .get(name)
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
    }

    /// Sets a variable (tests and callers that build an environment by hand).
    pub fn set(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.vars.insert(name.into(), value.into());
    }

    /// A boolean variable: `true/1/yes/on` or `false/0/no/off`, case-insensitive.
    pub fn bool(&self, name: &'static str) -> Result<Option<bool>> {
        let Some(v) = self.get(name) else {
            return Ok(None);
        };
        match v.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(Some(true)),
            "false" | "0" | "no" | "off" => Ok(Some(false)),
            _ => Err(ConfigError::InvalidEnv {
                var: name,
                expected: "must be \"true\" or \"false\"",
                value: v.to_string(),
            }),
        }
    }

    /// A strictly positive integer variable.
    pub fn positive_u32(&self, name: &'static str) -> Result<Option<u32>> {
        let Some(v) = self.get(name) else {
            return Ok(None);
        };
        match v.parse::<u32>() {
            Ok(n) if n > 0 => Ok(Some(n)),
            _ => Err(ConfigError::InvalidEnv {
                var: name,
                expected: "must be a positive integer",
                value: v.to_string(),
            }),
        }
    }

    /// A strictly positive number of seconds.
    pub fn seconds(&self, name: &'static str) -> Result<Option<Duration>> {
        Ok(self
            .positive_u32(name)?
            .map(|n| Duration::from_secs(u64::from(n))))
    }

    /// A TCP port; `allow_zero` accepts 0 (meaning "any free port").
    pub fn port(&self, name: &'static str, allow_zero: bool) -> Result<Option<u16>> {
        let Some(v) = self.get(name) else {
            return Ok(None);
        };
        match v.parse::<u16>() {
            Ok(0) if !allow_zero => Err(ConfigError::InvalidEnv {
                var: name,
                expected: "must be a port number from 1 to 65535",
                value: v.to_string(),
            }),
            Ok(p) => Ok(Some(p)),
            Err(_) => Err(ConfigError::InvalidEnv {
                var: name,
                expected: if allow_zero {
                    "must be a port number from 0 (any free port) to 65535"
                } else {
                    "must be a port number from 1 to 65535"
                },
                value: v.to_string(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booleans_accept_common_spellings_and_reject_others() {
        let env = Env::from_pairs([("A", "TRUE"), ("B", "0"), ("C", "maybe")]);
        assert_eq!(env.bool("A").unwrap(), Some(true));
        assert_eq!(env.bool("B").unwrap(), Some(false));
        assert_eq!(env.bool("MISSING").unwrap(), None);
        let err = env.bool("C").unwrap_err().to_string();
        assert!(err.contains("C must be") && err.contains("maybe"), "{err}");
    }

    #[test]
    fn positive_integers_reject_zero_negative_and_text() {
        let env = Env::from_pairs([("Z", "0"), ("N", "-3"), ("T", "ten"), ("OK", "12")]);
        assert_eq!(env.positive_u32("OK").unwrap(), Some(12));
        for var in ["Z", "N", "T"] {
            let err = env.positive_u32(var).unwrap_err().to_string();
            assert!(err.starts_with(var), "{err}");
        }
    }

    #[test]
    fn ports_reject_out_of_range_values() {
        let env = Env::from_pairs([("P", "70000"), ("Z", "0")]);
        assert!(env.port("P", true).is_err());
        assert_eq!(env.port("Z", true).unwrap(), Some(0));
        assert!(env.port("Z", false).is_err());
    }
}
