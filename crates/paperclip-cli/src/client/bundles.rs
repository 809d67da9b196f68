//! `company export|import` against a server's API (when `--api-base` or `PAPERCLIP_API_URL`
//! names one), as upstream's client does: the bundle streams from the server to the file and
//! from the file to the server, never whole in memory. Board credentials; an import's body is
//! capped at the server's upload limit.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use paperclip_api_types::companies::ImportQuery;
use reqwest::Method;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{Api, ClientArgs};

/// A bundle of a large company takes a while on a slow link: no overall limit beyond a day.
const BUNDLE_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

/// How long the question "is this length refused?" may take after an upload was cut short.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

async fn refused(res: reqwest::Response) -> anyhow::Error {
    let status = res.status();
    let text = res.text().await.unwrap_or_default();
    let message = serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(|v| v.get("error").and_then(Value::as_str).map(str::to_string))
        .unwrap_or(text);
    anyhow::anyhow!("the server refused it ({}): {message}", status.as_u16())
}

/// `POST /companies/{id}/export`, streamed to `out` (through `<out>.partial`) or stdout.
pub async fn export(
    api_args: &ClientArgs,
    id: &str,
    out: Option<PathBuf>,
) -> anyhow::Result<ExitCode> {
    let api = Api::new(api_args)?;
    let mut res = api
        .request(Method::POST, &format!("/companies/{id}/export"))
        .json(&serde_json::json!({}))
        .timeout(BUNDLE_TIMEOUT)
        .send()
        .await
        .with_context(|| format!("cannot reach {}", api.base()))?;
    if !res.status().is_success() {
        return Err(refused(res).await);
    }
    let written = async {
        let mut sink: Box<dyn tokio::io::AsyncWrite + Unpin + Send> = match &out {
            Some(path) => Box::new(
                tokio::fs::File::create(path.with_extension("partial"))
                    .await
                    .with_context(|| format!("cannot create {}", path.display()))?,
            ),
            None => Box::new(tokio::io::stdout()),
        };
        let mut last = Vec::new();
        while let Some(chunk) = res.chunk().await.context("the export was cut short")? {
            sink.write_all(&chunk).await?;
            // The end line says the bundle is whole; keep the tail to check it.
            last.extend_from_slice(&chunk);
            if last.len() > 1 << 20 {
                last.drain(..last.len() - (64 << 10));
            }
        }
        sink.flush().await?;
        let whole = String::from_utf8_lossy(&last)
            .lines()
            .last()
            .and_then(|l| serde_json::from_str::<Value>(l).ok())
            .is_some_and(|v| v["type"] == "end");
        anyhow::ensure!(
            whole,
            "the export ended without its end line (the server's log says why)"
        );
        anyhow::Ok(())
    }
    .await;
    if let Err(e) = written {
        // A cut-short export never leaves a file that looks like a bundle.
        if let Some(path) = &out {
            let _ = tokio::fs::remove_file(path.with_extension("partial")).await;
        }
        return Err(e);
    }
    if let Some(path) = out {
        tokio::fs::rename(path.with_extension("partial"), &path).await?;
        crate::ui::info(&format!("Exported to {}", path.display()));
    }
    Ok(ExitCode::SUCCESS)
}

/// What `company import` was asked (by the instance's database or a server's API alike).
#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// The bundle file.
    pub file: PathBuf,
    /// Import into this existing company.
    #[arg(long)]
    pub company_id: Option<String>,
    /// The new company's name (default: the bundle's).
    #[arg(long, conflicts_with = "company_id")]
    pub name: Option<String>,
    /// What to do with an object whose name the target already has.
    #[arg(long, default_value = "rename", value_parser = ["rename", "skip", "replace"])]
    pub collisions: String,
    /// A choice for one object, as the preview names it: table:id=rename|skip|replace.
    #[arg(long = "decide")]
    pub decide: Vec<String>,
    /// Only show what the import would do.
    #[arg(long)]
    pub preview: bool,
}

/// The file as a request body, read in pieces.
async fn body(file: &Path) -> anyhow::Result<reqwest::Body> {
    let f = tokio::fs::File::open(file)
        .await
        .with_context(|| format!("cannot open {}", file.display()))?;
    let chunks = futures_util::stream::unfold(f, |mut f| async move {
        let mut buf = vec![0u8; 64 << 10];
        match f.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok::<_, std::io::Error>(buf), f))
            }
            Err(e) => Some((Err(e), f)),
        }
    });
    Ok(reqwest::Body::wrap_stream(chunks))
}

/// `POST /companies/import` (or its preview) with the file as the body.
pub async fn import(api_args: &ClientArgs, a: &ImportArgs) -> anyhow::Result<ExitCode> {
    let api = Api::new(api_args)?;
    let query = ImportQuery {
        company_id: a
            .company_id
            .as_deref()
            .map(|c| c.parse().context("--company-id must be a UUID"))
            .transpose()?,
        name: a.name.clone(),
        collisions: Some(a.collisions.clone()),
        decide: (!a.decide.is_empty()).then(|| a.decide.join(",")),
    };
    let path = if a.preview {
        "/companies/import/preview"
    } else {
        "/companies/import"
    };
    let size = tokio::fs::metadata(&a.file)
        .await
        .with_context(|| format!("cannot open {}", a.file.display()))?
        .len();
    let post = || {
        api.request(Method::POST, path)
            .query(&query)
            .header("content-type", "application/x-ndjson")
            .header("content-length", size)
    };
    let too_large = || {
        anyhow::anyhow!(
            "the bundle ({size} bytes) is larger than the server's upload limit: raise PAPERCLIP_ATTACHMENT_MAX_BYTES there, or run `paperclipai company import` on the server's machine without --api-base"
        )
    };
    let res = match post()
        .body(body(&a.file).await?)
        .timeout(BUNDLE_TIMEOUT)
        .send()
        .await
    {
        Ok(res) => res,
        // A server that refuses the declared length answers at once and closes; the upload
        // may then fail writing before the answer is read. Ask again with the same length and
        // a body that never comes: the refusal is in the headers, so it answers that.
        Err(e) if e.is_request() && !e.is_connect() => {
            let probe = post()
                .body(reqwest::Body::wrap_stream(futures_util::stream::pending::<
                    Result<Vec<u8>, std::io::Error>,
                >()))
                .timeout(PROBE_TIMEOUT)
                .send()
                .await;
            if probe.is_ok_and(|r| r.status() == reqwest::StatusCode::PAYLOAD_TOO_LARGE) {
                return Err(too_large());
            }
            return Err(e).with_context(|| format!("the upload to {} was cut short", api.base()));
        }
        Err(e) => return Err(e).with_context(|| format!("cannot reach {}", api.base())),
    };
    if res.status() == reqwest::StatusCode::PAYLOAD_TOO_LARGE {
        return Err(too_large());
    }
    if !res.status().is_success() {
        return Err(refused(res).await);
    }
    let outcome: Value = res.json().await?;
    println!("{}", serde_json::to_string_pretty(&outcome)?);
    Ok(ExitCode::SUCCESS)
}
