//! The CLI as an API client: `company`, `agent`, `issue`, `approval`, `project`, `goal`,
//! `routine`, `activity`, `dashboard`, `cost`, `token agent` and `health` over a server's HTTP API, as upstream's commands are named. The server is
//! `--api-base`, else `PAPERCLIP_API_URL`, else this instance's port on loopback; the
//! credential is `--api-key` or `PAPERCLIP_API_KEY` (none in `local_trusted` mode). Output is a
//! table for people, or the server's JSON unchanged with `--json`.

pub mod agents;
pub mod bundles;
pub mod companies;
pub mod issues;
pub mod reports;
pub mod table;
pub mod work;

use anyhow::Context;
use paperclip_config::Settings;
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

/// Where the API is and how to call it; accepted before or after the subcommand.
#[derive(Debug, Clone, clap::Args)]
pub struct ClientArgs {
    /// The server (`http://host:port`, with or without `/api`; default: `PAPERCLIP_API_URL`,
    /// else this instance's port on loopback).
    #[arg(long, env = "PAPERCLIP_API_URL", global = true)]
    pub api_base: Option<String>,
    /// A bearer token: a board key, or an agent key (none in local_trusted mode).
    #[arg(long, env = "PAPERCLIP_API_KEY", hide_env_values = true, global = true)]
    pub api_key: Option<String>,
    /// Print the server's JSON instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
}

/// A command group that talks to a server's API: where it is, and the subcommand.
#[derive(Debug, clap::Args)]
pub struct Client<C: clap::Subcommand> {
    #[command(flatten)]
    pub api: ClientArgs,
    #[command(subcommand)]
    pub command: C,
}

/// A server's API.
pub struct Api {
    base: String,
    key: Option<String>,
    http: reqwest::Client,
}

/// `base` as the API's root: `…/api`, without a trailing slash.
pub fn api_root(base: &str) -> String {
    let b = base.trim_end_matches('/');
    if b.ends_with("/api") {
        b.to_string()
    } else {
        format!("{b}/api")
    }
}

impl Api {
    /// The API the arguments name, else this instance's.
    pub fn new(args: &ClientArgs) -> anyhow::Result<Self> {
        let base = match &args.api_base {
            Some(b) => api_root(b),
            None => {
                let settings = Settings::load_from_process()?;
                format!("http://127.0.0.1:{}/api", settings.server.port)
            }
        };
        reqwest::Url::parse(&base).with_context(|| format!("--api-base {base:?} is not a URL"))?;
        // A server that accepts and never answers must not hang a script forever.
        let http = reqwest::Client::builder()
            .connect_timeout(std::time::Duration::from_secs(10))
            .timeout(std::time::Duration::from_secs(300))
            .build()
            .context("cannot build the HTTP client")?;
        Ok(Self {
            base,
            key: args.api_key.clone(),
            http,
        })
    }

    /// Sends a request; answers the JSON of a 2xx, or an error with the server's message.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&impl Serialize>,
    ) -> anyhow::Result<Value> {
        let (status, answer) = self.send_raw(method, path, body).await?;
        if !(200..300).contains(&status) {
            let message = answer
                .get("error")
                .and_then(Value::as_str)
                .map_or_else(|| answer.to_string(), str::to_string);
            let details = answer
                .get("details")
                .filter(|d| !d.is_null())
                .map(|d| format!(" {d}"))
                .unwrap_or_default();
            anyhow::bail!("the server refused it ({status}): {message}{details}");
        }
        Ok(answer)
    }

    /// Sends a request; answers its status and body (JSON when it parses, else the text).
    pub async fn send_raw(
        &self,
        method: Method,
        path: &str,
        body: Option<&impl Serialize>,
    ) -> anyhow::Result<(u16, Value)> {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(k) = &self.key {
            req = req.bearer_auth(k);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let res = req.send().await.map_err(|e| {
            anyhow::anyhow!(
                "cannot reach {}: {e} (is `paperclipai run` running? Set --api-base or PAPERCLIP_API_URL for another server)",
                self.base
            )
        })?;
        let status = res.status().as_u16();
        let text = res.text().await?;
        Ok((
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        ))
    }

    pub async fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.send(Method::GET, path, None::<&()>).await
    }

    /// A request with the credential, for callers that stream a body or an answer.
    pub fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let req = self.http.request(method, format!("{}{path}", self.base));
        match &self.key {
            Some(k) => req.bearer_auth(k),
            None => req,
        }
    }

    /// The API's root URL (for messages).
    pub fn base(&self) -> &str {
        &self.base
    }

    /// `GET path?query`.
    pub async fn get_query(&self, path: &str, query: &impl Serialize) -> anyhow::Result<Value> {
        // reqwest encodes the typed query; the URL then goes through the one request path.
        let url = self
            .http
            .get(format!("{}{path}", self.base))
            .query(query)
            .build()
            .context("cannot encode the query")?
            .url()
            .clone();
        let path_and_query = &url.as_str()[self.base.len()..];
        self.get(path_and_query).await
    }

    pub async fn post(&self, path: &str, body: &impl Serialize) -> anyhow::Result<Value> {
        self.send(Method::POST, path, Some(body)).await
    }
}

/// Reads an answer as the typed view a table shows.
pub fn view<T: DeserializeOwned>(v: &Value) -> anyhow::Result<T> {
    T::deserialize(v).context("the server's answer has an unexpected shape")
}

/// Prints `v` as JSON, or the table `human` makes of it.
pub fn print(
    json: bool,
    v: &Value,
    human: impl FnOnce(&Value) -> anyhow::Result<String>,
) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(v)?);
    } else {
        print!("{}", human(v)?);
    }
    Ok(())
}

/// Prints a list answer: the server's JSON, or a table of `header` with a row per item.
pub fn print_list<T: DeserializeOwned>(
    json: bool,
    v: &Value,
    header: &[&str],
    row: impl Fn(&T) -> Vec<String>,
) -> anyhow::Result<()> {
    print(json, v, |v| {
        let items: Vec<T> = view(v)?;
        Ok(table::render(
            header,
            &items.iter().map(row).collect::<Vec<_>>(),
        ))
    })
}

/// The company a command works in: `--company-id`, else `PAPERCLIP_COMPANY_ID`.
#[derive(Debug, Clone, clap::Args)]
pub struct CompanyArg {
    /// The company (default: PAPERCLIP_COMPANY_ID).
    #[arg(long, env = "PAPERCLIP_COMPANY_ID")]
    pub company_id: String,
}
