//! A fleet's spec run through the binary: `fixtures/fleet` (bookinfo's reviews in `eu-1`, wave
//! 1, and `eu-2` and `us-1`, wave 2, us-1 with 20 replicas) lints, and every state of every
//! instance builds with the real `kubectl kustomize` and passes the upstream schemas; `render`
//! writes one overlay per cluster; a broken fleet is refused at its place with nothing written;
//! a cluster's folder that is another release's folder is refused naming both; names select
//! instances.

use std::path::{Path, PathBuf};

use crate::{Run, documents, fixture_repo, git, kanari, kanari_ok, kustomize, one, replicas, tree};

const CLUSTERS: [&str; 3] = ["eu-1", "eu-2", "us-1"];
const SPEC: &str = "canaries/reviews.yaml";

fn edit(dir: &Path, file: &str, from: &str, to: &str) {
    let path = dir.join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "{from:?} is not in {file}");
    std::fs::write(path, text.replacen(from, to, 1)).unwrap();
}

/// `reviews-v1`'s `spec.replicas` in the overlay `dir`, as kustomize builds it.
fn stable_replicas(dir: &Path) -> Option<u64> {
    replicas(&documents(&kustomize(dir)))["reviews-v1"]
}

fn headline(run: &Run) -> &str {
    run.stderr.lines().next().unwrap_or_default()
}

#[test]
fn the_fleet_lints_and_every_state_of_every_instance_builds_and_passes_the_upstream_schemas() {
    let repo = fixture_repo("fleet");
    let lint = kanari_ok(repo.path(), &["lint"]);
    assert_eq!(lint.stdout, "ok: 3 releases, 21 states rendered\n");
    let out = tempfile::tempdir().unwrap();
    let mut manifests: Vec<PathBuf> = Vec::new();
    for cluster in CLUSTERS {
        let folder = out.path().join(cluster);
        let name = format!("reviews@{cluster}");
        let run = kanari_ok(repo.path(), &["render", &name, "--all-stages", "--out", folder.to_str().unwrap()]);
        assert!(run.stdout.contains(&format!("bookinfo/reviews@{cluster}")), "{}", run.stdout);
        let mut states: Vec<String> = std::fs::read_dir(&folder)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        states.sort();
        assert_eq!(states, ["0-100", "50-50", "90-10", "aborted", "jason", "prepare", "steady"], "{cluster}");
        for state in &states {
            let built = documents(&kustomize(&folder.join(state)));
            assert_eq!(one(&built, "VirtualService")["metadata"]["namespace"], "bookinfo", "{cluster} {state}");
        }
        let pods = if cluster == "us-1" { 20 } else { 10 };
        assert_eq!(stable_replicas(&folder.join("steady")), Some(pods), "{cluster}: the stable pods at steady");
        for entry in walkdir::WalkDir::new(&folder).sort_by_file_name() {
            let path = entry.unwrap().into_path();
            if path.is_file() && !path.ends_with("kustomization.yaml") {
                manifests.push(path);
            }
        }
    }
    let report = crate::schema::validate(&manifests).unwrap_or_else(|e| panic!("{e}"));
    for file in &manifests {
        assert!(
            report.contains(&format!("ok {} #1 ", file.display())),
            "`{}` was not validated:\n{report}",
            file.display()
        );
    }
}

#[test]
fn render_writes_one_overlay_per_cluster_with_the_clusters_pods() {
    let repo = fixture_repo("fleet");
    let run = kanari_ok(repo.path(), &["render"]);
    for cluster in CLUSTERS {
        assert!(run.stdout.contains(&format!("bookinfo/reviews@{cluster} at steady")), "{}", run.stdout);
    }
    let status = git(repo.path(), &["status", "--porcelain", "--untracked-files=all"]);
    let written: Vec<&str> = status.lines().map(|l| l.trim_start_matches("?? ")).collect();
    let expected: Vec<String> = CLUSTERS
        .iter()
        .flat_map(|c| {
            [
                "deployment-reviews-v1.yaml",
                "destinationrule-reviews.yaml",
                "kustomization.yaml",
                "service-reviews.yaml",
                "virtualservice-reviews.yaml",
            ]
            .map(|f| format!("overlays/{c}/reviews/{f}"))
        })
        .collect();
    assert_eq!(written, expected);
    let pods: Vec<Option<u64>> =
        CLUSTERS.iter().map(|c| stable_replicas(&repo.path().join(format!("overlays/{c}/reviews")))).collect();
    assert_eq!(pods, [Some(10), Some(10), Some(20)]);
}

