//! `kanari approve`: commit the approval of the current stage's gate (`kanari.dev/approved`).
//! The stage and its `since` time stay as they are; a bake time still runs from the stage's start.

use anyhow::Result;

use crate::cli::ApproveArgs;
use crate::commands::Workspace;
use crate::commands::moves::{self, Transition};
use crate::exit::Code;
use crate::release;

pub fn run(ws: &Workspace, args: &ApproveArgs) -> Result<Code> {
    moves::run(ws, &args.selection, &args.commit, moves::Intent::FromHere, &|canary, committed, _now| {
        let next = release::approve(canary, committed.recorded.as_ref())?;
        Ok(next.map(|target| Transition::to(target, "approve")))
    })
}
