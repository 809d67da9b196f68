//! The HTTP listener's settings: bind address, port, deployment mode, allowed host names.

use paperclip_domain::{DeploymentExposure, DeploymentMode};
use std::net::IpAddr;

use crate::{ConfigError, ConfigFile, Env, Result};

/// Default HTTP port.
pub const DEFAULT_HTTP_PORT: u16 = 3100;

/// HTTP listener settings.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    /// Bind address.
    pub host: IpAddr,
    /// Port; 0 asks for any free port.
    pub port: u16,
    /// `local_trusted` (loopback, no login) or `authenticated` (`PAPERCLIP_DEPLOYMENT_MODE`,
    /// `server.deploymentMode`).
    pub deployment_mode: DeploymentMode,
    /// `private` (Host must be allowed) or `public` (`PAPERCLIP_DEPLOYMENT_EXPOSURE`,
    /// `server.exposure`); meaningful in authenticated mode.
    pub exposure: DeploymentExposure,
    /// Board sign-in settings.
    pub auth: AuthSettings,
    /// Host names (besides loopback ones) the server answers to (`server.allowedHostnames`):
    /// any other `Host` header is refused, which stops DNS rebinding.
    pub allowed_hostnames: Vec<String>,
    /// `DELETE /api/companies/:id` is allowed (`PAPERCLIP_ENABLE_COMPANY_DELETION`; on by
    /// default in `local_trusted` mode, off in `authenticated` mode).
    pub company_deletion: bool,
}

/// How board users sign in, in authenticated mode.
#[derive(Debug, Clone)]
pub struct AuthSettings {
    /// Sign-up without an invite is closed (`auth.disableSignUp`,
    /// `PAPERCLIP_AUTH_DISABLE_SIGN_UP`; default true): accounts come from invites.
    pub disable_sign_up: bool,
    /// How long a session lasts (`auth.sessionTtlHours`, default 720 = 30 days).
    pub session_ttl_secs: i64,
    /// The URL users reach the board at (`PAPERCLIP_PUBLIC_URL`, `auth.publicBaseUrl`): invite
    /// links use it, and an `https` URL makes session cookies `Secure`.
    pub public_url: Option<String>,
    /// A reverse proxy in front sets `X-Forwarded-For` / `X-Forwarded-Proto`
    /// (`server.trustProxy`, `PAPERCLIP_TRUST_PROXY`): client addresses (login throttling) and
    /// TLS (`Secure` cookies) are read from them. Off, both headers are ignored.
    pub trust_proxy: bool,
}

