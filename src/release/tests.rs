//! The release's life, step by step.
use super::*;

/// [`super::next`] on an overlay with no files, as the step it moves to.
fn next(canary: &Canary, recorded: Option<&Recorded>, now: Timestamp, opts: &Options) -> Result<Next, Error> {
    super::next(canary, recorded, &Observed::default(), now, opts).map(|n| n.map(|s| s.step))
}
use crate::spec::parse_file;
use std::path::Path;

const SPEC: &str = "apiVersion: kanari.dev/v1alpha1
kind: Canary
metadata: {name: web, namespace: shop}
spec:
  service: {port: 80}
  stable: {version: v1, image: web:1}
  canary: {version: v2, image: web:2}
  stages:
    - {name: a, weight: 10}
    - {name: b, weight: 50, pause: {approval: true}}
    - {name: c, weight: 100, pause: {duration: 30m}}
";

pub(super) fn canary() -> Canary {
    parse_file(Path::new("c.yaml"), SPEC).0.remove(0)
}

fn at(canary: &str, stage: &str, since: &str, approved: Option<&str>) -> Recorded {
    Recorded {
        canary: Some(canary.into()),
        stage: stage.into(),
        since: Some(since.parse().expect("an RFC 3339 time")),
        approved: approved.map(Into::into),
        ..Default::default()
    }
}

#[test]
fn promote_walks_the_release_and_stops_at_gates() {
    let c = canary();
    let now: Timestamp = "2026-01-01T01:00:00Z".parse().unwrap();
    let t0 = "2026-01-01T00:00:00Z";
    let opts = Options::default();
    let step = |s: Step| Ok(Next::Move { to: s });
    assert_eq!(next(&c, None, now, &opts), step(Step::Steady));
    let steady = Recorded { stage: "steady".into(), ..Default::default() };
    assert_eq!(next(&c, Some(&steady), now, &opts), step(Step::Prepare));
    assert_eq!(next(&c, Some(&at("v2", "prepare", t0, None)), now, &opts), step(Step::Stage(0)));
    assert_eq!(next(&c, Some(&at("v2", "a", t0, None)), now, &opts), step(Step::Stage(1)));
    assert_eq!(
        next(&c, Some(&at("v2", "b", t0, None)), now, &opts),
        Ok(Next::Held(vec![Gate::Approval { stage: "b".into() }]))
    );
    assert_eq!(
        next(&c, Some(&at("v2", "b", t0, Some("a"))), now, &opts).unwrap(),
        Next::Held(vec![Gate::Approval { stage: "b".into() }])
    );
    assert_eq!(next(&c, Some(&at("v2", "b", t0, Some("b"))), now, &opts), step(Step::Stage(2)));
    // Bake: 30m from since; held just before, free at the minute.
    let entered = "2026-01-01T00:40:00Z";
    let held = next(&c, Some(&at("v2", "c", entered, None)), now, &opts).unwrap();
    assert_eq!(
        held,
        Next::Held(vec![Gate::Bake {
            stage: "c".into(),
            until: "2026-01-01T01:10:00Z".parse().unwrap(),
            duration: "30m".into()
        }])
    );
    let later: Timestamp = "2026-01-01T01:10:00Z".parse().unwrap();
    assert!(matches!(next(&c, Some(&at("v2", "c", entered, None)), later, &opts), Ok(Next::Stay { .. })));
}

#[test]
fn changed_canaries_restart_and_aborted_releases_stay() {
    let c = canary();
    let now: Timestamp = "2026-01-01T01:00:00Z".parse().unwrap();
    let t0 = "2026-01-01T00:00:00Z";
    let opts = Options::default();
    assert_eq!(next(&c, Some(&at("v0", "b", t0, None)), now, &opts), Ok(Next::Move { to: Step::Prepare }));
    let aborted = Recorded { reason: Some("errors".into()), ..at("v2", "aborted", t0, None) };
    assert_eq!(
        next(&c, Some(&aborted), now, &opts),
        Ok(Next::Held(vec![Gate::Aborted { reason: Some("errors".into()) }]))
    );
    let restart = Options { restart: true, ..Options::default() };
    assert_eq!(next(&c, Some(&aborted), now, &restart), Ok(Next::Move { to: Step::Prepare }));
    let finished = Canary { canary: None, ..c.clone() };
    assert_eq!(next(&finished, Some(&at("v2", "c", t0, None)), now, &opts), Ok(Next::Move { to: Step::Steady }));
}

