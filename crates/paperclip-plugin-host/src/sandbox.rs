//! How a plugin worker is started: confined by [`paperclip_sandbox`].
//!
//! A worker gets: its own OS account when the server is root (`paperclip-plugin`), an environment
//! of exactly the variables below, read access to the system folders, its install folder and its
//! command, read-write access to its own data folder (`<instance>/data/plugins/<key>`), no other
//! file (so no `secrets/`, no database files, no other plugin's data), no TCP unless its
//! manifest declares `http.outbound`, no signal to processes outside it, and resource limits.
//! `docs/PLUGINS.md` says the same for plugin authors; `tests/plugin_sandbox.rs` tries each.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use paperclip_sandbox::{Account, LandlockSupport, Limits, Network, Policy};

use super::Slot;

/// The account workers run as when the server runs as root.
pub const WORKER_ACCOUNT: &str = "paperclip-plugin";

/// PATH of every worker: system folders only.
const WORKER_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// Confinement of this server's plugin workers, resolved once at startup.
#[derive(Debug, Clone)]
pub struct WorkerSandbox {
    /// Folder of the per-plugin data folders.
    pub data_root: PathBuf,
    /// The workers' account (`None`: the server is not root, workers run as its user).
    pub account: Option<Account>,
    pub limits: Limits,
    /// Refuse to start workers on a kernel without Landlock.
    pub require_landlock: bool,
}

impl WorkerSandbox {
    /// Defaults: the `paperclip-plugin` account (created when missing) if root, 2 GiB of address
    /// space, an hour of CPU, 1,024 files, 256 processes of the account, 1 GiB per file.
    pub fn new(data_root: PathBuf) -> paperclip_sandbox::Result<Self> {
        let account = Account::resolve_or_create(WORKER_ACCOUNT)?;
        Ok(Self {
            limits: Limits {
                address_space_bytes: Some(2 << 30),
                cpu_seconds: Some(3600),
                processes: account.as_ref().map(|_| 256),
                open_files: Some(1024),
                file_size_bytes: Some(1 << 30),
            },
            account,
            data_root,
            require_landlock: false,
        })
    }

    /// What this kernel enforces.
    pub fn landlock(&self) -> LandlockSupport {
        paperclip_sandbox::landlock_support()
    }

    /// The confined command of `slot`'s worker.
    pub(super) fn command(&self, slot: &Slot) -> Result<Command, String> {
        let spec = slot
            .manifest
            .worker
            .as_ref()
            .ok_or("the manifest declares no worker")?;
        let command = spec
            .get("command")
            .and_then(serde_json::Value::as_str)
            .ok_or("worker.command is missing")?;
        let args: Vec<&str> = spec
            .get("args")
            .and_then(serde_json::Value::as_array)
            .map(|a| a.iter().filter_map(serde_json::Value::as_str).collect())
            .unwrap_or_default();
        let install = PathBuf::from(&slot.plugin.install_path);
        let program = resolve_program(command, &install)
            .ok_or_else(|| format!("worker.command {command} is not found in {WORKER_PATH}"))?;
        let data = self.data_dir(&slot.plugin.plugin_key)?;
        if let Some(account) = &self.account {
            for p in [&install, &program] {
                account.ensure_traversable(p).map_err(|e| e.to_string())?;
            }
            if !readable_by_others(&install) {
                return Err(format!(
                    "the plugin folder {} is not readable by the {} account the worker runs as; \
                     make it readable (chmod -R o+rX {})",
                    install.display(),
                    account.name,
                    install.display()
                ));
            }
        }
        let tmp = data.join("tmp");
        let env = vec![
            ("PATH".into(), WORKER_PATH.into()),
            ("HOME".into(), data.display().to_string()),
            ("TMPDIR".into(), tmp.display().to_string()),
            ("LANG".into(), "C.UTF-8".into()),
            // The install folder is read-only to the worker.
            ("PYTHONDONTWRITEBYTECODE".into(), "1".into()),
            ("PAPERCLIP_PLUGIN_ID".into(), slot.plugin.id.to_string()),
            (
                "PAPERCLIP_PLUGIN_KEY".into(),
                slot.plugin.plugin_key.clone(),
            ),
            (
                "PAPERCLIP_PLUGIN_DATA_DIR".into(),
                data.display().to_string(),
            ),
        ];
        let policy = Policy {
            account: self.account.clone(),
            read_exec: vec![install.clone(), program.clone()],
            read_write: vec![data],
            network: if slot.manifest.has("http.outbound") {
                Network::Allow
            } else {
                Network::DenyTcp
            },
            limits: self.limits.clone(),
            env,
            require_landlock: self.require_landlock,
        };
        let mut cmd = Command::new(&program);
        cmd.args(args).current_dir(&install);
        paperclip_sandbox::confine(&mut cmd, &policy).map_err(|e| e.to_string())?;
        Ok(cmd)
    }

    /// The plugin's data folder (and its `tmp`), 0700, owned by the workers' account.
    fn data_dir(&self, plugin_key: &str) -> Result<PathBuf, String> {
        // Plugin keys are validated at install (`[a-z0-9._-]`), so this stays below data_root.
        let dir = self.data_root.join(plugin_key);
        std::fs::create_dir_all(dir.join("tmp"))
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        for d in [&dir, &dir.join("tmp")] {
            std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o700))
                .map_err(|e| format!("cannot restrict {}: {e}", d.display()))?;
        }
        if let Some(account) = &self.account {
            account.ensure_owner(&dir).map_err(|e| e.to_string())?;
            account
                .ensure_traversable(&dir)
                .map_err(|e| e.to_string())?;
        }
        Ok(dir)
    }
}

/// A bare name is looked up in the workers' PATH; a path is taken relative to the install folder.
fn resolve_program(command: &str, install: &Path) -> Option<PathBuf> {
    if command.contains('/') {
        let p = install.join(command);
        return p.is_file().then(|| p.canonicalize().unwrap_or(p));
    }
    WORKER_PATH
        .split(':')
        .map(|d| Path::new(d).join(command))
        .find(|p| p.is_file())
}

fn readable_by_others(dir: &Path) -> bool {
    std::fs::metadata(dir).is_ok_and(|m| m.mode() & 0o005 == 0o005)
}