pub(crate) fn server_settings(env: &Env, config: &ConfigFile) -> Result<ServerSettings> {
    let host_text = match (env.get("HOST"), env.get("PAPERCLIP_BIND")) {
        (Some(h), _) => h.to_string(),
        (None, Some(bind)) => match bind.trim() {
            "loopback" => "127.0.0.1".into(),
            "lan" => "0.0.0.0".into(),
            _ => {
                return Err(ConfigError::InvalidEnv {
                    var: "PAPERCLIP_BIND",
                    expected: "must be \"loopback\" or \"lan\" (any other address: set HOST)",
                    value: bind.to_string(),
                })
            }
        },
        (None, None) => config
            .string("server.host")?
            .unwrap_or_else(|| "127.0.0.1".into()),
    };
    let host = parse_host(&host_text).ok_or_else(|| {
        if env.get("HOST").is_some() {
            ConfigError::InvalidEnv {
                var: "HOST",
                expected: "must be an IP address or \"localhost\"",
                value: host_text.clone(),
            }
        } else {
            config.invalid("server.host", "must be an IP address or \"localhost\"")
        }
    })?;
    let port = match env.port("PORT", true)? {
        Some(p) => p,
        None => config
            .integer("server.port", 0, 65535)?
            .map_or(DEFAULT_HTTP_PORT, |p| p as u16),
    };
    let deployment_mode = match env.get("PAPERCLIP_DEPLOYMENT_MODE") {
        Some(text) => text.trim().parse().map_err(|_| ConfigError::InvalidEnv {
            var: "PAPERCLIP_DEPLOYMENT_MODE",
            expected: "must be \"local_trusted\" or \"authenticated\"",
            value: text.to_string(),
        })?,
        None => match config.string("server.deploymentMode")? {
            None => DeploymentMode::LocalTrusted,
            Some(text) => text.parse().map_err(|_| {
                config.invalid(
                    "server.deploymentMode",
                    "must be \"local_trusted\" or \"authenticated\"",
                )
            })?,
        },
    };
    if deployment_mode == DeploymentMode::LocalTrusted && !host.is_loopback() {
        return Err(ConfigError::LocalTrustedExposed { host: host_text });
    }
    let exposure = match env.get("PAPERCLIP_DEPLOYMENT_EXPOSURE") {
        Some(text) => text.trim().parse().map_err(|_| ConfigError::InvalidEnv {
            var: "PAPERCLIP_DEPLOYMENT_EXPOSURE",
            expected: "must be \"private\" or \"public\"",
            value: text.to_string(),
        })?,
        None => match config.string("server.exposure")? {
            None => DeploymentExposure::Private,
            Some(text) => text.parse().map_err(|_| {
                config.invalid("server.exposure", "must be \"private\" or \"public\"")
            })?,
        },
    };
    let public_url = match env.get("PAPERCLIP_PUBLIC_URL") {
        Some(u) => Some(u.trim().to_string()),
        None => config.string("auth.publicBaseUrl")?,
    };
    if let Some(u) = &public_url {
        let ok = url::Url::parse(u)
            .ok()
            .is_some_and(|p| matches!(p.scheme(), "http" | "https") && p.host_str().is_some());
        if !ok {
            return Err(ConfigError::InvalidEnv {
                var: "PAPERCLIP_PUBLIC_URL",
                expected: "must be an http(s) URL such as https://paperclip.example.com",
                value: u.clone(),
            });
        }
    }
    let auth = AuthSettings {
        disable_sign_up: match env.bool("PAPERCLIP_AUTH_DISABLE_SIGN_UP")? {
            Some(b) => b,
            None => config.boolean("auth.disableSignUp")?.unwrap_or(true),
        },
        session_ttl_secs: config
            .integer("auth.sessionTtlHours", 1, 24 * 365)?
            .unwrap_or(720)
            * 3600,
        public_url: public_url.map(|u| u.trim_end_matches('/').to_string()),
        trust_proxy: match env.bool("PAPERCLIP_TRUST_PROXY")? {
            Some(b) => b,
            None => config.boolean("server.trustProxy")?.unwrap_or(false),
        },
    };
    let mut allowed_hostnames: Vec<String> = config
        .strings("server.allowedHostnames")?
        .unwrap_or_default()
        .into_iter()
        .map(|h| h.trim().to_ascii_lowercase())
        .filter(|h| !h.is_empty())
        .collect();
    // The public URL's own host is always allowed.
    if let Some(h) = auth
        .public_url
        .as_deref()
        .and_then(|u| url::Url::parse(u).ok())
        .and_then(|u| u.host_str().map(str::to_ascii_lowercase))
    {
        if !allowed_hostnames.contains(&h) {
            allowed_hostnames.push(h);
        }
    }
    let company_deletion = env
        .bool("PAPERCLIP_ENABLE_COMPANY_DELETION")?
        .unwrap_or(deployment_mode == DeploymentMode::LocalTrusted);
    Ok(ServerSettings {
        company_deletion,
        host,
        port,
        deployment_mode,
        exposure,
        auth,
        allowed_hostnames,
    })
}

fn parse_host(h: &str) -> Option<IpAddr> {
    if h.eq_ignore_ascii_case("localhost") {
        return Some(IpAddr::from([127, 0, 0, 1]));
    }
    h.parse().ok()
}
