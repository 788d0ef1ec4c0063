//! `kanari promote`: check the current stage's gates, render the next state, commit it.
//! The life of a release, and why a new release commits `steady` first, is in [`crate::release`].

use anyhow::{Result, bail};

use crate::cli::PromoteArgs;
use crate::commands::Workspace;
use crate::commands::moves::{self, Decision};
use crate::plan::{State, Step};
use crate::release::{self, Next, Options};

pub fn run(ws: &Workspace, args: &PromoteArgs) -> Result<u8> {
    moves::run(ws, &args.selection, &args.commit, &|canary, recorded, now| {
        let to = match &args.to {
            Some(name) => match Step::parse(canary, name) {
                Some(step) => Some(step),
                None => {
                    let known: Vec<&str> = Step::all(canary).iter().map(|s| s.name(canary)).collect();
                    bail!("release `{}` has no state `{name}` (it has: {})", canary.id(), known.join(", "))
                }
            },
            None => None,
        };
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
