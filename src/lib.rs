//! kanari: canary releases on Istio, the GitOps way.
//!
//! The pipeline, one module per arrow: [`spec`] loads and validates `Canary` specs, [`plan`]
//! turns a spec and a state into a [`plan::Plan`], [`render`] turns a plan into the overlay's
//! bytes, and [`overlay`] reads and writes overlays on disk. [`commands`] glue them per command.

pub mod check;
pub mod cli;
pub mod commands;
pub mod diff;
pub mod flock;
pub mod index;
pub mod overlay;
pub mod plan;
pub mod podschema;
pub mod problem;
pub mod re2;
pub mod release;
pub mod render;
pub mod repo;
pub mod review;
pub mod sign;
pub mod sparse;
pub mod spec;
pub mod transport;
pub mod yaml;

use std::fmt;
use std::process::ExitCode;

/// Exit codes, the same for every command.
pub mod exit {
    /// Success, or nothing to do.
    pub const OK: u8 = 0;
    /// Differences found (`diff`).
    pub const DIFFERENCES: u8 = 1;
    /// Bad input or usage; nothing was written or committed.
    pub const BAD_INPUT: u8 = 2;
    /// A gate holds the release (`promote`).
    pub const GATE: u8 = 3;
    /// An outside system failed, or stayed busy, after bounded retries: a push race, a moved
    /// branch, a remote that cannot be reached or refuses the credentials, a lock that another
    /// process holds. Nothing was committed.
    pub const CONFLICT: u8 = 4;
    // 5 is kept for the analysis: it failed and the release was aborted (a commit was made).
    /// The commit was made (and pushed, with `--push`), but the local branch, index or work tree
    /// could not follow it. The release moved; the clone needs a `git pull` or a look.
    pub const PARTIAL: u8 = 6;
}

/// An error that ends the run with a particular exit code.
#[derive(Debug)]
pub struct Exit {
    pub code: u8,
    pub message: String,
}

impl fmt::Display for Exit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Exit {}

/// Runs a parsed command line.
pub fn run(cli: cli::Cli) -> anyhow::Result<ExitCode> {
    commands::run(cli).map(ExitCode::from)
}

/// The exit code an error ends the run with: its own if it carries one; 4 for an outside system
/// that failed (a remote) or a lock another process holds; else 2.
pub fn exit_code_of(err: &anyhow::Error) -> u8 {
    err.chain()
        .find_map(|e| {
            if let Some(exit) = e.downcast_ref::<Exit>() {
                Some(exit.code)
            } else if e.is::<transport::RemoteFailed>() || e.is::<flock::LockHeld>() {
                Some(exit::CONFLICT)
            } else {
                None
            }
        })
        .unwrap_or(exit::BAD_INPUT)
}

/// The error as printed: spec problems as their own report, anything else as one lowercase
/// `error:` line with its causes after colons.
pub fn describe(err: &anyhow::Error) -> String {
    if let Some(problems) = err.downcast_ref::<problem::Problems>() {
        return problems.to_string();
    }
    format!("error: {err:#}")
}
