//! Company export and import over HTTP: the bundle streams out of a snapshot, and streams in
//! (line by line, never held whole) into one transaction. The CLI does the same against the
//! instance's database (`paperclipai company export|import`).

use std::collections::HashMap;

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue};
use axum::response::Response;
use axum::Json;
use futures_util::StreamExt;
use paperclip_api_types::access::NoInput;
use paperclip_api_types::companies::{ExportPreview, ImportQuery};
use paperclip_store::portability::{self, Collide, Decisions, Imported, Source, Target};
use paperclip_store::{Result as StoreResult, StoreError};

use crate::auth::{require_board, Auth};
use crate::doc::FileBody;
use crate::extract::{JsonBody, QueryMap, RawBody};
use crate::files::Files;
use crate::{ApiError, AppState};

/// `POST /companies/{companyId}/export`: the bundle, streamed as it is read.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn export(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(cid): Path<String>,
    JsonBody(_): JsonBody<NoInput>,
) -> Result<FileBody, ApiError> {
    require_board(&actor, "export companies")?;
    let mut conn = s.db.session().await?;
    let c = super::company(&mut conn, &actor, &cid).await?;
    conn.close().await?;
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(64);
    let (db, files, company_id) = (s.db.clone(), s.files.clone(), c.id);
    // The response streams while the export reads: a slow client holds back the reader (the
    // channel is bounded), never memory.
    tokio::spawn(async move {
        let mut sink = ChannelSink(tx.clone());
        let result = async {
            let mut t = db.begin().await.map_err(StoreError::from)?;
            sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                .execute(&mut *t)
                .await
                .map_err(StoreError::sql("cannot start the export's snapshot"))?;
            portability::export(&mut t, company_id, &*files, &mut sink).await
        }
        .await;
        if let Err(e) = result {
            tracing::error!(error = %e, "company export failed");
            // The bundle then lacks its end line: an import refuses it as cut short.
            let _ = tx.send(Err(std::io::Error::other(e.to_string()))).await;
        }
    });
    let body = Body::from_stream(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    }));
    let name = format!(
        "attachment; filename=\"{}.paperclip.ndjson\"",
        c.issue_prefix.to_lowercase()
    );
    let mut res = Response::new(body);
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    if let Ok(v) = HeaderValue::from_str(&name) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(FileBody(res))
}

struct ChannelSink(tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>);

impl portability::Sink for ChannelSink {
    async fn line(&mut self, mut line: Vec<u8>) -> StoreResult<()> {
        line.push(b'\n');
        self.0
            .send(Ok(Bytes::from(line)))
            .await
            .map_err(|_| StoreError::invalid("export", "the client went away"))
    }
}

/// `POST /companies/{companyId}/exports/preview`: what an export holds, without its rows.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn export_preview(
    State(s): State<AppState>,
    Auth(actor): Auth,
    Path(cid): Path<String>,
    JsonBody(_): JsonBody<NoInput>,
) -> Result<Json<ExportPreview<portability::Counts>>, ApiError> {
    require_board(&actor, "export companies")?;
    let mut conn = s.db.session().await?;
    let c = super::company(&mut conn, &actor, &cid).await?;
    let m = portability::manifest(&mut conn, c.id).await?;
    let counts = portability::counts(&mut conn, c.id).await?;
    conn.close().await?;
    Ok(Json(ExportPreview {
        format: m.format,
        version: m.version,
        schema_version: m.schema_version,
        tables: m.tables,
        omitted: m.omitted.into_iter().map(|o| (o.table, o.why)).collect(),
        counts,
    }))
}

