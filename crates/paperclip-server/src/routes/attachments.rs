//! Files attached to issues and comments: upload (streamed to storage), list, download, delete.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use paperclip_api_types::common::Ok as Done;
use paperclip_storage::content;
use paperclip_store::attachments::{self, Asset, Attachment};
use uuid::Uuid;

use crate::auth::{check_company, Auth};
use crate::doc::{Created, FileBody};
use crate::extract::{path_id, Upload};
use crate::files::Files;
use crate::{upload, ApiError, AppState};

/// `POST /companies/{companyId}/issues/{issueId}/attachments`.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn create(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path((cid, iid)): Path<(String, String)>,
    up: Upload,
) -> Result<Created<Attachment>, ApiError> {
    // Who and where first, so a refused upload is refused before a byte is stored; no
    // connection is held while the bytes stream in.
    let issue = {
        let mut conn = s.db.session().await?;
        let c = super::company(&mut conn, &actor, &cid).await?;
        let issue = super::issue(&mut conn, &actor, &iid).await?;
        conn.close().await?;
        if issue.company_id != c.id {
            return Err(ApiError::not_found("Issue"));
        }
        issue
    };
    let key = format!(
        "{}/issues/{}/{}",
        issue.company_id,
        issue.id,
        Uuid::new_v4()
    );
    let got = upload::receive(&s.files, upload::Kind::Attachment, &key, up).await?;
    let recorded = async {
        let mut tx = s.db.begin().await?;
        let asset = got.asset(s.files.storage.provider(), &key);
        let a = attachments::create(&mut tx, &actor, &issue, got.comment_id, &asset).await?;
        tx.commit().await?;
        Ok(a)
    }
    .await;
    Ok(Created(
        upload::keep_or_forget(&s.files, &key, recorded).await?,
    ))
}

/// `GET /issues/{issueId}/attachments`.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn list(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(iid): Path<String>,
) -> Result<Json<Vec<Attachment>>, ApiError> {
    let mut conn = s.db.session().await?;
    let issue = super::issue(&mut conn, &actor, &iid).await?;
    let v = attachments::list(&mut conn, issue.id).await?;
    conn.close().await?;
    Ok(Json(v))
}

async fn load(
    s: &AppState,
    actor: &paperclip_store::Actor,
    raw: &str,
) -> Result<Attachment, ApiError> {
    let id = path_id(raw, "Attachment")?;
    let mut conn = s.db.session().await?;
    let a = attachments::get(&mut conn, id)
        .await?
        .ok_or_else(|| ApiError::not_found("Attachment"))?;
    conn.close().await?;
    check_company(actor, a.company_id, "Attachment")?;
    Ok(a)
}

/// `GET /attachments/{attachmentId}/content`: the bytes, streamed, served so a browser can never
/// run them as a page of ours.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn content(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
) -> Result<FileBody, ApiError> {
    let a = load(&s, &actor, &id).await?;
    Ok(FileBody(serve(&s.files, (&a).into()).await?))
}

/// What a download needs to know about a stored file.
struct Stored<'a> {
    provider: &'a str,
    object_key: &'a str,
    content_type: &'a str,
    original_filename: Option<&'a str>,
    sha256: &'a str,
}

impl<'a> From<&'a Attachment> for Stored<'a> {
    fn from(a: &'a Attachment) -> Self {
        Self {
            provider: &a.provider,
            object_key: &a.object_key,
            content_type: &a.content_type,
            original_filename: a.original_filename.as_deref(),
            sha256: &a.sha256,
        }
    }
}

impl<'a> From<&'a Asset> for Stored<'a> {
    fn from(a: &'a Asset) -> Self {
        Self {
            provider: &a.provider,
            object_key: &a.object_key,
            content_type: &a.content_type,
            original_filename: a.original_filename.as_deref(),
            sha256: &a.sha256,
        }
    }
}

async fn serve(files: &Files, a: Stored<'_>) -> Result<Response, ApiError> {
    if a.provider != files.storage.provider() {
        return Err(ApiError::Failed(format!(
            "This attachment is stored with {}, and this server uses {}",
            a.provider,
            files.storage.provider()
        )));
    }
    let d = files.storage.get(a.object_key).await?;
    let kind = content::disposition(a.content_type);
    let name = a.original_filename.unwrap_or("attachment");
    let value = |v: String| HeaderValue::from_str(&v).map_err(|e| ApiError::Internal(e.into()));
    let mut res = Body::from_stream(d.body).into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, value(a.content_type.to_string())?);
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(d.size));
    h.insert(
        header::CONTENT_DISPOSITION,
        value(content::content_disposition(kind, name))?,
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("sandbox; default-src 'none'; img-src 'self'"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-cache"),
    );
    h.insert(header::ETAG, value(format!("\"{}\"", a.sha256))?);
    Ok(res)
}

/// `DELETE /attachments/{attachmentId}`: the board, or the agent that uploaded it.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn delete(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
) -> Result<Json<Done>, ApiError> {
    let a = load(&s, &actor, &id).await?;
    if !actor.is_board()
        && (actor.agent_id().is_none() || actor.agent_id() != a.created_by_agent_id)
    {
        return Err(ApiError::Forbidden(
            "Only the board or the agent that uploaded it may delete an attachment".into(),
        ));
    }
    let mut tx = s.db.begin().await?;
    let key = attachments::delete(&mut tx, &actor, &a).await?;
    tx.commit().await?;
    // After commit: a failure here leaves an unreferenced object, never a row without bytes.
    upload::forget(&s.files, &key).await;
    Ok(Json(Done::yes()))
}

/// `POST /companies/{companyId}/assets/images`: an image of the company's own (a description's
/// picture, a logo), on no issue.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn create_image(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(cid): Path<String>,
    up: Upload,
) -> Result<Created<Asset>, ApiError> {
    let company = {
        let mut conn = s.db.session().await?;
        let c = super::company(&mut conn, &actor, &cid).await?;
        conn.close().await?;
        c
    };
    let key = format!("{}/assets/{}", company.id, Uuid::new_v4());
    let got = upload::receive(&s.files, upload::Kind::Image, &key, up).await?;
    let recorded = async {
        let mut tx = s.db.begin().await?;
        let asset = got.asset(s.files.storage.provider(), &key);
        let a = attachments::create_asset(&mut tx, &actor, company.id, &asset).await?;
        tx.commit().await?;
        Ok(a)
    }
    .await;
    Ok(Created(
        upload::keep_or_forget(&s.files, &key, recorded).await?,
    ))
}

/// `GET /assets/{assetId}/content`: any stored file of the actor's company, by its asset id.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn asset_content(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
) -> Result<FileBody, ApiError> {
    let id = path_id(&id, "Asset")?;
    let mut conn = s.db.session().await?;
    let a = attachments::get_asset(&mut conn, id)
        .await?
        .ok_or_else(|| ApiError::not_found("Asset"))?;
    conn.close().await?;
    check_company(&actor, a.company_id, "Asset")?;
    Ok(FileBody(serve(&s.files, (&a).into()).await?))
}
