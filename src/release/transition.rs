//! Make before break: the next commit on the way from one state of a release to another, such
//! that between any two consecutive commits A → B
//!
//! 1. a subset routed in B is already defined in A,
//! 2. a subset routed in A is still defined in B,
//! 3. every version routed in B already runs in A the pods B's traffic needs,
//! 4. every version routed in A still runs in B the pods A's traffic needed,
//!
//! whatever order Argo CD or Flux applies a commit's resources in. Pods and needs are
//! [`crate::plan`]'s (`counts`, `need`). A move from A toward a target T is one of three commits:
//!
//! - **scale up** (`kanari.dev/toward: T`): T's traffic needs pods A does not run. A's routes stay,
//!   the pods T runs come up; the traffic moves with the next promote (or abort).
//! - **move** (`kanari.dev/stage: T`): the traffic moves. A version the new routes give less
//!   keeps the pods A's traffic needed (`kanari.dev/holding: A`): a drain under way.
//! - **settle**: a drain ends: the pods the old traffic needed go (a stage's `replicas: {stable: 0}`
//!   takes effect here), in the next promote or abort after the move.
//!
//! Since a stage already runs the pods the next stage needs ([`crate::plan::settled`]), a forward
//! promote is one commit; scale-ups come from explicit overrides, `--to` jumps and aborts from a
//! stage that scaled stable down, and drains from aborts, steps back and overrides that lower a
//! count.
//!
//! Readiness: new pods are not ready when their commit lands, and a cluster that syncs late may
//! apply two commits at once. So a move that puts more traffic on a version whose pods its state
//! raised (`kanari.dev/warming`) waits until the state's age reaches `spec.warmup`, and so does a
//! settle (the traffic it drains moved at the state's `since`). Both hold with exit 3, saying
//! until when. An abort's move back to a stable that runs its pods never waits.

use jiff::{SignedDuration, Timestamp};

use super::{Error, Gate, Next};
use crate::plan::{self, Counts, State, Step};
use crate::spec::{Canary, format_duration};

/// The next commit from `from` toward `target`: a scale-up, the move, or a settle; held while new
/// pods warm up or moved traffic drains. `reason` is recorded when the target is `aborted`.
pub(crate) fn advance(
    canary: &Canary,
    from: &State,
    target: Step,
    now: Timestamp,
    reason: Option<&str>,
) -> Result<Next<State>, Error> {
    if from.step == target && from.holding.is_none() && from.toward.is_none() {
        return Ok(Next::Stay { why: format!("already at `{}`", target.name(canary)) });
    }
    let have = plan::counts(canary, from);
    let need_to = plan::need(canary, target);
    let ready = have.covers(need_to) && (need_to.canary == 0 || plan::has_canary(canary, from));
    let reason = reason.map(str::to_string).filter(|_| target == Step::Aborted);
    let mut to = if !ready {
        State {
            step: from.step,
            since: Some(now),
            approved: from.approved.clone(),
            reason: reason.clone().or_else(|| from.reason.clone()),
            holding: from.holding,
            toward: Some(target),
            ..State::default()
        }
    } else {
        let settle = from.step == target;
        let need_from = plan::need(canary, from.step);
        let holding = (!settle && !plan::settled(canary, target).covers(need_from)).then_some(from.step);
        let to = State {
            step: target,
            since: if settle { from.since } else { Some(now) },
            approved: if settle { from.approved.clone() } else { None },
            reason,
            holding,
            warming: if settle { from.warming.clone() } else { Vec::new() },
            ..State::default()
        };
        if let Some(gate) = wait(canary, from, &to, need_from, need_to, now) {
            return Ok(Next::Held(vec![gate]));
        }
        to
    };
    let after = plan::counts(canary, &to);
    for (version, before, now_pods) in roles(canary, have, after) {
        if now_pods > before && !to.warming.contains(&version) {
            to.warming.push(version);
        }
    }
    to.warming.sort();
    Ok(Next::Move { to })
}

/// What holds a move from `from` to `to` now: traffic put on pods `from` raised, or pods taken
/// from traffic that moved at `from`'s time, before `spec.warmup` has passed since then.
fn wait(canary: &Canary, from: &State, to: &State, need_from: Counts, need_to: Counts, now: Timestamp) -> Option<Gate> {
    let until = warm_until(canary, from)?;
    if now >= until {
        return None;
    }
    let warmup = format_duration(canary.warmup);
    let onto: Vec<String> = roles(canary, need_from, need_to)
        .into_iter()
        .filter(|(version, before, after)| after > before && from.warming.contains(version))
        .map(|(version, ..)| version)
        .collect();
    if !onto.is_empty() {
        return Some(Gate::Warmup {
            until,
            why: format!(
                "the pods of {} came up in this state; traffic moves onto them after the warmup ({warmup})",
                onto.join(", ")
            ),
        });
    }
    let held = from.holding?;
    let kept = plan::need(canary, held);
    let after = plan::counts(canary, to);
    let dropped: Vec<String> = roles(canary, kept, after)
        .into_iter()
        .filter(|(_, kept, after)| after < kept)
        .map(|(version, ..)| version)
        .collect();
    (!dropped.is_empty()).then(|| Gate::Warmup {
        until,
        why: format!(
            "the traffic left `{}` at the start of this state; the pods of {} it needed are kept until the warmup ({warmup}) has passed",
            held.name(canary),
            dropped.join(", ")
        ),
    })
}

/// The time a state's warmup ends: its `since` plus `spec.warmup`. None when it records no time.
pub(crate) fn warm_until(canary: &Canary, state: &State) -> Option<Timestamp> {
    let since = state.since?;
    Some(since + SignedDuration::from_secs(canary.warmup.as_secs() as i64))
}

/// Each version's pair of counts, stable first, with the version's name; the canary only when the
/// spec has one.
fn roles(canary: &Canary, a: Counts, b: Counts) -> Vec<(String, u32, u32)> {
    let mut out = vec![(canary.stable.version.clone(), a.stable, b.stable)];
    if let Some(c) = &canary.canary {
        out.push((c.version.clone(), a.canary, b.canary));
    }
    out
}

/// Every state a release commits on its way forward, from `steady` through the last stage,
/// with the intermediate commits make before break adds (a drain, a scale-up) in their place;
/// then `aborted`, as an abort from the last stage ends. What `kanari plan` shows.
pub(crate) fn walk(canary: &Canary) -> Vec<State> {
    let mut states = vec![State::new(Step::Steady)];
    if canary.canary.is_none() {
        return states;
    }
    let targets = std::iter::once(Step::Prepare).chain((0..canary.stages.len()).map(Step::Stage));
    let walked = |target: Step, states: &mut Vec<State>| {
        // A move takes at most three commits (scale up, move, settle); a bound all the same.
        for _ in 0..4 {
            let from = states.last().expect("starts with steady");
            match advance(canary, from, target, Timestamp::UNIX_EPOCH, Some("aborted")) {
                Ok(Next::Move { to }) => states.push(State { since: None, warming: Vec::new(), ..to }),
                _ => break,
            }
        }
    };
    for target in targets {
        walked(target, &mut states);
    }
    walked(Step::Aborted, &mut states);
    for state in &mut states {
        state.reason = None;
    }
    states
}
