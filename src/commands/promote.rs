//! `kanari promote`: check the current stage's gates, render the next state, commit it.
//! The life of a release, and why a new release commits `steady` first, is in [`crate::release`].
//!
//! `--skip-gates --reason TEXT` moves forward through approvals and bake times on purpose; the
//! commit's body lists each gate it skipped and a `Kanari-Skip-Gates: TEXT` trailer records why,
//! so that `git log --grep Kanari-Skip-Gates` finds every such move.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Result, bail};
use jiff::Timestamp;

use crate::analysis::Outcome;
use crate::cli::PromoteArgs;
use crate::commands::analyze;
use crate::commands::git::{Committed, Git, now};
use crate::commands::moves::{self, Decision, Transition};
use crate::commands::{Workspace, parse_step};
use crate::exit::{Code, Exit};
use crate::plan::{self, Recorded, State};
use crate::release::{self, Gate, Next, Options};
use crate::spec::{Canary, MetricKind, OnFailure};
use crate::stats::Verdict;

pub fn run(ws: &Workspace, args: &PromoteArgs) -> Result<Code> {
    let reason = args.reason.as_deref().map(str::trim);
    if let Some(reason) = reason
        && (reason.is_empty() || reason.len() > 1000 || reason.contains(['\n', '\r']))
    {
        bail!("--reason must be one line of 1 to 1000 characters");
    }
    // The analysis runs once per release and stage, however often the decision is made again:
    // the releases due at HEAD are judged up front, side by side; any other when first met.
    let judged: Mutex<Judged> = Mutex::new(prejudge(ws, &args.selection.releases)?);
    let unavailable = AtomicBool::new(false);
    let code = moves::run(ws, &args.selection, &args.commit, moves::Intent::FromHere, &|canary, committed, now| {
        let recorded = committed.recorded.as_ref();
        let mut passed = None;
        if let Some(w) = analyze::window(canary, recorded, now) {
            let key = (canary.id(), recorded.and_then(|r| r.since.clone()));
            let cached = judged.lock().expect("no panic holds it").get(&key).cloned();
            let outcomes = match cached {
                Some(Ok(outcomes)) => outcomes,
                // Prometheus failed for this release: it holds, the others go on; exit 4 at the end.
                Some(Err(why)) => {
                    unavailable.store(true, Ordering::Relaxed);
                    return Ok(Next::Held(Gate::Analysis { check: "prometheus".into(), why }));
                }
                None => {
                    let outcomes = analyze::judge(ws, &w)?;
                    judged.lock().expect("no panic holds it").insert(key, Ok(outcomes.clone()));
                    outcomes
                }
            };
            match judgment(canary, recorded, committed, now, &outcomes)? {
                Judgment::Decided(decision) => return Ok(*decision),
                Judgment::Passed(lines) => passed = Some(lines),
            }
        }
        let to = args.to.as_deref().map(|name| parse_step(canary, name)).transpose()?;
        let opts = Options { to, restart: args.restart, skip_gates: args.skip_gates };
        let next = release::next(canary, recorded, &committed.observed_for(canary), now, &opts)?;
        if let Next::Move { to } = &next
            && let Some(gate) = readiness(ws, canary, recorded, to, now)?
        {
            return Ok(Next::Held(gate));
        }
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
            if let Some(lines) = &passed {
                let note = transition.note.take().into_iter().chain(lines.iter().cloned()).collect::<Vec<_>>();
                transition.note = Some(note.join("\n"));
            }
            Ok(transition)
        })
    })?;
    Ok(match code {
        Code::Ok | Code::Gate if unavailable.load(Ordering::Relaxed) => Code::Conflict,
        code => code,
    })
}

/// The analysis of every selected release that is due at HEAD, judged side by side on a bounded
/// number of connections. An error that is Prometheus's (unreachable, failing) is kept for its
/// release alone; any other (a query of the wrong shape) ends the run.
fn prejudge(ws: &Workspace, selectors: &[String]) -> Result<Judged> {
    let git = Git::open(ws)?;
    let Some(head) = git.repo.head_commit()? else { return Ok(BTreeMap::new()) };
    let Ok(canaries) = git.loaded_at(head, selectors).map(|loaded| loaded.canaries) else { return Ok(BTreeMap::new()) };
    let recorded = git.map_committed(Some(head), &canaries, |_, c| Ok(c.recorded))?;
    let mut out = BTreeMap::new();
    for (r, judged) in recorded.iter().zip(analyze::judge_each(ws, &canaries, &recorded, now()?)) {
        let Some((w, result)) = judged else { continue };
        let result = match result {
            Ok(outcomes) => Ok(outcomes),
            Err(e) if e.downcast_ref::<Exit>().is_some_and(|x| x.code == Code::Conflict) => Err(format!("{e:#}")),
            Err(e) => return Err(e),
        };
        out.insert((w.canary.id(), r.as_ref().and_then(|r| r.since.clone())), result);
    }
    Ok(out)
}

