//! Request extractors that turn malformed input into upstream-shaped 400s, never a 500 or a
//! plain-text rejection.

use std::any::TypeId;
use std::collections::{BTreeSet, HashMap};
use std::marker::PhantomData;
use std::sync::{Arc, Mutex, OnceLock};

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::ApiError;

/// A JSON body deserialized into `T`; errors name the offending field.
pub struct JsonBody<T>(pub T);

/// The names of a body type's fields.
type Fields = Arc<BTreeSet<String>>;

/// The top-level fields a body type accepts, from its schema (cached per type); `None` for a
/// type that takes any key (a free-form map).
fn accepted_fields<T: schemars::JsonSchema + 'static>() -> Option<Fields> {
    static CACHE: OnceLock<Mutex<HashMap<TypeId, Option<Fields>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Mutex::default);
    if let Some(hit) = cache.lock().expect("field cache").get(&TypeId::of::<T>()) {
        return hit.clone();
    }
    let schema = schemars::SchemaGenerator::default().into_root_schema_for::<T>();
    let open = schema
        .get("additionalProperties")
        .is_some_and(|a| a != &Value::Bool(false));
    let fields = match schema.get("properties").and_then(Value::as_object) {
        Some(p) if !open => Some(Arc::new(p.keys().cloned().collect::<BTreeSet<_>>())),
        _ => None,
    };
    cache
        .lock()
        .expect("field cache")
        .insert(TypeId::of::<T>(), fields.clone());
    fields
}

impl<T: DeserializeOwned + schemars::JsonSchema + 'static, S: Send + Sync> FromRequest<S>
    for JsonBody<T>
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let json_type = req
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .map(|v| is_json_media_type(v.to_str().unwrap_or("")));
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge
            } else {
                ApiError::BadRequest {
                    message: format!("Cannot read the request body: {e}"),
                    details: None,
                }
            }
        })?;
        let value: Value = if bytes.iter().all(u8::is_ascii_whitespace) {
            json!({})
        } else {
            // A body a browser may send cross-origin without a preflight (`text/plain`, a form)
            // is never taken as JSON.
            if json_type != Some(true) {
                return Err(ApiError::UnsupportedMediaType);
            }
            serde_json::from_slice(&bytes).map_err(|e| ApiError::BadRequest {
                message: "Invalid JSON body".into(),
                details: Some(json!([{ "path": [], "message": e.to_string() }])),
            })?
        };
        // Input is stored or refused, never dropped: a field this request does not take (a
        // typo, or an upstream field we do not support yet) is a 400 naming it.
        if let (Some(fields), Some(obj)) = (accepted_fields::<T>(), value.as_object()) {
            let unknown: Vec<Value> = obj
                .keys()
                .filter(|k| !fields.contains(k.as_str()))
                .map(|k| {
                    json!({"code": "unrecognized_keys", "path": [k],
                           "message": format!("{k} is not a field of this request (accepted: {})",
                               fields.iter().map(String::as_str).collect::<Vec<_>>().join(", "))})
                })
                .collect();
            if !unknown.is_empty() {
                return Err(ApiError::validation(unknown));
            }
        }
        if let Some(path) = nul_path(&value) {
            return Err(ApiError::validation(vec![json!({
                "code": "invalid_string", "path": path,
                "message": "must not contain a NUL character (\\u0000)",
            })]));
        }
        serde_path_to_error::deserialize(value)
            .map(JsonBody)
            .map_err(|e| {
                let path: Vec<Value> = e
                    .path()
                    .iter()
                    .filter_map(|seg| match seg {
                        serde_path_to_error::Segment::Map { key } => Some(json!(key)),
                        serde_path_to_error::Segment::Seq { index } => Some(json!(index)),
                        _ => None,
                    })
                    .collect();
                let inner = without_values(&e.into_inner().to_string());
                let expected = expected_type(&inner);
                // "missing field `name`" has no path segment yet: lift the name into the path.
                let path = if path.is_empty() {
                    inner
                        .split('`')
                        .nth(1)
                        .map(|f| vec![json!(f)])
                        .unwrap_or_default()
                } else {
                    path
                };
                ApiError::validation(vec![
                    json!({ "expected": expected, "code": "invalid_type", "path": path, "message": inner }),
                ])
            })
    }
}

