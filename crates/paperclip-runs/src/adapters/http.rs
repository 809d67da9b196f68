//! The `http` adapter: `{url, method, headers, timeoutSec, payloadTemplate}`. Sends the run's
//! context (and its run token, so the agent can call back while the request is open) to the
//! agent's endpoint; a 2xx answer is success. A JSON answer may carry a usage report and a
//! result, as a process's output can.

use std::time::Duration;

use paperclip_domain::RunStatus;
use serde_json::{json, Value};

use super::*;

const DEFAULT_TIMEOUT_SEC: u64 = 300;
const MAX_TIMEOUT_SEC: u64 = 24 * 3600;
/// The most of an answer kept as the run's result.
const MAX_ANSWER: usize = 64 * 1024;

/// The `http` adapter.
#[derive(Debug, Clone, Default)]
pub struct HttpAdapter {
    client: reqwest::Client,
}

/// A parsed `http` config.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    pub url: url::Url,
    pub method: reqwest::Method,
    pub headers: Vec<(String, String)>,
    pub timeout: Duration,
    pub payload_template: Option<Value>,
}

impl HttpConfig {
    pub fn parse(config: &Value) -> Result<Self, ConfigProblem> {
        let f = Fields::of(config)?;
        let raw = f.required("url", 4096, "the endpoint the http adapter calls")?;
        let url = url::Url::parse(raw)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
            .ok_or_else(|| {
                ConfigProblem::new("url", "url must be an absolute http:// or https:// URL")
            })?;
        let method = match f
            .string("method", 10)?
            .map(str::to_ascii_uppercase)
            .as_deref()
        {
            None | Some("POST") => reqwest::Method::POST,
            Some("PUT") => reqwest::Method::PUT,
            Some("PATCH") => reqwest::Method::PATCH,
            Some(_) => {
                return Err(ConfigProblem::new(
                    "method",
                    "method must be one of: POST, PUT, PATCH",
                ))
            }
        };
        let headers = f.string_map("headers")?;
        for (k, v) in &headers {
            if reqwest::header::HeaderName::from_bytes(k.as_bytes()).is_err()
                || reqwest::header::HeaderValue::from_str(v).is_err()
            {
                return Err(ConfigProblem::new(
                    "headers",
                    format!("headers.{k} is not a valid HTTP header"),
                ));
            }
        }
        let secs = f
            .seconds("timeoutSec", MAX_TIMEOUT_SEC)?
            .filter(|s| *s > 0)
            .unwrap_or(DEFAULT_TIMEOUT_SEC);
        Ok(Self {
            url,
            method,
            headers,
            timeout: Duration::from_secs(secs),
            payload_template: f.object("payloadTemplate")?.cloned(),
        })
    }
}

impl Adapter for HttpAdapter {
    fn kind(&self) -> &'static str {
        "http"
    }

    fn describe(&self) -> AdapterInfo {
        AdapterInfo {
            kind: "http",
            label: "HTTP",
            description: "Calls the agent's endpoint with the run's context; 2xx is success",
            built_in: true,
            disabled: false,
            supports_local_agent_jwt: true,
            config_fields: vec![
                ConfigField::new("url", "string", true, "The agent's http(s) endpoint"),
                ConfigField::new("method", "string", false, "POST (default), PUT or PATCH"),
                ConfigField::new("headers", "object", false, "Extra request headers"),
                ConfigField::new(
                    "timeoutSec",
                    "integer",
                    false,
                    "Seconds to wait for the answer (default 300)",
                ),
                ConfigField::new(
                    "payloadTemplate",
                    "object",
                    false,
                    "Fields merged into the payload",
                ),
            ],
        }
    }

    fn validate(&self, config: &Value) -> Result<(), ConfigProblem> {
        HttpConfig::parse(config).map(drop)
    }

    fn execute<'a>(
        &'a self,
        ctx: &'a RunContext,
        out: Sink,
        mut stop: Stop,
    ) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            let cfg = match HttpConfig::parse(&ctx.adapter_config) {
                Ok(c) => c,
                Err(p) => return Outcome::failed("adapter_config_invalid", p.to_string()),
            };
            let mut payload = json!({
                "runId": ctx.run_id, "agentId": ctx.agent_id, "companyId": ctx.company_id,
                "agentName": ctx.agent_name, "context": ctx.context,
                "apiUrl": ctx.api_url, "runToken": ctx.token,
            });
            if let (Some(Value::Object(t)), Some(p)) =
                (&cfg.payload_template, payload.as_object_mut())
            {
                for (k, v) in t {
                    p.entry(k.clone()).or_insert_with(|| v.clone());
                }
            }
            let mut req = self
                .client
                .request(cfg.method.clone(), cfg.url.clone())
                .timeout(cfg.timeout)
                .json(&payload);
            for (k, v) in &cfg.headers {
                req = req.header(k, v);
            }
            let _ = out
                .send(Output::Event(NewEvent::lifecycle(
                    "info",
                    format!("{} {}", cfg.method, redacted(&cfg.url)),
                )))
                .await;
            let sent = tokio::select! {
                r = req.send() => r,
                () = async { let _ = stop.wait_for(|s| *s).await; } => {
                    let mut o = Outcome::failed("cancelled", "Cancelled by the board");
                    o.status = RunStatus::Cancelled;
                    return o;
                }
            };
            let res = match sent {
                Ok(r) => r,
                Err(e) if e.is_timeout() => {
                    let mut o = Outcome::failed(
                        "timeout",
                        format!("no answer within {} s", cfg.timeout.as_secs()),
                    );
                    o.status = RunStatus::TimedOut;
                    return o;
                }
                Err(e) => {
                    return Outcome::failed(
                        "adapter_failed",
                        format!("cannot reach the agent: {}", e.without_url()),
                    )
                }
            };
            let code = res.status();
            let body = read_capped(res).await;
            let _ = out
                .send(Output::Line {
                    stream: Stream::Stdout,
                    text: format!("{body}\n"),
                })
                .await;
            let mut reported = Reported::default();
            let answer = serde_json::from_str::<Value>(&body).ok();
            if let Some(a) = &answer {
                if let Some(u) = a.get("usage").filter(|u| u.is_object()) {
                    reported.add_usage(u);
                }
            }
            let ok = code.is_success();
            Outcome {
                status: if ok {
                    RunStatus::Succeeded
                } else {
                    RunStatus::Failed
                },
                exit_code: None,
                signal: None,
                error: (!ok).then(|| format!("the agent answered {code}")),
                error_code: (!ok).then(|| "adapter_failed".into()),
                usage: reported.usage,
                cost: reported.cost,
                result: answer.or_else(|| (!body.is_empty()).then(|| json!({"text": body}))),
                external_run_id: None,
                session: SessionChange::Keep,
            }
        })
    }
}

/// The URL without credentials or query (a query may hold a key).
fn redacted(u: &url::Url) -> String {
    let mut u = u.clone();
    let _ = u.set_username("");
    let _ = u.set_password(None);
    u.set_query(None);
    u.to_string()
}

async fn read_capped(mut res: reqwest::Response) -> String {
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = res.chunk().await {
        let room = MAX_ANSWER.saturating_sub(body.len());
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if room <= chunk.len() {
            break;
        }
    }
    String::from_utf8_lossy(&body).into_owned()
}
