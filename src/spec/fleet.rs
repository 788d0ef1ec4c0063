//! Fleets: one release across many clusters (`spec.clusters`, `spec.waves`). A fleet's spec
//! validates once and becomes one [`Canary`] per cluster, an instance named `reviews@eu-1`
//! ([`Canary::id`]: `namespace/reviews@eu-1`), with its own output (`{cluster}` filled in), its
//! own pod counts (the cluster's `replicas` or `autoscaling`) and its own Prometheus (the
//! cluster's `prometheus`, or the analysis's with `{cluster}` filled in). Every instance carries
//! the fleet ([`Member`]), so that the waves can be judged from any of them and each instance can
//! make its siblings ([`Canary::instance`]) without the spec file.
//!
//! The rules a fleet's spec must keep, each a problem at its place: cluster names are DNS-1123
//! labels, each once; waves are numbered from 1 with none missing between the used ones;
//! `spec.output` names `{cluster}` (so that no two clusters write one folder; a folder nested in
//! another release's is found by the checks across releases), and with each cluster's name
//! filled in it is a folder kanari may write (not `.git`, not the specs folder); `waves` only
//! with `clusters`; a
//! cluster overrides `replicas`, `autoscaling` and `prometheus` only (one of the first two), and
//! a stage's replica override stays within a cluster's `autoscaling.maxReplicas`.

use std::sync::Arc;
use std::time::Duration;

use schemars::JsonSchema;
use serde::Deserialize;

use super::raw::{RawAutoscaling, RawSpec, S};
use super::rules::{check_output_path, folded, is_dns1123_label, parse_duration};
use super::validate::{Placed, Validator};
use super::{Autoscaling, Canary, MAX_REPLICAS, format_duration};
use crate::problem::Place;

/// What `{cluster}` is written as in `spec.output` and `analysis.prometheus`.
pub(crate) const CLUSTER: &str = "{cluster}";
/// At most this many clusters in one fleet.
pub(crate) const MAX_CLUSTERS: usize = 1000;

/// One cluster of a fleet: its name, its wave and what it overrides.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Cluster")]
pub(super) struct RawCluster {
    /// The cluster's name, a DNS-1123 label: its instance of the release is `<release>@<name>`, and `{cluster}` in `spec.output` and `analysis.prometheus` becomes it.
    #[schemars(with = "String")]
    pub(super) name: S<String>,
    /// The wave the cluster's canary runs in: 1 first; waves are numbered without gaps.
    #[schemars(with = "i64")]
    pub(super) wave: S<i64>,
    /// The cluster's pods at 100% of the traffic, in place of `spec.replicas` or `spec.autoscaling`.
    #[schemars(with = "Option<i64>")]
    pub(super) replicas: Option<S<i64>>,
    /// The cluster's HPAs, in place of `spec.replicas` or `spec.autoscaling`.
    #[schemars(with = "Option<RawAutoscaling>")]
    pub(super) autoscaling: Option<S<RawAutoscaling>>,
    /// The cluster's Prometheus, in place of `analysis.prometheus`.
    #[schemars(with = "Option<String>")]
    pub(super) prometheus: Option<S<String>>,
}

/// What holds the next wave once a wave has passed its last stage.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Waves")]
pub(super) struct RawWaves {
    /// How long a wave bakes after its last instance passed its last stage, before the next wave starts (`1h`).
    #[schemars(with = "Option<String>")]
    pub(super) bake: Option<S<String>>,
    /// A person approves each wave after the first (`kanari approve <release> --wave 2`).
    pub(super) approval: Option<bool>,
}

/// A fleet: the clusters of one release and the rules between its waves.
#[derive(Clone, Debug, PartialEq)]
pub struct Fleet {
    pub clusters: Vec<Cluster>,
    pub waves: Waves,
    /// The number of waves (the highest wave).
    pub last_wave: u32,
    /// `spec.output` as written, with `{cluster}`.
    pub output: String,
    /// What the spec says of the pods and the Prometheus, before a cluster overrides them.
    base: Base,
}

#[derive(Clone, Debug, PartialEq)]
struct Base {
    replicas: u32,
    autoscaling: Option<Autoscaling>,
    prometheus: Option<String>,
}

