//! The four rules of make before break, checked on plans: a property test that walks generated
//! releases through random promotes, `--to` moves, approvals, aborts and restarts, each state
//! recorded and read back as an overlay would be, and checks every consecutive pair. (The same
//! rules are checked on real commits read back from Git in the integration tests.)

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};
use proptest::prelude::*;

use super::*;
use crate::plan::{self, Plan};
use crate::spec::{Autoscaling, Match, Pause, ReplicaOverride, Stage, StringMatch};

/// A state as its overlay records it: the annotations of its plan.
fn recorded(plan: &Plan) -> Recorded {
    Recorded::read(&plan.annotations).expect("a plan's annotations read back").expect("every plan records its stage")
}

/// Pods per version: Deployment replicas, or the HPA minimum.
fn pods(plan: &Plan) -> BTreeMap<String, u32> {
    let of = |v: &plan::VersionPlan| v.replicas.or(v.hpa.as_ref().map(|h| h.min_replicas)).unwrap_or(0);
    plan.versions.iter().map(|v| (v.name.clone(), of(v))).collect()
}

/// What the traffic of a plan needs per routed version, from the rules' own definition.
fn needs(canary: &Canary, plan: &Plan) -> BTreeMap<String, u32> {
    let full = plan::full(canary);
    let stage = canary.stage(&plan.stage).map(|(_, s)| s);
    let over = |version: &str| {
        let r = &stage?.replicas;
        if canary.canary.as_ref().is_some_and(|c| c.name == version) { r.canary } else { r.stable }
    };
    let mut out = BTreeMap::new();
    for w in &plan.virtual_service.weights {
        if w.weight > 0 {
            let n = (full * w.weight).div_ceil(100).max(1);
            out.insert(w.subset.clone(), over(&w.subset).map_or(n, |o| n.min(o.max(1))));
        }
    }
    if let Some(m) = &plan.virtual_service.match_route {
        out.entry(m.subset.clone()).or_insert(1);
    }
    // Mirrored requests are real load: the mirrored subset is routed, with the mirror's share.
    if let Some(m) = &plan.virtual_service.mirror {
        let n = (full * m.percent).div_ceil(100).max(1);
        let n = over(&m.subset).map_or(n, |o| n.min(o.max(1)));
        out.entry(m.subset.clone()).and_modify(|have| *have = n.max(*have)).or_insert(n);
    }
    out
}

/// The four rules between two consecutive plans; the broken one, said.
fn check(canary: &Canary, a: &Plan, b: &Plan) -> Result<(), String> {
    let (need_a, need_b) = (needs(canary, a), needs(canary, b));
    let (pods_a, pods_b) = (pods(a), pods(b));
    let defined = |p: &Plan, v: &String| p.destination_rule.subsets.iter().any(|s| &s.name == v);
    for (v, need) in &need_b {
        if !defined(a, v) {
            return Err(format!("1: {v} routed in {} but not defined in {}", b.stage, a.stage));
        }
        let have = pods_a.get(v).copied().unwrap_or(0);
        if have < *need {
            return Err(format!("3: {v} needs {need} pods in {} but runs {have} in {}", b.stage, a.stage));
        }
    }
    for (v, need) in &need_a {
        if !defined(b, v) {
            return Err(format!("2: {v} routed in {} but not defined in {}", a.stage, b.stage));
        }
        let have = pods_b.get(v).copied().unwrap_or(0);
        if have < *need {
            return Err(format!("4: {v} needed {need} pods in {} but runs {have} in {}", a.stage, b.stage));
        }
    }
    Ok(())
}

#[derive(Clone, Debug)]
enum Op {
    Promote,
    To(usize),
    Approve,
    Abort,
    Restart,
    /// Let time pass: past every warmup and bake.
    Wait,
}

type GenStage = ((u32, bool, Option<u32>), Option<u32>, Option<u32>, bool);

/// (weight, a match, a mirror), overrides, approval.
fn stage_strategy() -> impl Strategy<Value = GenStage> {
    let traffic = (0u32..=100, any::<bool>(), prop::option::weighted(0.25, 1u32..=100));
    (traffic, prop::option::of(0u32..12), prop::option::of(0u32..12), any::<bool>())
}

