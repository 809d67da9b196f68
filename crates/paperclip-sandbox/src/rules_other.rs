//! Where there is no Landlock and no parent-death signal (macOS, the BSDs): the account,
//! environment, process group and limits still apply; [`probe`] reports the file rules missing.

use super::{LandlockSupport, Policy};

pub(super) type Prepared = ();

pub(super) fn probe() -> LandlockSupport {
    LandlockSupport::Unavailable
}

pub(super) fn prepare(_policy: &Policy) -> Result<Prepared, String> {
    Ok(())
}

pub(super) fn restrict(_rs: Prepared) -> Result<bool, ()> {
    Ok(false)
}

pub(super) fn die_with_parent() -> Result<(), nix::errno::Errno> {
    Ok(())
}