/// One cluster of a fleet.
#[derive(Clone, Debug, PartialEq)]
pub struct Cluster {
    pub name: String,
    pub wave: u32,
    pub replicas: Option<u32>,
    pub autoscaling: Option<Autoscaling>,
    pub prometheus: Option<String>,
    /// Where the cluster is written.
    pub at: Place,
}

/// `spec.waves`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Waves {
    pub bake: Option<Duration>,
    pub approval: bool,
}

/// An instance's place in its fleet.
#[derive(Clone, Debug, PartialEq)]
pub struct Member {
    pub cluster: String,
    pub wave: u32,
    pub fleet: Arc<Fleet>,
}

impl Fleet {
    /// The clusters of wave `wave`, in the spec's order.
    pub(crate) fn wave(&self, wave: u32) -> impl Iterator<Item = &Cluster> {
        self.clusters.iter().filter(move |c| c.wave == wave)
    }

    /// Every cluster, wave by wave, in the spec's order within a wave: the order of the
    /// instances in every command's output.
    pub(crate) fn by_wave(&self) -> impl Iterator<Item = &Cluster> {
        (1..=self.last_wave).flat_map(|wave| self.wave(wave))
    }
}

impl Waves {
    /// `bake 1h, approval` as a plan shows it; None when nothing holds a wave.
    pub(crate) fn describe(&self) -> Option<String> {
        let mut parts = Vec::new();
        if let Some(d) = self.bake {
            parts.push(format!("bake {}", format_duration(d)));
        }
        if self.approval {
            parts.push("approval".to_string());
        }
        (!parts.is_empty()).then(|| parts.join(", "))
    }
}

impl Canary {
    /// The instance of this fleet's release in `cluster`: the same release with the cluster's
    /// output, pods and Prometheus. For a release that is no fleet, a copy of itself.
    pub(crate) fn instance(&self, cluster: &Cluster) -> Canary {
        let Some(member) = &self.fleet else { return self.clone() };
        let fleet = &member.fleet;
        let mut canary = self.clone();
        canary.output = std::path::PathBuf::from(fleet.output.replace(CLUSTER, &cluster.name));
        (canary.replicas, canary.autoscaling) = match (&cluster.replicas, &cluster.autoscaling) {
            (Some(r), _) => (*r, None),
            (None, Some(a)) => (1, Some(a.clone())),
            (None, None) => (fleet.base.replicas, fleet.base.autoscaling.clone()),
        };
        if let Some(analysis) = &mut canary.analysis {
            analysis.prometheus = cluster
                .prometheus
                .as_ref()
                .or(fleet.base.prometheus.as_ref())
                .map(|p| p.replace(CLUSTER, &cluster.name));
        }
        canary.fleet = Some(Member { cluster: cluster.name.clone(), wave: cluster.wave, fleet: Arc::clone(fleet) });
        canary
    }

    /// Every instance of this release's fleet, this one among them, wave by wave
    /// ([`Fleet::by_wave`]); this release alone when it is no fleet.
    pub(crate) fn instances(&self) -> Vec<Canary> {
        match &self.fleet {
            Some(member) => member.fleet.by_wave().map(|c| self.instance(c)).collect(),
            None => vec![self.clone()],
        }
    }

