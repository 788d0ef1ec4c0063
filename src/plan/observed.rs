//! What an overlay's files show, read once ([`crate::review::facts`] reads it from the files'
//! bytes): per version the pods as a [`PodCount`], the traffic, the match rules ([`Matched`]),
//! a mirror, the images, the pod templates, the Deployment and subset names, and the file
//! names. The release's life judges a committed overlay by it (a version leaving, a re-roll),
//! and `review`, `status`, `diff` and the commit message show it. Values stay typed here; they
//! are formatted where they are printed ([`std::fmt::Display`], serde).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Serialize, Serializer};
use serde_json::Value;

use super::SubsetPlan;
use crate::spec::Canary;

/// What one overlay's files show.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub(crate) struct Observed {
    /// `kanari.dev/stage`, if recorded.
    pub stage: Option<String>,
    /// Percent of the catch-all traffic per version, in route order.
    #[serde(serialize_with = "by_version")]
    pub traffic: Vec<(String, u64)>,
    /// Pods per version, by version; None for a Deployment with neither replicas nor an HPA.
    #[serde(serialize_with = "by_version")]
    pub pods: Vec<(String, Option<PodCount>)>,
    /// The match rules that send requests to a version.
    pub matches: Vec<Matched>,
    /// A rule's copy of its requests to a version, as [`super::mirror_text`] says it:
    /// `mirror 20% -> v2`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mirror: Option<String>,
    /// The versions that take traffic: a weight above 0, the target of a match rule, or of a
    /// mirror above 0%.
    #[serde(skip)]
    pub routed: BTreeSet<String>,
    /// The overlay's file names.
    #[serde(skip)]
    pub files: BTreeSet<String>,
    /// The container images of each version's Deployment.
    #[serde(skip)]
    pub images: BTreeMap<String, Vec<String>>,
    /// Each version's pod template (the Deployment's `spec.template`): a change to it restarts
    /// the version's pods.
    #[serde(skip)]
    pub templates: BTreeMap<String, Value>,
    /// Each version's Deployment name.
    #[serde(skip)]
    pub deployments: BTreeMap<String, String>,
    /// Each version's subset name, from the DestinationRule.
    #[serde(skip)]
    pub subsets: BTreeMap<String, String>,
}

impl Observed {
    /// The overlay as every JSON output shows it: `stage`, `traffic` and `pods` by version,
    /// `matches`, and `mirror` when there is one.
    pub(crate) fn to_json(&self) -> Value {
        serde_json::to_value(self).expect("the facts serialize")
    }

    /// The pods a version runs as a number: its Deployment's replicas, or its HPA's minimum;
    /// 0 where it does not run.
    pub(crate) fn count(&self, version: &str) -> u32 {
        let found = self.pods.iter().find(|(v, _)| v == version).and_then(|(_, c)| *c);
        found.map_or(0, |c| u32::try_from(c.least()).unwrap_or(u32::MAX))
    }

    /// The versions the overlay runs that the spec names neither as stable nor as canary.
    pub(crate) fn leaving<'a>(&'a self, canary: &Canary) -> Vec<&'a String> {
        let named = |v: &String| &canary.stable.version == v || canary.canary.as_ref().is_some_and(|c| &c.version == v);
        self.pods.iter().map(|(v, _)| v).filter(|v| !named(v)).collect()
    }

    /// The subset of a version the overlay runs: as its DestinationRule names it, else the name
    /// kanari gives a version without `subset:`.
    pub(crate) fn subset(&self, version: &str) -> SubsetPlan {
        let name = self.subsets.get(version).cloned().unwrap_or_else(|| crate::spec::object_name(version));
        SubsetPlan { name, version: version.to_string() }
    }

    /// The Deployment name of a version the overlay runs.
    pub(crate) fn deployment(&self, canary: &Canary, version: &str) -> String {
        let made = || crate::spec::version_object(&canary.name, &crate::spec::object_name(version));
        self.deployments.get(version).cloned().unwrap_or_else(made)
    }

    /// The versions of the spec whose Deployment runs another image than the spec names: their
    /// pods are replaced when the next commit lands.
    pub(crate) fn rerolled(&self, canary: &Canary) -> Vec<(String, String)> {
        [Some(&canary.stable), canary.canary.as_ref()]
            .into_iter()
            .flatten()
            .filter_map(|v| {
                let images = self.images.get(&v.version)?;
                (!images.contains(&v.image)).then(|| (v.version.clone(), images.join(", ")))
            })
            .collect()
    }
}

/// The pods one version runs, as every JSON output shows them: `{"replicas": 10}` or
/// `{"hpa": {"min": 2, "max": 10}}`; as text (tables, commit bodies), `10` or `hpa 2-10`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PodCount {
    Replicas(u64),
    Hpa { min: u64, max: u64 },
}

impl PodCount {
    /// The pods that run at least: the replicas, or the HPA's minimum.
    pub(crate) fn least(&self) -> u64 {
        match self {
            PodCount::Replicas(n) => *n,
            PodCount::Hpa { min, .. } => *min,
        }
    }

    /// A version's count in a table: the count, or `-` where it is unknown.
    pub(crate) fn text(count: Option<PodCount>) -> String {
        count.map_or_else(|| "-".to_string(), |c| c.to_string())
    }
}

impl std::fmt::Display for PodCount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PodCount::Replicas(n) => write!(f, "{n}"),
            PodCount::Hpa { min, max } => write!(f, "hpa {min}-{max}"),
        }
    }
}

/// A match rule of a route: what requests it matches, in a short form (`end-user=jason`,
/// [`super::condition_text`]), and the version it sends them to. Reads (and serializes) as
/// `end-user=jason -> v2`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Matched {
    pub when: String,
    pub to: String,
}

impl std::fmt::Display for Matched {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} -> {}", self.when, self.to)
    }
}

impl Serialize for Matched {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Values per version as every JSON output shows them: an object by version (`{"v1": 90,
/// "v2": 10}`).
pub(super) fn by_version<S: Serializer, T: Serialize>(pairs: &[(String, T)], s: S) -> Result<S::Ok, S::Error> {
    pairs.iter().map(|(v, t)| (v, t)).collect::<BTreeMap<_, _>>().serialize(s)
}

/// Values per version, serialized as [`by_version`] says.
pub(super) struct ByVersion<'a, T>(pub &'a [(String, T)]);

impl<T: Serialize> Serialize for ByVersion<'_, T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        by_version(self.0, s)
    }
}
