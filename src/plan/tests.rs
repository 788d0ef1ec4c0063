//! The planner's rules on small releases, and the release builder other modules' tests share.

use super::*;
use crate::spec::{Autoscaling, Match, Pause, ReplicaOverride, Service, Stage, Version};

fn stage(name: &str, weight: u32, matched: bool, stable: Option<u32>, canary: Option<u32>) -> Stage {
    let mut matches = Vec::new();
    if matched {
        let mut m = Match::default();
        m.headers.insert("end-user".into(), StringMatch::Exact("jason".into()));
        matches.push(m);
    }
    Stage {
        name: name.into(),
        weight,
        matches,
        mirror: None,
        mirror_matches: vec![],
        replicas: ReplicaOverride { stable, canary },
        pause: Pause::default(),
        at: Default::default(),
    }
}

/// A release `web` (v1 -> v2) with these pods and stages, for tests.
pub(crate) fn release(replicas: u32, autoscaling: Option<Autoscaling>, stages: Vec<Stage>) -> Canary {
    Canary {
        name: "web".into(),
        namespace: "shop".into(),
        file: "c.yaml".into(),
        output: "out".into(),
        service: Service { ports: vec![spec::ServicePort::short(80)], create: true },
        hosts: vec!["web".into()],
        gateways: vec![],
        gateway_api_version: None,
        router: Default::default(),
        stable: Version { version: "v1".into(), image: "web:1".into(), name: "v1".into() },
        canary: Some(Version { version: "v2".into(), image: "web:2".into(), name: "v2".into() }),
        replicas,
        autoscaling,
        template: json!({}),
        stages,
        warmup: crate::spec::DEFAULT_WARMUP,
        analysis: None,
        places: Default::default(),
        own: Default::default(),
        extra_kinds: Vec::new(),
        fleet: None,
    }
}

#[test]
fn replica_rules() {
    let stages = vec![
        stage("m", 0, true, None, None),
        stage("a", 10, false, None, None),
        stage("b", 33, false, None, None),
        stage("none", 0, false, None, None),
        stage("c", 100, false, Some(0), None),
        stage("d", 50, false, Some(3), Some(7)),
    ];
    let c = release(10, None, stages);
    // (state, stable pods, canary pods)
    let table = [
        (Step::Steady, 10, None),
        (Step::Prepare, 10, Some(1)),
        (Step::Stage(0), 10, Some(1)), // a match is traffic: at least 1
        (Step::Stage(1), 10, Some(1)),
        (Step::Stage(2), 10, Some(4)), // ceil(3.3)
        (Step::Stage(3), 10, Some(0)), // no traffic, no pods
        (Step::Stage(4), 0, Some(10)),
        (Step::Stage(5), 3, Some(7)),
        (Step::Aborted, 10, Some(0)),
    ];
    for (step, stable, canary) in table {
        assert_eq!(pods(&c, step), (Pods(stable), canary.map(Pods)), "{step:?}");
    }
}

#[test]
fn autoscaling_rules() {
    let a = Autoscaling { min_replicas: 3, max_replicas: 10, target_cpu_utilization_percentage: 80 };
    let c = release(
        1,
        Some(a),
        vec![
            stage("a", 10, false, None, None),
            stage("b", 100, false, Some(0), None),
            stage("c", 50, false, Some(4), None),
        ],
    );
    // (state, stable (replicas, hpa min), canary (replicas, hpa min))
    type Row = (Step, (Option<u32>, Option<u32>), Option<(Option<u32>, Option<u32>)>);
    let table: [Row; 6] = [
        (Step::Steady, (None, Some(3)), None),
        (Step::Prepare, (None, Some(3)), Some((None, Some(1)))),
        // Stage a already runs the HPA minimum stage b needs.
        (Step::Stage(0), (None, Some(3)), Some((None, Some(3)))),
        (Step::Stage(1), (Some(0), None), Some((None, Some(3)))),
        (Step::Stage(2), (None, Some(4)), Some((None, Some(2)))),
        (Step::Aborted, (None, Some(3)), Some((Some(0), None))),
    ];
    for (step, stable, canary) in table {
        let p = plan(&c, &State::new(step));
        let got = |v: &VersionPlan| (v.replicas, v.hpa.as_ref().map(|h| h.min_replicas));
        assert_eq!(got(&p.versions[0]), stable, "{step:?} stable");
        assert_eq!(p.versions.get(1).map(got), canary, "{step:?} canary");
        for v in &p.versions {
            if let Some(h) = &v.hpa {
                assert_eq!(h.max_replicas, 10);
            }
        }
    }
}

#[test]
fn routes_never_name_a_subset_the_same_state_creates() {
    let c = release(4, None, vec![stage("m", 0, true, None, None), stage("a", 50, false, None, None)]);
    let p = plan(&c, &State::new(Step::Prepare));
    let names = |p: &Plan| p.destination_rule.subsets.iter().map(|s| s.name.clone()).collect::<Vec<_>>();
    assert_eq!(names(&p), ["v1", "v2"]);
    assert_eq!(p.virtual_service.weights, [WeightedSubset { subset: "v1".into(), weight: 100 }]);
    assert!(p.virtual_service.match_route.is_none());

    let p = plan(&c, &State::new(Step::Stage(0)));
    let route = p.virtual_service.match_route.unwrap();
    assert_eq!(route.subset, "v2");
    assert_eq!(route.matches, [json!({"headers": {"end-user": {"exact": "jason"}}})]);

    let p = plan(&c, &State::new(Step::Stage(1)));
    let w: Vec<u32> = p.virtual_service.weights.iter().map(|w| w.weight).collect();
    assert_eq!(w, [50, 50]);

    let p = plan(&c, &State::new(Step::Steady));
    assert_eq!(names(&p), ["v1"]);
    assert_eq!(p.versions.len(), 1);
}

#[test]
fn pod_template_does_not_depend_on_the_state() {
    let c = release(4, None, vec![stage("a", 50, false, Some(2), None)]);
    let templates: Vec<Value> =
        Step::all(&c).into_iter().map(|s| plan(&c, &State::new(s)).versions[0].pod_template.clone()).collect();
    assert!(templates.windows(2).all(|w| w[0] == w[1]));
    assert_eq!(templates[0]["metadata"]["labels"], json!({"app": "web", "version": "v1"}));
    assert_eq!(templates[0]["spec"]["containers"][0]["image"], json!("web:1"));
}

#[test]
fn warnings_name_their_stage() {
    let c = release(
        10,
        None,
        vec![
            stage("a", 50, false, None, Some(2)),
            stage("b", 30, false, None, None),
            stage("c", 30, false, None, None),
            stage("d", 60, false, Some(1), None),
        ],
    );
    let found: Vec<String> = warnings(&c).into_iter().map(|p| p.message).collect();
    let expect = [
        "stage `a` gives the canary 50% of the traffic but 2 pods (its share of 10 is 5)",
        "stage `b` lowers the canary's weight from 50% to 30%",
        "stage `c` changes nothing from stage `b`",
        "stage `d` gives stable 40% of the traffic but 1 pods (its share of 10 is 4)",
    ];
    for e in expect {
        assert!(found.iter().any(|f| f.starts_with(e)), "{e}: {found:#?}");
    }
    assert_eq!(found.len(), 4, "{found:#?}");
}
