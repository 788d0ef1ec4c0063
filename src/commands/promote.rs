//! `kanari promote`: check the current stage's gates, render the next state, commit it.
//! The life of a release, and why a new release commits `steady` first, is in [`crate::release`].

use anyhow::Result;

use crate::cli::PromoteArgs;
use crate::commands::moves::{self, Decision};
use crate::commands::{Workspace, parse_step};
use crate::plan::State;
use crate::release::{self, Next, Options};

pub fn run(ws: &Workspace, args: &PromoteArgs) -> Result<u8> {
    moves::run(ws, &args.selection, &args.commit, &|canary, recorded, now| {
        let to = args.to.as_deref().map(|name| parse_step(canary, name)).transpose()?;
        let opts = Options { to, restart: args.restart };
        Ok(match release::next(canary, recorded, now, &opts).map_err(anyhow::Error::msg)? {
            Next::Move { to } => Decision::Move {
                target: State { step: to, since: Some(now.to_string()), approved: None, reason: None },
                verb: "promote".into(),
                note: None,
            },
            Next::Stay { why } => Decision::Stay(why),
            Next::Held(gate) => Decision::Held(gate),
        })
    })
}
