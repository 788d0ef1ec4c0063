//! `kanari abort --reason TEXT`: commit the aborted state: all traffic to stable at its full
//! size, the canary held at 0 pods, the reason recorded (`kanari.dev/reason`). `promote` then
//! refuses to move until the spec's canary changes or `--restart` is given.

use anyhow::{Result, bail};

use crate::cli::AbortArgs;
use crate::commands::Workspace;
use crate::commands::moves::{self, Decision};
use crate::plan::{State, Step};
use crate::release::{self, Position};

pub fn run(ws: &Workspace, args: &AbortArgs) -> Result<u8> {
    let reason = args.reason.trim();
    if reason.is_empty() || reason.len() > 1000 || reason.contains(['\n', '\r']) {
        bail!("--reason must be one line of 1 to 1000 characters");
    }
    moves::run(ws, &args.selection, &args.commit, moves::Intent::Wherever, &|canary, recorded, now| {
        let position = release::position(canary, recorded).map_err(anyhow::Error::msg)?;
        Ok(match position {
            Position::New | Position::At(Step::Steady) => Decision::Stay("no canary is under way".into()),
            Position::At(Step::Aborted) => Decision::Stay("aborted already".into()),
            Position::Outdated if canary.canary.is_none() => Decision::Stay("no canary is under way".into()),
            Position::Outdated | Position::At(_) => Decision::Move {
                target: State {
                    step: Step::Aborted,
                    since: Some(now.to_string()),
                    approved: None,
                    reason: Some(reason.to_string()),
                },
                verb: "abort".into(),
                note: Some(format!("reason: {reason}")),
                trailers: vec![],
            },
        })
    })
}