/// The checks judged for a release at the `since` of its stage, or why Prometheus could not.
type Judged = BTreeMap<(String, Option<String>), Result<Vec<Outcome>, String>>;

/// What the analysis decides for a release, or the lines its passing checks add to the commit.
enum Judgment {
    Decided(Box<Decision>),
    Passed(Vec<String>),
}

/// A failed check aborts the release (`onFailure: abort`: one commit, exit 5) or holds it
/// (`hold`: exit 3); a failed `traffic-share` and an inconclusive check hold it; passing checks
/// let the stage's gates decide, and go into the promote commit's body.
fn judgment(
    canary: &Canary,
    recorded: Option<&Recorded>,
    committed: &Committed,
    now: Timestamp,
    outcomes: &[Outcome],
) -> Result<Judgment> {
    let a = canary.analysis.as_ref().expect("judged releases have an analysis");
    let lines: Vec<String> = outcomes.iter().map(|o| format!("analysis: {}", o.line())).collect();
    let first = |verdict: Verdict| outcomes.iter().find(|o| o.verdict() == verdict);
    if let Some(failed) = first(Verdict::Fail) {
        // A traffic share off the stage's weight says the cluster does not run what Git says
        // yet (a sync behind): a reason to wait, never one to abort the canary.
        let cluster =
            matches!(a.metrics.iter().find(|m| m.name == failed.name).map(|m| &m.kind), Some(MetricKind::TrafficShare));
        if a.on_failure == OnFailure::Abort && !cluster {
            let reason = format!("analysis: {}", failed.line());
            let reason: String = reason.chars().take(1000).collect();
            let next = release::abort(canary, recorded, &committed.observed_for(canary), now, &reason)?;
            return Ok(Judgment::Decided(Box::new(next.map(|target| Transition {
                note: Some(lines.join("\n")),
                exit: Some(Code::Aborted),
                ..Transition::to(target, "abort")
            }))));
        }
        let held = Gate::Analysis { check: failed.name.clone(), why: failed.line() };
        return Ok(Judgment::Decided(Box::new(Next::Held(held))));
    }
    if let Some(unsure) = first(Verdict::Inconclusive) {
        let held = Gate::Analysis { check: unsure.name.clone(), why: unsure.line() };
        return Ok(Judgment::Decided(Box::new(Next::Held(held))));
    }
    Ok(Judgment::Passed(lines))
}

/// With an analysis, a move that puts more traffic on a version waits until Prometheus shows its
/// pods available (`kube_deployment_status_replicas_available`, from kube-state-metrics): at
/// least the pods the current state declares for it.
fn readiness(
    ws: &Workspace,
    canary: &Canary,
    recorded: Option<&Recorded>,
    to: &State,
    now: Timestamp,
) -> Result<Option<Gate>> {
    if canary.analysis.is_none() || to.transit.is_some() || recorded.is_none() {
        return Ok(None);
    }
    let Ok(from) = release::current(canary, recorded) else { return Ok(None) };
    let (before, after, pods) =
        (plan::need(canary, from.step), plan::need(canary, to.step), plan::counts(canary, &from));
    let mut versions = vec![(&canary.stable, before.stable, after.stable, pods.stable)];
    if let Some(c) = &canary.canary {
        versions.push((c, before.canary, after.canary, pods.canary));
    }
    let client = analyze::client(ws, canary)?;
    for (version, before, after, declared) in versions {
        if after <= before {
            continue;
        }
        let deployment = plan::version_object_name(canary, version);
        let query = format!(
            "max(kube_deployment_status_replicas_available{{namespace=\"{}\",deployment=\"{deployment}\"}})",
            canary.namespace
        );
        let answer = client
            .instant(&query, now)
            .map_err(|e| Exit { code: Code::Conflict, message: format!("release `{}`: {e}", canary.id()) })?;
        let available = answer.first().and_then(|s| s.samples.last()).map(|(_, v)| *v).filter(|v| v.is_finite());
        if available.is_none_or(|n| n < f64::from(declared)) {
            let shown = available.map_or("no data".to_string(), |n| format!("{n} of {declared} pods available"));
            return Ok(Some(Gate::Analysis {
                check: "readiness".into(),
                why: format!(
                    "traffic moves onto `{deployment}` once its {declared} pods are available; Prometheus shows {shown} (kube_deployment_status_replicas_available)"
                ),
            }));
        }
    }
    Ok(None)
}
