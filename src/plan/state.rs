//! The one model of a release's state. [`Step`] is where a release stands; [`State`] is the
//! state to plan (a step and what travels with it, named by the spec's [`Step`]s); [`Recorded`]
//! is a state as an overlay's `kanari.dev/*` annotations record it, its states named as the
//! spec of its commit named them (a spec may no longer have them). One codec maps between
//! [`Recorded`] and the annotations: [`Recorded::read`] and [`Recorded::annotations`], over one
//! table of keys ([`KEYS`]). A [`State`] becomes a [`Recorded`] by [`State::recorded`]; the
//! other way, a recorded state is resolved against the spec by `release::current`.

use std::collections::BTreeMap;

use jiff::Timestamp;

use super::SubsetPlan;
use crate::spec::Canary;

/// Where a release stands.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum Step {
    #[default]
    Steady,
    Prepare,
    /// Index into the spec's stages.
    Stage(usize),
    Aborted,
}

impl Step {
    /// The name the state goes by in annotations and on the command line.
    pub fn name<'a>(&self, canary: &'a Canary) -> &'a str {
        match self {
            Step::Steady => "steady",
            Step::Prepare => "prepare",
            Step::Stage(i) => &canary.stages[*i].name,
            Step::Aborted => "aborted",
        }
    }

    /// Finds a state by name: a stage, or one of kanari's own.
    pub(crate) fn parse(canary: &Canary, name: &str) -> Option<Step> {
        match name {
            "steady" => Some(Step::Steady),
            "prepare" if canary.canary.is_some() => Some(Step::Prepare),
            "aborted" if canary.canary.is_some() => Some(Step::Aborted),
            _ if canary.canary.is_some() => canary.stage(name).map(|(i, _)| Step::Stage(i)),
            _ => None,
        }
    }

    /// Every state the release can be in, in the order of the release.
    pub fn all(canary: &Canary) -> Vec<Step> {
        let mut steps = vec![Step::Steady];
        if canary.canary.is_some() {
            steps.push(Step::Prepare);
            steps.extend((0..canary.stages.len()).map(Step::Stage));
            steps.push(Step::Aborted);
        }
        steps
    }
}

/// The state of a release as its overlay's annotations record it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Recorded {
    /// The canary version the release is for (`kanari.dev/canary`).
    pub canary: Option<String>,
    /// `kanari.dev/stage`: the state whose traffic routes are live.
    pub stage: String,
    /// `kanari.dev/since`: when the state was entered.
    pub since: Option<Timestamp>,
    /// `kanari.dev/approved`: the stage whose gate was approved.
    pub approved: Option<String>,
    /// `kanari.dev/reason`: why the release was aborted.
    pub reason: Option<String>,
    /// `kanari.dev/holding`: the state the traffic just left, whose pods stay until it drained.
    pub holding: Option<String>,
    /// `kanari.dev/toward`: the state this one scaled up for; the traffic moves next.
    pub toward: Option<String>,
    /// `kanari.dev/warming`: the versions whose pods this state raised (comma-separated).
    pub warming: Vec<String>,
    /// `kanari.dev/departing`: the versions that are no longer the spec's, kept until they
    /// drained (comma-separated).
    pub departing: Vec<String>,
}

/// The annotation keys of a recorded state, without the `kanari.dev/` prefix, in the order of
/// [`Recorded`]'s fields: the one place they are written.
pub(crate) const KEYS: [&str; 9] =
    ["canary", "stage", "since", "approved", "reason", "holding", "toward", "warming", "departing"];

/// The full annotation key of one of [`KEYS`]: `kanari.dev/stage`.
pub(crate) fn key(name: &str) -> String {
    format!("kanari.dev/{name}")
}

impl Recorded {
    /// The state `kanari.dev/*` annotations record: None without a `kanari.dev/stage`; an error
    /// when `kanari.dev/since` is not an RFC 3339 time.
    pub(crate) fn read(annotations: &BTreeMap<String, String>) -> Result<Option<Recorded>, String> {
        let [canary, stage, since, approved, reason, holding, toward, warming, departing] =
            KEYS.map(|name| annotations.get(&key(name)).cloned());
        let Some(stage) = stage else { return Ok(None) };
        let since = since
            .map(|text| text.parse().map_err(|e| format!("`{}: {text}` is not an RFC 3339 time: {e}", key("since"))))
            .transpose()?;
        let list = |text: Option<String>| -> Vec<String> {
            text.iter().flat_map(|t| t.split(',')).filter(|v| !v.is_empty()).map(str::to_string).collect()
        };
        Ok(Some(Recorded {
            canary,
            stage,
            since,
            approved,
            reason,
            holding,
            toward,
            warming: list(warming),
            departing: list(departing),
        }))
    }

    /// The annotations that record this state (keys with their `kanari.dev/` prefix).
    pub(crate) fn annotations(&self) -> BTreeMap<String, String> {
        let list = |v: &[String]| (!v.is_empty()).then(|| v.join(","));
        let values = [
            self.canary.clone(),
            Some(self.stage.clone()),
            self.since.map(|t| t.to_string()),
            self.approved.clone(),
            self.reason.clone(),
            self.holding.clone(),
            self.toward.clone(),
            list(&self.warming),
            list(&self.departing),
        ];
        KEYS.iter().zip(values).filter_map(|(name, value)| Some((key(name), value?))).collect()
    }
}

