//! One owner per instance: an exclusive `flock` on `<instance>/instance.lock`.
//!
//! The kernel drops the lock when the owning process dies (even by `kill -9`), so a crash never
//! leaves the instance locked. The file holds the owner's PID for error messages only.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::Path;

use nix::fcntl::{Flock, FlockArg};

use crate::{DbError, Result};

/// Held for as long as this process owns the instance.
#[derive(Debug)]
pub struct InstanceLock {
    _lock: Flock<File>,
}

impl InstanceLock {
    /// Takes the lock or fails at once naming the PID that holds it.
    pub fn acquire(path: &Path) -> Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(DbError::io("cannot create", dir))?;
        }
        // Rust opens files with O_CLOEXEC, so child processes (PostgreSQL) never inherit the
        // lock and it really ends with this process.
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(DbError::io("cannot open lock file", path))?;
        let mut lock = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(l) => l,
            Err((mut file, _)) => {
                let mut text = String::new();
                let _ = file.read_to_string(&mut text);
                return Err(DbError::InstanceLocked {
                    path: path.parent().unwrap_or(path).to_path_buf(),
                    pid: text.trim().parse().ok(),
                });
            }
        };
        let write = |f: &mut File| -> std::io::Result<()> {
            f.set_len(0)?;
            f.rewind()?;
            writeln!(f, "{}", std::process::id())?;
            f.flush()
        };
        write(&mut lock).map_err(DbError::io("cannot write lock file", path))?;
        Ok(Self { _lock: lock })
    }

    /// The PID recorded by the current holder, if any process holds the lock.
    pub fn holder(path: &Path) -> Option<u32> {
        match Self::acquire(path) {
            Ok(_) => None,
            Err(DbError::InstanceLocked { pid, .. }) => pid.or(Some(0)),
            Err(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_same_instance_fails_naming_the_pid() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("instance.lock");
        let first = InstanceLock::acquire(&path).unwrap();
        let err = InstanceLock::acquire(&path).unwrap_err();
        match &err {
            DbError::InstanceLocked { pid, .. } => assert_eq!(*pid, Some(std::process::id())),
            other => panic!("unexpected {other:?}"),
        }
        drop(first);
        InstanceLock::acquire(&path).expect("released on drop");
    }
}
