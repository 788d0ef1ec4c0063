//! One answer to "what happens next, and what holds it": [`decide`] takes the release's life
//! ([`super::next`]: the stage's approval and bake, the warmup, the finish's gates) and the
//! answers gathered from Prometheus before any decision ([`Evidence`]: the analysis checks of the
//! stage, the pods it shows available), and returns the one [`Decision`] that `promote` commits
//! and that `status`, `diff --next` and the pull-request comment show. Pure: the clock and the
//! answers come in as values, so the decision can be replayed.
//!
//! The rules, in order:
//! 1. A check that fails with `onFailure: abort` (other than `traffic-share`, whose failure says
//!    the cluster does not run what Git says yet) aborts the release, wherever it stands and
//!    whatever else holds it; except a finish's, which it holds (the spec has made the canary its
//!    stable version: the way back is to revert that change).
//! 2. Every other gate is collected, not just the first: the stage's approval and bake, the
//!    warmup, each failing or inconclusive check, an unreachable Prometheus. A decision held by
//!    several gates names them all.
//! 3. The analysis (a check that does not pass, or no answer at all) holds only a move on its way
//!    to more traffic on the canary: a higher weight or mirror, new matches, a scale-up for such a
//!    stage, a finish (judged as the stage it leaves, see [`super::judged_as`]). A scale-down, a
//!    settle, a drain or a step back puts none, so it never waits for an analysis that cannot
//!    conclude (a failing check still aborts).
//! 4. Readiness: with an analysis, a move that raises the traffic a version needs pods for waits
//!    until Prometheus shows that version's declared pods available
//!    (`kube_deployment_status_replicas_available`, from kube-state-metrics).

use std::collections::BTreeMap;

use jiff::Timestamp;

use super::{Error, Gate, Next, Options, current, next};
use crate::plan::{self, Recorded, State, Step};
use crate::spec::Canary;
use crate::stats::Verdict;

/// What Prometheus said about a release, asked before deciding.
#[derive(Clone, Debug, Default)]
pub(crate) struct Evidence {
    /// The checks of the stage the release is in, judged now; None when none are due (no
    /// analysis, no canary traffic, or within the stage's warmup); an error when Prometheus
    /// could not answer.
    pub checks: Option<Result<Vec<Check>, String>>,
    /// The pods Prometheus shows available, by Deployment name; None when not asked (a release
    /// without analysis, or with nothing committed yet).
    pub available: Option<Result<BTreeMap<String, f64>, String>>,
    /// For an instance of a fleet: where every instance stands ([`super::waves`]), read from
    /// their overlays (and their analyses) before deciding.
    pub fleet: Option<std::sync::Arc<super::waves::View>>,
}

impl Evidence {
    /// The evidence of a release whose analysis could not be asked at all, and why: it holds
    /// what it would hold with Prometheus unreachable.
    pub(crate) fn unavailable(why: String) -> Evidence {
        Evidence { checks: Some(Err(why)), available: None, fleet: None }
    }
}

/// One analysis check as judged now.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Check {
    pub name: String,
    pub verdict: Verdict,
    /// The check in a line: name, verdict, value, bound and the numbers behind them.
    pub line: String,
    /// Whether its failure aborts the release (`onFailure: abort`, and not a traffic share).
    pub aborts: bool,
}

/// What `promote` would do now.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Decision {
    pub next: Next<State>,
    /// The failing check the release is aborted for: `next` is the abort's commit.
    pub aborts: Option<String>,
    /// The lines of every check judged now, for the commit's body.
    pub analysis: Vec<String>,
}

