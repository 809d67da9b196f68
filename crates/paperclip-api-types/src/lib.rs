//! Wire types shared by every side of a Paperclip connection, so each is declared once.
//!
//! - One module per REST resource: request bodies, query parameters and the composite
//!   responses, with upstream's camelCase names. Each derives `JsonSchema`, which is what the
//!   server's `/api/openapi.json` is generated from, so the document cannot drift from the code.
//! - [`rpc`]: the plugin worker protocol, used by the host in the server and by the plugin SDK.
//!
//! Rules: no I/O here, and no validation beyond shape (the server checks rules and names the
//! field; the domain crate holds the rules).

pub mod access;
pub mod agents;
pub mod approvals;
pub mod common;
pub mod companies;
pub mod costs;
pub mod goals;
pub mod health;
pub mod host_calls;
pub mod instance;
pub mod issues;
pub mod plugins;
pub mod projects;
pub mod routines;
pub mod rpc;
pub mod runs;
pub mod secrets;
pub mod work;

/// For `Option<Option<T>>` patch fields: absent → `None`, `null` → `Some(None)`, a value →
/// `Some(Some(v))` (serde alone cannot tell absent from `null`).
pub fn double<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    <Option<T> as serde::Deserialize>::deserialize(d).map(Some)
}

/// The `enum` keyword of a text field with `names` (and `null` when the field may be null):
/// the request schemas say what the handlers accept.
pub fn one_of(names: &[&str], nullable: bool) -> Vec<serde_json::Value> {
    let mut values: Vec<serde_json::Value> = names.iter().map(|n| (*n).into()).collect();
    if nullable {
        values.push(serde_json::Value::Null);
    }
    values
}

/// A create body: the fields of the update body `T`, with [`RequiredOnCreate::ON_CREATE`]
/// required (one type per resource for both writes, and a document that says which fields a
/// create cannot do without).
#[derive(Debug, serde::Deserialize)]
#[serde(transparent)]
pub struct Create<T>(pub T);

/// The fields a create must have.
pub trait RequiredOnCreate {
    const ON_CREATE: &'static [&'static str];
}

impl<T: schemars::JsonSchema + RequiredOnCreate> schemars::JsonSchema for Create<T> {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        format!("Create{}", T::schema_name()).into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let mut s = T::json_schema(generator);
        s.insert("required".into(), serde_json::json!(T::ON_CREATE));
        s
    }
}
