//! Env bindings of agents and projects: plain values and secret references.
//!
//! Accepted per key: a legacy plain string, `{"type":"plain","value"}`, or
//! `{"type":"secret_ref","secretId","version":"latest"|n}`. Plain strings are normalized to the
//! typed form on write, as upstream does.

use serde_json::{json, Map, Value};

/// What reads show instead of a sensitive plain value; refused on write so a read-modify-write
/// round trip can never overwrite a credential with the placeholder.
pub const REDACTED: &str = "***REDACTED***";

/// Upstream's sensitive-name pattern, plus any key containing `token` (upstream misses
/// `GITHUB_TOKEN`, `SLACK_BOT_TOKEN`, …).
pub fn is_sensitive(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    let sep = |s: &str| [s.replace('_', ""), s.to_string(), s.replace('_', "-")];
    let any = |pats: &[&str]| {
        pats.iter()
            .any(|p| sep(p).iter().any(|v| k.contains(v.as_str())))
    };
    any(&["api_key", "access_token", "private_key"])
        || [
            "auth",
            "bearer",
            "secret",
            "passwd",
            "password",
            "credential",
            "jwt",
            "cookie",
            "connectionstring",
            "token",
        ]
        .iter()
        .any(|p| k.contains(p))
}

/// A secret reference found in an env map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretRef {
    pub key: String,
    pub secret_id: String,
    /// `None` = latest.
    pub version: Option<i32>,
}

/// The result of validating an env map.
#[derive(Debug, Default)]
pub struct Checked {
    /// The normalized map to store.
    pub env: Map<String, Value>,
    /// References to check against the company's secrets.
    pub refs: Vec<SecretRef>,
    /// Keys holding non-empty plain values of sensitive names (refused in strict mode).
    pub sensitive_plain: Vec<String>,
}

fn valid_name(k: &str) -> bool {
    let mut chars = k.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Validates and normalizes an env map. Errors name the key and never echo a value.
pub fn check(env: &Value) -> Result<Checked, String> {
    let Some(map) = env.as_object() else {
        return Err("env must be an object of NAME: value".into());
    };
    let mut out = Checked::default();
    for (k, v) in map {
        if !valid_name(k) {
            return Err(format!("Invalid environment variable name: {k}"));
        }
        let plain = match v {
            Value::String(s) => Some(s.as_str()),
            Value::Object(o) => match o.get("type").and_then(Value::as_str) {
                Some("plain") => Some(
                    o.get("value")
                        .and_then(Value::as_str)
                        .ok_or_else(|| format!("env.{k}: a plain binding needs a string value"))?,
                ),
                Some("secret_ref") => {
                    let id = o
                        .get("secretId")
                        .and_then(Value::as_str)
                        .ok_or_else(|| format!("env.{k}: secret_ref needs secretId"))?;
                    let version = match o.get("version") {
                        None | Some(Value::Null) => None,
                        Some(Value::String(s)) if s == "latest" => None,
                        Some(Value::Number(n)) => match n.as_i64() {
                            Some(n) if (1..=i64::from(i32::MAX)).contains(&n) => Some(n as i32),
                            _ => {
                                return Err(format!(
                                    "env.{k}: version must be \"latest\" or a positive integer"
                                ))
                            }
                        },
                        _ => {
                            return Err(format!(
                                "env.{k}: version must be \"latest\" or a positive integer"
                            ))
                        }
                    };
                    out.refs.push(SecretRef {
                        key: k.clone(),
                        secret_id: id.to_string(),
                        version,
                    });
                    out.env.insert(k.clone(), json!({"type": "secret_ref", "secretId": id, "version": version.map_or_else(|| json!("latest"), Value::from)}));
                    None
                }
                _ => return Err(format!("env.{k}: type must be \"plain\" or \"secret_ref\"")),
            },
            _ => {
                return Err(format!(
                    "env.{k}: value must be a string or a binding object"
                ))
            }
        };
        if let Some(p) = plain {
            if p == REDACTED {
                return Err(format!(
                    "Refusing to persist redacted placeholder for key: {k}"
                ));
            }
            if !p.is_empty() && is_sensitive(k) {
                out.sensitive_plain.push(k.clone());
            }
            out.env
                .insert(k.clone(), json!({"type": "plain", "value": p}));
        }
    }
    Ok(out)
}

/// The env map as reads show it: references as they are, sensitive plain values redacted.
pub fn redact(env: &Value) -> Value {
    let Some(map) = env.as_object() else {
        return env.clone();
    };
    let out: Map<String, Value> = map
        .iter()
        .map(|(k, v)| {
            let sensitive_plain = is_sensitive(k)
                && (v.is_string() || v.get("type").and_then(Value::as_str) == Some("plain"));
            if sensitive_plain {
                (k.clone(), json!({"type": "plain", "value": REDACTED}))
            } else {
                (k.clone(), v.clone())
            }
        })
        .collect();
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sensitive_names_include_upstreams_and_tokens() {
        for k in [
            "OPENAI_API_KEY",
            "apiKey",
            "GITHUB_TOKEN",
            "SLACK_BOT_TOKEN",
            "DB_PASSWORD",
            "AUTHORIZATION",
            "PRIVATE-KEY",
            "DATABASE_CONNECTIONSTRING",
            "client_secret",
        ] {
            assert!(is_sensitive(k), "{k}");
        }
        for k in ["PATH", "HOME", "LOG_LEVEL", "MODEL"] {
            assert!(!is_sensitive(k), "{k}");
        }
    }

    #[test]
    fn bindings_are_normalized_and_checked() {
        let c = check(&json!({"A": "x", "GITHUB_TOKEN": "ghp_1", "K": {"type": "secret_ref", "secretId": "s1"}, "EMPTY_TOKEN": ""})).unwrap();
        assert_eq!(c.env["A"], json!({"type": "plain", "value": "x"}));
        assert_eq!(c.env["K"]["version"], "latest");
        assert_eq!(c.sensitive_plain, vec!["GITHUB_TOKEN".to_string()]);
        assert_eq!(c.refs.len(), 1);
        assert!(check(&json!({"1BAD": "x"})).unwrap_err().contains("1BAD"));
        let err = check(&json!({"API_KEY": REDACTED})).unwrap_err();
        assert!(err.contains("redacted placeholder"));
        let err = check(&json!({"X": {"type": "secret_ref", "secretId": "s", "version": 0}}))
            .unwrap_err();
        assert!(err.contains("version"));
    }

    #[test]
    fn reads_redact_sensitive_plain_values_only() {
        let r = redact(
            &json!({"API_KEY": {"type": "plain", "value": "sk-1"}, "MODE": "fast", "T": {"type": "secret_ref", "secretId": "s"}}),
        );
        assert_eq!(r["API_KEY"]["value"], REDACTED);
        assert_eq!(r["MODE"], "fast");
        assert_eq!(r["T"]["type"], "secret_ref");
    }
}
