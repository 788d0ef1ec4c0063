//! Exit codes, the same for every command: the one place their numbers are written. Commands
//! return a [`Code`], or an error that carries one ([`Exit`]); `main` turns it into the process's
//! exit status. Imports nothing of kanari's.

use std::fmt;

/// How a run ends. The numbers are part of kanari's interface (`kanari --help` lists them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Code {
    /// Success, or nothing to do.
    Ok = 0,
    /// Differences found (`diff`).
    Differences = 1,
    /// Bad input or usage; nothing was written or committed.
    BadInput = 2,
    /// A gate holds the release (`promote`).
    Gate = 3,
    /// An outside system failed, or stayed busy, after bounded retries: a push race, a moved
    /// branch, a remote that cannot be reached or refuses the credentials, a lock that another
    /// process holds. Nothing was committed.
    Conflict = 4,
    /// The analysis failed and the release was aborted: a commit was made.
    Aborted = 5,
    /// The commit was made (and pushed, with `--push`), but the local branch, index or work tree
    /// could not follow it. The release moved; the clone needs a `git pull` or a look.
    Partial = 6,
}

impl From<Code> for std::process::ExitCode {
    fn from(code: Code) -> Self {
        std::process::ExitCode::from(code as u8)
    }
}

/// An error that ends the run with a particular exit code.
#[derive(Debug)]
pub struct Exit {
    pub code: Code,
    pub message: String,
}

impl fmt::Display for Exit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Exit {}
