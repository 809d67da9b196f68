//! The unprivileged OS account a child runs as when Paperclip itself runs as root.
//!
//! Containers and CI often run Paperclip as root. PostgreSQL refuses root, and a plugin worker
//! must never have it, so both run as accounts of their own; what they need to reach gets the
//! narrowest permission that works (ownership of their own folders, the search bit on ancestors).

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

use nix::unistd::{chown, Gid, Uid, User};

use crate::{Result, SandboxError};

/// An account other than the current one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub uid: Uid,
    pub gid: Gid,
    pub name: String,
}

impl Account {
    /// `None` when not root (children run as the current user); otherwise the named account.
    pub fn resolve(name: &str) -> Result<Option<Self>> {
        if !Uid::effective().is_root() {
            return Ok(None);
        }
        Self::lookup(name)?
            .map(Some)
            .ok_or_else(|| SandboxError::NoAccount { name: name.into() })
    }

    /// Like [`Account::resolve`], but creates a missing account as a locked system account
    /// with no home and no login shell.
    pub fn resolve_or_create(name: &str) -> Result<Option<Self>> {
        if !Uid::effective().is_root() {
            return Ok(None);
        }
        if let Some(a) = Self::lookup(name)? {
            return Ok(Some(a));
        }
        let out = Command::new("useradd")
            .args(["--system", "--user-group", "--no-create-home"])
            .args([
                "--home-dir",
                "/nonexistent",
                "--shell",
                "/usr/sbin/nologin",
                name,
            ])
            .output()
            .map_err(|e| SandboxError::CreateAccount {
                name: name.into(),
                detail: e.to_string(),
            })?;
        // Two servers may create it at once: the loser's "already exists" is success.
        if let Some(a) = Self::lookup(name)? {
            return Ok(Some(a));
        }
        Err(SandboxError::CreateAccount {
            name: name.into(),
            detail: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }

    fn lookup(name: &str) -> Result<Option<Self>> {
        let Some(user) = User::from_name(name).ok().flatten() else {
            return Ok(None);
        };
        if user.uid.is_root() {
            return Err(SandboxError::RootAccount { name: name.into() });
        }
        Ok(Some(Self {
            uid: user.uid,
            gid: user.gid,
            name: name.to_string(),
        }))
    }

    /// Makes `cmd` run as this account. std calls setgroups(0) before setuid when it drops
    /// root, so no supplementary group of the server remains.
    pub fn apply(&self, cmd: &mut Command) {
        use std::os::unix::process::CommandExt;
        cmd.uid(self.uid.as_raw()).gid(self.gid.as_raw());
    }

    /// Gives this account `path` (and, for directories, everything below it).
    pub fn own_recursively(&self, path: &Path) -> Result<()> {
        chown(path, Some(self.uid), Some(self.gid))
            .map_err(|e| SandboxError::io("cannot chown", path)(e.into()))?;
        if path.is_dir() && !path.is_symlink() {
            for entry in std::fs::read_dir(path).map_err(SandboxError::io("cannot read", path))? {
                let entry = entry.map_err(SandboxError::io("cannot read", path))?;
                self.own_recursively(&entry.path())?;
            }
        }
        Ok(())
    }

    /// Owns `path` unless it already belongs to this account (cheap on warm starts).
    pub fn ensure_owner(&self, path: &Path) -> Result<()> {
        let meta = std::fs::metadata(path).map_err(SandboxError::io("cannot stat", path))?;
        if meta.uid() != self.uid.as_raw() {
            self.own_recursively(path)?;
        }
        Ok(())
    }

    /// Lets this account traverse every ancestor of `path` (e.g. `/root`, mode 0700).
    /// Adds only the search bit for others, never read or write; returns what it changed.
    pub fn ensure_traversable(&self, path: &Path) -> Result<Vec<String>> {
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
                    .map_err(SandboxError::io("cannot add the search permission to", dir))?;
                changed.push(dir.display().to_string());
            }
        }
        Ok(changed)
    }
}