#[test]
fn a_broken_fleet_is_refused_at_its_place_and_nothing_is_written() {
    // (replace this in the fixture's spec, with this, the first line of the error)
    let cases = [
        (
            "{name: eu-2, wave: 2}",
            "{name: eu-1, wave: 2}",
            "error: canaries/reviews.yaml:13:14: cluster `eu-1` is listed twice (first at line 12)",
        ),
        (
            "{name: eu-1, wave: 1}",
            "{name: eu-1, wave: 1, image: x}",
            "error: canaries/reviews.yaml:12:29: unknown field `image` in a cluster",
        ),
        (
            "overlays/{cluster}/reviews",
            "overlays/reviews",
            "error: canaries/reviews.yaml:10:11: a fleet's spec.output must hold `{cluster}`",
        ),
        ("bake: 1h", "bake: soon", "error: canaries/reviews.yaml:16:11: waves.bake `soon` must be a duration"),
        (
            "{name: us-1, wave: 2, replicas: 20}",
            "{name: us-1, wave: 4, replicas: 20}",
            "error: canaries/reviews.yaml:14:26: wave 4 follows wave 2, and no cluster is in wave 3",
        ),
    ];
    for (from, to, expected) in cases {
        let repo = fixture_repo("fleet");
        edit(repo.path(), SPEC, from, to);
        let before = tree(repo.path());
        for args in [&["lint"][..], &["render"], &["render", "reviews@eu-1"]] {
            let run = kanari(repo.path(), args);
            assert_eq!(run.code, 2, "{to}: kanari {args:?}\n{}{}", run.stdout, run.stderr);
            assert!(headline(&run).starts_with(expected), "{to}: kanari {args:?}\n{}", run.stderr);
        }
        assert!(tree(repo.path()) == before, "{to}: a refused fleet wrote files");
    }
}

#[test]
fn a_clusters_folder_that_is_another_releases_folder_is_refused_naming_both() {
    let repo = fixture_repo("fleet");
    // The default folder of `us-1/reviews` is `overlays/us-1/reviews`, the fleet's folder for us-1.
    let other = "apiVersion: kanari.dev/v1alpha1\nkind: Canary\nmetadata:\n  name: reviews\n  namespace: us-1\nspec:\n  service: {port: 9080}\n  stable: {version: v1, image: reviews:1}\n";
    std::fs::write(repo.path().join("canaries/us-1.yaml"), other).unwrap();
    let before = tree(repo.path());
    for args in [&["lint"][..], &["render"]] {
        let run = kanari(repo.path(), args);
        assert_eq!(run.code, 2, "kanari {args:?}\n{}{}", run.stdout, run.stderr);
        assert_eq!(
            headline(&run),
            "error: canaries/us-1.yaml:4:9: release `us-1/reviews` writes to `overlays/us-1/reviews`, as release `bookinfo/reviews@us-1` does: each release needs a folder of its own",
        );
        assert!(
            run.stderr.contains(
                " note: canaries/reviews.yaml:10:11: release `bookinfo/reviews@us-1` writes to `overlays/us-1/reviews`"
            ),
            "{}",
            run.stderr
        );
    }
    assert!(tree(repo.path()) == before, "a refused run wrote files");
}

#[test]
fn a_name_with_its_cluster_selects_one_instance() {
    let repo = fixture_repo("fleet");
    let run = kanari_ok(repo.path(), &["render", "reviews@eu-2"]);
    assert_eq!(run.stdout.lines().count(), 1, "{}", run.stdout);
    assert!(run.stdout.contains("bookinfo/reviews@eu-2 at steady"), "{}", run.stdout);
    let status = git(repo.path(), &["status", "--porcelain"]);
    assert_eq!(status, "?? overlays/\n");
    assert!(repo.path().join("overlays/eu-2/reviews/kustomization.yaml").is_file());
    assert!(!repo.path().join("overlays/eu-1").exists() && !repo.path().join("overlays/us-1").exists());

    let stdout = kanari_ok(repo.path(), &["render", "bookinfo/reviews@us-1", "--stdout"]).stdout;
    assert_eq!(replicas(&documents(&stdout))["reviews-v1"], Some(20));

    let plan = kanari_ok(repo.path(), &["plan", "reviews@eu-1"]).stdout;
    let first = plan.lines().find(|l| l.starts_with("bookinfo/reviews@")).unwrap_or_default();
    assert!(
        plan.starts_with("bookinfo/reviews: a fleet of 3 clusters") && first.starts_with("bookinfo/reviews@eu-1 "),
        "{plan}"
    );
    assert!(!plan.contains("@eu-2") && !plan.contains("@us-1"), "{plan}");

    let nope = kanari(repo.path(), &["render", "reviews@nope"]);
    assert_eq!(nope.code, 2);
    assert_eq!(
        headline(&nope),
        "error: no release is named `reviews@nope` (known: bookinfo/reviews@eu-1, bookinfo/reviews@eu-2, bookinfo/reviews@us-1)"
    );
}

/// A fleet's name names every instance: `kanari plan reviews` plans the three.
#[test]
fn a_fleets_name_selects_every_instance() {
    let repo = fixture_repo("fleet");
    for name in ["reviews", "bookinfo/reviews"] {
        let plan = kanari_ok(repo.path(), &["plan", name]).stdout;
        let heads: Vec<&str> =
            plan.lines().filter(|l| l.starts_with("bookinfo/reviews@")).map(|l| l.split(' ').next().unwrap()).collect();
        assert_eq!(heads, ["bookinfo/reviews@eu-1", "bookinfo/reviews@eu-2", "bookinfo/reviews@us-1"], "{plan}");
    }
}
