//! Company secrets: metadata in, metadata out. A value goes in on create, patch and rotate and
//! never comes back out of any route.

use axum::extract::{Path, State};
use axum::Json;
use paperclip_api_types::secrets::*;
use paperclip_store::{
    self as store,
    secrets::{normalize_key, NewSecret, Secret},
};
use serde_json::json;

use crate::auth::{check_company, require_board, Auth};
use crate::doc::Created;
use crate::extract::{path_id, JsonBody, Problems};
use crate::{ApiError, AppState};

#[tracing::instrument(level = "debug", skip_all)]
pub async fn providers(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(cid): Path<String>,
) -> Result<Json<Vec<SecretProvider>>, ApiError> {
    let mut conn = s.db.session().await?;
    super::company(&mut conn, &actor, &cid).await?;
    conn.close().await?;
    let provider =
        |id, label, external_ref, managed, references, writes, configured| SecretProvider {
            id,
            label,
            requires_external_ref: external_ref,
            supports_managed_values: managed,
            supports_external_references: references,
            supports_external_value_writes: writes,
            configured,
        };
    Ok(Json(vec![
        provider(
            "local_encrypted",
            "Local encrypted (default)",
            false,
            true,
            false,
            None,
            true,
        ),
        provider(
            "aws_secrets_manager",
            "AWS Secrets Manager",
            false,
            true,
            true,
            Some(true),
            false,
        ),
        provider(
            "gcp_secret_manager",
            "GCP Secret Manager",
            true,
            false,
            true,
            None,
            false,
        ),
        provider("vault", "HashiCorp Vault", true, false, true, None, false),
    ]))
}

#[tracing::instrument(level = "debug", skip_all)]
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
            p.add("value", "too_big", "value must be at most 65536 bytes");
        }
        Some(_) => {}
    }
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn create(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(cid): Path<String>,
    JsonBody(b): JsonBody<CreateSecret>,
) -> Result<Created<Secret>, ApiError> {
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
    Ok(Created(secret))
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

#[tracing::instrument(level = "debug", skip_all)]
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

#[tracing::instrument(level = "debug", skip_all)]
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

#[tracing::instrument(level = "debug", skip_all)]
pub async fn delete(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
) -> Result<Json<paperclip_api_types::common::Ok>, ApiError> {
    require_board(&actor, "delete secrets")?;
    let mut tx = s.db.begin().await?;
    let secret = load(&mut tx, &actor, &id).await?;
    store::secrets::delete(&mut tx, &actor, &secret).await?;
    tx.commit().await?;
    Ok(Json(paperclip_api_types::common::Ok::yes()))
}
