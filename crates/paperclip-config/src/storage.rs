//! File storage settings (`PAPERCLIP_STORAGE_*`, `storage.*` in config.json): where attachment
//! bytes go, and what an upload may be.

use std::path::PathBuf;

use crate::paths::{absolute, expand_tilde};
use crate::{ConfigError, ConfigFile, Env, InstancePaths, Result};

/// Largest attachment accepted by default (upstream's 10 MiB).
pub const DEFAULT_ATTACHMENT_MAX_BYTES: u64 = 10 << 20;

/// Content types accepted by default. `PAPERCLIP_ALLOWED_ATTACHMENT_TYPES` replaces the list
/// (comma-separated, `type/*` and `*` allowed).
pub const DEFAULT_ATTACHMENT_TYPES: &[&str] = &[
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "application/pdf",
    "text/plain",
    "text/markdown",
    "text/csv",
    "application/json",
    "application/zip",
    "application/gzip",
    "application/x-tar",
    "application/octet-stream",
];

/// Storage settings, resolved once.
#[derive(Debug, Clone)]
pub struct StorageSettings {
    /// Where the bytes live.
    pub provider: StorageProvider,
    /// Largest upload (`PAPERCLIP_ATTACHMENT_MAX_BYTES`, `storage.attachmentMaxBytes`).
    pub max_bytes: u64,
    /// Accepted content types, lower case.
    pub allowed_types: Vec<String>,
}

impl StorageSettings {
    /// `local_disk` under `base_dir` with the default limits (tests, the plugin testing host).
    pub fn local(base_dir: PathBuf) -> Self {
        Self {
            provider: StorageProvider::LocalDisk { base_dir },
            max_bytes: DEFAULT_ATTACHMENT_MAX_BYTES,
            allowed_types: DEFAULT_ATTACHMENT_TYPES
                .iter()
                .map(|t| (*t).to_string())
                .collect(),
        }
    }
}

/// A storage provider and its own settings.
#[derive(Debug, Clone)]
pub enum StorageProvider {
    /// Files under a folder (default `<instance>/data/storage`).
    LocalDisk { base_dir: PathBuf },
    /// An S3-compatible bucket. Credentials come from the usual `AWS_*` variables.
    S3 {
        bucket: String,
        region: String,
        /// A non-AWS endpoint (MinIO, R2, …), `http://` allowed.
        endpoint: Option<String>,
        /// Key prefix inside the bucket.
        prefix: String,
        /// Path-style addressing (`endpoint/bucket/key`), which most non-AWS servers need.
        force_path_style: bool,
    },
}

impl StorageProvider {
    /// Upstream's name of the provider.
    pub fn name(&self) -> &'static str {
        match self {
            Self::LocalDisk { .. } => "local_disk",
            Self::S3 { .. } => "s3",
        }
    }
}

fn text(env: &Env, config: &ConfigFile, var: &str, key: &str) -> Result<Option<String>> {
    match env.get(var) {
        Some(v) => Ok(Some(v.to_string())),
        None => config.string(key),
    }
}

