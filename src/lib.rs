//! kanari: canary releases on Istio, the GitOps way.
//!
//! The pipeline, one module per arrow: [`spec`] loads and validates `Canary` specs, [`plan`]
//! turns a spec and a state into a [`plan::Plan`], [`release`] says which state a release is in
//! and which comes next, [`render`] turns a plan into the overlay's bytes, [`check`] reads them
//! back, [`diff`] compares them with what is committed, and [`overlay`] and [`repo`] write them.
//! [`commands`] glue them per command, print, and pick the [`exit::Code`]; this file and `main`
//! only turn that code (or an error's, by its kind: [`exit::TABLE`]) into the process's exit
//! status.

#![warn(unreachable_pub)]

mod analysis;
pub mod check;
pub mod cli;
pub mod commands;
mod diff;
mod exit;
mod flock;
pub mod index;
mod kube_schema;
mod overlay;
pub mod plan;
mod problem;
mod prometheus;
#[cfg(test)]
mod proptesting;
mod re2;
mod release;
pub mod render;
mod repo;
mod review;
mod scaffold;
mod secret;
mod sparse;
pub mod spec;
pub mod stats;
mod transport;
mod yaml;

use std::process::ExitCode;

/// Runs a parsed command line.
pub fn run(cli: cli::Cli) -> anyhow::Result<ExitCode> {
    commands::run(cli).map(ExitCode::from)
}

/// The exit code an error ends the run with: its kind's ([`commands::failure::kind_of`]), as
/// [`exit::TABLE`] maps it.
pub fn exit_code_of(err: &anyhow::Error) -> exit::Code {
    commands::failure::kind_of(err).code()
}

/// The error as printed: spec problems as their own report, anything else as one lowercase
/// `error:` line with its causes after colons (a Git error in its own words, without libgit2's
/// class and code). Whatever it says, no URL in it keeps its password and no token of the
/// environment shows ([`secret::redact`]): the sources redact their own, this is the last guard.
pub fn describe(err: &anyhow::Error) -> String {
    let said = match err.downcast_ref::<problem::Problems>() {
        Some(problems) => problems.to_string(),
        None => {
            let causes: Vec<String> =
                err.chain().map(|e| repo::plain_cause(e).unwrap_or_else(|| e.to_string())).collect();
            format!("error: {}", causes.join(": "))
        }
    };
    let tokens = secret::from_env();
    secret::redact(&said, &tokens.iter().map(String::as_str).collect::<Vec<_>>())
}
