//! How many pods each version runs in a state, and how many the traffic of a state needs: the
//! arithmetic of make before break. Pure.
//!
//! Three counts per version, stable and canary:
//! - [`declared`]: what a step says on its own: the canary's share of `replicas` (at least 1
//!   when it takes traffic), stable's full count, or the stage's override;
//! - [`settled`]: what a step runs once it is settled: the declared count raised to the next
//!   stage's, so that the pods the next stage needs come up while this one runs and the next
//!   promote can move traffic in one commit. A stage's explicit override is taken as written
//!   (an override of 0 is applied only once the traffic has left);
//! - [`need`]: what the traffic of a step needs: 0 for a version that takes no traffic, else
//!   `max(1, ceil(full × share / 100))`, lowered to the stage's explicit override of that version
//!   when it sets one (a smaller count than the share is the spec's own decision about capacity).
//!
//! In a mirror stage the canary's share is the mirrored percent (copies are real load) and
//! stable's is all of the traffic.
//!
//! With autoscaling, every count is an HPA minimum and `full` is `minReplicas`.

use super::{State, Step};
use crate::spec::{Canary, Stage};

/// A count for each version of a release.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    pub stable: u32,
    pub canary: u32,
}

impl Counts {
    /// The larger of each.
    pub(crate) fn max(self, other: Counts) -> Counts {
        Counts { stable: self.stable.max(other.stable), canary: self.canary.max(other.canary) }
    }

    /// Whether every count of `self` is at least the one of `other`.
    pub(crate) fn covers(self, other: Counts) -> bool {
        self.stable >= other.stable && self.canary >= other.canary
    }
}

/// A version's pod count in a state (or HPA minimum).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Pods(pub u32);

/// Pods a version runs at 100% of the traffic: `replicas`, or the HPA minimum.
pub(crate) fn full(canary: &Canary) -> u32 {
    canary.autoscaling.as_ref().map_or(canary.replicas, |a| a.min_replicas)
}

/// The canary's share of the traffic of a stage, in pods: at least 1 when it takes traffic (an
/// HPA minimum is never 0: a version at 0 is said by an override, not by arithmetic). Mirrored
/// requests are traffic like routed ones.
fn share(canary: &Canary, stage: &Stage) -> u32 {
    let computed = (full(canary) * stage.canary_load()).div_ceil(100);
    let floor = u32::from(takes_traffic(stage) || canary.autoscaling.is_some());
    computed.max(floor)
}

fn takes_traffic(stage: &Stage) -> bool {
    stage.weight > 0 || !stage.matches.is_empty() || stage.mirror.is_some()
}

/// The pods of stable and canary that `step` declares on its own, before autoscaling turns them
/// into HPA minimums. The canary is `None` when the step has no canary Deployment at all.
pub(crate) fn pods(canary: &Canary, step: Step) -> (Pods, Option<Pods>) {
    let full = full(canary);
    match step {
        Step::Steady => (Pods(full), None),
        Step::Prepare => (Pods(full), Some(Pods(canary.stages.first().map_or(1, |s| share(canary, s))))),
        Step::Stage(i) => {
            let stage = &canary.stages[i];
            let stable = stage.replicas.stable.unwrap_or(full);
            let canary_pods = stage.replicas.canary.unwrap_or_else(|| share(canary, stage));
            (Pods(stable), Some(Pods(canary_pods)))
        }
        Step::Aborted => (Pods(full), Some(Pods(0))),
    }
}

/// [`pods`] as [`Counts`], 0 for a canary the step does not have.
pub(crate) fn declared(canary: &Canary, step: Step) -> Counts {
    let (stable, canary_pods) = pods(canary, step);
    Counts { stable: stable.0, canary: canary_pods.map_or(0, |p| p.0) }
}

/// What `step` runs once settled: its declared counts, each raised to the next stage's unless
/// the stage overrides it (see the module doc). `prepare` already declares the first stage's.
pub(crate) fn settled(canary: &Canary, step: Step) -> Counts {
    let own = declared(canary, step);
    let Step::Stage(i) = step else { return own };
    let Some(next) = canary.stages.get(i + 1).map(|_| declared(canary, Step::Stage(i + 1))) else { return own };
    let over = &canary.stages[i].replicas;
    Counts {
        stable: if over.stable.is_some() { own.stable } else { own.stable.max(next.stable) },
        canary: if over.canary.is_some() { own.canary } else { own.canary.max(next.canary) },
    }
}

/// The pods the traffic of `step` needs, per version (see the module doc).
pub(crate) fn need(canary: &Canary, step: Step) -> Counts {
    let full = full(canary);
    let of = |share: u32, over: Option<u32>| {
        let n = (full * share).div_ceil(100).max(1);
        over.map_or(n, |o| n.min(o.max(1)))
    };
    match step {
        Step::Steady | Step::Prepare | Step::Aborted => Counts { stable: full.max(1), canary: 0 },
        Step::Stage(i) => {
            let stage = &canary.stages[i];
            let stable = if stage.weight < 100 { of(100 - stage.weight, stage.replicas.stable) } else { 0 };
            let canary_need = if takes_traffic(stage) { of(stage.canary_load(), stage.replicas.canary) } else { 0 };
            Counts { stable, canary: canary_need }
        }
    }
}

/// The pods a recorded state runs: the settled counts of its step, raised to what the traffic of
/// the step it holds needs (a drain under way) and to what the step it prepares for runs.
pub(crate) fn counts(canary: &Canary, state: &State) -> Counts {
    let mut out = settled(canary, state.step);
    if let Some(held) = state.holding {
        out = out.max(need(canary, held));
    }
    if let Some(toward) = state.toward {
        out = out.max(settled(canary, toward));
    }
    out
}

/// Whether the state runs a canary Deployment (and defines its subset).
pub(crate) fn has_canary(canary: &Canary, state: &State) -> bool {
    canary.canary.is_some()
        && [Some(state.step), state.holding, state.toward].into_iter().flatten().any(|s| s != Step::Steady)
}
