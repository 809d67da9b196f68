//! Reading an `adapterConfig` field by field, each problem naming its field.

use serde_json::{Map, Value};

/// A field of an `adapterConfig` that is missing or wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// `adapterConfig.<name>`.
    pub field: String,
    pub message: String,
}

impl ConfigProblem {
    pub fn new(name: &str, message: impl Into<String>) -> Self {
        Self {
            field: format!("adapterConfig.{name}"),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// The fields of an `adapterConfig` object.
pub struct Fields<'a>(pub &'a Map<String, Value>);

impl<'a> Fields<'a> {
    /// The config as an object.
    pub fn of(config: &'a Value) -> Result<Self, ConfigProblem> {
        config.as_object().map(Fields).ok_or_else(|| ConfigProblem {
            field: "adapterConfig".into(),
            message: "adapterConfig must be an object".into(),
        })
    }

    fn present(&self, name: &str) -> Option<&'a Value> {
        self.0.get(name).filter(|v| !v.is_null())
    }

    /// A string of at most `max` characters (non-empty when present).
    pub fn string(&self, name: &str, max: usize) -> Result<Option<&'a str>, ConfigProblem> {
        match self.present(name) {
            None => Ok(None),
            Some(Value::String(s)) if !s.trim().is_empty() && s.chars().count() <= max => {
                Ok(Some(s))
            }
            Some(_) => Err(ConfigProblem::new(
                name,
                format!("{name} must be a non-empty string of at most {max} characters"),
            )),
        }
    }

    /// A required string.
    pub fn required(&self, name: &str, max: usize, why: &str) -> Result<&'a str, ConfigProblem> {
        self.string(name, max)?
            .ok_or_else(|| ConfigProblem::new(name, format!("{name} is required ({why})")))
    }

    /// An array of strings.
    pub fn strings(&self, name: &str) -> Result<Vec<String>, ConfigProblem> {
        match self.present(name) {
            None => Ok(Vec::new()),
            Some(Value::Array(a)) if a.len() <= 1000 => a
                .iter()
                .map(|v| v.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| {
                    ConfigProblem::new(name, format!("{name} must be an array of strings"))
                }),
            Some(_) => Err(ConfigProblem::new(
                name,
                format!("{name} must be an array of at most 1000 strings"),
            )),
        }
    }

    /// A whole number of seconds in `0..=max`.
    pub fn seconds(&self, name: &str, max: u64) -> Result<Option<u64>, ConfigProblem> {
        match self.present(name) {
            None => Ok(None),
            Some(v) => match v.as_u64() {
                Some(n) if n <= max => Ok(Some(n)),
                _ => Err(ConfigProblem::new(
                    name,
                    format!("{name} must be a whole number of seconds from 0 to {max}"),
                )),
            },
        }
    }

    /// An object whose values are strings.
    pub fn string_map(&self, name: &str) -> Result<Vec<(String, String)>, ConfigProblem> {
        match self.present(name) {
            None => Ok(Vec::new()),
            Some(Value::Object(o)) => o
                .iter()
                .map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| {
                    ConfigProblem::new(name, format!("{name} must be an object of string values"))
                }),
            Some(_) => Err(ConfigProblem::new(
                name,
                format!("{name} must be an object"),
            )),
        }
    }

    /// An object, as given.
    pub fn object(&self, name: &str) -> Result<Option<&'a Value>, ConfigProblem> {
        match self.present(name) {
            None => Ok(None),
            Some(v) if v.is_object() => Ok(Some(v)),
            Some(_) => Err(ConfigProblem::new(
                name,
                format!("{name} must be an object"),
            )),
        }
    }
}
