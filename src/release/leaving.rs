//! A release whose committed canary is no longer the spec's: a changed canary (the old one
//! drains, then the new one is prepared) or a finish (the canary became the stable version; the
//! old stable drains, then goes). The spec no longer describes the leaving version, so these
//! commits carry its files unchanged from the committed overlay (its Deployment, HPA and, with
//! the Gateway API router, its Service, so that no backendRef loses its Service), read as
//! [`plan::Observed`], and follow the same rules as [`super::transition`]:
//!
//! 1. **scale up**: the spec's stable runs fewer pods than all the traffic needs (a stage that
//!    scaled it down, or a stable version changed in place): it comes up to full size; the routes
//!    (VirtualService or HTTPRoute) and the leaving version stay as committed, the subsets (or
//!    the version Services) gain the stable's (`kanari.dev/toward`).
//! 2. **drain**: the leaving version still takes traffic: all of it moves to the spec's stable;
//!    the leaving version keeps its pods and subset (`kanari.dev/holding`). A changed canary's
//!    drain is recorded as `aborted` for the old canary; a finish's as `steady` with
//!    `kanari.dev/departing`.
//! 3. **replace**: the leaving version goes, after the warmup when it drained in the state before,
//!    and the destination is committed: `prepare` of the new canary, or `steady`.

use jiff::Timestamp;

use super::transition::warm_until;
use super::{Error, Gate, Next, entered};
use crate::plan::{self, Leaving, Observed, Recorded, State, Step, SubsetPlan};
use crate::spec::{Canary, format_duration};

/// The next commit of a release on its way from a canary the spec no longer has: toward
/// `prepare` of the new canary or `steady` (a finish), or toward `aborted` when `abort` gives a
/// reason (an abort while a changed canary drains: the new one does not start).
pub(super) fn next(
    canary: &Canary,
    recorded: &Recorded,
    observed: &Observed,
    now: Timestamp,
    abort: Option<&str>,
) -> Result<Next<State>, Error> {
    let keeper = &canary.stable.version;
    let leaving = observed.leaving(canary);
    let full = plan::full(canary);
    let kept_pods = observed.count(keeper);
    let routed = leaving.iter().any(|v| observed.routed.contains(*v));
    let destination = match (abort, &canary.canary) {
        (Some(_), Some(_)) => Step::Aborted,
        (_, Some(_)) => Step::Prepare,
        (_, None) => Step::Steady,
    };
    // A leaving version's Deployment, HPA and (Gateway API) Service, named as
    // `plan::version_object_name` names them.
    let version_files = |v: &str| {
        let object = observed.deployment(canary, v);
        [
            crate::plan::object_file("deployment", &object),
            crate::plan::object_file("horizontalpodautoscaler", &object),
            crate::plan::object_file("service", &object),
        ]
        .into_iter()
        .filter(|f| observed.files.contains(f))
        .collect::<Vec<_>>()
    };
    let leaving_files: Vec<String> = leaving.iter().flat_map(|v| version_files(v)).collect();
    let since = State { since: recorded.since, ..State::default() };
    let until = warm_until(canary, &since).filter(|until| now < *until);
    let warmup = format_duration(canary.warmup);

    if leaving.is_empty() || (!routed && kept_pods >= full) {
        if let (Some(held), Some(until)) = (&recorded.holding, until) {
            return Ok(Next::Held(vec![Gate::Warmup {
                until,
                why: format!(
                    "the traffic left {} at the start of this state (it was at `{held}`); it goes after the warmup ({warmup})",
                    names(&leaving)
                ),
            }]));
        }
        let mut to = entered(destination, now);
        to.reason = abort.map(str::to_string).filter(|_| destination == Step::Aborted);
        let after = plan::counts(canary, &to);
        if after.stable > kept_pods {
            to.warming.push(keeper.clone());
        }
        if let Some(c) = canary.canary.as_ref().filter(|_| after.canary > 0) {
            to.warming.push(c.version.clone());
        }
        to.warming.sort();
        return Ok(Next::Move { to });
    }
    if kept_pods < full {
        // The routes stay as committed; the DestinationRule is rendered, so that it defines
        // the spec's stable (which may be new) beside the leaving versions.
        let mut carry = leaving_files;
        let routes = [
            crate::plan::object_file("virtualservice", &canary.name),
            crate::plan::object_file("httproute", &canary.name),
        ];
        carry.extend(routes.into_iter().filter(|f| observed.files.contains(f)));
        let subsets = leaving.iter().map(|v| observed.subset(v)).collect();
        let to = State {
            since: Some(now),
            approved: recorded.approved.clone(),
            reason: recorded.reason.clone(),
            toward: Some(destination),
            warming: vec![keeper.clone()],
            ..State::default()
        };
        let out = Leaving {
            carry,
            subsets,
            canary: recorded.canary.clone(),
            stage: recorded.stage.clone(),
            holding: recorded.holding.clone(),
            departing: recorded.departing.clone(),
        };
        return Ok(Next::Move { to: State { leaving: Some(out), ..to } });
    }
    if let Some(until) = until.filter(|_| recorded.warming.contains(keeper)) {
        return Ok(Next::Held(vec![Gate::Warmup {
            until,
            why: format!(
                "the pods of {keeper} came up in this state; traffic moves onto them after the warmup ({warmup})"
            ),
        }]));
    }
    let subsets: Vec<SubsetPlan> = leaving.iter().map(|v| observed.subset(v)).collect();
    // The recorded canary leaving: a changed canary, its drain recorded as an abort of it.
    // Else an old stable leaving (a finish, or a stable version changed in place).
    let canary_leaves = recorded.canary.as_ref().is_some_and(|c| leaving.contains(&c));
    let holding = Some(recorded.stage.clone());
    let (out, reason) = match canary.canary.as_ref().filter(|_| canary_leaves) {
        Some(new) => (
            Leaving { canary: recorded.canary.clone(), stage: "aborted".into(), holding, ..Leaving::default() },
            Some(format!("the canary changed to {}", new.version)),
        ),
        None => {
            let departing = leaving.iter().map(|v| v.to_string()).collect();
            (Leaving { stage: "steady".into(), holding, departing, ..Leaving::default() }, None)
        }
    };
    let out = Leaving { carry: leaving_files, subsets, ..out };
    Ok(Next::Move { to: State { since: Some(now), reason, leaving: Some(out), ..State::default() } })
}

fn names(versions: &[&String]) -> String {
    match versions {
        [] => "the old version".into(),
        _ => versions.iter().map(|v| v.as_str()).collect::<Vec<_>>().join(", "),
    }
}
