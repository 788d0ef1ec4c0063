//! Fleets (`spec.clusters`, `spec.waves`): every refusal at its place, the instances a fleet's
//! spec becomes (names, folders, pods, Prometheus), how selectors name them, and a property
//! test over generated fleets.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::table::problems_of;
use super::*;

const BASE: &str = "apiVersion: kanari.dev/v1alpha1
kind: Canary
metadata: {name: web, namespace: shop}
spec:
  output: overlays/{cluster}/web
  clusters:
    - {name: eu-1, wave: 1}
    - {name: eu-2, wave: 2}
  waves: {bake: 1h, approval: true}
  service: {port: 8080}
  stable: {version: v1, image: web:1}
  canary: {version: v2, image: web:2}
  stages:
    - name: one
      weight: 10
";

const CLUSTERS: &str = "  clusters:\n    - {name: eu-1, wave: 1}\n    - {name: eu-2, wave: 2}\n";
const WAVES: &str = "  waves: {bake: 1h, approval: true}\n";
const AUTOSCALING: &str = "{minReplicas: 1, maxReplicas: 3, targetCPUUtilizationPercentage: 50}";

/// Edits of [`BASE`] (replace this with that), a problem containing this, at `line:column`.
type Row<'a> = (&'a [(&'a str, &'a str)], &'a str, &'a str);

fn edited(edits: &[(&str, &str)]) -> String {
    let mut yaml = BASE.to_string();
    for (from, to) in edits {
        assert!(yaml.contains(from), "{from:?} is not in the spec");
        yaml = yaml.replacen(from, to, 1);
    }
    yaml
}

#[test]
fn the_base_fleet_is_valid() {
    assert_eq!(problems_of(BASE), Vec::<String>::new());
}