/// The decision for a release whose overlay records `recorded` (its files read as `observed`)
/// at `now`, given what Prometheus said ([`Evidence`]). The rules are in the module doc.
pub(crate) fn decide(
    canary: &Canary,
    recorded: Option<&Recorded>,
    observed: &super::Observed,
    now: Timestamp,
    opts: &Options,
    evidence: &Evidence,
) -> Result<Decision, Error> {
    let mut held = Vec::new();
    let mut lines = Vec::new();
    // A finish moves the rest of the traffic onto the canary, which the spec already names as
    // its stable: the analysis guards it like any move onto the canary, but a failing check
    // holds it rather than aborting (the spec has no canary left to abort; revert the finish).
    let finishing = recorded.is_some_and(|r| super::finishing(canary, r));
    match &evidence.checks {
        Some(Ok(checks)) => {
            lines = checks.iter().map(|c| format!("analysis: {}", c.line)).collect();
            if let Some(failed) = checks.iter().find(|c| c.verdict == Verdict::Fail && c.aborts && !finishing) {
                let reason = format!("analysis: {}", failed.line).chars().take(1000).collect::<String>();
                let next = super::abort(canary, recorded, observed, now, &reason)?;
                return Ok(Decision { next, aborts: Some(reason), analysis: lines });
            }
            held.extend(
                checks
                    .iter()
                    .filter(|c| c.verdict != Verdict::Pass)
                    .map(|c| Gate::Analysis { check: c.name.clone(), why: c.line.clone() }),
            );
        }
        Some(Err(why)) => held.push(Gate::Unavailable { why: why.clone() }),
        None => {}
    }
    let (next, wave_gates) = match (&evidence.fleet, canary.fleet.is_some()) {
        (Some(view), true) => {
            if let Some(aborted) = super::waves::aborted_elsewhere(canary, recorded, view) {
                let reason = super::waves::abort_reason(aborted);
                let next = super::abort(canary, recorded, observed, now, &reason)?;
                return Ok(Decision { next, aborts: Some(reason), analysis: lines });
            }
            fleet_next(canary, recorded, observed, now, opts, view)?
        }
        _ => (next(canary, recorded, observed, now, opts)?, Vec::new()),
    };
    held.extend(wave_gates);
    let next = match next {
        Next::Move { to } => {
            let from = current(canary, recorded).ok();
            let adds = finishing || from.as_ref().is_some_and(|from| adds_canary_traffic(canary, from, &to));
            if !adds {
                held.clear();
            }
            if let Some(from) = from.as_ref().filter(|_| recorded.is_some() && canary.analysis.is_some()) {
                // A Prometheus that cannot answer holds the release once, not once per question.
                held.extend(readiness(canary, from, &to, evidence).filter(|gate| !held.contains(gate)));
            }
            match held.is_empty() {
                true => Next::Move { to },
                false => Next::Held(held),
            }
        }
        Next::Held(mut gates) => {
            gates.extend(held);
            Next::Held(gates)
        }
        stay @ Next::Stay { .. } => stay,
    };
    Ok(Decision { next, aborts: None, analysis: lines })
}

/// The life's next step for an instance of a fleet, and the waves' gates that hold a move that
/// starts the canary (the rules are in [`super::waves`]): while the waves before its own have not
/// all passed, the instance is decided as a release whose spec has no canary (it commits
/// `steady`, or goes back to it), and a stay there is held by the waves.
fn fleet_next(
    canary: &Canary,
    recorded: Option<&Recorded>,
    observed: &super::Observed,
    now: Timestamp,
    opts: &Options,
    view: &super::waves::View,
) -> Result<(Next<State>, Vec<Gate>), Error> {
    use super::waves::{self, Standing};
    let id = canary.id();
    let mine = view.members.iter().find(|m| m.id == id).map(|m| &m.standing);
    if canary.canary.is_none() {
        // A finish waits for every instance, unless it is under way here already.
        let gate = waves::finish_gate(canary, view).filter(|_| !opts.skip_gates && mine != Some(&Standing::Finished));
        if let Some(gate) = gate.filter(|_| recorded.is_some()) {
            return Ok((Next::Held(vec![gate]), Vec::new()));
        }
        return Ok((next(canary, recorded, observed, now, opts)?, Vec::new()));
    }
    let starting = matches!(mine, None | Some(Standing::Waiting | Standing::Aborted { .. }));
    let mut start = waves::start_gates(canary, recorded, view, now, opts.restart);
    // `--skip-gates` starts a wave early on purpose; an abort elsewhere still needs --restart.
    if opts.skip_gates {
        start.gates.retain(|g| matches!(g, Gate::Wave { short, .. } if short == waves::FLEET_ABORTED));
        start.closed = false;
    }
    if !starting || start.gates.is_empty() {
        return Ok((next(canary, recorded, observed, now, opts)?, Vec::new()));
    }
    if start.closed {
        let waiting = Canary { canary: None, ..canary.clone() };
        let next = match next(&waiting, recorded, observed, now, &Options::default())? {
            Next::Stay { .. } => Next::Held(start.gates),
            Next::Held(mut gates) => {
                gates.extend(start.gates);
                Next::Held(gates)
            }
            // Back to (or into) `steady`: planned and rendered with the spec as it is, which a
            // state without the canary renders alike.
            commit @ Next::Move { .. } => commit,
        };
        return Ok((next, Vec::new()));
    }
    let next = next(canary, recorded, observed, now, opts)?;
    let starts =
        |to: &State| to.leaving.is_none() && matches!(to.toward.unwrap_or(to.step), Step::Prepare | Step::Stage(_));
    Ok(match next {
        Next::Move { to } if starts(&to) => (Next::Held(start.gates), Vec::new()),
        Next::Held(gates) if mine == Some(&Standing::Waiting) || mine.is_none() => (Next::Held(gates), start.gates),
        other => (other, Vec::new()),
    })
}