/// The state to plan: a step plus what travels with it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct State {
    /// Whose routes are live.
    pub step: Step,
    pub since: Option<Timestamp>,
    pub approved: Option<String>,
    pub reason: Option<String>,
    /// A drain under way: the pods the traffic of this step needed are kept.
    pub holding: Option<Step>,
    /// A scale-up: the pods this step runs once settled are already up; its traffic moves next.
    pub toward: Option<Step>,
    /// The versions whose pods this state raised: a promote waits `spec.warmup` before it
    /// moves traffic onto them.
    pub warming: Vec<String>,
    /// The versions whose image this state changes in place (not recorded; for messages).
    pub rerolled: Vec<String>,
    /// A release whose canary is no longer the spec's (a changed canary, a finish), on its way
    /// out: the spec's stable alone, with what the committed overlay keeps of the rest.
    pub leaving: Option<Leaving>,
}

/// A state on the way from a canary the spec no longer has (a changed canary draining, a
/// finish moving all traffic to the new stable): the spec's stable version at full size, plus
/// files carried unchanged from the committed overlay. Its states are named as the committed
/// overlay names them (the spec may no longer have them); the [`State`] around it holds the
/// rest: `since`, `approved`, `reason`, `toward` (a scale-up toward the destination) and
/// `warming`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Leaving {
    /// Files of the committed overlay carried unchanged: the leaving version's Deployment and
    /// HPA, and, while traffic has not moved yet, the DestinationRule and VirtualService.
    pub carry: Vec<String>,
    /// Subsets the DestinationRule keeps for the leaving version, when it is rendered.
    pub subsets: Vec<SubsetPlan>,
    /// The canary version recorded: the one leaving, or the old one's while a scale-up runs.
    pub canary: Option<String>,
    /// The state recorded: the committed one while a scale-up runs, else `aborted` (a changed
    /// canary drains) or `steady` (an old stable drains).
    pub stage: String,
    /// The state the traffic left, as the committed overlay named it.
    pub holding: Option<String>,
    /// The versions leaving once they drained.
    pub departing: Vec<String>,
}

impl State {
    pub fn new(step: Step) -> Self {
        State { step, ..State::default() }
    }

    /// Whether the state is one of a transition's intermediate commits.
    pub(crate) fn in_between(&self) -> bool {
        self.holding.is_some() || self.toward.is_some() || self.leaving.is_some()
    }

    /// The name of the state its overlay records: the step's, or a leaving canary's.
    pub(crate) fn stage_name(&self, canary: &Canary) -> String {
        match &self.leaving {
            Some(t) => t.stage.clone(),
            None => self.step.name(canary).to_string(),
        }
    }

    /// The state as its overlay records it.
    pub(crate) fn recorded(&self, canary: &Canary) -> Recorded {
        let name = |s: Option<Step>| s.map(|s| s.name(canary).to_string());
        let common = Recorded {
            since: self.since,
            approved: self.approved.clone(),
            toward: name(self.toward),
            warming: self.warming.clone(),
            ..Recorded::default()
        };
        match &self.leaving {
            Some(t) => Recorded {
                canary: t.canary.clone(),
                stage: t.stage.clone(),
                reason: self.reason.clone(),
                holding: t.holding.clone(),
                departing: t.departing.clone(),
                ..common
            },
            None => Recorded {
                canary: canary
                    .canary
                    .as_ref()
                    .filter(|_| super::pods::has_canary(canary, self))
                    .map(|c| c.version.clone()),
                stage: self.step.name(canary).to_string(),
                reason: self
                    .reason
                    .clone()
                    .filter(|_| self.step == Step::Aborted || self.toward == Some(Step::Aborted)),
                holding: name(self.holding),
                ..common
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::{KEYS, Recorded, key};

    fn name() -> impl Strategy<Value = String> {
        "[a-z0-9][a-z0-9.-]{0,8}"
    }

    fn recorded() -> impl Strategy<Value = Recorded> {
        let text = || proptest::option::of(name());
        let list = || proptest::collection::vec(name(), 0..3);
        let since = proptest::option::of((0i64..4_000_000_000).prop_map(|s| jiff::Timestamp::from_second(s).unwrap()));
        let reason = proptest::option::of("[ -~]{0,20}");
        (text(), name(), since, text(), reason, text(), text(), list(), list()).prop_map(
            |(canary, stage, since, approved, reason, holding, toward, warming, departing)| Recorded {
                canary,
                stage,
                since,
                approved,
                reason,
                holding,
                toward,
                warming,
                departing,
            },
        )
    }

    proptest! {
        #![proptest_config(crate::proptesting::config(256))]
        /// What the codec writes, it reads back as the same state.
        #[test]
        fn annotations_round_trip(r in recorded()) {
            let annotations = r.annotations();
            prop_assert!(annotations.keys().all(|k| KEYS.iter().any(|name| *k == key(name))));
            prop_assert_eq!(Recorded::read(&annotations), Ok(Some(r)));
        }
    }

    #[test]
    fn the_stage_makes_a_record_and_since_is_a_time() {
        let of =
            |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (key(k), v.to_string())).collect::<BTreeMap<_, _>>();
        assert_eq!(Recorded::read(&of(&[("canary", "v2")])), Ok(None));
        let r = Recorded::read(&of(&[("stage", "50-50"), ("warming", "v1,v2")])).unwrap().unwrap();
        assert_eq!((r.stage.as_str(), r.warming.as_slice()), ("50-50", &["v1".to_string(), "v2".to_string()][..]));
        let bad = Recorded::read(&of(&[("stage", "50-50"), ("since", "yesterday")])).unwrap_err();
        assert!(bad.starts_with("`kanari.dev/since: yesterday` is not an RFC 3339 time"), "{bad}");
    }
}
