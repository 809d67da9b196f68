//! Landlock rules and the parent-death signal (Linux).

use std::path::Path;

use landlock::{
    Access, AccessFs, AccessNet, BitFlags, PathBeneath, PathFd, Ruleset, RulesetAttr,
    RulesetCreated, RulesetCreatedAttr, RulesetStatus, Scope, ABI,
};

use super::{system_read_paths, LandlockSupport, Network, Policy};

/// The newest Landlock ABI whose rights we ask for; older kernels enforce what they know
/// (best effort), which [`probe`] reports.
const TARGET_ABI: ABI = ABI::V9;

/// A ruleset built before the fork, applied in the child.
pub(super) type Prepared = RulesetCreated;

/// Restricts a throwaway thread (Landlock applies per thread, and the thread ends right
/// after) and reads what was enforced.
pub(super) fn probe() -> LandlockSupport {
    std::thread::spawn(|| {
        let status = Ruleset::default()
            .handle_access(AccessFs::from_all(TARGET_ABI))
            .and_then(|r| r.create())
            .and_then(|r| r.restrict_self());
        match status {
            Ok(s) => match (s.ruleset, s.landlock) {
                (RulesetStatus::FullyEnforced, _) => LandlockSupport::Full,
                (
                    RulesetStatus::PartiallyEnforced,
                    landlock::LandlockStatus::Available { effective_abi, .. },
                ) => LandlockSupport::Partial {
                    abi: effective_abi as i32,
                },
                (RulesetStatus::PartiallyEnforced, _) => LandlockSupport::Partial { abi: 0 },
                (RulesetStatus::NotEnforced, _) => LandlockSupport::Unavailable,
            },
            Err(_) => LandlockSupport::Unavailable,
        }
    })
    .join()
    .unwrap_or(LandlockSupport::Unavailable)
}

/// Applies the ruleset to the calling (child) thread: `Ok(true)` when the kernel enforces it.
/// Runs between fork and exec: system calls only.
pub(super) fn restrict(rs: Prepared) -> Result<bool, ()> {
    match rs.restrict_self() {
        Ok(s) => Ok(s.ruleset != RulesetStatus::NotEnforced),
        Err(_) => Err(()),
    }
}

/// Asks the kernel to SIGKILL the calling (child) process when its parent thread ends.
pub(super) fn die_with_parent() -> Result<(), nix::errno::Errno> {
    nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)
}

pub(super) fn prepare(policy: &Policy) -> std::result::Result<RulesetCreated, String> {
    let s = |e: landlock::RulesetError| e.to_string();
    let mut rs = Ruleset::default()
        .handle_access(AccessFs::from_all(TARGET_ABI))
        .map_err(s)?
        .scope(Scope::from_all(TARGET_ABI))
        .map_err(s)?;
    if policy.network == Network::DenyTcp {
        rs = rs
            .handle_access(AccessNet::from_all(TARGET_ABI))
            .map_err(s)?;
    }
    let mut created = rs.create().map_err(s)?;
    let read = AccessFs::from_read(TARGET_ABI);
    let all = AccessFs::from_all(TARGET_ABI);
    let file_read = BitFlags::from(AccessFs::ReadFile) | AccessFs::Execute;
    let rule = |path: &Path, dir_rights: BitFlags<AccessFs>, file_rights: BitFlags<AccessFs>| {
        let rights = if path.is_dir() {
            dir_rights
        } else {
            file_rights
        };
        PathFd::new(path)
            .map(|fd| PathBeneath::new(fd, rights))
            .map_err(|e| format!("{}: {e}", path.display()))
    };
    let mut rules = Vec::new();
    for p in system_read_paths().iter().chain(&policy.read_exec) {
        rules.push(rule(p, read, file_read)?);
    }
    for p in &policy.read_write {
        rules.push(rule(p, all, all & !dir_only())?);
    }
    let rw_file = BitFlags::from(AccessFs::ReadFile) | AccessFs::WriteFile;
    for (dev, rights) in [
        ("/dev/null", rw_file),
        ("/dev/zero", rw_file),
        ("/dev/full", rw_file),
        ("/dev/urandom", BitFlags::from(AccessFs::ReadFile)),
        ("/dev/random", BitFlags::from(AccessFs::ReadFile)),
    ] {
        if Path::new(dev).exists() {
            rules.push(rule(Path::new(dev), rights, rights)?);
        }
    }
    created = created
        .add_rules(rules.into_iter().map(Ok::<_, landlock::RulesetError>))
        .map_err(s)?;
    Ok(created)
}

/// Rights that only make sense on a folder (the kernel refuses them on a file).
fn dir_only() -> BitFlags<AccessFs> {
    AccessFs::from_all(TARGET_ABI)
        & !(BitFlags::from(AccessFs::ReadFile)
            | AccessFs::WriteFile
            | AccessFs::Execute
            | AccessFs::Truncate
            | AccessFs::IoctlDev)
}
