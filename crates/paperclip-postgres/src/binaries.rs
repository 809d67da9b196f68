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

    /// Finds the binaries: the explicit folder (no fallback if it is wrong); else the builds
    /// `paperclipai postgres install` put under `installed` (newest first), `pg_config
    /// --bindir`, `PATH`, the newest `/usr/lib/postgresql/*/bin`, and common macOS locations.
    /// With `want_major` (an existing cluster's version) the first folder of that major wins,
    /// so installing a newer build never strands a cluster; otherwise the first of ≥ 15.
    pub fn locate(
        explicit: Option<&Path>,
        installed: Option<&Path>,
        want_major: Option<u32>,
    ) -> Result<Self> {
        if let Some(dir) = explicit {
            let found = probe(dir).ok_or_else(|| DbError::BinariesNotFound {
                searched: format!("{} (PAPERCLIP_PG_BIN_DIR)", dir.display()),
                system_hint: system_install_hint(),
            })?;
            return check_min(found);
        }
        let mut candidates: Vec<PathBuf> = installed
            .map(crate::provision::installed_bin_dirs)
            .unwrap_or_default();
        candidates.extend(candidates_on_system());
        let found: Vec<PgBinaries> = candidates.iter().filter_map(|d| probe(d)).collect();
        if let Some(m) = want_major {
            if let Some(b) = found.iter().find(|b| b.major == m) {
                return Ok(b.clone());
            }
        }
        if let Some(b) = found.iter().find(|b| b.major >= MIN_MAJOR) {
            return Ok(b.clone());
        }
        match found.into_iter().next() {
            Some(old) => check_min(old),
            None => Err(DbError::BinariesNotFound {
                searched: candidates
                    .iter()
                    .map(|d| d.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                system_hint: system_install_hint(),
            }),
        }
    }
}

/// The package-manager line that installs PostgreSQL here, from `/etc/os-release`.
pub fn system_install_hint() -> String {
    if cfg!(target_os = "macos") {
        return "brew install postgresql@17".into();
    }
    let release = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
    install_hint_for(&release)
}

/// The install line for a Linux distribution described by an os-release text.
pub fn install_hint_for(os_release: &str) -> String {
    let field = |k: &str| {
        os_release
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{k}=")))
            .map(|v| v.trim_matches('"').to_ascii_lowercase())
            .unwrap_or_default()
    };
    let ids = format!("{} {}", field("ID"), field("ID_LIKE"));
    let has = |id: &str| ids.split_whitespace().any(|i| i == id);
    if has("debian") || has("ubuntu") {
        "sudo apt-get install postgresql".into()
    } else if has("fedora") || has("rhel") || has("centos") {
        "sudo dnf install postgresql-server".into()
    } else if has("alpine") {
        "sudo apk add postgresql".into()
    } else if has("arch") {
        "sudo pacman -S postgresql".into()
    } else if has("suse") || has("opensuse") {
        "sudo zypper install postgresql-server".into()
    } else {
        "install PostgreSQL 15 or newer (server package)".into()
    }
}

/// Client tools (`pg_dump`, `pg_restore`) able to talk to a server of `server_major`: the same
/// major if installed, else the newest newer one (pg_dump refuses servers newer than itself).
pub fn locate_client(explicit: Option<&Path>, server_major: u32, tool: &str) -> Result<PgBinaries> {
    let mut found: Vec<PgBinaries> = explicit
        .map(Path::to_path_buf)
        .into_iter()
        .chain(candidates_on_system())
        .filter(|d| d.join(tool).is_file())
        .filter_map(|d| probe_client(&d, tool))
        .filter(|b| b.major >= server_major)
        .collect();
    found.sort_by_key(|b| (b.major != server_major, std::cmp::Reverse(b.major)));
    found
        .into_iter()
        .next()
        .ok_or_else(|| DbError::ClientToolNotFound {
            tool: tool.into(),
            major: server_major,
            searched: "PAPERCLIP_PG_BIN_DIR, pg_config, PATH, /usr/lib/postgresql/*/bin".into(),
            hint: if cfg!(target_os = "macos") {
                format!("brew install postgresql@{server_major}")
            } else {
                format!("the postgresql-client-{server_major} package (Debian/Ubuntu), or postgresql{server_major} on other systems")
            },
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

fn candidates_on_system() -> Vec<PathBuf> {
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
        let err = PgBinaries::locate(Some(dir.path()), None, None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("PAPERCLIP_PG_BIN_DIR"), "{err}");
        assert!(err.contains("apt-get install postgresql"), "{err}");
        assert!(err.contains("paperclipai postgres install"), "{err}");
    }

    #[test]
    fn finds_installed_binaries_of_a_supported_version() {
        let b = PgBinaries::locate(None, None, None)
            .expect("PostgreSQL binaries are installed for tests");
        assert!(b.major >= MIN_MAJOR);
        assert!(b.tool("initdb").is_file());
    }

    #[test]
    fn the_install_line_follows_the_distribution() {
        let debian = "PRETTY_NAME=\"Debian GNU/Linux 12\"\nID=debian\n";
        assert_eq!(install_hint_for(debian), "sudo apt-get install postgresql");
        let mint = "ID=linuxmint\nID_LIKE=\"ubuntu debian\"\n";
        assert_eq!(install_hint_for(mint), "sudo apt-get install postgresql");
        let rocky = "ID=\"rocky\"\nID_LIKE=\"rhel centos fedora\"\n";
        assert_eq!(
            install_hint_for(rocky),
            "sudo dnf install postgresql-server"
        );
        assert_eq!(install_hint_for("ID=alpine\n"), "sudo apk add postgresql");
        assert!(install_hint_for("ID=plan9\n").contains("PostgreSQL 15 or newer"));
    }
}
