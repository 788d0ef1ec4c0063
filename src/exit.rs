//! Exit codes, the same for every command: the one place their numbers are written. Commands
//! return a [`Code`], or an error that carries one ([`Exit`]); `main` turns it into the process's
//! exit status. Imports nothing of kanari's.
//!
//! A run over several releases can end several ways at once: one release moved, another held
//! by a gate, a third skipped because its spec does not load. It exits with the gravest of its
//! outcomes ([`Code::worst`]), and its output names each. From the least grave to the gravest:
//!
//! 0 (done) < 1 (differences) < 3 (a gate holds: a release's ordinary life) < 2 (bad input: a
//! person must fix a spec, and that release was not judged) < 4 (an outside system failed: a
//! release may not have been judged or moved at all) < 6 (a commit landed, the clone did not
//! follow) < 5 (the analysis aborted a release: what CI must alert on first).
//!
//! So a run that aborts a failing canary while another release's spec is broken exits 5, and
//! one that promotes a release while another's spec is broken exits 2.

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
    /// An outside system failed, or stayed busy, after bounded retries or its deadline: a push
    /// race, a moved branch, a remote that cannot be reached, refuses the credentials or does
    /// not answer within `--timeout`, a lock that another process holds. Nothing was committed.
    Conflict = 4,
    /// The analysis failed and the release was aborted: a commit was made.
    Aborted = 5,
    /// The commit was made (and pushed, with `--push`), but the local branch, index or work tree
    /// could not follow it. The release moved; the clone needs a `git pull` or a look.
    Partial = 6,
}

impl Code {
    /// Where the code stands in the order of gravity (see the module's documentation).
    fn gravity(self) -> u8 {
        match self {
            Code::Ok => 0,
            Code::Differences => 1,
            Code::Gate => 2,
            Code::BadInput => 3,
            Code::Conflict => 4,
            Code::Partial => 5,
            Code::Aborted => 6,
        }
    }

    /// The graver of two outcomes of one run.
    pub fn worst(self, other: Code) -> Code {
        if other.gravity() > self.gravity() { other } else { self }
    }
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

#[cfg(test)]
mod tests {
    use super::Code;

    #[test]
    fn a_run_ends_with_its_gravest_outcome() {
        use Code::*;
        let order = [Ok, Differences, Gate, BadInput, Conflict, Partial, Aborted];
        for (i, a) in order.iter().enumerate() {
            for (j, b) in order.iter().enumerate() {
                assert_eq!(a.worst(*b), order[i.max(j)], "{a:?} and {b:?}");
            }
        }
        assert_eq!(Aborted.worst(BadInput) as u8, 5);
        assert_eq!(Gate.worst(BadInput) as u8, 2);
    }
}
