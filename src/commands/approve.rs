//! `kanari approve`: commit the approval of the current stage's gate (`kanari.dev/approved`).
//! The stage and its `since` time stay as they are; a bake time still runs from the stage's start.
//!
//! An approval is a person's decision about one release: without a release name it approves the
//! one release that waits, and refuses (exit 2, nothing committed) when several wait, unless
//! `--all` says to approve them all.
//!
//! `--wave N` approves wave N of a fleet (`spec.waves.approval`): each of the wave's instances
//! that waits at `steady` for the spec's canary records the approval (`wave N for <version>`),
//! and starts once the waves before it have passed and baked. An approval is for one canary
//! version: a changed canary needs its own.

use anyhow::Result;

use crate::cli::ApproveArgs;
use crate::commands::Workspace;
use crate::commands::commits::Committed;
use crate::commands::moves::{self, Transition};
use crate::exit::{Code, Exit, Kind};
use crate::release;
use crate::spec::Canary;

pub(super) fn run(ws: &Workspace, args: &ApproveArgs) -> Result<Code> {
    let named = args.all || args.wave.is_some() || !args.selection.releases.is_empty();
    let one_or_all = |waiting: &[String]| match waiting {
        [_, _, ..] if !named => Err(several_wait(waiting)),
        _ => Ok(()),
    };
    let decide = |canary: &Canary, committed: &Committed, _at, _now| {
        let next = match args.wave {
            Some(wave) => release::waves::approve(canary, committed.recorded.as_ref(), committed.observed(), wave)?,
            None => release::approve(canary, committed.recorded.as_ref())?,
        };
        Ok(next.map(|target| Transition::to(target, "approve")))
    };
    moves::run_checked(ws, &args.selection, &args.commit, moves::Intent::FromHere, &decide, &one_or_all)
}

/// The refusal of a bare `approve` while several releases wait for approval.
fn several_wait(waiting: &[String]) -> anyhow::Error {
    let list: Vec<String> = waiting.iter().map(|id| format!("`{id}`")).collect();
    Exit {
        kind: Kind::BadInput,
        message: format!(
            "{} releases wait for approval: {}; name the one to approve (as in `kanari approve {}`), or pass `--all` to approve them all",
            waiting.len(),
            list.join(", "),
            waiting[0]
        ),
    }
    .into()
}
