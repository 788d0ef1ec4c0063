//! `kanari promote`: check the current stage's gates, render the next state, commit it.
//! The life of a release, and why a new release commits `steady` first, is in [`crate::release`].
//!
//! `--skip-gates --reason TEXT` moves forward through approvals and bake times on purpose; the
//! commit's body lists each gate it skipped and a `Kanari-Skip-Gates: TEXT` trailer records why,
//! so that `git log --grep Kanari-Skip-Gates` finds every such move.

use anyhow::{Result, bail};

use crate::cli::PromoteArgs;
use crate::commands::moves::{self, Transition};
use crate::commands::{Workspace, parse_step};
use crate::exit::Code;
use crate::release::{self, Options};

pub fn run(ws: &Workspace, args: &PromoteArgs) -> Result<Code> {
    let reason = args.reason.as_deref().map(str::trim);
    if let Some(reason) = reason
        && (reason.is_empty() || reason.len() > 1000 || reason.contains(['\n', '\r']))
    {
        bail!("--reason must be one line of 1 to 1000 characters");
    }
    moves::run(ws, &args.selection, &args.commit, moves::Intent::FromHere, &|canary, committed, now| {
        let recorded = committed.recorded.as_ref();
        let to = args.to.as_deref().map(|name| parse_step(canary, name)).transpose()?;
        let opts = Options { to, restart: args.restart, skip_gates: args.skip_gates };
        let next = release::next(canary, recorded, &committed.observed(), now, &opts)?;
        next.try_map(|to| {
            let step = to.step;
            let mut transition = Transition::to(to, "promote");
            if let (true, Some(reason)) = (args.skip_gates, reason) {
                let skipped = release::gates_skipped(canary, recorded, step, now)?;
                let list: Vec<String> = skipped.iter().map(|g| g.to_string()).collect();
                transition.note = Some(match list.is_empty() {
                    true => format!("gates skipped: none held (reason: {reason})"),
                    false => format!("gates skipped: {} (reason: {reason})", list.join("; ")),
                });
                transition.trailers.push(("Kanari-Skip-Gates", reason.to_string()));
            }
            Ok(transition)
        })
    })
}
