//! kanari: canary releases on Istio, the GitOps way.
//!
//! The pipeline, one module per arrow: [`spec`] loads and validates `Canary` specs, [`plan`]
//! turns a spec and a state into a [`plan::Plan`], [`render`] turns a plan into the overlay's
//! bytes, and [`overlay`] reads and writes overlays on disk. [`commands`] glue them per command.

pub mod check;
pub mod cli;
pub mod commands;
pub mod diff;
pub mod overlay;
pub mod plan;
pub mod podschema;
pub mod problem;
pub mod release;
pub mod render;
pub mod repo;
pub mod review;
pub mod spec;
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
    /// A conflict that retries could not resolve.
    pub const CONFLICT: u8 = 4;
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

/// The exit code an error ends the run with: its own if it carries one, else 2.
pub fn exit_code_of(err: &anyhow::Error) -> u8 {
    err.chain().find_map(|e| e.downcast_ref::<Exit>().map(|e| e.code)).unwrap_or(exit::BAD_INPUT)
}

/// The error as printed: spec problems as their own report, anything else as one lowercase
/// `error:` line with its causes after colons.
pub fn describe(err: &anyhow::Error) -> String {
    if let Some(problems) = err.downcast_ref::<problem::Problems>() {
        return problems.to_string();
    }
    format!("error: {err:#}")
}