#[test]
fn every_refusal_of_a_fleet_is_at_its_place() {
    let cluster_autoscaling = format!("wave: 2, autoscaling: {AUTOSCALING}}}");
    let both = format!("wave: 2, replicas: 3, autoscaling: {AUTOSCALING}}}");
    let no_fleet = format!("{CLUSTERS}{WAVES}");
    // (edits of BASE, a problem containing this, at line:column)
    let table: &[Row] = &[
        (&[("name: eu-1,", "name: EU_1,")], "cluster name `EU_1` must be a DNS-1123 label", "7:14"),
        (&[("name: eu-1,", "name: eu.1,")], "cluster name `eu.1` must be a DNS-1123 label", "7:14"),
        (&[("name: eu-1,", "name: -eu,")], "must be a DNS-1123 label", "7:14"),
        (&[("name: eu-2,", "name: eu-1,")], "cluster `eu-1` is listed twice (first at line 7)", "8:14"),
        (&[("wave: 1}", "wave: 0}")], "wave must be from 1 to 1000, got 0", "7:26"),
        (&[("wave: 1}", "wave: -1}")], "wave must be from 1 to 1000, got -1", "7:26"),
        (&[("wave: 2}", "wave: 3}")], "wave 3 follows wave 1, and no cluster is in wave 2", "8:26"),
        (&[("wave: 1}", "wave: 3}")], "wave 2 is the first wave, and no cluster is in wave 1", "8:26"),
        (&[("overlays/{cluster}/web", "overlays/web")], "a fleet's spec.output must hold `{cluster}`", "5:11"),
        (&[("  output: overlays/{cluster}/web\n", "")], "a fleet needs spec.output with `{cluster}`", "6:5"),
        (
            &[(&no_fleet, "")],
            "`{cluster}` is filled in for each cluster of a fleet, and the spec has no `clusters`",
            "5:11",
        ),
        (
            &[
                ("  output: overlays/{cluster}/web\n", ""),
                (&no_fleet, "  analysis: {prometheus: 'http://p.{cluster}:9090'}\n"),
            ],
            "`{cluster}` is filled in for each cluster of a fleet, and the spec has no `clusters`",
            "5:26",
        ),
        (
            &[("  output: overlays/{cluster}/web\n", ""), (CLUSTERS, "")],
            "`waves` orders the clusters of a fleet",
            "5:10",
        ),
        (
            &[("wave: 2}", "wave: 1}")],
            "`waves` holds the waves after the first, and every cluster is in wave 1",
            "9:10",
        ),
        (&[("wave: 2}", &both)], "a cluster overrides `replicas` or `autoscaling`, not both", "8:39"),
        (&[("wave: 2}", "wave: 2, replicas: 0}")], "replicas must be from 1 to 10000, got 0", "8:39"),
        (&[("wave: 2}", "wave: 2, prometheus: 'http://p:9090'}")], "the spec has no `analysis`", "8:41"),
        (
            &[("wave: 2}", "wave: 2, prometheus: ftp://p}\n  analysis: {prometheus: 'http://p.{cluster}:9090'}")],
            "the cluster's prometheus `ftp://p` must be an http:// or https:// URL",
            "8:41",
        ),
        (
            &[("wave: 2}", &cluster_autoscaling), ("weight: 10", "weight: 10\n      replicas: {canary: 5}")],
            "a stage's replica override (5 at line 16) is above this cluster's autoscaling.maxReplicas (3)",
            "8:42",
        ),
        (
            &[("wave: 1}", "wave: 1, image: x}")],
            "unknown field `image` in a cluster: a cluster has `name` and `wave`, and overrides `replicas`, `autoscaling` or `prometheus` only",
            "7:29",
        ),
        (&[("approval: true", "approval: true, delay: 1h")], "unknown field `delay`", "9:37"),
        (&[("bake: 1h", "bake: 5x")], "waves.bake `5x` must be a duration", "9:17"),
        (&[(CLUSTERS, "  clusters: []\n")], "`clusters` lists the clusters of a fleet: give at least one", "6:13"),
        (
            &[("overlays/{cluster}/web", ".{cluster}"), ("name: eu-1,", "name: git,")],
            "cluster `git` writes to `.git` (spec.output `.{cluster}`), which may not be inside `.git`",
            "7:14",
        ),
    ];
    let mut wrong = Vec::new();
    for (edits, expect, at) in table {
        let found = problems_of(&edited(edits));
        if !found.iter().any(|p| p.contains(expect) && p.starts_with(&format!("{at} "))) {
            wrong.push(format!("{edits:?}: expected `{expect}` at {at}, got {found:?}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// One mistake is one problem: a wave out of range is not also a gap before the next wave
/// ("wave 2 follows wave 0" was said beside "wave must be from 1"), and a cluster refused for
/// its overrides still counts in its wave (its fleet was said to have every cluster in wave 1).
#[test]
fn one_mistake_is_one_problem() {
    assert_eq!(problems_of(&edited(&[("wave: 1}", "wave: 0}")])), ["7:26 wave must be from 1 to 1000, got 0"]);
    let both = format!("wave: 2, replicas: 3, autoscaling: {AUTOSCALING}}}");
    assert_eq!(
        problems_of(&edited(&[("wave: 2}", &both)])),
        ["8:39 a cluster overrides `replicas` or `autoscaling`, not both: with autoscaling the HPAs own the pod count"]
    );
}

const FLEET: &str = "apiVersion: kanari.dev/v1alpha1
kind: Canary
metadata: {name: web, namespace: shop}
spec:
  output: deploy/{cluster}/web
  clusters:
    - {name: eu-1, wave: 1, prometheus: 'https://prom.eu-1.example/'}
    - {name: eu-2, wave: 2}
    - {name: us-1, wave: 2, replicas: 20}
    - {name: ap-1, wave: 3, autoscaling: {minReplicas: 2, maxReplicas: 8, targetCPUUtilizationPercentage: 70}}
  service: {port: 8080}
  stable: {version: v1, image: web:1}
  canary: {version: v2, image: web:2}
  replicas: 10
  analysis:
    prometheus: http://prometheus.{cluster}.example:9090
    metrics: [{name: ok, builtin: success-rate, min: 99}]
  stages:
    - name: one
      weight: 10
";

fn parsed(yaml: &str) -> Vec<Canary> {
    let (found, problems) = parse_file(Path::new("c.yaml"), yaml);
    assert!(problems.is_empty(), "{problems}");
    found
}

#[test]
fn each_cluster_is_an_instance_with_its_own_folder_pods_and_prometheus() {
    let found = parsed(FLEET);
    let ids: Vec<String> = found.iter().map(Canary::id).collect();
    assert_eq!(ids, ["shop/web@eu-1", "shop/web@eu-2", "shop/web@us-1", "shop/web@ap-1"]);
    let outputs: Vec<&Path> = found.iter().map(|c| c.output.as_path()).collect();
    assert_eq!(
        outputs,
        [
            Path::new("deploy/eu-1/web"),
            Path::new("deploy/eu-2/web"),
            Path::new("deploy/us-1/web"),
            Path::new("deploy/ap-1/web")
        ]
    );
    let pods: Vec<(u32, Option<u32>)> =
        found.iter().map(|c| (c.replicas, c.autoscaling.as_ref().map(|a| a.max_replicas))).collect();
    assert_eq!(pods, [(10, None), (10, None), (20, None), (1, Some(8))]);
    let prometheus: Vec<Option<&str>> =
        found.iter().map(|c| c.analysis.as_ref().unwrap().prometheus.as_deref()).collect();
    assert_eq!(
        prometheus,
        [
            Some("https://prom.eu-1.example"),
            Some("http://prometheus.eu-2.example:9090"),
            Some("http://prometheus.us-1.example:9090"),
            Some("http://prometheus.ap-1.example:9090"),
        ]
    );
    let waves: Vec<(&str, u32)> =
        found.iter().map(|c| c.fleet.as_ref().unwrap()).map(|m| (m.cluster.as_str(), m.wave)).collect();
    assert_eq!(waves, [("eu-1", 1), ("eu-2", 2), ("us-1", 2), ("ap-1", 3)]);
    let fleet = &found[0].fleet.as_ref().unwrap().fleet;
    assert_eq!((fleet.last_wave, fleet.output.as_str(), &fleet.waves), (3, "deploy/{cluster}/web", &Waves::default()));
    // Every instance knows its siblings: each makes the others as they were loaded.
    for instance in &found {
        assert_eq!(instance.instances(), found);
        assert_eq!(instance.fleet_id(), "shop/web");
    }
    // The rest of the release is the same in every cluster.
    for c in &found[1..] {
        assert_eq!(
            (&c.stable, &c.canary, &c.stages, &c.file),
            (&found[0].stable, &found[0].canary, &found[0].stages, &found[0].file)
        );
    }
}

#[test]
fn a_cluster_overrides_the_specs_autoscaling_with_replicas() {
    let yaml = FLEET.replace("  replicas: 10\n", &format!("  autoscaling: {AUTOSCALING}\n"));
    let found = parsed(&yaml);
    let pods: Vec<(u32, Option<(u32, u32)>)> =
        found.iter().map(|c| (c.replicas, c.autoscaling.as_ref().map(|a| (a.min_replicas, a.max_replicas)))).collect();
    assert_eq!(pods, [(1, Some((1, 3))), (1, Some((1, 3))), (20, None), (1, Some((2, 8)))]);
}

#[test]
fn waves_bake_and_approval_are_read() {
    let fleet = parsed(BASE)[0].fleet.clone().unwrap().fleet;
    assert_eq!(fleet.waves, Waves { bake: Some(std::time::Duration::from_secs(3600)), approval: true });
    assert_eq!(fleet.waves.describe().as_deref(), Some("bake 1h, approval"));
    let names: Vec<&str> = fleet.wave(2).map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["eu-2"]);
}

#[test]
fn a_spec_without_clusters_is_a_release_as_before() {
    let yaml = edited(&[("  output: overlays/{cluster}/web\n", ""), (&format!("{CLUSTERS}{WAVES}"), "")]);
    let found = parsed(&yaml);
    assert_eq!(found.len(), 1);
    let c = &found[0];
    assert_eq!(
        (c.id(), c.output.as_path(), c.fleet.is_none()),
        ("shop/web".to_string(), Path::new("overlays/shop/web"), true)
    );
    assert_eq!(c.instances(), found);
    assert!(c.is_named("web") && c.is_named("shop/web"));
    assert!(!c.is_named("web@eu-1"));
}

#[test]
fn selectors_name_the_fleet_or_one_instance() {
    let found = parsed(BASE);
    let named = |selector: &str| -> Vec<String> {
        found.iter().filter(|c| c.is_named(selector)).map(Canary::id).collect::<Vec<_>>()
    };
    assert_eq!(named("web"), ["shop/web@eu-1", "shop/web@eu-2"]);
    assert_eq!(named("shop/web"), ["shop/web@eu-1", "shop/web@eu-2"]);
    assert_eq!(named("web@eu-1"), ["shop/web@eu-1"]);
    assert_eq!(named("shop/web@eu-2"), ["shop/web@eu-2"]);
    for nothing in ["web@nope", "other/web", "other/web@eu-1", "we", "web@", "eu-1"] {
        assert_eq!(named(nothing), Vec::<String>::new(), "{nothing}");
    }
    // A fleet whose spec does not load is named by `namespace/name`: any instance selects it.
    assert!(selects_id("web@eu-1", "shop/web"));
    assert!(selects_id("shop/web", "shop/web@eu-2"));
    assert!(!selects_id("web@eu-1", "shop/web@eu-2"));
}

fn load(files: &[(&str, &str)]) -> Loaded {
    let files: BTreeMap<PathBuf, Vec<u8>> =
        files.iter().map(|(path, text)| (PathBuf::from(path), text.as_bytes().to_vec())).collect();
    load_files_each(files, Path::new("canaries"), Scope::All, &super::own::no_files).unwrap()
}

/// `{cluster}` filled in may make a folder kanari must not write: the specs folder itself (lint
/// passed such a spec, and `render` then failed on the spec files it found there).
#[test]
fn a_cluster_whose_folder_is_the_specs_folder_is_refused() {
    let yaml = edited(&[("overlays/{cluster}/web", "'{cluster}'"), ("name: eu-2,", "name: canaries,")]);
    let loaded = load(&[("canaries/web.yaml", &yaml)]);
    assert!(loaded.canaries.is_empty());
    let problems: Vec<String> = loaded.broken.iter().flat_map(|b| &b.problems.0).map(|p| p.headline()).collect();
    assert_eq!(
        problems,
        [
            "canaries/web.yaml:8:14: cluster `canaries` writes to `canaries` (spec.output `{cluster}`), which is inside the specs folder `canaries`: choose another spec.output or cluster name"
        ]
    );
}

/// A fleet and a single release of one `namespace/name` are one release defined twice (each
/// loaded beside the other, as `shop/web@eu-1` and `shop/web`, and `web` named both).
#[test]
fn a_fleet_and_a_release_of_the_same_name_are_defined_twice() {
    let single = "apiVersion: kanari.dev/v1alpha1\nkind: Canary\nmetadata: {name: web, namespace: shop}\nspec:\n  service: {port: 8080}\n  stable: {version: v1, image: web:1}\n";
    let loaded = load(&[("canaries/a.yaml", BASE), ("canaries/b.yaml", single)]);
    assert!(loaded.canaries.is_empty(), "{:?}", loaded.canaries.iter().map(Canary::id).collect::<Vec<_>>());
    assert_eq!(loaded.broken.len(), 1);
    assert_eq!(loaded.broken[0].ids, ["shop/web@eu-1", "shop/web@eu-2", "shop/web"]);
    let problem = &loaded.broken[0].problems.0[0];
    assert_eq!(
        problem.headline(),
        "canaries/b.yaml:3:18: release `shop/web` is defined twice: a release is one Canary document"
    );
    // The instances of one fleet are not each other's second definition.
    assert!(load(&[("canaries/a.yaml", BASE)]).broken.is_empty());
}

mod generated {
    use proptest::prelude::*;

    use super::*;

    /// One generated cluster entry.
    #[derive(Clone, Debug)]
    struct Entry {
        name: String,
        wave: i64,
        replicas: Option<i64>,
        autoscaling: Option<(i64, i64)>,
        prometheus: Option<&'static str>,
        /// A field a cluster may not override.
        stranger: bool,
    }

    #[derive(Clone, Debug)]
    struct Fleet {
        clusters: Vec<Entry>,
        output: &'static str,
        waves: Option<(&'static str, bool)>,
        analysis: Option<&'static str>,
        stage_replicas: Option<i64>,
    }

    /// One way to break a valid fleet.
    #[derive(Clone, Copy, Debug)]
    enum Mistake {
        DuplicateName,
        BadName,
        WaveZero,
        WaveGap,
        OutputWithoutCluster,
        OutputIntoGit,
        BadBake,
        WavesInOneWave,
        FtpPrometheus,
        PrometheusWithoutAnalysis,
        ReplicasAndAutoscaling,
        UnknownField,
        StageAboveMaxReplicas,
    }

    const NAMES: [&str; 7] = ["eu-1", "eu-2", "us-1", "ap-1", "a", "z9", "git"];

    fn entry(name: &'static str) -> impl Strategy<Value = Entry> {
        (
            1..4i64,
            prop::option::weighted(0.3, 1..30i64),
            prop::option::weighted(0.3, (1..5i64, 0..5i64)),
            prop::option::weighted(0.3, prop::sample::select(vec!["http://p.a:9090", "https://p.b/"])),
        )
            .prop_map(move |(wave, replicas, autoscaling, prometheus)| Entry {
                name: name.to_string(),
                wave,
                replicas,
                // One of the two, never both: min, and how far max is above it.
                autoscaling: autoscaling.filter(|_| replicas.is_none()).map(|(min, more)| (min, min + more)),
                prometheus,
                stranger: false,
            })
    }

    /// A valid fleet: distinct names, waves numbered without gaps, one pod override per cluster,
    /// `analysis` whenever a cluster names a Prometheus, `waves` only with a second wave, and a
    /// stage's override within every cluster's `maxReplicas`.
    fn fleet() -> impl Strategy<Value = Fleet> {
        let clusters = prop::sample::subsequence(NAMES.to_vec(), 1..6)
            .prop_flat_map(|names| names.into_iter().map(entry).collect::<Vec<_>>())
            .prop_map(|mut clusters| {
                let used: std::collections::BTreeSet<i64> = clusters.iter().map(|c| c.wave).collect();
                for c in &mut clusters {
                    c.wave = used.iter().position(|w| *w == c.wave).unwrap() as i64 + 1;
                }
                clusters
            });
        (
            clusters,
            prop::sample::select(vec!["overlays/{cluster}/web", "deploy/{cluster}", "'{cluster}-web'", "'{cluster}'"]),
            (prop::sample::select(vec!["1h", "0s", "30m"]), any::<bool>()),
            prop::option::of(prop::sample::select(vec!["http://prom.{cluster}:9090", "https://prom.example"])),
            prop::option::weighted(0.3, 1..12i64),
        )
            .prop_map(|(clusters, output, waves, analysis, stage_replicas)| {
                let last = clusters.iter().map(|c| c.wave).max().unwrap_or(1);
                let analysis = match clusters.iter().any(|c| c.prometheus.is_some()) {
                    true => analysis.or(Some("https://prom.example")),
                    false => analysis,
                };
                let max = clusters.iter().filter_map(|c| c.autoscaling.map(|a| a.1)).min();
                let stage_replicas = stage_replicas.map(|r| max.map_or(r, |m| r.min(m)));
                Fleet { clusters, output, waves: (last > 1).then_some(waves), analysis, stage_replicas }
            })
    }

    fn mistake() -> impl Strategy<Value = Mistake> {
        use Mistake::*;
        prop::sample::select(vec![
            DuplicateName,
            BadName,
            WaveZero,
            WaveGap,
            OutputWithoutCluster,
            OutputIntoGit,
            BadBake,
            WavesInOneWave,
            FtpPrometheus,
            PrometheusWithoutAnalysis,
            ReplicasAndAutoscaling,
            UnknownField,
            StageAboveMaxReplicas,
        ])
    }

    /// `f` with the mistake made in its cluster `at` (modulo their number).
    fn broken(mut f: Fleet, mistake: Mistake, at: usize) -> Fleet {
        let n = f.clusters.len();
        let i = at % n;
        let c = &mut f.clusters[i];
        match mistake {
            Mistake::DuplicateName => {
                let mut twin = c.clone();
                twin.wave = 1;
                f.clusters.push(twin);
            }
            Mistake::BadName => c.name = ["EU-1", "eu_1", "-eu", "eu.1", &"a".repeat(64)][at % 5].to_string(),
            Mistake::WaveZero => c.wave = 0,
            Mistake::WaveGap => {
                let last = f.clusters.iter().map(|c| c.wave).max().unwrap();
                f.clusters[i].wave = last + 2;
            }
            Mistake::OutputWithoutCluster => f.output = "overlays/web",
            Mistake::OutputIntoGit => {
                f.output = ".{cluster}";
                c.name = "git".into();
            }
            Mistake::BadBake => f.waves = Some(("5x", false)),
            Mistake::WavesInOneWave => {
                f.clusters.iter_mut().for_each(|c| c.wave = 1);
                f.waves = Some(("1h", true));
            }
            Mistake::FtpPrometheus => {
                c.prometheus = Some("ftp://p");
                f.analysis = f.analysis.or(Some("https://prom.example"));
            }
            Mistake::PrometheusWithoutAnalysis => {
                c.prometheus = Some("http://p.a:9090");
                f.analysis = None;
            }
            Mistake::ReplicasAndAutoscaling => {
                c.replicas = Some(3);
                c.autoscaling = Some((1, 3));
            }
            Mistake::UnknownField => c.stranger = true,
            Mistake::StageAboveMaxReplicas => {
                c.replicas = None;
                c.autoscaling = Some((1, 3));
                f.stage_replicas = Some(4);
            }
        }
        f
    }

    fn text(f: &Fleet) -> String {
        let mut out = format!(
            "apiVersion: kanari.dev/v1alpha1\nkind: Canary\nmetadata: {{name: web, namespace: shop}}\nspec:\n  output: {}\n  clusters:",
            f.output
        );
        for c in &f.clusters {
            out.push_str(&format!("\n    - {{name: {}, wave: {}", c.name, c.wave));
            if let Some(r) = c.replicas {
                out.push_str(&format!(", replicas: {r}"));
            }
            if let Some((min, max)) = c.autoscaling {
                out.push_str(&format!(
                    ", autoscaling: {{minReplicas: {min}, maxReplicas: {max}, targetCPUUtilizationPercentage: 60}}"
                ));
            }
            if let Some(p) = c.prometheus {
                out.push_str(&format!(", prometheus: '{p}'"));
            }
            if c.stranger {
                out.push_str(", image: web:3");
            }
            out.push('}');
        }
        out.push('\n');
        if let Some((bake, approval)) = f.waves {
            out.push_str(&format!("  waves: {{bake: {bake}, approval: {approval}}}\n"));
        }
        if let Some(p) = f.analysis {
            out.push_str(&format!(
                "  analysis: {{prometheus: '{p}', metrics: [{{name: ok, builtin: success-rate, min: 99}}]}}\n"
            ));
        }
        out.push_str("  service: {port: 8080}\n  replicas: 4\n  stable: {version: v1, image: web:1}\n  canary: {version: v2, image: web:2}\n  stages:\n    - name: one\n      weight: 10\n");
        if let Some(r) = f.stage_replicas {
            out.push_str(&format!("      replicas: {{canary: {r}}}\n"));
        }
        out
    }

    /// What a valid fleet's instances must be: one per cluster, in a folder of its own, named
    /// `@cluster`, with the cluster's pods and Prometheus, and any instance makes each sibling
    /// as it was loaded.
    fn check_instances(f: &Fleet, yaml: &str, found: &[Canary]) -> Result<(), TestCaseError> {
        prop_assert_eq!(found.len(), f.clusters.len(), "{}", yaml);
        let mut outputs: Vec<&PathBuf> = found.iter().map(|c| &c.output).collect();
        outputs.sort();
        outputs.dedup();
        prop_assert_eq!(outputs.len(), found.len(), "two instances share a folder:\n{}", yaml);
        // Instances come wave by wave, in the spec's order within a wave.
        let mut by_wave: Vec<&Entry> = f.clusters.iter().collect();
        by_wave.sort_by_key(|e| e.wave);
        for (instance, entry) in found.iter().zip(by_wave) {
            let member = instance.fleet.as_ref().expect("an instance of a fleet");
            prop_assert_eq!(instance.id(), format!("shop/web@{}", entry.name));
            prop_assert_eq!((member.cluster.as_str(), i64::from(member.wave)), (entry.name.as_str(), entry.wave));
            let folder = f.output.trim_matches('\'').replace("{cluster}", &entry.name);
            prop_assert_eq!(&instance.output, &PathBuf::from(folder));
            match (entry.replicas, entry.autoscaling) {
                (Some(r), _) => {
                    prop_assert_eq!((i64::from(instance.replicas), instance.autoscaling.is_none()), (r, true))
                }
                (None, Some((min, max))) => {
                    let a = instance.autoscaling.as_ref().expect("the cluster's autoscaling");
                    prop_assert_eq!((i64::from(a.min_replicas), i64::from(a.max_replicas)), (min, max));
                }
                (None, None) => prop_assert_eq!((instance.replicas, instance.autoscaling.is_none()), (4, true)),
            }
            let prometheus = instance.analysis.as_ref().and_then(|a| a.prometheus.clone());
            let want = entry
                .prometheus
                .map(|p| p.trim_end_matches('/').to_string())
                .or_else(|| f.analysis.map(|p| p.replace("{cluster}", &entry.name)));
            prop_assert_eq!(prometheus, want);
            for cluster in &member.fleet.clusters {
                let sibling = found.iter().find(|c| c.fleet.as_ref().is_some_and(|m| m.cluster == cluster.name));
                prop_assert_eq!(Some(&instance.instance(cluster)), sibling);
            }
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(crate::proptesting::config(300))]

        /// A generated fleet is accepted and becomes its instances; given one mistake, it is
        /// refused at a place inside the file, and nothing is loaded. Never a panic.
        #[test]
        fn a_fleet_becomes_one_instance_per_cluster(
            f in fleet(),
            mistake in prop::option::weighted(0.4, (mistake(), any::<usize>())),
        ) {
            let f = match mistake {
                Some((m, at)) => broken(f, m, at),
                None => f,
            };
            let yaml = text(&f);
            let (found, problems) = parse_file(Path::new("c.yaml"), &yaml);
            let lines = yaml.lines().count() as u64;
            for p in &problems.0 {
                prop_assert!((1..=lines).contains(&p.location.line), "{} is outside the file:\n{}", p, yaml);
            }
            match mistake {
                Some((m, _)) => {
                    prop_assert!(!problems.is_empty(), "{:?} was accepted:\n{}", m, yaml);
                    prop_assert!(found.is_empty());
                }
                None => {
                    prop_assert!(problems.is_empty(), "{}\n{}", problems, yaml);
                    check_instances(&f, &yaml, &found)?;
                }
            }
        }
    }
}
