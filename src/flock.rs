//! Waiting for an OS file lock (`flock`), the one way kanari takes turns with another kanari:
//! on a repository ([`crate::repo`]) and on a folder it writes overlays under
//! ([`crate::overlay`]). The kernel releases the lock when its holder dies, so a live holder is
//! never robbed and a dead one never blocks. Imports nothing of kanari's.

use std::os::fd::AsFd;
use std::time::{Duration, Instant};

/// A lock that another process holds (a kanari lock, or one of Git's lock files), still held
/// after a bounded wait: nothing was written or committed. What that means for the exit code is
/// the command layer's to say (4).
#[derive(Debug)]
pub(crate) struct LockHeld(pub String);

impl std::fmt::Display for LockHeld {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for LockHeld {}

/// How a wait for a lock ended.
#[derive(Debug)]
pub(crate) enum Waited {
    /// The lock is ours until the file is closed.
    Locked,
    /// The file system cannot lock this file (some network file systems): the error it gave.
    Unsupported(std::io::Error),
    /// Another process held it for all of the wait.
    TimedOut,
}

/// Takes an exclusive lock on `file`, trying every 25 ms for up to `wait`; `waiting` is called
/// once, the first time the lock is found held (to tell a person why nothing happens).
pub(crate) fn lock_exclusive(file: impl AsFd, wait: Duration, mut waiting: impl FnMut()) -> Waited {
    use rustix::fs::{FlockOperation, flock};
    use rustix::io::Errno;
    let start = Instant::now();
    let mut told = false;
    loop {
        match flock(&file, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => return Waited::Locked,
            Err(Errno::WOULDBLOCK | Errno::INTR) => {}
            Err(e) => return Waited::Unsupported(e.into()),
        }
        if start.elapsed() >= wait {
            return Waited::TimedOut;
        }
        if !told {
            waiting();
            told = true;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_lock_is_waited_for_then_given_up() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lock");
        let first = std::fs::File::create(&path).unwrap();
        assert!(matches!(lock_exclusive(&first, Duration::ZERO, || {}), Waited::Locked));
        // Another open file description: flock locks are per open file, as between processes.
        let second = std::fs::File::open(&path).unwrap();
        let mut told = 0;
        assert!(matches!(lock_exclusive(&second, Duration::from_millis(60), || told += 1), Waited::TimedOut));
        assert_eq!(told, 1);
        drop(first);
        assert!(matches!(lock_exclusive(&second, Duration::ZERO, || {}), Waited::Locked));
    }
}