/// The target and decisions an import's query names.
async fn plan(
    s: &AppState,
    actor: &paperclip_store::Actor,
    q: &QueryMap<ImportQuery>,
) -> Result<(Target, Decisions), ApiError> {
    let target = match q.uuid("companyId")? {
        Some(id) => {
            let mut conn = s.db.session().await?;
            let c = super::company(&mut conn, actor, &id.to_string()).await?;
            conn.close().await?;
            Target::Existing { company_id: c.id }
        }
        None => {
            crate::auth::require_instance_admin(actor, "import into a new company")?;
            Target::NewCompany {
                name: q.text("name").map(str::to_string),
            }
        }
    };
    let default = match q.choice("collisions", &["rename", "skip", "replace"])? {
        Some(c) => c.parse::<Collide>().map_err(ApiError::Failed)?,
        None => Collide::Rename,
    };
    let mut per_object = HashMap::new();
    for d in q
        .text("decide")
        .unwrap_or_default()
        .split(',')
        .filter(|d| !d.trim().is_empty())
    {
        let parsed = d.trim().rsplit_once('=').and_then(|(object, action)| {
            action
                .parse::<Collide>()
                .ok()
                .map(|a| (object.to_string(), a))
        });
        let Some((object, action)) = parsed else {
            return Err(ApiError::validation(vec![
                serde_json::json!({"code": "invalid_string", "path": ["decide"],
                "message": format!("{d:?} is not table:id=rename|skip|replace")}),
            ]));
        };
        per_object.insert(object, action);
    }
    Ok((
        target,
        Decisions {
            default,
            per_object,
        },
    ))
}

/// The request body as bundle lines.
struct BodyLines {
    body: axum::body::BodyDataStream,
    buf: Vec<u8>,
    done: bool,
}

impl BodyLines {
    fn new(body: Body) -> Self {
        Self {
            body: body.into_data_stream(),
            buf: Vec::new(),
            done: false,
        }
    }
}

impl Source for BodyLines {
    async fn next_line(&mut self) -> StoreResult<Option<Vec<u8>>> {
        loop {
            if let Some(i) = self.buf.iter().position(|b| *b == b'\n') {
                let rest = self.buf.split_off(i + 1);
                let mut line = std::mem::replace(&mut self.buf, rest);
                line.pop();
                return Ok(Some(line));
            }
            if self.done {
                return Ok((!self.buf.is_empty()).then(|| std::mem::take(&mut self.buf)));
            }
            match self.body.next().await {
                Some(Ok(chunk)) => self.buf.extend_from_slice(&chunk),
                Some(Err(e)) => {
                    return Err(StoreError::invalid(
                        "bundle",
                        format!("the upload broke: {e}"),
                    ))
                }
                None => self.done = true,
            }
        }
    }
}

/// `POST /companies/import/preview`: reads the bundle (the body) and answers its counts and
/// what collides in the target, writing nothing.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn import_preview(
    State(s): State<AppState>,
    Auth(actor): Auth,
    q: QueryMap<ImportQuery>,
    RawBody(body): RawBody,
) -> Result<Json<Imported>, ApiError> {
    require_board(&actor, "import companies")?;
    let (target, decisions) = plan(&s, &actor, &q).await?;
    let mut conn = s.db.session().await?;
    let p = portability::preview(&mut conn, &mut BodyLines::new(body), &target, &decisions).await?;
    conn.close().await?;
    Ok(Json(p))
}

/// `POST /companies/import`: imports the bundle (the body) in one transaction.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn import(
    State(s): State<AppState>,
    Auth(actor): Auth,
    q: QueryMap<ImportQuery>,
    RawBody(body): RawBody,
) -> Result<Json<Imported>, ApiError> {
    require_board(&actor, "import companies")?;
    let (target, decisions) = plan(&s, &actor, &q).await?;
    let mut written = Vec::new();
    let done = async {
        let mut tx = s.db.begin().await?;
        let imported = portability::import(
            &mut tx,
            &actor,
            &mut BodyLines::new(body),
            &target,
            &decisions,
            &*s.files,
            &mut written,
        )
        .await?;
        if let (Target::NewCompany { .. }, Some(id)) = (&target, imported.company_id) {
            super::access::own_new_company(&mut tx, &actor, id).await?;
        }
        tx.commit().await?;
        Ok::<_, ApiError>(imported)
    }
    .await;
    if done.is_err() {
        // Nothing of a failed import stays: its rows rolled back, its files go too.
        forget(&s.files, &written).await;
    }
    Ok(Json(done?))
}

async fn forget(files: &Files, keys: &[String]) {
    for k in keys {
        crate::upload::forget(files, k).await;
    }
}
