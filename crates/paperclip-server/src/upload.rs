//! Receiving a file: `multipart/form-data` (a `file` part, optionally an `issueCommentId` part)
//! or the raw bytes with their own `Content-Type` (`?filename=&issueCommentId=`), streamed
//! straight into storage. Every part and parameter is either used or refused by name.

use bytes::Bytes;
use futures_util::{Stream, TryStreamExt};
use paperclip_storage::content::{self, clean_filename};
use paperclip_storage::Stored;
use paperclip_store::attachments::NewAsset;
use serde_json::json;
use uuid::Uuid;

use crate::extract::Upload;
use crate::files::Files;
use crate::ApiError;

/// A file now complete in storage under the key it was given.
#[derive(Debug)]
pub struct Received {
    pub stored: Stored,
    /// Lower-case `type/subtype`.
    pub content_type: String,
    pub filename: Option<String>,
    pub comment_id: Option<Uuid>,
}

impl Received {
    /// The row that records this file as `key` with `provider`.
    pub fn asset<'a>(&'a self, provider: &'a str, key: &'a str) -> NewAsset<'a> {
        NewAsset {
            provider,
            object_key: key,
            content_type: &self.content_type,
            byte_size: self.stored.byte_size,
            sha256: &self.stored.sha256,
            original_filename: self.filename.as_deref(),
        }
    }
}

/// The answer of the transaction that records a stored file; when it failed, the file is
/// removed again, so bytes never outlive a row that was never written.
pub async fn keep_or_forget<T>(
    files: &Files,
    key: &str,
    recorded: Result<T, ApiError>,
) -> Result<T, ApiError> {
    if recorded.is_err() {
        forget(files, key).await;
    }
    recorded
}

fn unprocessable(field: &str, message: String) -> ApiError {
    ApiError::Unprocessable {
        details: json!([{ "path": [field], "message": message }]),
        message,
    }
}

/// What an upload is for: an issue's attachment (the configured types, optionally on a
/// comment) or a company image (raster images only, on nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Attachment,
    Image,
}

/// The types a company image may be.
const IMAGE_TYPES: &[&str] = &["image/png", "image/jpeg", "image/gif", "image/webp"];

/// The accepted essence of `declared`, or a 422 naming `contentType`.
fn check_type(files: &Files, kind: Kind, declared: &str) -> Result<String, ApiError> {
    let Some(essence) = content::essence(declared) else {
        return Err(unprocessable(
            "contentType",
            format!("{declared:?} is not a media type"),
        ));
    };
    if kind == Kind::Image && !IMAGE_TYPES.contains(&essence.as_str()) {
        return Err(unprocessable(
            "contentType",
            format!(
                "{essence} is not an image type (accepted: {})",
                IMAGE_TYPES.join(", ")
            ),
        ));
    }
    if !content::allowed(&essence, &files.allowed_types) {
        return Err(unprocessable(
            "contentType",
            format!(
                "{essence} is not an accepted attachment type (accepted: {})",
                files.allowed_types.join(", ")
            ),
        ));
    }
    Ok(essence)
}

fn comment_id(kind: Kind, text: &str) -> Result<Uuid, ApiError> {
    if kind == Kind::Image {
        return Err(unprocessable(
            "issueCommentId",
            "a company image belongs to no comment; attach files to issues instead".into(),
        ));
    }
    Uuid::parse_str(text.trim())
        .map_err(|_| unprocessable("issueCommentId", "must be a UUID".into()))
}

/// Streams the upload into `key`. On any refusal after bytes were stored, they are removed.
pub async fn receive(
    files: &Files,
    kind: Kind,
    key: &str,
    up: Upload,
) -> Result<Received, ApiError> {
    let declared = up
        .headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/octet-stream")
        .to_string();
    let got = if declared
        .trim()
        .to_ascii_lowercase()
        .starts_with("multipart/form-data")
    {
        multipart(files, kind, key, &declared, up.body).await
    } else {
        raw(files, kind, key, &declared, up).await
    };
    let got = match got {
        Ok(g) => g,
        Err(e) => {
            forget(files, key).await;
            return Err(e);
        }
    };
    if !content::signature_matches(&got.content_type, &got.stored.head) {
        forget(files, key).await;
        return Err(unprocessable(
            "contentType",
            format!("the file's contents are not {}", got.content_type),
        ));
    }
    Ok(got)
}