/// `application/json` or any `…+json` type, parameters ignored.
fn is_json_media_type(value: &str) -> bool {
    let essence = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// The path of the first string or key that holds a NUL (PostgreSQL's text cannot).
fn nul_path(value: &Value) -> Option<Vec<Value>> {
    match value {
        Value::String(s) if s.contains('\0') => Some(vec![]),
        Value::Array(items) => items.iter().enumerate().find_map(|(i, v)| {
            nul_path(v).map(|mut p| {
                p.insert(0, json!(i));
                p
            })
        }),
        Value::Object(map) => map.iter().find_map(|(k, v)| {
            if k.contains('\0') {
                return Some(vec![json!(k.replace('\0', "\\u0000"))]);
            }
            nul_path(v).map(|mut p| {
                p.insert(0, json!(k));
                p
            })
        }),
        _ => None,
    }
}

/// serde's message without the offending value (`invalid type: integer `42`, expected a
/// string` → `invalid type: integer, expected a string`): a rejected field may be a secret.
fn without_values(message: &str) -> String {
    let Some(rest) = message
        .strip_prefix("invalid type: ")
        .map(|r| ("invalid type: ", r))
        .or_else(|| {
            message
                .strip_prefix("invalid value: ")
                .map(|r| ("invalid value: ", r))
        })
    else {
        return message.to_string();
    };
    let (prefix, rest) = rest;
    let kind = rest
        .split(['`', '"'])
        .next()
        .unwrap_or("")
        .trim()
        .trim_end_matches(',');
    match rest.rsplit_once(", expected ") {
        Some((_, expected)) => format!("{prefix}{kind}, expected {expected}"),
        None => format!("{prefix}{kind}"),
    }
}

/// The JSON type serde expected, in zod's words (`string`, `number`, …).
fn expected_type(message: &str) -> &'static str {
    let Some((_, expected)) = message.rsplit_once("expected ") else {
        return "defined";
    };
    if expected.contains("string") || expected.contains("UUID") || expected.contains("date") {
        "string"
    } else if expected.contains("bool") {
        "boolean"
    } else if expected.contains("int")
        || expected.contains("i64")
        || expected.contains("i32")
        || expected.contains("u32")
        || expected.contains("float")
    {
        "number"
    } else if expected.contains("sequence") {
        "array"
    } else if expected.contains("map") || expected.contains("struct") {
        "object"
    } else {
        "defined"
    }
}

/// Query parameters as text, parsed by the handler with [`QueryMap`] helpers. `Q` is the wire
/// type that declares them (its schema is what `/api/openapi.json` lists); in debug builds
/// reading a parameter `Q` does not declare panics, so tests catch an undocumented parameter.
pub struct QueryMap<Q = NoQuery>(pub HashMap<String, String>, PhantomData<fn() -> Q>);

/// No query parameters.
#[derive(schemars::JsonSchema)]
pub struct NoQuery {}

impl<S: Send + Sync, Q> FromRequestParts<S> for QueryMap<Q> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let q = parts.uri.query().unwrap_or_default();
        let map = url_decode_pairs(q);
        Ok(QueryMap(map, PhantomData))
    }
}

/// Whether `Q`'s schema declares parameter `name` (or takes any parameter).
fn declares<Q: schemars::JsonSchema>(name: &str) -> bool {
    let schema = schemars::SchemaGenerator::default().into_root_schema_for::<Q>();
    let declared = schema
        .get("properties")
        .and_then(Value::as_object)
        .is_some_and(|p| p.contains_key(name));
    let open = schema
        .get("additionalProperties")
        .is_some_and(|a| a != &Value::Bool(false));
    declared || open
}

fn url_decode_pairs(q: &str) -> HashMap<String, String> {
    url::form_urlencoded::parse(q.as_bytes())
        .into_owned()
        .collect()
}

impl<Q: schemars::JsonSchema> QueryMap<Q> {
    /// A text parameter (blank = absent).
    pub fn text(&self, name: &str) -> Option<&str> {
        debug_assert!(
            declares::<Q>(name),
            "query parameter {name} is read but {} does not declare it",
            std::any::type_name::<Q>()
        );
        self.0.get(name).map(|s| s.trim()).filter(|s| !s.is_empty())
    }

