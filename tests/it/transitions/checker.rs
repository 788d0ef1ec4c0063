//! The checker itself, on hand-written overlays: a make-before-break walk passes, and each rule,
//! when broken, fails with its number and its numbers.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{Overlay, check_overlay, check_pair, need};

/// A hand-written overlay of release `web`.
#[derive(Clone)]
struct Hand {
    stage: &'static str,
    canary: Option<&'static str>,
    subsets: Vec<&'static str>,
    /// The catch-all rule: subset and weight (none: no `weight` field).
    catch_all: Vec<(&'static str, Option<u64>)>,
    /// The destination of a rule with a `match`, before the catch-all.
    matched: Option<&'static str>,
    /// The catch-all's `mirror` subset and `mirrorPercentage`.
    mirror: Option<(&'static str, u64)>,
    /// Deployments: version and `spec.replicas` (none: an HPA owns the count).
    deployments: Vec<(&'static str, Option<u64>)>,
    /// HorizontalPodAutoscalers: version and `minReplicas`.
    hpas: Vec<(&'static str, u64)>,
}

fn hand(stage: &'static str, catch_all: &[(&'static str, u64)], pods: &[(&'static str, u64)]) -> Hand {
    Hand {
        stage,
        canary: Some("v2"),
        subsets: pods.iter().map(|(v, _)| *v).collect(),
        catch_all: catch_all.iter().map(|(v, w)| (*v, Some(*w))).collect(),
        matched: None,
        mirror: None,
        deployments: pods.iter().map(|(v, n)| (*v, Some(*n))).collect(),
        hpas: Vec::new(),
    }
}

impl Hand {
    fn overlay(&self, commit: &str) -> Overlay {
        let mut files = BTreeMap::new();
        let canary = self.canary.map(|c| format!("    kanari.dev/canary: {c}\n")).unwrap_or_default();
        files.insert(
            "kustomization.yaml".to_string(),
            format!(
                "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nmetadata:\n  annotations:\n{canary}    kanari.dev/stage: \"{}\"\n",
                self.stage
            ),
        );
        let subsets: String =
            self.subsets.iter().map(|s| format!("    - name: {s}\n      labels:\n        version: {s}\n")).collect();
        files.insert(
            "destinationrule-web.yaml".to_string(),
            format!("apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata:\n  name: web\nspec:\n  host: web\n  subsets:\n{subsets}"),
        );
        let route = |subset: &str, weight: Option<u64>| {
            let weight = weight.map(|w| format!("          weight: {w}\n")).unwrap_or_default();
            format!("        - destination:\n            host: web\n            subset: {subset}\n{weight}")
        };
        let mut http = String::new();
        if let Some(m) = self.matched {
            http += &format!(
                "    - match:\n        - headers:\n            end-user:\n              exact: jason\n      route:\n{}",
                route(m, None)
            );
        }
        http += "    - name: primary\n      route:\n";
        for (subset, weight) in &self.catch_all {
            http += &route(subset, *weight);
        }
        if let Some((subset, percent)) = self.mirror {
            http += &format!(
                "      mirror:\n        host: web\n        subset: {subset}\n      mirrorPercentage:\n        value: {percent}\n"
            );
        }
        files.insert(
            "virtualservice-web.yaml".to_string(),
            format!("apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata:\n  name: web\nspec:\n  hosts: [web]\n  http:\n{http}"),
        );
        for (version, replicas) in &self.deployments {
            let replicas = replicas.map(|n| format!("  replicas: {n}\n")).unwrap_or_default();
            files.insert(
                format!("deployment-web-{version}.yaml"),
                format!("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web-{version}\n  labels:\n    version: {version}\nspec:\n{replicas}  template:\n    metadata:\n      labels:\n        version: {version}\n"),
            );
        }
        for (version, min) in &self.hpas {
            files.insert(
                format!("horizontalpodautoscaler-web-{version}.yaml"),
                format!("apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata:\n  name: web-{version}\nspec:\n  scaleTargetRef:\n    name: web-{version}\n  minReplicas: {min}\n  maxReplicas: 10\n"),
            );
        }
        Overlay::parse(commit, &format!("web: {}", self.stage), files).unwrap()
    }
}

/// The bookinfo-like spec: 10 replicas, jason, 90-10, 50-50 and 0-100 with the stable at 0.
fn spec() -> Value {
    json!({ "spec": { "replicas": 10, "stages": [
        { "name": "jason", "match": [{ "headers": { "end-user": { "exact": "jason" } } }] },
        { "name": "shadow", "mirror": 20 },
        { "name": "90-10", "weight": 10 },
        { "name": "50-50", "weight": 50 },
        { "name": "0-100", "weight": 100, "replicas": { "stable": 0 } },
        { "name": "thin", "weight": 50, "replicas": { "stable": 3, "canary": 20 } },
    ] } })
}

/// Checks each consecutive pair of `walk`; returns the numbers of the broken rules.
fn broken(walk: &[Hand], spec: &Value) -> Vec<u8> {
    let overlays: Vec<Overlay> = walk.iter().enumerate().map(|(i, h)| h.overlay(&format!("c{i}"))).collect();
    let mut rules = Vec::new();
    for pair in overlays.windows(2) {
        if let Err(e) = check_pair(&pair[0], &pair[1], spec, spec) {
            assert!(e.contains(&pair[0].commit) && e.contains(&pair[1].commit), "the message names the commits: {e}");
            rules.extend((1..=4).filter(|n| e.contains(&format!("rule {n} "))));
        }
    }
    rules
}

#[test]
fn a_walk_that_makes_before_it_breaks_passes() {
    let mut jason = hand("jason", &[("v1", 100), ("v2", 0)], &[("v1", 10), ("v2", 1)]);
    jason.matched = Some("v2");
    let walk = [
        hand("steady", &[("v1", 100)], &[("v1", 10)]),
        // A lone destination without a weight takes all the traffic.
        Hand { catch_all: vec![("v1", None)], ..hand("steady", &[], &[("v1", 10)]) },
        hand("prepare", &[("v1", 100), ("v2", 0)], &[("v1", 10), ("v2", 1)]),
        jason,
        hand("90-10", &[("v1", 90), ("v2", 10)], &[("v1", 10), ("v2", 1)]),
        hand("90-10", &[("v1", 90), ("v2", 10)], &[("v1", 10), ("v2", 5)]),
        hand("50-50", &[("v1", 50), ("v2", 50)], &[("v1", 10), ("v2", 5)]),
        hand("50-50", &[("v1", 50), ("v2", 50)], &[("v1", 10), ("v2", 10)]),
        hand("0-100", &[("v1", 0), ("v2", 100)], &[("v1", 10), ("v2", 10)]),
        hand("0-100", &[("v1", 0), ("v2", 100)], &[("v1", 0), ("v2", 10)]),
        // The finish: v2 is the stable version, v1 is gone.
        Hand { canary: None, ..hand("steady", &[("v2", 100)], &[("v2", 10)]) },
    ];
    assert_eq!(broken(&walk, &spec()), Vec::<u8>::new());
}

#[test]
fn each_rule_fails_on_its_own_break() {
    let spec = spec();
    let mut jason = hand("jason", &[("v1", 100), ("v2", 0)], &[("v1", 10), ("v2", 1)]);
    jason.matched = Some("v2");
    let mut steady = hand("steady", &[("v1", 100)], &[("v1", 10), ("v2", 1)]);
    steady.subsets = vec!["v1"];
    // 1: a match sends to v2 before its subset exists.
    assert_eq!(broken(&[steady, jason.clone()], &spec), vec![1]);
    // 2: the subset goes while v2 still takes traffic (its pods stay).
    let mut gone = jason.clone();
    gone.subsets = vec!["v1"];
    assert_eq!(broken(&[jason.clone(), gone], &spec), vec![2]);
    // 3: 50% moves onto one pod; 10 × 50% needs 5.
    let ten = hand("90-10", &[("v1", 90), ("v2", 10)], &[("v1", 10), ("v2", 1)]);
    let half = hand("50-50", &[("v1", 50), ("v2", 50)], &[("v1", 10), ("v2", 5)]);
    assert_eq!(broken(&[ten.clone(), half.clone()], &spec), vec![3]);
    let overlays = [ten.overlay("c0"), half.overlay("c1")];
    let e = check_pair(&overlays[0], &overlays[1], &spec, &spec).unwrap_err();
    assert!(e.contains("`v2` takes 50% in B and needs 5 pods, but A runs 1"), "{e}");
    assert!(e.contains("c0 `web: 90-10`") && e.contains("c1 `web: 50-50`"), "{e}");
    // 4: the abort scales v2 to 0 in the commit that takes its 50% away.
    let aborted = hand("aborted", &[("v1", 100), ("v2", 0)], &[("v1", 10), ("v2", 0)]);
    assert_eq!(broken(&[half.clone(), aborted.clone()], &spec), vec![4]);
    // 3 again: back from 0-100 (v1 at 0) to stable at 100% in one commit.
    let all = hand("0-100", &[("v1", 0), ("v2", 100)], &[("v1", 0), ("v2", 10)]);
    assert_eq!(broken(&[all, aborted], &spec), vec![3, 4]);
}

#[test]
fn an_explicit_count_lowers_the_need_and_an_autoscaler_counts_its_minimum() {
    let spec = spec();
    // `thin` keeps the stable at 3 for its 50%: the user's decision, so 3 pods are enough...
    let thin = hand("thin", &[("v1", 50), ("v2", 50)], &[("v1", 3), ("v2", 5)]);
    assert_eq!(need(&thin.overlay("c0"), &spec, "v1"), 3);
    // ...and a higher canary count never raises the need above the computed 5.
    assert_eq!(need(&thin.overlay("c0"), &spec, "v2"), 5);
    // Into `thin`: the traffic moves first, the stable scales down to 3 in a later commit.
    let half = hand("50-50", &[("v1", 50), ("v2", 50)], &[("v1", 10), ("v2", 5)]);
    let moved = hand("thin", &[("v1", 50), ("v2", 50)], &[("v1", 10), ("v2", 5)]);
    assert_eq!(broken(&[half.clone(), moved, thin.clone()], &spec), Vec::<u8>::new());
    // In one commit, 50-50's need of 5 stable pods is cut to 3; and back out of `thin`, 50-50
    // needs 5 stable pods before its traffic.
    assert_eq!(broken(&[half.clone(), thin.clone()], &spec), vec![4]);
    assert_eq!(broken(&[thin, half], &spec), vec![3]);

    // Autoscaling: the HPA's minReplicas are the pods; the canary's 1 cannot take 50% of 4.
    let scaled = json!({ "spec": { "autoscaling": { "minReplicas": 4, "maxReplicas": 8 }, "stages": [] } });
    let hpa = |stage, weights: &[(&'static str, u64)], canary_min| Hand {
        deployments: vec![("v1", None), ("v2", None)],
        hpas: vec![("v1", 4), ("v2", canary_min)],
        ..hand(stage, weights, &[("v1", 0), ("v2", 0)])
    };
    let ten = hpa("90-10", &[("v1", 90), ("v2", 10)], 1);
    let half = hpa("50-50", &[("v1", 50), ("v2", 50)], 2);
    assert_eq!(broken(&[ten.clone(), half.clone()], &scaled), vec![3]);
    let ready = hpa("90-10", &[("v1", 90), ("v2", 10)], 2);
    assert_eq!(broken(&[ten, ready, half], &scaled), Vec::<u8>::new());
}

#[test]
fn an_overlay_that_routes_to_a_subset_it_does_not_define_fails() {
    let mut odd = hand("90-10", &[("v1", 90), ("v2", 10)], &[("v1", 10), ("v2", 1)]);
    assert!(check_overlay(&odd.overlay("c0")).is_ok());
    odd.subsets = vec!["v1"];
    let e = check_overlay(&odd.overlay("c0")).unwrap_err();
    assert!(e.contains("[\"v2\"]"), "{e}");
    // A weight of 0 still names the subset.
    let mut zero = hand("prepare", &[("v1", 100), ("v2", 0)], &[("v1", 10), ("v2", 1)]);
    zero.subsets = vec!["v1"];
    assert!(check_overlay(&zero.overlay("c0")).is_err());
}

#[test]
fn a_mirror_routes_its_share_to_its_subset() {
    let spec = spec();
    let mirrored = |pods: &[(&'static str, u64)]| Hand {
        mirror: Some(("v2", 20)),
        ..hand("shadow", &[("v1", 100), ("v2", 0)], pods)
    };
    let shadow = mirrored(&[("v1", 10), ("v2", 2)]);
    // The copies of 20% of the requests need 2 of the canary's pods.
    assert_eq!(need(&shadow.overlay("c0"), &spec, "v2"), 2);
    assert!(shadow.overlay("c0").routed("v2"));
    let prepare = hand("prepare", &[("v1", 100), ("v2", 0)], &[("v1", 10), ("v2", 2)]);
    let half = hand("50-50", &[("v1", 50), ("v2", 50)], &[("v1", 10), ("v2", 5)]);
    let settled = mirrored(&[("v1", 10), ("v2", 5)]);
    assert_eq!(broken(&[prepare.clone(), shadow.clone(), settled, half.clone()], &spec), Vec::<u8>::new());
    // 1: the mirror names v2 before its subset exists.
    let mut steady = hand("steady", &[("v1", 100)], &[("v1", 10), ("v2", 2)]);
    steady.subsets = vec!["v1"];
    assert_eq!(broken(&[steady, shadow.clone()], &spec), vec![1]);
    // 3: the mirror starts onto one pod.
    let thin = hand("prepare", &[("v1", 100), ("v2", 0)], &[("v1", 10), ("v2", 1)]);
    assert_eq!(broken(&[thin, shadow.clone()], &spec), vec![3]);
    // 2 and 4: the abort pulls the subset and the pods from under the copies in one commit.
    let mut gone = hand("aborted", &[("v1", 100)], &[("v1", 10), ("v2", 0)]);
    gone.subsets = vec!["v1"];
    assert_eq!(broken(&[shadow.clone(), gone], &spec), vec![2, 4]);
    // An overlay whose mirror names a subset it does not define fails on its own.
    let mut odd = shadow;
    odd.subsets = vec!["v1"];
    assert!(check_overlay(&odd.overlay("c0")).unwrap_err().contains("[\"v2\"]"));
}