/// Whether the move from `from` to `to` is on its way to more traffic on the canary: a higher
/// weight, a higher mirror, or matches it did not have. A scale-up is judged by the state it
/// scales up for (the traffic move that follows it is not judged again: its state is in
/// between). A settle (the same step), a drain back to stable and a departing version put none.
fn adds_canary_traffic(canary: &Canary, from: &State, to: &State) -> bool {
    let target = to.toward.unwrap_or(to.step);
    if to.leaving.is_some() || target == from.step || target == Step::Aborted {
        return false;
    }
    let stage = |step: Step| match step {
        Step::Stage(i) => canary.stages.get(i),
        _ => None,
    };
    let (before, after) = (stage(from.step), stage(target));
    let weight = |s: Option<&crate::spec::Stage>| s.map_or(0, |s| if s.mirror.is_some() { 0 } else { s.weight });
    let mirror = |s: Option<&crate::spec::Stage>| s.and_then(|s| s.mirror).unwrap_or(0);
    let before_matches = before.map_or(&[][..], |s| s.matches.as_slice());
    let after_matches = after.map_or(&[][..], |s| s.matches.as_slice());
    weight(after) > weight(before)
        || mirror(after) > mirror(before)
        || after_matches.iter().any(|m| !before_matches.contains(m))
}

/// The readiness gate of a move: every version whose traffic rises runs, as Prometheus shows,
/// the pods the current state declares for it.
fn readiness(canary: &Canary, from: &State, to: &State, evidence: &Evidence) -> Option<Gate> {
    // An abort's way back to stable never waits on Prometheus: `kanari abort` would not.
    if to.leaving.is_some() || to.step == Step::Aborted || to.toward == Some(Step::Aborted) {
        return None;
    }
    let (before, after, declared) =
        (plan::need(canary, from.step), plan::need(canary, to.step), plan::counts(canary, from));
    let mut versions = vec![(&canary.stable, before.stable, after.stable, declared.stable)];
    if let Some(c) = &canary.canary {
        versions.push((c, before.canary, after.canary, declared.canary));
    }
    for (version, before, after, declared) in versions {
        if after <= before {
            continue;
        }
        let deployment = plan::version_object_name(canary, version);
        let available = match &evidence.available {
            Some(Ok(available)) => available.get(&deployment).copied().filter(|n| n.is_finite()),
            Some(Err(why)) => return Some(Gate::Unavailable { why: why.clone() }),
            None => None,
        };
        if available.is_none_or(|n| n < f64::from(declared)) {
            let shown = available.map_or("no data".to_string(), |n| format!("{n} of {declared} pods available"));
            return Some(Gate::Analysis {
                check: "readiness".into(),
                why: format!(
                    "traffic moves onto `{deployment}` once its {declared} pods are available; Prometheus shows {shown} (kube_deployment_status_replicas_available)"
                ),
            });
        }
    }
    None
}
