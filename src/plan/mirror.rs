//! Mirror stages: stable keeps every request and a share of them is copied to the canary, its
//! responses dropped. The catch-all rule keeps its weights (100 on stable) and gains Istio's
//! `mirror` (the canary's subset) and `mirrorPercentage`. Mirrored requests are real load: the
//! canary's pods are planned for them as for a weight of the same percent ([`super::pods`]), and
//! the mirrored subset counts as routed in make before break (defined before the mirror starts,
//! kept while it runs, its pods up before and kept under it).

use serde::Serialize;

/// `percent` of the requests copied to `subset`, responses dropped; with `matches`, of the
/// requests that match one of them (a rule of their own before the catch-all rule).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Mirror {
    pub subset: String,
    pub percent: u32,
    /// Istio `HTTPMatchRequest`s, one per match entry; empty: every request.
    pub matches: Vec<serde_json::Value>,
}

/// A mirror as every table shows it: `mirror 20% -> v2`, or with the matches that limit what
/// is copied, `mirror 20% of method=GET -> v2`. The one rule, whether it comes from a plan
/// ([`super::summarize`]) or a rendered route ([`crate::review`]).
pub(crate) fn mirror_text(percent: f64, subset: &str, of: &[String]) -> String {
    match of.is_empty() {
        true => format!("mirror {percent}% -> {subset}"),
        false => format!("mirror {percent}% of {} -> {subset}", of.join(" or ")),
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::release;
    use super::super::{Counts, State, Step, WeightedSubset, declared, need, plan, settled, summarize};
    use super::*;
    use crate::spec::Stage;

    fn stage(name: &str, weight: u32, mirror: Option<u32>) -> Stage {
        Stage { name: name.into(), weight, mirror, ..Stage::default() }
    }

    #[test]
    fn a_mirror_stage_keeps_stable_at_100_and_plans_the_canary_for_the_copies() {
        let c = release(10, None, vec![stage("shadow", 0, Some(20)), stage("half", 50, None)]);
        let p = plan(&c, &State::new(Step::Stage(0)));
        let vs = &p.virtual_service;
        let weights = [("v1", 100), ("v2", 0)].map(|(s, w)| WeightedSubset { subset: s.into(), weight: w });
        assert_eq!(vs.weights, weights);
        assert_eq!(vs.mirror, Some(Mirror { subset: "v2".into(), percent: 20, matches: vec![] }));
        assert!(vs.match_route.is_none());
        // 20% of 10 is 2 pods, already in `prepare`; stable serves everything.
        assert_eq!(declared(&c, Step::Prepare), Counts { stable: 10, canary: 2 });
        assert_eq!(need(&c, Step::Stage(0)), Counts { stable: 10, canary: 2 });
        assert_eq!(settled(&c, Step::Stage(0)), Counts { stable: 10, canary: 5 });
        assert_eq!(summarize(&c, Step::Stage(0), &p).mirror.as_deref(), Some("mirror 20% -> v2"));
        // Only a mirror stage mirrors.
        for step in [Step::Prepare, Step::Stage(1), Step::Aborted] {
            assert_eq!(plan(&c, &State::new(step)).virtual_service.mirror, None, "{step:?}");
        }
        // A 1% copy still needs a pod.
        let c = release(10, None, vec![stage("shadow", 0, Some(1))]);
        assert_eq!(need(&c, Step::Stage(0)).canary, 1);
    }
}