    /// The release's name without its cluster: `reviews` for `reviews@eu-1`.
    pub(crate) fn fleet_id(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

impl Validator<'_> {
    /// `spec.clusters` and `spec.waves`, checked; None for a release that is no fleet (or one
    /// whose fleet has problems, which are recorded).
    pub(super) fn fleet(&mut self, spec: &RawSpec, replicas: u32, autoscaling: Option<&Autoscaling>) -> Option<Fleet> {
        let before = self.problems.len();
        let Some(raw) = &spec.clusters else {
            let prometheus = spec.analysis.as_ref().and_then(|a| a.value.prometheus.as_ref());
            for at in [spec.output.as_ref(), prometheus].into_iter().flatten().filter(|at| at.value.contains(CLUSTER)) {
                self.problem(
                    at,
                    format!("`{CLUSTER}` is filled in for each cluster of a fleet, and the spec has no `clusters`"),
                );
            }
            if let Some(waves) = &spec.waves {
                self.problem(waves, "`waves` orders the clusters of a fleet: give `clusters` too, or remove `waves`");
            }
            return None;
        };
        if raw.value.is_empty() {
            self.problem(raw, "`clusters` lists the clusters of a fleet: give at least one, or remove `clusters`");
        }
        if raw.value.len() > MAX_CLUSTERS {
            self.problem(raw, format!("a fleet has at most {MAX_CLUSTERS} clusters"));
        }
        let output = match &spec.output {
            Some(out) if out.value.contains(CLUSTER) => out.value.clone(),
            Some(out) => {
                self.problem(out, format!("a fleet's spec.output must hold `{CLUSTER}`, so that each cluster writes a folder of its own (`overlays/{CLUSTER}/<name>`)"));
                String::new()
            }
            None => {
                self.problem(raw, format!("a fleet needs spec.output with `{CLUSTER}` in it (`overlays/{CLUSTER}/<name>`), so that each cluster writes a folder of its own"));
                String::new()
            }
        };
        let mut clusters: Vec<Cluster> = Vec::new();
        for entry in &raw.value {
            if let Some(cluster) = self.cluster(entry, &clusters, spec, &output) {
                clusters.push(cluster);
            }
        }
        self.waves_numbered(&raw.value);
        let waves = self.waves(spec);
        // From the waves as written: a cluster refused for another reason still has its wave.
        let written = raw.value.iter().map(|c| c.value.wave.value).filter(|w| (1..=MAX_CLUSTERS as i64).contains(w));
        let last_wave = written.max().unwrap_or(0) as u32;
        if let (Some(w), true) = (&spec.waves, last_wave == 1) {
            self.problem(w, "`waves` holds the waves after the first, and every cluster is in wave 1: remove `waves`, or put a cluster in wave 2");
        }
        let prometheus = spec.analysis.as_ref().and_then(|a| a.value.prometheus.as_ref());
        let prometheus = prometheus.map(|p| p.value.trim_end_matches('/').to_string());
        (self.problems.len() == before).then(|| Fleet {
            clusters,
            waves,
            last_wave,
            output,
            base: Base { replicas, autoscaling: autoscaling.cloned(), prometheus },
        })
    }

    fn cluster(&mut self, raw: &S<RawCluster>, before: &[Cluster], spec: &RawSpec, output: &str) -> Option<Cluster> {
        let c = &raw.value;
        let problems = self.problems.len();
        let name = &c.name;
        if self.check(name, is_dns1123_label(&name.value), || {
            format!("cluster name `{}` must be a DNS-1123 label: at most 63 characters of a-z, 0-9 and `-`, starting and ending with a letter or digit", name.value)
        }) {
            if let Some(first) = before.iter().find(|b| b.name == name.value) {
                let line = first.at.line;
                self.problem(name, format!("cluster `{}` is listed twice (first at line {line}): a cluster runs one instance of the release", name.value));
            } else if !output.is_empty() {
                self.cluster_output(name, output);
            }
        }
        let wave = self.check(&c.wave, (1..=MAX_CLUSTERS as i64).contains(&c.wave.value), || {
            format!("wave must be from 1 to {MAX_CLUSTERS}, got {}", c.wave.value)
        });
        let replicas = c.replicas.as_ref().and_then(|r| {
            let ok = (1..=MAX_REPLICAS).contains(&r.value);
            self.check(r, ok, || format!("replicas must be from 1 to {MAX_REPLICAS}, got {}", r.value))
                .then_some(r.value as u32)
        });
        let autoscaling = c.autoscaling.as_ref().and_then(|a| self.autoscaling(a));
        if let (Some(r), Some(_)) = (&c.replicas, &c.autoscaling) {
            self.problem(r, "a cluster overrides `replicas` or `autoscaling`, not both: with autoscaling the HPAs own the pod count");
        }
        if let (Some(a), Some(at)) = (&autoscaling, &c.autoscaling) {
            let over =
                spec.stages.iter().filter_map(|s| s.value.replicas.as_ref()).flat_map(|r| [&r.stable, &r.canary]);
            if let Some(n) = over.flatten().find(|n| n.value > i64::from(a.max_replicas)) {
                let line = n.referenced.line();
                self.problem(at, format!("a stage's replica override ({} at line {line}) is above this cluster's autoscaling.maxReplicas ({})", n.value, a.max_replicas));
            }
        }
        let prometheus = c.prometheus.as_ref().map(|p| self.prometheus_url(p, "the cluster's prometheus"));
        if let (Some(p), None) = (&c.prometheus, &spec.analysis) {
            self.problem(p, "a cluster's `prometheus` is the one its analysis asks, and the spec has no `analysis`");
        }
        (self.problems.len() == problems)
            .then(|| Cluster {
                name: name.value.clone(),
                wave: c.wave.value as u32,
                replicas,
                autoscaling,
                prometheus,
                at: self.place(raw),
            })
            .filter(|_| wave)
    }

    /// `spec.output` with the cluster's name filled in is a folder kanari may write: checked as
    /// `spec.output` itself is, the filled-in folder (a cluster named `git` in `.{cluster}`
    /// would write into `.git`, one named `canaries` in `{cluster}` over the specs).
    fn cluster_output(&mut self, name: &S<String>, output: &str) {
        let filled = output.replace(CLUSTER, &name.value);
        let why = match check_output_path(&filled) {
            Err(why) => Some(why.to_string()),
            Ok(path) => self.specs.and_then(|specs| {
                let (o, f) = (folded(&path), folded(specs));
                let shown = specs.display();
                (o.starts_with(&f))
                    .then(|| format!("is inside the specs folder `{shown}`"))
                    .or_else(|| f.starts_with(&o).then(|| format!("holds the specs folder `{shown}`")))
            }),
        };
        if let Some(why) = why {
            let cluster = &name.value;
            self.problem(name, format!("cluster `{cluster}` writes to `{filled}` (spec.output `{output}`), which {why}: choose another spec.output or cluster name"));
        }
    }

    /// Waves numbered from 1, none missing between the used ones: the first cluster of a wave
    /// after a gap is where the problem points. A wave out of range is its own problem, and no
    /// gap is looked for then.
    fn waves_numbered(&mut self, raw: &[S<RawCluster>]) {
        if raw.iter().any(|c| !(1..=MAX_CLUSTERS as i64).contains(&c.value.wave.value)) {
            return;
        }
        let used: std::collections::BTreeSet<i64> = raw.iter().map(|c| c.value.wave.value).collect();
        let Some(&last) = used.iter().next_back() else { return };
        let Some(missing) = (1..last).find(|w| !used.contains(w)) else { return };
        let after = raw
            .iter()
            .map(|c| &c.value.wave)
            .filter(|w| w.value > missing)
            .min_by_key(|w| w.value)
            .expect("the last wave");
        let wave = after.value;
        let message = match missing {
            1 => format!(
                "wave {wave} is the first wave, and no cluster is in wave 1: number the waves from 1 without gaps"
            ),
            _ => format!(
                "wave {wave} follows wave {}, and no cluster is in wave {missing}: number the waves from 1 without gaps",
                missing - 1
            ),
        };
        self.problem(after, message);
    }

    fn waves(&mut self, spec: &RawSpec) -> Waves {
        let Some(w) = &spec.waves else { return Waves::default() };
        let bake = w.value.bake.as_ref().and_then(|b| match parse_duration(&b.value) {
            Ok(d) => Some(d).filter(|d| !d.is_zero()),
            Err(why) => {
                self.problem(b, format!("waves.bake `{}` {why}", b.value));
                None
            }
        });
        Waves { bake, approval: w.value.approval.unwrap_or(false) }
    }
}

/// serde's message for an unknown field of a cluster entry, said as what a cluster may hold;
/// None for any other message.
pub(super) fn unknown_cluster_field(message: &str) -> Option<String> {
    let field = message.strip_prefix("unknown field `")?.split_once('`')?.0;
    message.ends_with(", expected one of name, wave, replicas, autoscaling, prometheus").then(|| {
        format!("unknown field `{field}` in a cluster: a cluster has `name` and `wave`, and overrides `replicas`, `autoscaling` or `prometheus` only; the rest of the spec is the same in every cluster")
    })
}

/// A validated release, one per cluster for a fleet's (wave by wave); the release itself otherwise.
pub(super) fn instances(placed: Placed) -> Vec<Placed> {
    let Some(member) = placed.canary.fleet.clone() else { return vec![placed] };
    let fleet = Arc::clone(&member.fleet);
    // Each instance is made from the fleet's release once (no copy of it made only to be dropped).
    let instance = |cluster: &Cluster| Placed {
        canary: placed.canary.instance(cluster),
        name: placed.name.clone(),
        output: placed.output.clone(),
        wants: placed.wants.clone(),
        ports: placed.ports.clone(),
    };
    fleet.by_wave().map(instance).collect()
}
