//! Locks: kanari's own lock on a repository, and the error for a Git lock file another process
//! keeps.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};

pub(crate) use crate::flock::LockHeld;
use crate::flock::{Waited, lock_exclusive};

use super::Repo;

/// How often, and how far apart, a Git lock file is tried again before it is taken for stale.
pub(super) const LOCK_RETRIES: u32 = 20;
pub(super) const LOCK_PAUSE: Duration = Duration::from_millis(50);

/// kanari's lock on a repository: an OS file lock, released when dropped (or when the process
/// dies). The file stays: removing it would let a third process lock a new file while a second
/// still waits on the old one.
pub(crate) struct Lock {
    _file: std::fs::File,
}

/// The error for a Git lock file that stayed: it names the file and what to do.
pub(super) fn busy_git_lock(path: &Path) -> anyhow::Error {
    LockHeld(format!(
        "`{}` exists: another git process is writing, or one was killed; nothing was committed; if no git runs on this clone, remove the file",
        path.display()
    ))
    .into()
}

impl Repo {
    /// Takes kanari's lock on the repository, an OS file lock (`flock`) on `kanari.lock` in the
    /// repository's common folder (shared by its linked work trees), held until the run ends.
    /// The kernel releases it when the holder dies, whatever PID namespace either process is
    /// in, so a live holder is never robbed and a dead one never blocks. A holder is waited for
    /// up to `wait`; then the run stops with [`LockHeld`].
    pub(crate) fn lock(&self, wait: Duration, quiet: bool) -> Result<Lock> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let path = self.git.commondir().join("kanari.lock");
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o644)
            .open(&path)
            .with_context(|| format!("failed to open `{}`", path.display()))?;
        let waiting = || {
            if !quiet {
                eprintln!("waiting for `{}`, held by another kanari", path.display());
            }
        };
        match lock_exclusive(&file, wait, waiting) {
            Waited::Locked => {
                // For a person who looks: who holds it. Never read to decide anything.
                let _ = file.set_len(0);
                let _ = (&file).write_all(format!("{}\n", std::process::id()).as_bytes());
                Ok(Lock { _file: file })
            }
            Waited::Unsupported(e) => Err(e).with_context(|| format!("failed to lock `{}`", path.display())),
            Waited::TimedOut => {
                let holder = std::fs::read_to_string(&path).ok().and_then(|t| t.trim().parse::<u32>().ok());
                Err(LockHeld(format!(
                    "`{}` is still locked by another kanari{} after {}s; nothing was committed",
                    path.display(),
                    holder.map(|p| format!(" (process {p})")).unwrap_or_default(),
                    wait.as_secs()
                ))
                .into())
            }
        }
    }
}
