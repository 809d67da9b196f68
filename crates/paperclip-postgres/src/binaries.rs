//! Finding PostgreSQL server binaries on this machine.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{DbError, Result};

/// Oldest PostgreSQL major version Paperclip supports (`NULLS NOT DISTINCT` and friends).
pub const MIN_MAJOR: u32 = 15;

/// A folder holding `initdb` and `postgres` of one PostgreSQL version.
#[derive(Debug, Clone)]
pub struct PgBinaries {
    /// The folder.
    pub dir: PathBuf,
    /// Major version, e.g. 15.
    pub major: u32,
    /// Full version text, e.g. `15.18`.
    pub version: String,
}

impl PgBinaries {
    /// Path of one tool in this folder.
    pub fn tool(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Finds the binaries: the explicit folder (no fallback if it is wrong), then
    /// `pg_config --bindir`, `PATH`, the newest `/usr/lib/postgresql/*/bin`, and common macOS
    /// locations. The first folder with PostgreSQL ≥ 15 wins.
    pub fn locate(explicit: Option<&Path>) -> Result<Self> {
        if let Some(dir) = explicit {
            let found = probe(dir).ok_or_else(|| DbError::BinariesNotFound {
                searched: format!("{} (PAPERCLIP_PG_BIN_DIR)", dir.display()),
            })?;
            return check_min(found);
        }
        let candidates = candidates();
        let mut too_old = None;
        for dir in &candidates {
            if let Some(found) = probe(dir) {
                if found.major >= MIN_MAJOR {
                    return Ok(found);
                }
                too_old.get_or_insert(found);
            }
        }
        match too_old {
            Some(old) => check_min(old),
            None => Err(DbError::BinariesNotFound {
                searched: candidates
                    .iter()
                    .map(|d| d.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
        }
    }
}

/// Client tools (`pg_dump`, `pg_restore`) able to talk to a server of `server_major`: the same
/// major if installed, else the newest newer one (pg_dump refuses servers newer than itself).
pub fn locate_client(explicit: Option<&Path>, server_major: u32, tool: &str) -> Result<PgBinaries> {
    let mut found: Vec<PgBinaries> = explicit
        .map(Path::to_path_buf)
        .into_iter()
        .chain(candidates())
        .filter(|d| d.join(tool).is_file())
        .filter_map(|d| probe_client(&d, tool))
        .filter(|b| b.major >= server_major)
        .collect();
    found.sort_by_key(|b| (b.major != server_major, std::cmp::Reverse(b.major)));
    found.into_iter().next().ok_or_else(|| DbError::BinariesNotFound {
        searched: format!("{tool} for PostgreSQL {server_major} or newer (install postgresql-client-{server_major})"),
    })
}

/// Version of `dir/tool` from its `--version` output, e.g.
/// "postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)".
fn probe_client(dir: &Path, tool: &str) -> Option<PgBinaries> {
    let out = Command::new(dir.join(tool))
        .arg("--version")
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let version = text.split_whitespace().nth(2)?.to_string();
    let major = version.split('.').next()?.parse().ok()?;
    Some(PgBinaries {
        dir: dir.to_path_buf(),
        major,
        version,
    })
}

fn check_min(b: PgBinaries) -> Result<PgBinaries> {
    if b.major < MIN_MAJOR {
        return Err(DbError::BinariesTooOld {
            dir: b.dir,
            version: b.version,
        });
    }
    Ok(b)
}

fn candidates() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        if out.status.success() {
            dirs.push(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()));
        }
    }
    if let Some(path) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&path));
    }
    dirs.extend(versioned_dirs("/usr/lib/postgresql", "bin"));
    for base in ["/opt/homebrew/opt", "/usr/local/opt"] {
        let mut v: Vec<_> = std::fs::read_dir(base)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with("postgresql"))
            .map(|e| e.path().join("bin"))
            .collect();
        v.sort_by_key(|p| std::cmp::Reverse(major_in_path(p)));
        dirs.extend(v);
    }
    dirs.push(PathBuf::from(
        "/Applications/Postgres.app/Contents/Versions/latest/bin",
    ));
    let mut seen = std::collections::HashSet::new();
    dirs.retain(|d| seen.insert(d.clone()));
    dirs
}

/// `<base>/<version>/<sub>` folders, newest version first.
fn versioned_dirs(base: &str, sub: &str) -> Vec<PathBuf> {
    let mut v: Vec<(u32, PathBuf)> = std::fs::read_dir(base)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let major = e.file_name().to_string_lossy().parse::<u32>().ok()?;
            Some((major, e.path().join(sub)))
        })
        .collect();
    v.sort_by_key(|(m, _)| std::cmp::Reverse(*m));
    v.into_iter().map(|(_, p)| p).collect()
}

fn major_in_path(p: &Path) -> u32 {
    p.to_string_lossy()
        .split(|c: char| !c.is_ascii_digit())
        .find_map(|s| s.parse().ok())
        .unwrap_or(0)
}

fn probe(dir: &Path) -> Option<PgBinaries> {
    if !dir.join("initdb").is_file() || !dir.join("postgres").is_file() {
        return None;
    }
    probe_client(dir, "postgres")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_explicit_folder_without_binaries_is_an_error_not_a_fallback() {
        let dir = tempfile::tempdir().unwrap();
        let err = PgBinaries::locate(Some(dir.path()))
            .unwrap_err()
            .to_string();
        assert!(err.contains("PAPERCLIP_PG_BIN_DIR"), "{err}");
        assert!(err.contains("apt-get install postgresql"), "{err}");
    }

    #[test]
    fn finds_installed_binaries_of_a_supported_version() {
        let b = PgBinaries::locate(None).expect("PostgreSQL binaries are installed for tests");
        assert!(b.major >= MIN_MAJOR);
        assert!(b.tool("initdb").is_file());
    }
}
