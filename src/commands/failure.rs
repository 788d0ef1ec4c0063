//! An error's [`Kind`], read from the types in its chain: the first cause that says one decides.
//! [`crate::exit::TABLE`] maps the kind to the exit code and to what the run left; nothing here
//! reads an error's words.

use std::io::ErrorKind;

use rustix::io::Errno;

use crate::exit::{Exit, Kind};
use crate::flock::LockHeld;
use crate::overlay::WriteStopped;
use crate::prometheus;
use crate::transport::{RemoteFailed, SignerHung};

/// The kind of `err`: its own ([`Exit`]); a system outside kanari for a remote, a lock another
/// process holds or Prometheus; an I/O failure for writes that stopped part way and for the file
/// system refusing a read or a write; else bad input.
pub(crate) fn kind_of(err: &anyhow::Error) -> Kind {
    err.chain().find_map(kind_of_cause).unwrap_or(Kind::BadInput)
}

fn kind_of_cause(e: &(dyn std::error::Error + 'static)) -> Option<Kind> {
    if let Some(exit) = e.downcast_ref::<Exit>() {
        return Some(exit.kind);
    }
    if e.is::<RemoteFailed>() || e.is::<SignerHung>() || e.is::<LockHeld>() || e.is::<prometheus::Error>() {
        return Some(Kind::Outside);
    }
    if e.is::<WriteStopped>() || crate::repo::is_os_failure(e) {
        return Some(Kind::Io);
    }
    let refused = match (e.downcast_ref::<std::io::Error>(), e.downcast_ref::<Errno>()) {
        (Some(io), _) => {
            io.raw_os_error().map(Errno::from_raw_os_error).map_or_else(|| machine_kind(io.kind()), machine)
        }
        (None, Some(errno)) => machine(*errno),
        (None, None) => false,
    };
    refused.then_some(Kind::Io)
}

/// Whether the operating system's `errno` says the machine failed, not the path or the data the
/// user gave: no room, no rights (which root bypasses, but not a read-only or immutable file
/// system), a device error, no memory or file descriptors left. A missing file, a file where a
/// folder is expected or a folder that exists say that the input is wrong.
fn machine(errno: Errno) -> bool {
    [
        Errno::IO,
        Errno::NOSPC,
        Errno::DQUOT,
        Errno::ROFS,
        Errno::ACCESS,
        Errno::PERM,
        Errno::FBIG,
        Errno::NOMEM,
        Errno::MFILE,
        Errno::NFILE,
        Errno::STALE,
        Errno::BUSY,
        Errno::TXTBSY,
    ]
    .contains(&errno)
}

/// [`machine`] for an I/O error without an operating system's code.
fn machine_kind(kind: ErrorKind) -> bool {
    matches!(
        kind,
        ErrorKind::StorageFull
            | ErrorKind::QuotaExceeded
            | ErrorKind::ReadOnlyFilesystem
            | ErrorKind::PermissionDenied
            | ErrorKind::FileTooLarge
            | ErrorKind::OutOfMemory
            | ErrorKind::StaleNetworkFileHandle
            | ErrorKind::ResourceBusy
    )
}