/// Removes a stored object that will not be recorded (logged when it cannot be).
pub async fn forget(files: &Files, key: &str) {
    if let Err(e) = files.storage.delete(key).await {
        tracing::warn!(key, error = %e, "cannot remove an upload that was refused");
    }
}

async fn store<S, E>(files: &Files, key: &str, body: S) -> Result<Stored, ApiError>
where
    S: Stream<Item = Result<Bytes, E>> + Send,
    E: std::error::Error + Send + Sync + 'static,
{
    // The request's own cap (the guard's) can trip before storage's count does, depending on
    // chunk sizes: either way the answer is the same 413.
    let capped = std::sync::atomic::AtomicBool::new(false);
    let body = body.map_err(|e| {
        if is_length_limit(&e) {
            capped.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        e.to_string()
    });
    match files.storage.put(key, body, files.max_bytes).await {
        Ok(s) => Ok(s),
        Err(_) if capped.load(std::sync::atomic::Ordering::Relaxed) => {
            Err(paperclip_storage::StorageError::TooLarge {
                limit: files.max_bytes,
            }
            .into())
        }
        Err(e) => Err(e.into()),
    }
}

/// Whether `e` (or its cause) is the body cap of [`crate::guard`].
fn is_length_limit(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if err.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        cur = err.source();
    }
    false
}

async fn raw(
    files: &Files,
    kind: Kind,
    key: &str,
    declared: &str,
    up: Upload,
) -> Result<Received, ApiError> {
    for name in up.query.keys() {
        if name != "filename" && name != "issueCommentId" {
            return Err(ApiError::BadRequest {
                message: format!("Unknown query parameter {name:?}"),
                details: Some(
                    json!([{ "code": "unrecognized_keys", "path": [name], "message": "not a parameter of this route" }]),
                ),
            });
        }
    }
    let content_type = check_type(files, kind, declared)?;
    let filename = match up.query.get("filename") {
        Some(f) => Some(
            clean_filename(f)
                .ok_or_else(|| unprocessable("filename", "is not a usable file name".into()))?,
        ),
        None => None,
    };
    let comment_id = up
        .query
        .get("issueCommentId")
        .map(|c| comment_id(kind, c))
        .transpose()?;
    let stored = store(files, key, up.body.into_data_stream()).await?;
    Ok(Received {
        stored,
        content_type,
        filename,
        comment_id,
    })
}

async fn multipart(
    files: &Files,
    kind: Kind,
    key: &str,
    declared: &str,
    body: axum::body::Body,
) -> Result<Received, ApiError> {
    let bad = |e: multer::Error| ApiError::BadRequest {
        message: format!("Malformed multipart body: {e}"),
        details: None,
    };
    let boundary = multer::parse_boundary(declared).map_err(bad)?;
    // Form fields are small; the file part is capped by storage itself, as it streams.
    let limits = multer::Constraints::new().size_limit(
        multer::SizeLimit::new()
            .per_field(4096)
            .for_field("file", u64::MAX),
    );
    let mut mp = multer::Multipart::with_constraints(body.into_data_stream(), boundary, limits);
    let mut file: Option<(Stored, String, Option<String>)> = None;
    let mut comment = None;
    while let Some(field) = mp.next_field().await.map_err(bad)? {
        let name = field.name().unwrap_or_default().to_string();
        match name.as_str() {
            "file" => {
                if file.is_some() {
                    return Err(unprocessable("file", "one file per upload".into()));
                }
                let declared = field
                    .content_type()
                    .map_or_else(|| "application/octet-stream".into(), ToString::to_string);
                let content_type = check_type(files, kind, &declared)?;
                let filename = field.file_name().and_then(clean_filename);
                let stored = store(files, key, field).await?;
                file = Some((stored, content_type, filename));
            }
            "issueCommentId" => {
                comment = Some(comment_id(kind, &field.text().await.map_err(bad)?)?);
            }
            other => {
                return Err(ApiError::BadRequest {
                    message: format!("Unknown form field {other:?}"),
                    details: Some(
                        json!([{ "code": "unrecognized_keys", "path": [other], "message": "not a field of this upload (file, issueCommentId)" }]),
                    ),
                })
            }
        }
    }
    let (stored, content_type, filename) =
        file.ok_or_else(|| unprocessable("file", "Required: a part named file".into()))?;
    Ok(Received {
        stored,
        content_type,
        filename,
        comment_id: comment,
    })
}
