//! Running PostgreSQL as an unprivileged user when Paperclip runs as root.
//!
//! PostgreSQL refuses to run as root. In containers and CI Paperclip often is root, so the
//! cluster runs as the `postgres` account (or `PAPERCLIP_EMBEDDED_POSTGRES_OS_USER`), and the
//! data directory belongs to that account.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use nix::unistd::{chown, Gid, Uid, User};

use crate::{DbError, Result};

/// The account PostgreSQL runs as, when it is not the current one.
#[derive(Debug, Clone)]
pub struct RunAs {
    pub uid: Uid,
    pub gid: Gid,
    pub name: String,
}

impl RunAs {
    /// `None` when not root (PostgreSQL runs as the current user); otherwise the configured
    /// account, default `postgres`.
    pub fn resolve(configured: Option<&str>) -> Result<Option<Self>> {
        if !Uid::effective().is_root() {
            return Ok(None);
        }
        let name = configured.unwrap_or("postgres");
        let user = User::from_name(name)
            .ok()
            .flatten()
            .ok_or_else(|| DbError::NoServiceUser {
                user: name.to_string(),
            })?;
        if user.uid.is_root() {
            return Err(DbError::Unsafe {
                data_dir: Default::default(),
                reason: format!("PAPERCLIP_EMBEDDED_POSTGRES_OS_USER={name} is root; PostgreSQL must run unprivileged"),
            });
        }
        Ok(Some(Self {
            uid: user.uid,
            gid: user.gid,
            name: name.to_string(),
        }))
    }

    /// Makes `cmd` run as this account.
    pub fn apply(&self, cmd: &mut Command) {
        use std::os::unix::process::CommandExt;
        // std calls setgroups(0) before setuid when it drops root, so no extra groups remain.
        cmd.uid(self.uid.as_raw()).gid(self.gid.as_raw());
    }

    /// Gives this account `path` (and, for directories, everything below it).
    pub fn own_recursively(&self, path: &Path) -> Result<()> {
        chown(path, Some(self.uid), Some(self.gid))
            .map_err(|e| DbError::io("cannot chown", path)(e.into()))?;
        if path.is_dir() && !path.is_symlink() {
            for entry in std::fs::read_dir(path).map_err(DbError::io("cannot read", path))? {
                let entry = entry.map_err(DbError::io("cannot read", path))?;
                self.own_recursively(&entry.path())?;
            }
        }
        Ok(())
    }

    /// Owns `path` unless it already belongs to this account (cheap on warm starts).
    pub fn ensure_owner(&self, path: &Path) -> Result<()> {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(path).map_err(DbError::io("cannot stat", path))?;
        if meta.uid() != self.uid.as_raw() {
            self.own_recursively(path)?;
        }
        Ok(())
    }

    /// Lets this account traverse every ancestor of `path` (e.g. `/root`, mode 0700).
    /// Adds only the search bit for others, never read or write, and says so.
    pub fn ensure_traversable(&self, path: &Path) -> Result<Vec<String>> {
        use std::os::unix::fs::MetadataExt;
        let mut changed = Vec::new();
        for dir in path.ancestors().skip(1) {
            let Ok(meta) = std::fs::metadata(dir) else {
                continue;
            };
            let mode = meta.mode();
            let ok = mode & 0o001 != 0
                || (meta.uid() == self.uid.as_raw() && mode & 0o100 != 0)
                || (meta.gid() == self.gid.as_raw() && mode & 0o010 != 0);
            if !ok {
                let mut perms = meta.permissions();
                perms.set_mode((mode & 0o7777) | 0o001);
                std::fs::set_permissions(dir, perms)
                    .map_err(DbError::io("cannot add the search permission to", dir))?;
                changed.push(dir.display().to_string());
            }
        }
        Ok(changed)
    }
}
