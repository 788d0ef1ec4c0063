//! `kanari abort --reason TEXT`: commit the aborted state: all traffic to stable at its full
//! size, the canary held at 0 pods, the reason recorded (`kanari.dev/reason`). `promote` then
//! refuses to move until the spec's canary changes or `--restart` is given.

use anyhow::{Result, bail};

use crate::cli::AbortArgs;
use crate::commands::Workspace;
use crate::commands::moves::{self, Transition};
use crate::exit::Code;
use crate::release;

pub(super) fn run(ws: &Workspace, args: &AbortArgs) -> Result<Code> {
    let reason = args.reason.trim();
    if reason.is_empty() || reason.len() > 1000 || reason.contains(['\n', '\r']) {
        bail!("--reason must be one line of 1 to 1000 characters");
    }
    // An abort of one instance of a fleet aborts every instance that runs the canary: the
    // others are selected too, and record whom they follow.
    let named = args.selection.releases.clone();
    let mut selection = args.selection.clone();
    for s in &named {
        if let (fleet, Some(_)) = crate::spec::split_cluster(s)
            && !selection.releases.iter().any(|r| r == fleet)
        {
            selection.releases.push(fleet.to_string());
        }
    }
    let first = named.iter().find(|s| s.contains('@'));
    moves::run(ws, &selection, &args.commit, moves::Intent::Wherever, &|canary, committed, _at, now| {
        let follows = match first {
            Some(first) if !named.iter().any(|s| canary.is_named(s)) => {
                format!("the fleet follows `{first}`, aborted: {reason}")
            }
            _ => reason.to_string(),
        };
        let reason = follows.as_str();
        let next = release::abort(canary, committed.recorded.as_ref(), committed.observed(), now, reason)?;
        // The reason the release records: a second abort that completes the first keeps the first's.
        Ok(next.map(|target| {
            let recorded = target.reason.as_deref();
            Transition {
                note: Some(format!("reason: {}", recorded.unwrap_or(reason))),
                ..Transition::to(target, "abort")
            }
        }))
    })
}
