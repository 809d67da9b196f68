//! Company secrets: metadata in, metadata out. A value goes in on create, patch and rotate and
//! never comes back out of any route.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use paperclip_store::{
    self as store,
    secrets::{normalize_key, NewSecret, Secret},
};
use serde::Deserialize;
use serde_json::{json, Value};
use zeroize::Zeroizing;

use crate::auth::{check_company, require_board, Auth};
use crate::extract::{double, path_id, JsonBody, Problems};
use crate::{ApiError, AppState};

pub async fn providers(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(cid): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let mut conn = s.db.session().await?;
    super::company(&mut conn, &actor, &cid).await?;
    conn.close().await?;
    Ok(Json(json!([
        {"id": "local_encrypted", "label": "Local encrypted (default)", "requiresExternalRef": false,
         "supportsManagedValues": true, "supportsExternalReferences": false, "configured": true},
        {"id": "aws_secrets_manager", "label": "AWS Secrets Manager", "requiresExternalRef": false,
         "supportsManagedValues": true, "supportsExternalReferences": true, "supportsExternalValueWrites": true, "configured": false},
        {"id": "gcp_secret_manager", "label": "GCP Secret Manager", "requiresExternalRef": true,
         "supportsManagedValues": false, "supportsExternalReferences": true, "configured": false},
        {"id": "vault", "label": "HashiCorp Vault", "requiresExternalRef": true,
         "supportsManagedValues": false, "supportsExternalReferences": true, "configured": false},
    ])))
}

pub async fn list(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(cid): Path<String>,
) -> Result<Json<Vec<Secret>>, ApiError> {
    let mut conn = s.db.session().await?;
    let c = super::company(&mut conn, &actor, &cid).await?;
    let v = store::secrets::list(&mut conn, c.id).await?;
    conn.close().await?;
    Ok(Json(v))
}

/// Secret values are held in zeroizing buffers from the moment they are parsed.
#[derive(Deserialize)]
pub struct SecretValue(Zeroizing<String>);

#[derive(Deserialize)]
pub struct CreateSecret {
    name: Option<String>,
    key: Option<String>,
    value: Option<SecretValue>,
    description: Option<String>,
    provider: Option<String>,
}

fn check_provider(p: &mut Problems, provider: Option<&str>) -> Result<(), ApiError> {
    match provider.unwrap_or("local_encrypted") {
        "local_encrypted" => Ok(()),
        other if paperclip_secrets::PROVIDERS.contains(&other) => Err(ApiError::Unprocessable {
            message: format!(
                "Secret provider {other} is not configured in this deployment; use local_encrypted"
            ),
            details: json!([{"path": ["provider"], "message": "not configured"}]),
        }),
        other => {
            p.add(
                "provider",
                "invalid_enum_value",
                format!("Unsupported secret provider: {other}"),
            );
            Ok(())
        }
    }
}

fn check_value(p: &mut Problems, v: Option<&SecretValue>) {
    match v {
        None => p.add("value", "invalid_type", "value is required"),
        Some(v) if v.0.is_empty() => p.add("value", "too_small", "value must not be empty"),
        Some(v) if v.0.len() > 64 * 1024 => {
            p.add("value", "too_big", "value must be at most 65536 bytes")
        }
        Some(_) => {}
    }
}

pub async fn create(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(cid): Path<String>,
    JsonBody(b): JsonBody<CreateSecret>,
) -> Result<(StatusCode, Json<Secret>), ApiError> {
    require_board(&actor, "create secrets")?;
    let mut p = Problems::default();
    let name = p.required("name", b.name.as_deref(), 200);
    let key = normalize_key(b.key.as_deref().unwrap_or(&name));
    if key.is_empty() && !name.is_empty() {
        p.add(
            "key",
            "invalid_string",
            "key must contain letters or digits",
        );
    }
    check_value(&mut p, b.value.as_ref());
    p.opt_text("description", b.description.as_deref(), 2000);
    check_provider(&mut p, b.provider.as_deref())?;
    p.finish()?;
    let value = b.value.expect("checked");
    let mut tx = s.db.begin().await?;
    let c = super::company(&mut tx, &actor, &cid).await?;
    let new = NewSecret {
        name: &name,
        key: &key,
        description: b.description.as_deref(),
        value: &value.0,
    };
    let secret = store::secrets::create(&mut tx, &actor, &s.secrets.key, c.id, new).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(secret)))
}

async fn load(
    conn: &mut sqlx::PgConnection,
    actor: &store::Actor,
    raw: &str,
) -> Result<Secret, ApiError> {
    let secret = store::secrets::get(conn, path_id(raw, "Secret")?)
        .await?
        .ok_or_else(|| ApiError::not_found("Secret"))?;
    check_company(actor, secret.company_id, "Secret")?;
    Ok(secret)
}

#[derive(Deserialize)]
pub struct PatchSecret {
    name: Option<String>,
    #[serde(default, deserialize_with = "double")]
    description: Option<Option<String>>,
    value: Option<SecretValue>,
}

pub async fn patch(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
    JsonBody(b): JsonBody<PatchSecret>,
) -> Result<Json<Secret>, ApiError> {
    require_board(&actor, "update secrets")?;
    let mut p = Problems::default();
    if let Some(n) = &b.name {
        p.text("name", n, 200);
    }
    if b.value.is_some() {
        check_value(&mut p, b.value.as_ref());
    }
    p.finish()?;
    let mut tx = s.db.begin().await?;
    let secret = load(&mut tx, &actor, &id).await?;
    let mut secret = store::secrets::update(
        &mut tx,
        &actor,
        &secret,
        b.name.as_deref().map(str::trim),
        b.description.as_ref().map(|d| d.as_deref()),
    )
    .await?;
    if let Some(v) = &b.value {
        secret = store::secrets::rotate(&mut tx, &actor, &s.secrets.key, &secret, &v.0).await?;
    }
    tx.commit().await?;
    Ok(Json(secret))
}

#[derive(Deserialize)]
pub struct RotateSecret {
    value: Option<SecretValue>,
}

pub async fn rotate(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
    JsonBody(b): JsonBody<RotateSecret>,
) -> Result<Json<Secret>, ApiError> {
    require_board(&actor, "rotate secrets")?;
    let mut p = Problems::default();
    check_value(&mut p, b.value.as_ref());
    p.finish()?;
    let value = b.value.expect("checked");
    let mut tx = s.db.begin().await?;
    let secret = load(&mut tx, &actor, &id).await?;
    let secret = store::secrets::rotate(&mut tx, &actor, &s.secrets.key, &secret, &value.0).await?;
    tx.commit().await?;
    Ok(Json(secret))
}

pub async fn delete(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    require_board(&actor, "delete secrets")?;
    let mut tx = s.db.begin().await?;
    let secret = load(&mut tx, &actor, &id).await?;
    store::secrets::delete(&mut tx, &actor, &secret).await?;
    tx.commit().await?;
    Ok(Json(json!({"ok": true})))
}
