//! The HTTP listener's settings: bind address, port, deployment mode, allowed host names.

use paperclip_domain::DeploymentMode;
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
    /// `local_trusted` (the only mode so far) or `authenticated`.
    pub deployment_mode: DeploymentMode,
    /// Host names (besides loopback ones) the server answers to (`server.allowedHostnames`):
    /// any other `Host` header is refused, which stops DNS rebinding.
    pub allowed_hostnames: Vec<String>,
    /// `DELETE /api/companies/:id` is allowed (`PAPERCLIP_ENABLE_COMPANY_DELETION`; on by
    /// default in `local_trusted` mode, off in `authenticated` mode).
    pub company_deletion: bool,
}

pub(crate) fn server_settings(env: &Env, config: &ConfigFile) -> Result<ServerSettings> {
    let host_text = match env.get("HOST") {
        Some(h) => h.to_string(),
        None => config
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
    let deployment_mode = match config.string("server.deploymentMode")? {
        None => DeploymentMode::LocalTrusted,
        Some(text) => text.parse().map_err(|_| {
            config.invalid(
                "server.deploymentMode",
                "must be \"local_trusted\" or \"authenticated\"",
            )
        })?,
    };
    if deployment_mode == DeploymentMode::LocalTrusted && !host.is_loopback() {
        return Err(ConfigError::InvalidEnv {
            var: "HOST",
            expected: "must be a loopback address in local_trusted mode (there is no login)",
            value: host_text,
        });
    }
    let allowed_hostnames = config
        .strings("server.allowedHostnames")?
        .unwrap_or_default()
        .into_iter()
        .map(|h| h.trim().to_ascii_lowercase())
        .filter(|h| !h.is_empty())
        .collect();
    let company_deletion = env
        .bool("PAPERCLIP_ENABLE_COMPANY_DELETION")?
        .unwrap_or(deployment_mode == DeploymentMode::LocalTrusted);
    Ok(ServerSettings {
        company_deletion,
        host,
        port,
        deployment_mode,
        allowed_hostnames,
    })
}

fn parse_host(h: &str) -> Option<IpAddr> {
    if h.eq_ignore_ascii_case("localhost") {
        return Some(IpAddr::from([127, 0, 0, 1]));
    }
    h.parse().ok()
}
