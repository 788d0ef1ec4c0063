//! `kanari approve`: commit the approval of the current stage's gate (`kanari.dev/approved`).
//! The stage and its `since` time stay as they are; a bake time still runs from the stage's start.

use anyhow::Result;

use crate::cli::ApproveArgs;
use crate::commands::Workspace;
use crate::commands::moves::{self, Decision};
use crate::plan::{State, Step};
use crate::release::{self, Position};

pub fn run(ws: &Workspace, args: &ApproveArgs) -> Result<u8> {
    moves::run(ws, &args.selection, &args.commit, moves::Intent::FromHere, &|canary, recorded, _now| {
        let position = release::position(canary, recorded).map_err(anyhow::Error::msg)?;
        let (Position::At(Step::Stage(i)), Some(r)) = (position, recorded) else {
            return Ok(Decision::Stay("no stage is under way".into()));
        };
        let stage = &canary.stages[i];
        if !stage.pause.approval {
            return Ok(Decision::Stay(format!("stage `{}` needs no approval", stage.name)));
        }
        if r.approved.as_deref() == Some(stage.name.as_str()) {
            return Ok(Decision::Stay(format!("stage `{}` is approved already", stage.name)));
        }
        Ok(Decision::Move {
            target: State {
                step: Step::Stage(i),
                since: r.since.clone(),
                approved: Some(stage.name.clone()),
                reason: None,
            },
            verb: "approve".into(),
            note: None,
            trailers: vec![],
        })
    })
}