#[test]
fn to_goes_back_freely_and_forward_through_gates() {
    let c = canary();
    let now: Timestamp = "2026-01-01T01:00:00Z".parse().unwrap();
    let t0 = "2026-01-01T00:00:00Z";
    let to = |s: Step| Options { to: Some(s), ..Options::default() };
    assert_eq!(
        next(&c, Some(&at("v2", "b", t0, None)), now, &to(Step::Stage(0))),
        Ok(Next::Move { to: Step::Stage(0) })
    );
    assert!(matches!(next(&c, Some(&at("v2", "b", t0, None)), now, &to(Step::Stage(2))), Ok(Next::Held(_))));
    assert_eq!(
        next(&c, Some(&at("v2", "a", t0, None)), now, &to(Step::Stage(1))),
        Ok(Next::Move { to: Step::Stage(1) })
    );
    assert!(next(&c, Some(&at("v2", "a", t0, None)), now, &to(Step::Aborted)).is_err());
    assert!(next(&c, None, now, &to(Step::Stage(0))).is_err());
}

/// `--to` once jumped over the approval of `b` and the bake time of `c` (issue: "promote --to
/// STAGE passes every gate on the way").
#[test]
fn to_forward_meets_the_gates_of_every_stage_it_passes() {
    let spec = SPEC.replace(
        "    - {name: c, weight: 100, pause: {duration: 30m}}\n",
        "    - {name: c, weight: 90, pause: {duration: 30m}}\n    - {name: d, weight: 100}\n",
    );
    let c = parse_file(Path::new("c.yaml"), &spec).0.remove(0);
    let now: Timestamp = "2026-01-01T01:00:00Z".parse().unwrap();
    let t0 = "2026-01-01T00:00:00Z";
    let to = |s: Step| Options { to: Some(s), ..Options::default() };
    let gate = |stage: &str, pause: &str| Gate::OnTheWay { stage: stage.into(), pause: pause.into() };
    let on_the_way = |stage: &str, pause: &str| Next::Held(vec![gate(stage, pause)]);
    // From a stage without a gate to the last: b's approval and c's bake hold it, both said.
    assert_eq!(
        next(&c, Some(&at("v2", "a", t0, None)), now, &to(Step::Stage(3))),
        Ok(Next::Held(vec![gate("b", "waits for approval"), gate("c", "bakes for 30m")]))
    );
    // From prepare: the same.
    assert_eq!(
        next(&c, Some(&at("v2", "prepare", t0, None)), now, &to(Step::Stage(2))),
        Ok(on_the_way("b", "waits for approval"))
    );
    // b approved: c's bake is on the way to d.
    assert_eq!(
        next(&c, Some(&at("v2", "b", t0, Some("b"))), now, &to(Step::Stage(3))),
        Ok(on_the_way("c", "bakes for 30m"))
    );
    // Into the gated stage itself: its gate guards the way out, not in.
    assert_eq!(
        next(&c, Some(&at("v2", "b", t0, Some("b"))), now, &to(Step::Stage(2))),
        Ok(Next::Move { to: Step::Stage(2) })
    );
    // --skip-gates says it on purpose.
    let skip = Options { to: Some(Step::Stage(3)), skip_gates: true, ..Options::default() };
    assert_eq!(next(&c, Some(&at("v2", "a", t0, None)), now, &skip), Ok(Next::Move { to: Step::Stage(3) }));
    let gates = gates_passed(&c, Step::Stage(0), Step::Stage(3), Some(&at("v2", "a", t0, None)), now).unwrap();
    assert_eq!(gates.iter().map(Gate::short).collect::<Vec<_>>(), ["on the way: b", "on the way: c"]);
    // Without --to, --skip-gates leaves a stage whose gates hold.
    let skip_here = Options { skip_gates: true, ..Options::default() };
    assert_eq!(next(&c, Some(&at("v2", "b", t0, None)), now, &skip_here), Ok(Next::Move { to: Step::Stage(2) }));
    // It never leaves `aborted`: that is --restart.
    let aborted = at("v2", "aborted", t0, None);
    assert!(
        matches!(next(&c, Some(&aborted), now, &skip_here), Ok(Next::Held(g)) if matches!(g[..], [Gate::Aborted { .. }]))
    );
}

#[test]
fn resolve_states() {
    let c = canary();
    let rec =
        |canary: &str, stage: &str| Recorded { canary: Some(canary.into()), stage: stage.into(), ..Default::default() };
    assert_eq!(current(&c, None).unwrap().step, Step::Steady);
    assert_eq!(current(&c, Some(&rec("v2", "a"))).unwrap().step, Step::Stage(0));
    assert_eq!(current(&c, Some(&rec("v3", "a"))).unwrap().step, Step::Prepare);
    assert_eq!(current(&c, Some(&rec("v2", "aborted"))).unwrap().step, Step::Aborted);
    assert!(current(&c, Some(&rec("v2", "gone"))).is_err());
    let finished = Canary { canary: None, ..c };
    assert_eq!(current(&finished, Some(&rec("v2", "a"))).unwrap().step, Step::Steady);
}