    /// A comma-separated list (`status=todo,in_progress`), blanks dropped, each value checked
    /// against `allowed` (a 400 naming the parameter otherwise).
    pub fn csv(&self, name: &str, allowed: &[&str]) -> Result<Vec<String>, ApiError> {
        let values: Vec<String> = self
            .text(name)
            .map(|v| {
                v.split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        let mut p = Problems::default();
        for v in &values {
            p.one_of(name, v, allowed);
        }
        p.finish()?;
        Ok(values)
    }

    /// A UUID parameter; anything else is a 400 naming it.
    pub fn uuid(&self, name: &str) -> Result<Option<Uuid>, ApiError> {
        self.text(name)
            .map(|v| {
                Uuid::parse_str(v).map_err(|_| {
                    ApiError::validation(vec![json!({"code": "invalid_string", "path": [name], "message": format!("{name} must be a UUID")})])
                })
            })
            .transpose()
    }

    /// An integer within `min..=max`, `default` when absent.
    pub fn int(&self, name: &str, default: i64, min: i64, max: i64) -> Result<i64, ApiError> {
        Ok(self.opt_int(name, min, max)?.unwrap_or(default))
    }

    /// An integer within `min..=max`, if given.
    pub fn opt_int(&self, name: &str, min: i64, max: i64) -> Result<Option<i64>, ApiError> {
        self.text(name)
            .map(|v| match v.parse::<i64>() {
                Ok(n) if (min..=max).contains(&n) => Ok(n),
                _ => Err(ApiError::validation(vec![
                    json!({"code": "invalid_type", "path": [name],
                    "message": format!("{name} must be an integer from {min} to {max}")}),
                ])),
            })
            .transpose()
    }

    /// One of `allowed`, if given; anything else is a 400 naming the parameter.
    pub fn choice(
        &self,
        name: &str,
        allowed: &[&'static str],
    ) -> Result<Option<&'static str>, ApiError> {
        let Some(v) = self.text(name) else {
            return Ok(None);
        };
        match allowed.iter().find(|a| **a == v) {
            Some(a) => Ok(Some(*a)),
            None => {
                let mut p = Problems::default();
                p.one_of(name, v, allowed);
                p.finish()?;
                Ok(None)
            }
        }
    }
}

/// Parses a path id; a malformed id is simply not found.
pub fn path_id(raw: &str, what: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| ApiError::not_found(what))
}

/// Collects per-field problems into one 400 with `details`.
#[derive(Default)]
pub struct Problems(Vec<Value>);

impl Problems {
    /// Records a problem with `field`.
    pub fn add(&mut self, field: &str, code: &str, message: impl Into<String>) {
        self.0
            .push(json!({"code": code, "path": [field], "message": message.into()}));
    }

    /// A required text field: records zod's "received undefined" problem when absent.
    pub fn required(&mut self, field: &str, value: Option<&str>, max: usize) -> String {
        match value {
            Some(v) => {
                self.text(field, v, max);
                v.trim().to_string()
            }
            None => {
                self.0.push(
                    json!({"expected": "string", "code": "invalid_type", "path": [field],
                    "message": "Invalid input: expected string, received undefined"}),
                );
                String::new()
            }
        }
    }

    /// Required, non-blank text of at most `max` characters.
    pub fn text(&mut self, field: &str, value: &str, max: usize) {
        if value.trim().is_empty() {
            self.add(field, "too_small", format!("{field} must not be empty"));
        } else if value.chars().count() > max {
            self.add(
                field,
                "too_big",
                format!("{field} must be at most {max} characters"),
            );
        }
    }

    /// Optional text of at most `max` characters.
    pub fn opt_text(&mut self, field: &str, value: Option<&str>, max: usize) {
        if let Some(v) = value {
            if v.chars().count() > max {
                self.add(
                    field,
                    "too_big",
                    format!("{field} must be at most {max} characters"),
                );
            }
        }
    }

    /// A value from a fixed set.
    pub fn one_of(&mut self, field: &str, value: &str, allowed: &[&str]) {
        if !allowed.contains(&value) {
            self.add(
                field,
                "invalid_enum_value",
                format!(
                    "Invalid {field} {value:?}; expected one of: {}",
                    allowed.join(", ")
                ),
            );
        }
    }

    /// A non-negative amount.
    pub fn non_negative(&mut self, field: &str, value: i64) {
        if value < 0 {
            self.add(field, "too_small", format!("{field} must be zero or more"));
        }
    }

    /// 400 if anything was recorded.
    pub fn finish(self) -> Result<(), ApiError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ApiError::validation(self.0))
        }
    }
}

/// A request body left unread, to stream (a company bundle): any bytes.
pub struct RawBody(pub axum::body::Body);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, _: &S) -> Result<Self, ApiError> {
        Ok(RawBody(req.into_body()))
    }
}

/// A file upload's request, unread: its headers, query and body stream (handled by
/// [`crate::upload`], which streams it to storage).
pub struct Upload {
    pub headers: axum::http::HeaderMap,
    pub query: HashMap<String, String>,
    pub body: axum::body::Body,
}

impl<S: Send + Sync> FromRequest<S> for Upload {
    type Rejection = ApiError;

    async fn from_request(req: Request, _: &S) -> Result<Self, ApiError> {
        let (parts, body) = req.into_parts();
        Ok(Upload {
            query: url_decode_pairs(parts.uri.query().unwrap_or_default()),
            headers: parts.headers,
            body,
        })
    }
}
