//! The waves' rules on values: where an instance stands, when a wave may start, whom an abort
//! reaches, what holds a finish, and the fleet's position line.

use jiff::Timestamp;

use super::waves::{self, Member, Standing, View};
use super::{Check, Gate, decide};
use crate::plan::{Observed, Recorded};
use crate::spec::{Canary, parse_file};
use crate::stats::Verdict;

const FLEET: &str = "apiVersion: kanari.dev/v1alpha1
kind: Canary
metadata: {name: web, namespace: shop}
spec:
  output: overlays/{cluster}/web
  clusters:
    - {name: a, wave: 1}
    - {name: b, wave: 2}
    - {name: c, wave: 2}
  waves: {bake: 1h, approval: true}
  service: {port: 80}
  stable: {version: v1, image: web:1}
  canary: {version: v2, image: web:2}
  stages:
    - {name: ten, weight: 10}
    - {name: all, weight: 100, pause: {duration: 30m}}
";

fn instances() -> Vec<Canary> {
    parse_file(std::path::Path::new("c.yaml"), FLEET).0
}

fn t(s: &str) -> Timestamp {
    format!("2026-01-01T{s}:00Z").parse().unwrap()
}

fn at(stage: &str, since: &str) -> Recorded {
    Recorded { canary: Some("v2".into()), stage: stage.into(), since: Some(t(since)), ..Default::default() }
}

fn steady() -> Recorded {
    Recorded { stage: "steady".into(), since: Some(t("00:00")), ..Default::default() }
}

fn view(standings: [Standing; 3]) -> View {
    let members = instances()
        .iter()
        .zip(standings)
        .map(|(c, standing)| Member { id: c.id(), wave: c.fleet.as_ref().unwrap().wave, standing })
        .collect();
    View { members }
}

#[test]
fn an_instance_has_passed_once_its_last_stage_has_baked_and_its_checks_pass() {
    let a = &instances()[0];
    let none = Observed::default();
    assert_eq!(waves::standing(a, None, &none, t("01:00"), None), Standing::Waiting);
    assert_eq!(waves::standing(a, Some(&steady()), &none, t("01:00"), None), Standing::Waiting);
    let ten = Standing::Running { stage: "ten".into() };
    assert_eq!(waves::standing(a, Some(&at("ten", "00:00")), &none, t("01:00"), None), ten);
    let all = Standing::Running { stage: "all".into() };
    assert_eq!(waves::standing(a, Some(&at("all", "00:00")), &none, t("00:20"), None), all, "still baking");
    let passed = Standing::Passed { at: t("00:30") };
    assert_eq!(waves::standing(a, Some(&at("all", "00:00")), &none, t("00:40"), None), passed);
    let check = |verdict, aborts| Check { name: "errors".into(), verdict, line: "errors: x".into(), aborts };
    let inconclusive = [check(Verdict::Inconclusive, true)];
    assert_eq!(waves::standing(a, Some(&at("all", "00:00")), &none, t("00:40"), Some(&inconclusive)), all);
    let failed = [check(Verdict::Fail, true)];
    let aborted = Standing::Aborted { at: t("00:40"), reason: Some("analysis: errors: x".into()), under_way: true };
    assert_eq!(waves::standing(a, Some(&at("all", "00:00")), &none, t("00:40"), Some(&failed)), aborted);
    let toward = Recorded { toward: Some("all".into()), ..at("ten", "00:00") };
    assert_eq!(waves::standing(a, Some(&toward), &none, t("01:00"), None), ten, "a scale-up has not moved traffic");
}

#[test]
fn a_later_wave_waits_for_the_earlier_ones_then_the_bake_then_its_approval() {
    let b = &instances()[1];
    let running = view([Standing::Running { stage: "all".into() }, Standing::Waiting, Standing::Waiting]);
    let gates = waves::start_gates(b, Some(&steady()), &running, t("02:00"), false);
    assert!(gates.closed && gates.gates.len() == 1, "{gates:?}");
    let passed = view([Standing::Passed { at: t("00:30") }, Standing::Waiting, Standing::Waiting]);
    let gates = waves::start_gates(b, Some(&steady()), &passed, t("01:00"), false);
    let shorts: Vec<String> = gates.gates.iter().map(Gate::short).collect();
    assert_eq!(shorts, ["wave 2: bake until 2026-01-01T01:30:00Z", "wave 2: approval"], "{gates:?}");
    assert!(!gates.closed);
    let approved = Recorded { approved: Some(waves::approval(2, "v2")), ..steady() };
    assert!(waves::start_gates(b, Some(&approved), &passed, t("01:30"), false).gates.is_empty());
    let stale = Recorded { approved: Some(waves::approval(2, "v1")), ..steady() };
    assert_eq!(
        waves::start_gates(b, Some(&stale), &passed, t("01:30"), false).gates.len(),
        1,
        "an approval is for one canary"
    );
}

#[test]
fn an_abort_reaches_every_instance_running_the_canary_since_before_it() {
    let [a, b, _] = <[Canary; 3]>::try_from(instances()).unwrap();
    let aborted = view([
        Standing::Running { stage: "all".into() },
        Standing::Aborted { at: t("01:00"), reason: Some("p99".into()), under_way: false },
        Standing::Waiting,
    ]);
    let followed = waves::aborted_elsewhere(&a, Some(&at("all", "00:30")), &aborted).map(|m| m.id.clone());
    assert_eq!(followed, Some(b.id()));
    assert!(waves::aborted_elsewhere(&a, Some(&at("prepare", "01:30")), &aborted).is_none(), "restarted after it");
    assert!(waves::aborted_elsewhere(&a, Some(&steady()), &aborted).is_none(), "not running the canary");
    let evidence = super::Evidence { fleet: Some(std::sync::Arc::new(aborted)), ..Default::default() };
    let decision =
        decide(&a, Some(&at("all", "00:30")), &Observed::default(), t("01:10"), &Default::default(), &evidence)
            .unwrap();
    assert!(decision.aborts.as_deref().is_some_and(|r| r.contains("aborted: p99")), "{decision:?}");
}

#[test]
fn the_position_names_the_wave_under_way() {
    let a = &instances()[0];
    let line = |v: View| waves::position(a, &v).unwrap();
    let one = view([Standing::Running { stage: "ten".into() }, Standing::Waiting, Standing::Waiting]);
    assert_eq!(line(one), "wave 1 of 2: a at ten");
    let two = view([Standing::Passed { at: t("00:30") }, Standing::Running { stage: "ten".into() }, Standing::Waiting]);
    assert_eq!(line(two), "wave 2 of 2: b at ten, c not started");
    let all = view([
        Standing::Passed { at: t("00:30") },
        Standing::Passed { at: t("03:00") },
        Standing::Passed { at: t("03:00") },
    ]);
    assert_eq!(line(all), "all 2 waves passed their last stage");
    let aborted = view([
        Standing::Aborted { at: t("00:30"), reason: None, under_way: false },
        Standing::Waiting,
        Standing::Waiting,
    ]);
    assert_eq!(line(aborted), "aborted in a");
}
