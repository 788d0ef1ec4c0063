//! The `fleet` layout: each spec is one release of the `spread` layout run in C clusters
//! (`c-000`, `c-001`, ...), C/4 of them in each of waves 1-4 (fewer waves below 4 clusters),
//! with an overlay per cluster at `overlays/<cluster>/<namespace>/<name>`.
//!
//! The instances' states follow the waves, as kanari's wave gates leave them: the fleet is in a
//! wave (drawn); the instances of the waves before it have passed their last stage (approved
//! where it asks for an approval, and entered a day per wave earlier), the instances of its wave
//! are at the state the `spread` layout draws for the release, and the later waves are steady.
//! An aborted fleet is aborted in every wave up to its own. Fleet 0's wave is wave 1, so that
//! `team-00/svc-00000@c-000` is at `prepare` with no gate, like release 0 of the other layouts.
//!
//! Draws for the fleet (its wave, its `waves` rules, per-cluster replicas) come from a stream of
//! their own, so the release's spec stays the `spread` layout's, draw for draw.

use std::fmt::Write as _;
use std::path::Path;

use super::{Release, Rng, State};

/// What `{cluster}` is written as in `spec.output`.
pub(super) const CLUSTER: &str = "{cluster}";
/// Waves a fleet's clusters are spread over (fewer when there are fewer clusters).
const WAVES: usize = 4;
/// kanari's limit of clusters per fleet.
const MAX_CLUSTERS: usize = 1000;

/// `--clusters N` for `--releases R`: R instances make R/N fleets.
pub(super) fn check_clusters(releases: usize, clusters: usize) -> Result<usize, String> {
    if clusters == 0 || clusters > MAX_CLUSTERS {
        return Err(format!("--clusters must be from 1 to {MAX_CLUSTERS} (kanari's limit per fleet)"));
    }
    if !releases.is_multiple_of(clusters) {
        return Err(format!(
            "--releases ({releases}) must be a multiple of --clusters ({clusters}): every fleet runs in every cluster"
        ));
    }
    Ok(clusters)
}

/// The name of cluster `i`.
fn cluster_name(i: usize) -> String {
    format!("c-{i:03}")
}

/// `namespace/name@cluster`, the instance's name in kanari's commands.
pub(super) fn instance_id(release: &Release, cluster: usize) -> String {
    format!("{}@{}", release.id(), cluster_name(cluster))
}

/// One fleet: its clusters and the wave it is in.
pub(super) struct Fleet {
    clusters: usize,
    /// The wave the fleet's canary is in (1-based).
    current: usize,
}

impl Fleet {
    /// The fleet of `release` over `clusters` clusters; adds `spec.clusters` and `spec.waves` to
    /// the release's spec.
    pub(super) fn new(seed: u64, release: &mut Release, clusters: usize) -> Fleet {
        let mut rng = Rng::new(seed, (1 << 40) + release.index as u64);
        let fleet = Fleet { clusters, current: 0 };
        let current = match release.index {
            0 => 1,
            _ => 1 + rng.below(fleet.waves() as u64) as usize,
        };
        // A cluster may override the pods only where the spec sets `replicas`: a stage's
        // `replicas.canary` must stay within an autoscaled cluster's maxReplicas.
        let overrides = !release.doc.contains("\n  autoscaling:\n");
        let w = &mut release.doc;
        let _ = writeln!(w, "  clusters:");
        for c in 0..clusters {
            let _ = write!(w, "    - {{name: {}, wave: {}", cluster_name(c), fleet.wave(c));
            if overrides && rng.chance(10) {
                let _ = write!(w, ", replicas: {}", 1 + rng.below(40));
            }
            let _ = writeln!(w, "}}");
        }
        let _ = writeln!(w, "  waves:\n    bake: {}", rng.pick(&["30m", "1h", "2h", "1d"]));
        if rng.chance(50) {
            let _ = writeln!(w, "    approval: true");
        }
        Fleet { current, ..fleet }
    }

    fn waves(&self) -> usize {
        WAVES.min(self.clusters)
    }

    /// Cluster `c`'s wave: the clusters in order, an equal share in each wave.
    fn wave(&self, c: usize) -> usize {
        1 + c * self.waves() / self.clusters
    }

    /// The state of cluster `c`'s instance and when it entered it (seconds after `EPOCH`).
    fn state(&self, release: &Release, c: usize) -> (State, i64) {
        let wave = self.wave(c);
        let since = release.since() - 86_400 * self.current.saturating_sub(wave) as i64;
        let last = release.stages.len() - 1;
        let passed = State::Stage { index: last, approved: release.stages[last].approval };
        let state = match release.state {
            State::Steady => State::Steady,
            _ if wave > self.current => State::Steady,
            State::Aborted => State::Aborted,
            _ if wave < self.current => passed,
            state => state,
        };
        (state, since)
    }

    /// True when cluster `c`'s instance has started (or, in a steady fleet, may start): a promote
    /// or an approval there keeps the waves' order.
    pub(super) fn started(&self, release: &Release, c: usize) -> bool {
        let wave = self.wave(c);
        release.canary && (wave <= self.current && !matches!(release.state, State::Steady) || wave == 1)
    }

    /// Every instance's bare `kustomization.yaml`, recording its state.
    pub(super) fn write_states(&self, repo: &Path, release: &Release) -> Result<(), String> {
        let output = release.output();
        for c in 0..self.clusters {
            let (state, since) = self.state(release, c);
            release.write_kustomization(&repo.join(output.replace(CLUSTER, &cluster_name(c))), state, since)?;
        }
        Ok(())
    }
}
