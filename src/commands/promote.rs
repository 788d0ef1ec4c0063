//! `kanari promote`: check the current stage's gates, render the next state, commit it.
//! The life of a release, and why a new release commits `steady` first, is in [`crate::release`].
//!
//! `--skip-gates --reason TEXT` moves forward through approvals and bake times on purpose; the
//! commit's body lists each gate it skipped and a `Kanari-Skip-Gates: TEXT` trailer records why,
//! so that `git log --grep Kanari-Skip-Gates` finds every such move.

use std::collections::BTreeMap;
use std::sync::Mutex;

use anyhow::{Result, bail};
use jiff::Timestamp;

use crate::cli::PromoteArgs;
use crate::commands::analyze;
use crate::commands::commits::{Commits, Committed, now};
use crate::commands::fleet;
use crate::commands::moves::{self, Decision, Transition};
use crate::commands::{Workspace, parse_step};
use crate::exit::Code;
use crate::plan::Recorded;
use crate::release::{self, Evidence, Observed, Options};
use crate::spec::Canary;

pub(super) fn run(ws: &Workspace, args: &PromoteArgs) -> Result<Code> {
    let reason = args.reason.as_deref().map(str::trim);
    if let Some(reason) = reason
        && (reason.is_empty() || reason.len() > 1000 || reason.contains(['\n', '\r']))
    {
        bail!("--reason must be one line of 1 to 1000 characters");
    }
    // Prometheus is asked once per release and recorded state, however often the decision is
    // made again: the releases at HEAD up front, side by side; any other when first met.
    let asked: Mutex<Asked> = Mutex::new(ask_at_head(ws, &args.selection.releases)?);
    // A fleet's instances are judged by where all of them stand: read once per commit.
    let (git, views) = (Commits::open(ws)?, fleet::Views::default());
    moves::run(ws, &args.selection, &args.commit, moves::Intent::FromHere, &|canary, committed, at, now| {
        let recorded = committed.recorded.as_ref();
        let observed = committed.observed();
        let mut evidence = evidence_for(ws, &asked, canary, recorded, observed.clone(), now)?;
        let ask = |canaries: &[Canary], recorded: &[Option<Recorded>], observed: &[Observed]| -> Vec<Evidence> {
            let each = canaries.iter().zip(recorded).zip(observed);
            each.map(|((c, r), o)| {
                evidence_for(ws, &asked, c, r.as_ref(), o.clone(), now)
                    .unwrap_or_else(|e| Evidence::unavailable(format!("{e:#}")))
            })
            .collect()
        };
        evidence.fleet = views.at(&git, at, canary, &ask, now)?;
        let to = args.to.as_deref().map(|name| parse_step(canary, name)).transpose()?;
        let opts = Options { to, restart: args.restart, skip_gates: args.skip_gates };
        let decision = release::decide(canary, recorded, observed, now, &opts, &evidence)?;
        transition(canary, committed, now, args, reason, decision)
    })
}

/// The commit a decision makes: an abort by the analysis (exit 5), or the promote, with the
/// gates `--skip-gates` skipped and the analysis's lines in its body.
fn transition(
    canary: &Canary,
    committed: &Committed,
    now: Timestamp,
    args: &PromoteArgs,
    reason: Option<&str>,
    decision: release::Decision,
) -> Result<Decision> {
    let recorded = committed.recorded.as_ref();
    let lines = decision.analysis;
    if decision.aborts.is_some() {
        return Ok(decision.next.map(|target| Transition {
            note: Some(lines.join("\n")),
            exit: Some(Code::Aborted),
            ..Transition::to(target, "abort")
        }));
    }
    decision.next.try_map(|to| {
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
        if !lines.is_empty() {
            let note = transition.note.take().into_iter().chain(lines.iter().cloned()).collect::<Vec<_>>();
            transition.note = Some(note.join("\n"));
        }
        Ok(transition)
    })
}

/// What Prometheus said, by release, the spec's canary and stable versions (a tip whose spec
/// changed them is asked again) and the `since` of its recorded state.
type Asked = BTreeMap<[Option<String>; 4], Evidence>;

fn key(canary: &Canary, recorded: Option<&Recorded>) -> [Option<String>; 4] {
    [
        Some(canary.id()),
        canary.canary.as_ref().map(|c| c.version.clone()),
        Some(canary.stable.version.clone()),
        recorded.and_then(|r| r.since).map(|t| t.to_string()),
    ]
}

/// The evidence of every selected release at HEAD, asked side by side ([`analyze::evidence`]).
/// A release whose analysis cannot be planned (bad input) ends the run.
fn ask_at_head(ws: &Workspace, selectors: &[String]) -> Result<Asked> {
    let git = Commits::open(ws)?;
    let Some(head) = git.repo.head_commit()? else { return Ok(BTreeMap::new()) };
    let Ok(canaries) = git.loaded_at(head, selectors).map(|loaded| loaded.canaries) else { return Ok(BTreeMap::new()) };
    let committed = git.map_committed(Some(head), &canaries, |_, c| Ok(c.into_observed()))?;
    let (observed, recorded): (Vec<_>, Vec<_>) = committed.into_iter().unzip();
    let mut out = BTreeMap::new();
    for ((canary, r), evidence) in
        canaries.iter().zip(&recorded).zip(analyze::evidence(ws, &canaries, &recorded, &observed, now()?))
    {
        out.insert(key(canary, r.as_ref()), evidence?);
    }
    Ok(out)
}

/// The evidence of one release in the state it records: asked up front, or now when the run
/// meets a state it did not see at HEAD.
fn evidence_for(
    ws: &Workspace,
    asked: &Mutex<Asked>,
    canary: &Canary,
    recorded: Option<&Recorded>,
    observed: Observed,
    now: Timestamp,
) -> Result<Evidence> {
    let key = key(canary, recorded);
    if let Some(evidence) = asked.lock().expect("no panic holds it").get(&key) {
        return Ok(evidence.clone());
    }
    let mut fresh = analyze::evidence(ws, std::slice::from_ref(canary), &[recorded.cloned()], &[observed], now);
    let evidence = fresh.remove(0)?;
    asked.lock().expect("no panic holds it").insert(key, evidence.clone());
    Ok(evidence)
}