fn release_strategy() -> impl Strategy<Value = Canary> {
    (1u32..12, any::<bool>(), prop::collection::vec(stage_strategy(), 1..6)).prop_map(|(replicas, hpa, stages)| {
        let stages = stages
            .into_iter()
            .enumerate()
            .map(|(i, ((weight, matched, mirror), stable, canary, approval))| {
                // As validation allows: a mirror stage has no weight and no match.
                let weight = if mirror.is_some() { 0 } else { weight };
                let matches = if mirror.is_none() && (matched || weight == 0) {
                    let mut m = Match::default();
                    m.headers.insert("x-user".into(), StringMatch::Exact("a".into()));
                    vec![m]
                } else {
                    vec![]
                };
                // As validation allows: 0 only for a version that takes no traffic in the stage.
                let stable = stable.filter(|n| *n > 0 || weight == 100);
                let canary = canary.filter(|n| *n > 0);
                let pause = Pause { approval, duration: None };
                Stage {
                    name: format!("s{i}"),
                    weight,
                    matches,
                    mirror,
                    mirror_matches: vec![],
                    replicas: ReplicaOverride { stable, canary },
                    pause,
                    at: Default::default(),
                }
            })
            .collect();
        let autoscaling = hpa.then_some(Autoscaling {
            min_replicas: replicas,
            max_replicas: 20,
            target_cpu_utilization_percentage: 50,
        });
        crate::plan::tests::release(replicas, autoscaling, stages)
    })
}

fn op_strategy() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => Just(Op::Promote),
        1 => (0usize..6).prop_map(Op::To),
        1 => Just(Op::Approve),
        1 => Just(Op::Abort),
        1 => Just(Op::Restart),
        2 => Just(Op::Wait),
    ]
}

/// Runs `ops` on `canary` from nothing committed; returns the committed plans in order.
fn run(canary: &Canary, ops: &[Op]) -> Vec<Plan> {
    let mut now: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
    let mut plans: Vec<Plan> = Vec::new();
    for op in ops {
        let rec = plans.last().map(recorded);
        let rec = rec.as_ref();
        let observed = Observed::default();
        let next = match op {
            Op::Wait => {
                now += SignedDuration::from_hours(2);
                continue;
            }
            Op::Promote => next(canary, rec, &observed, now, &Options::default()),
            Op::To(i) => {
                let to = Some(Step::Stage(i % canary.stages.len()));
                next(canary, rec, &observed, now, &Options { to, ..Options::default() })
            }
            Op::Approve => approve(canary, rec),
            Op::Abort => abort(canary, rec, &observed, now, "bad"),
            Op::Restart => next(canary, rec, &observed, now, &Options { restart: true, ..Options::default() }),
        };
        if let Ok(Next::Move { to }) = next {
            plans.push(plan::plan(canary, &to));
        }
        now += SignedDuration::from_secs(1);
    }
    plans
}

proptest! {
    #![proptest_config(crate::proptesting::config(512))]

    #[test]
    fn every_pair_of_consecutive_states_keeps_the_four_rules(
        canary in release_strategy(),
        ops in prop::collection::vec(op_strategy(), 1..40),
    ) {
        let plans = run(&canary, &ops);
        for pair in plans.windows(2) {
            if let Err(broken) = check(&canary, &pair[0], &pair[1]) {
                prop_assert!(false, "rule {broken}\n{:?}", plans.iter().map(recorded).collect::<Vec<_>>());
            }
        }
    }
}

/// The forward walk and the abort `plan` shows keep the rules too, and each promote from a
/// settled stage to the next is one commit unless an override says otherwise.
#[test]
fn the_walk_keeps_the_rules() {
    let c = super::tests::canary();
    let plans: Vec<Plan> = walk(&c).iter().map(|s| plan::plan(&c, s)).collect();
    for pair in plans.windows(2) {
        check(&c, &pair[0], &pair[1]).unwrap();
    }
    let names: Vec<String> = walk(&c).iter().map(|s| s.step.name(&c).to_string()).collect();
    assert_eq!(names, ["steady", "prepare", "a", "b", "c", "aborted", "aborted"]);
}

/// A mirror stage is traffic to make before break: its subset is defined and its pods are up
/// before the mirror starts (`prepare` already runs them), and kept under it.
#[test]
fn a_walk_through_a_mirror_stage_keeps_the_rules() {
    let shadow = Stage { name: "shadow".into(), mirror: Some(30), ..Stage::default() };
    let half = Stage { name: "half".into(), weight: 50, ..Stage::default() };
    let c = crate::plan::tests::release(10, None, vec![shadow, half]);
    let states = walk(&c);
    let plans: Vec<Plan> = states.iter().map(|s| plan::plan(&c, s)).collect();
    for pair in plans.windows(2) {
        check(&c, &pair[0], &pair[1]).unwrap();
    }
    let names: Vec<&str> = states.iter().map(|s| s.step.name(&c)).collect();
    assert_eq!(names[..4], ["steady", "prepare", "shadow", "half"]);
    assert_eq!(needs(&c, &plans[2])["v2"], 3);
}