pub(crate) fn storage_settings(
    env: &Env,
    config: &ConfigFile,
    paths: &InstancePaths,
) -> Result<StorageSettings> {
    let provider_name = text(
        env,
        config,
        "PAPERCLIP_STORAGE_PROVIDER",
        "storage.provider",
    )?
    .unwrap_or_else(|| "local_disk".into());
    let provider = match provider_name.as_str() {
        "local_disk" => {
            let base_dir = match text(
                env,
                config,
                "PAPERCLIP_STORAGE_LOCAL_DIR",
                "storage.localDisk.baseDir",
            )? {
                Some(d) => absolute(&expand_tilde(&d, env)?),
                None => paths.storage_dir(),
            };
            StorageProvider::LocalDisk { base_dir }
        }
        "s3" => {
            let bucket = text(
                env,
                config,
                "PAPERCLIP_STORAGE_S3_BUCKET",
                "storage.s3.bucket",
            )?
            .unwrap_or_else(|| "paperclip".into());
            let region = text(
                env,
                config,
                "PAPERCLIP_STORAGE_S3_REGION",
                "storage.s3.region",
            )?
            .unwrap_or_else(|| "us-east-1".into());
            let endpoint = text(
                env,
                config,
                "PAPERCLIP_STORAGE_S3_ENDPOINT",
                "storage.s3.endpoint",
            )?
            .filter(|e| !e.trim().is_empty());
            if let Some(e) = &endpoint {
                let ok = url::Url::parse(e).is_ok_and(|u| matches!(u.scheme(), "http" | "https"));
                if !ok {
                    return Err(ConfigError::InvalidEnv {
                        var: "PAPERCLIP_STORAGE_S3_ENDPOINT",
                        expected: "must be an http:// or https:// URL",
                        value: e.clone(),
                    });
                }
            }
            let prefix = text(
                env,
                config,
                "PAPERCLIP_STORAGE_S3_PREFIX",
                "storage.s3.prefix",
            )?
            .unwrap_or_default()
            .trim_matches('/')
            .to_string();
            let force_path_style = match env.bool("PAPERCLIP_STORAGE_S3_FORCE_PATH_STYLE")? {
                Some(b) => b,
                None => config
                    .boolean("storage.s3.forcePathStyle")?
                    .unwrap_or(false),
            };
            if bucket.trim().is_empty() {
                return Err(config.invalid("storage.s3.bucket", "must not be empty"));
            }
            StorageProvider::S3 {
                bucket,
                region,
                endpoint,
                prefix,
                force_path_style,
            }
        }
        other => {
            return Err(ConfigError::InvalidEnv {
                var: "PAPERCLIP_STORAGE_PROVIDER",
                expected: "must be local_disk or s3",
                value: other.to_string(),
            })
        }
    };
    let max_bytes = match env.get("PAPERCLIP_ATTACHMENT_MAX_BYTES") {
        Some(v) => match v.trim().parse::<u64>() {
            Ok(n) if n > 0 => n,
            _ => {
                return Err(ConfigError::InvalidEnv {
                    var: "PAPERCLIP_ATTACHMENT_MAX_BYTES",
                    expected: "must be a positive number of bytes",
                    value: v.to_string(),
                })
            }
        },
        None => config
            .integer("storage.attachmentMaxBytes", 1, i64::MAX)?
            .map_or(DEFAULT_ATTACHMENT_MAX_BYTES, |n| n as u64),
    };
    let allowed_types = match env.get("PAPERCLIP_ALLOWED_ATTACHMENT_TYPES") {
        Some(v) => {
            let list: Vec<String> = v
                .split(',')
                .map(|t| t.trim().to_ascii_lowercase())
                .filter(|t| !t.is_empty())
                .collect();
            let valid = |t: &String| {
                t == "*"
                    || t.split_once('/')
                        .is_some_and(|(a, b)| !a.is_empty() && !b.is_empty())
            };
            if list.is_empty() || !list.iter().all(valid) {
                return Err(ConfigError::InvalidEnv {
                    var: "PAPERCLIP_ALLOWED_ATTACHMENT_TYPES",
                    expected: "must be a comma-separated list of type/subtype, type/* or *",
                    value: v.to_string(),
                });
            }
            list
        }
        None => DEFAULT_ATTACHMENT_TYPES
            .iter()
            .map(|t| (*t).to_string())
            .collect(),
    };
    Ok(StorageSettings {
        provider,
        max_bytes,
        allowed_types,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(pairs: &[(&str, &str)]) -> Result<StorageSettings> {
        let mut all = vec![("PAPERCLIP_HOME", "/srv/pc")];
        all.extend_from_slice(pairs);
        let env = Env::from_pairs(all);
        let paths = InstancePaths::resolve(&env).unwrap();
        let config = ConfigFile::load(std::path::Path::new("/nonexistent/config.json")).unwrap();
        storage_settings(&env, &config, &paths)
    }

    #[test]
    fn defaults_to_local_disk_under_the_instance() {
        let s = resolve(&[]).unwrap();
        match s.provider {
            StorageProvider::LocalDisk { base_dir } => assert_eq!(
                base_dir,
                PathBuf::from("/srv/pc/instances/default/data/storage")
            ),
            StorageProvider::S3 { .. } => panic!("expected local_disk"),
        }
        assert_eq!(s.max_bytes, DEFAULT_ATTACHMENT_MAX_BYTES);
    }

    #[test]
    fn s3_settings_and_bad_values_are_named() {
        let s = resolve(&[
            ("PAPERCLIP_STORAGE_PROVIDER", "s3"),
            ("PAPERCLIP_STORAGE_S3_ENDPOINT", "http://127.0.0.1:9000"),
            ("PAPERCLIP_STORAGE_S3_PREFIX", "/pc/"),
            ("PAPERCLIP_STORAGE_S3_FORCE_PATH_STYLE", "true"),
        ])
        .unwrap();
        match s.provider {
            StorageProvider::S3 {
                bucket,
                prefix,
                force_path_style,
                ..
            } => {
                assert_eq!(bucket, "paperclip");
                assert_eq!(prefix, "pc");
                assert!(force_path_style);
            }
            StorageProvider::LocalDisk { .. } => panic!("expected s3"),
        }
        let e = resolve(&[("PAPERCLIP_STORAGE_PROVIDER", "ftp")]).unwrap_err();
        assert!(e.to_string().contains("PAPERCLIP_STORAGE_PROVIDER"), "{e}");
        let e = resolve(&[
            ("PAPERCLIP_STORAGE_PROVIDER", "s3"),
            ("PAPERCLIP_STORAGE_S3_ENDPOINT", "ftp://x"),
        ])
        .unwrap_err();
        assert!(
            e.to_string().contains("PAPERCLIP_STORAGE_S3_ENDPOINT"),
            "{e}"
        );
        let e = resolve(&[("PAPERCLIP_ATTACHMENT_MAX_BYTES", "0")]).unwrap_err();
        assert!(
            e.to_string().contains("PAPERCLIP_ATTACHMENT_MAX_BYTES"),
            "{e}"
        );
        let e = resolve(&[("PAPERCLIP_ALLOWED_ATTACHMENT_TYPES", "png")]).unwrap_err();
        assert!(
            e.to_string().contains("PAPERCLIP_ALLOWED_ATTACHMENT_TYPES"),
            "{e}"
        );
    }
}
