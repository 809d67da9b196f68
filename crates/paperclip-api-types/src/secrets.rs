//! Request bodies of the secrets routes.

use schemars::JsonSchema;
use serde::Deserialize;
use zeroize::Zeroizing;

/// Secret values are held in zeroizing buffers from the moment they are parsed.
/// Redacted in `Debug`: a secret value never reaches a log. At most 65,536 bytes of UTF-8 (JSON
/// Schema counts characters, so the schema's 65,536 is exact for ASCII values).
#[derive(Deserialize, JsonSchema)]
pub struct SecretValue(
    #[schemars(with = "String", length(min = 1, max = 65536))] pub Zeroizing<String>,
);

#[derive(Debug, Deserialize, JsonSchema)]
pub struct CreateSecret {
    #[schemars(required, with = "String")]
    #[schemars(length(min = 1, max = 200))]
    pub name: Option<String>,
    pub key: Option<String>,
    #[schemars(required, with = "SecretValue")]
    pub value: Option<SecretValue>,
    #[schemars(length(max = 2000))]
    pub description: Option<String>,
    pub provider: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct PatchSecret {
    #[schemars(length(min = 1, max = 200))]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "crate::double")]
    pub description: Option<Option<String>>,
    pub value: Option<SecretValue>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct RotateSecret {
    #[schemars(required, with = "SecretValue")]
    pub value: Option<SecretValue>,
}

impl std::fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretValue([redacted])")
    }
}

/// A secret provider and whether this deployment can use it.
#[derive(Debug, Clone, serde::Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretProvider {
    pub id: &'static str,
    pub label: &'static str,
    pub requires_external_ref: bool,
    pub supports_managed_values: bool,
    pub supports_external_references: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub supports_external_value_writes: Option<bool>,
    pub configured: bool,
}
