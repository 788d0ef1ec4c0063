//! Generated fleets (2 to 4 clusters in 1 to 3 waves, some with their own `replicas`, `waves`
//! with or without a bake and an approval, 1 to 4 stages drawn as [`super::props`] draws them)
//! put through a random sequence of operations with the real binary: promote now or two hours
//! later, four promotes with the approvals they ask for, approve an instance or a wave, abort an instance, `promote --restart`, a new canary
//! version, the finish (after which the next new canary starts from the new stable), and
//! `promote --skip-gates`. Then, reading only Git:
//!
//! 1. every instance's consecutive commits make before they break, and every overlay builds
//!    ([`check_instance`]);
//! 2. an instance of wave k > 1 starts a canary (records `prepare` for it) only after every
//!    instance of the waves before it has recorded the last stage for that canary, since wave 1
//!    last started it (unless the start was made by `--skip-gates`);
//! 3. the commit an `abort NAME@cluster` ends on leaves no instance with the canary's traffic;
//! 4. no run panics (exit 101 is never allowed).

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError};

use super::drive::{Driver, repository};
use super::props::{GenStage, Release, Sizing, last_stage, stage};
use super::{check_instance, history, overlay_at};
use crate::{documents, git};

const FILE: &str = "canaries/web.yaml";

#[derive(Clone, Debug)]
struct Cluster {
    wave: u32,
    replicas: Option<u32>,
}

#[derive(Clone, Debug)]
struct Fleet {
    release: Release,
    clusters: Vec<Cluster>,
    /// `waves.bake` and `waves.approval`, when `waves` is there.
    waves: Option<(Option<&'static str>, bool)>,
}

#[derive(Clone, Debug)]
enum Op {
    /// `promote`, two hours later or at once.
    Promote {
        later: bool,
    },
    /// `approve web@cN`, N modulo the clusters.
    ApproveInstance(usize),
    /// `approve web --wave N`.
    ApproveWave(u32),
    /// `abort web@cN --reason x`, N modulo the clusters.
    Abort(usize),
    Restart,
    /// A new canary version and image, committed in the spec.
    Change,
    /// The canary becomes the stable version and leaves the spec.
    Finish,
    /// `promote --skip-gates --reason x`.
    SkipGates,
    /// Four promotes two hours apart, each followed by the approvals it asks for (an
    /// instance's stage, a wave): how a release makes progress.
    Walk,
}

fn fleet() -> impl Strategy<Value = Fleet> {
    let sizing = prop_oneof![
        1 => Just(Sizing::Default),
        3 => (1u32..=12).prop_map(Sizing::Replicas),
        2 => (1u32..=5, 0u32..=6).prop_map(|(min, extra)| Sizing::Autoscaling { min, max: min + extra }),
    ];
    let stages = (prop::collection::vec(stage(), 0..=3), prop::option::weighted(0.6, last_stage()));
    let clusters = (2usize..=4).prop_flat_map(|n| {
        (1u32..=n.min(3) as u32).prop_flat_map(move |waves| {
            prop::collection::vec((1u32..=waves, prop::option::weighted(0.3, 1u32..=12)), n).prop_map(move |drawn| {
                // The first clusters take waves 1, 2, ... so that no wave number is missing.
                drawn
                    .into_iter()
                    .enumerate()
                    .map(|(i, (wave, replicas))| Cluster {
                        wave: if (i as u32) < waves { i as u32 + 1 } else { wave },
                        replicas,
                    })
                    .collect::<Vec<_>>()
            })
        })
    });
    let waves = prop::option::weighted(
        0.7,
        (prop::option::of(prop::sample::select(vec!["0s", "30m", "1h", "3h"])), any::<bool>()),
    );
    (sizing, stages, prop::bool::weighted(0.2), clusters, waves).prop_map(
        |(sizing, (mut stages, last), gateway, mut clusters, waves)| {
            stages.extend(last);
            stages.truncate(4);
            if stages.is_empty() {
                stages.push(GenStage::half());
            }
            if matches!(sizing, Sizing::Autoscaling { .. }) {
                // A cluster's `replicas` in place of the spec's autoscaling: kept to plain sizing.
                clusters.iter_mut().for_each(|c| c.replicas = None);
            }
            let mut release = Release { sizing, stages, gateway };
            release.make_valid();
            Fleet { release, clusters, waves }
        },
    )
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => any::<bool>().prop_map(|later| Op::Promote { later }),
        2 => (0usize..4).prop_map(Op::ApproveInstance),
        2 => (2u32..=3).prop_map(Op::ApproveWave),
        2 => (0usize..4).prop_map(Op::Abort),
        1 => Just(Op::Restart),
        1 => Just(Op::Change),
        1 => Just(Op::Finish),
        1 => Just(Op::SkipGates),
        3 => Just(Op::Walk),
    ]
}

impl Fleet {
    fn cluster(&self, i: usize) -> String {
        format!("c{}", i % self.clusters.len() + 1)
    }

    fn dir(&self, i: usize) -> String {
        format!("overlays/{}/web", self.cluster(i))
    }

    fn yaml(&self, stable: u32, canary: Option<u32>) -> String {
        let clusters: Vec<String> = self
            .clusters
            .iter()
            .enumerate()
            .map(|(i, c)| match c.replicas {
                Some(n) => format!("{{name: {}, wave: {}, replicas: {n}}}", self.cluster(i), c.wave),
                None => format!("{{name: {}, wave: {}}}", self.cluster(i), c.wave),
            })
            .collect();
        let mut spec = self.release.spec(stable, canary).output("overlays/{cluster}/web");
        spec = spec.line(&format!("clusters: [{}]", clusters.join(", ")));
        // `waves` is about the waves after the first: lint refuses it in a fleet of one wave.
        let waves = self.waves.filter(|_| self.clusters.iter().any(|c| c.wave > 1));
        if let Some((bake, approval)) = waves {
            let bake = bake.map(|b| format!("bake: {b}, ")).unwrap_or_default();
            spec = spec.line(&format!("waves: {{{bake}approval: {approval}}}"));
        }
        spec.yaml()
    }
}

/// One instance's committed state, as its overlay records it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Record {
    stage: String,
    canary: Option<String>,
    toward: Option<String>,
}

fn record(repo: &std::path::Path, commit: &str, dir: &str) -> Record {
    let x = overlay_at(repo, commit, dir);
    let annotations = &documents(&x.files["kustomization.yaml"])[0]["metadata"]["annotations"];
    let toward = annotations["kanari.dev/toward"].as_str().map(str::to_string);
    Record { stage: x.stage, canary: x.canary, toward }
}

/// Runs `ops` on `fleet` in a new repository, then checks its history.
fn run_case(fleet: &Fleet, ops: &[Op]) -> Result<(), String> {
    let (mut stable, mut canary, mut next) = (1, Some(2), 3);
    let first = fleet.yaml(stable, canary);
    let repo = repository(&[(FILE, &first)]);
    let r = repo.path();
    let mut d = Driver::new(r);
    let with_spec = |e: String| format!("{e}\nfirst spec:\n{first}");
    d.run(&["lint"], &[0]).map_err(with_spec)?;
    d.run(&["promote"], &[0, 3]).map_err(with_spec)?;
    let n = fleet.clusters.len();
    let tip = |r: &std::path::Path| git(r, &["rev-parse", "HEAD"]).trim().to_string();
    // The commits made by `--skip-gates` runs: (tip before, tip after).
    let mut skipped: Vec<(String, String)> = Vec::new();
    for op in ops {
        match op {
            Op::Promote { later } => {
                d.advance_hours(if *later { 2 } else { 0 });
                d.run(&["promote"], &[0, 3]).map(drop)
            }
            Op::ApproveInstance(i) => d.run(&["approve", &format!("web@{}", fleet.cluster(*i))], &[0, 2, 3]).map(drop),
            Op::ApproveWave(k) => d.run(&["approve", "web", "--wave", &k.to_string()], &[0, 2, 3]).map(drop),
            Op::Abort(i) => {
                let name = format!("web@{}", fleet.cluster(*i));
                let run = d.run(&["abort", &name, "--reason", "x"], &[0, 3]).map_err(with_spec)?;
                if run.code == 0
                    && let Some(c) = canary
                {
                    let at = tip(r);
                    abort_leaves_no_traffic(r, fleet, &at, &format!("v{c}"))
                        .map_err(|e| format!("after `abort {name}`: {e}\nlog:\n{}", d.log.join("\n")))?;
                }
                Ok(())
            }
            Op::Restart => d.run(&["promote", "--restart"], &[0, 2, 3]).map(drop),
            Op::Change => {
                canary = Some(next);
                next += 1;
                d.commit_spec(FILE, &fleet.yaml(stable, canary), &format!("web: canary v{}", next - 1));
                Ok(())
            }
            Op::Finish => {
                if let Some(c) = canary.take() {
                    stable = c;
                    d.commit_spec(FILE, &fleet.yaml(stable, canary), &format!("web: v{c} is the stable version"));
                }
                Ok(())
            }
            Op::Walk => walk(&mut d),
            Op::SkipGates => {
                d.advance_hours(2);
                let before = tip(r);
                let run = d.run(&["promote", "--skip-gates", "--reason", "x"], &[0, 3]);
                skipped.push((before, tip(r)));
                run.map(drop)
            }
        }
        .map_err(with_spec)?;
    }
    let failed = |e: String| format!("{e}\nlog:\n{}\nfirst spec:\n{first}", d.log.join("\n"));
    waves_start_in_order(r, fleet, &skipped).map_err(failed)?;
    for i in 0..n {
        check_instance(r, &fleet.dir(i), FILE, Some(&fleet.cluster(i)))
            .map_err(|e| failed(format!("{}: {e}", fleet.cluster(i))))?;
    }
    Ok(())
}

/// [`Op::Walk`]: four promotes, two hours apart, and the approvals each asks for.
fn walk(d: &mut Driver) -> Result<(), String> {
    for _ in 0..4 {
        d.advance_hours(2);
        let run = d.run(&["promote"], &[0, 3])?;
        for line in run.stderr.lines() {
            if let Some((id, _)) = line.split_once(": held: stage `").filter(|_| line.contains("waits for approval")) {
                d.run(&["approve", id], &[0, 2, 3])?;
            }
        }
        if let Some(at) = run.stderr.find("--wave ") {
            let wave: String = run.stderr[at + 7..].chars().take_while(char::is_ascii_digit).collect();
            d.run(&["approve", "web", "--wave", &wave], &[0, 2, 3])?;
        }
    }
    Ok(())
}

/// Rule 3: at commit `at`, no instance records a stage with traffic on `canary` that is not on
/// its way to `aborted`.
fn abort_leaves_no_traffic(repo: &std::path::Path, fleet: &Fleet, at: &str, canary: &str) -> Result<(), String> {
    for i in 0..fleet.clusters.len() {
        let dir = fleet.dir(i);
        let Some(last) = git(repo, &["log", "-1", "--format=%H", at, "--", &dir]).lines().next().map(str::to_string)
        else {
            continue;
        };
        let x = record(repo, &last, &dir);
        let quiet = ["steady", "prepare", "aborted"].contains(&x.stage.as_str());
        if !quiet && x.canary.as_deref() == Some(canary) && x.toward.as_deref() != Some("aborted") {
            return Err(format!("{} still records {x:?} at {at}", fleet.cluster(i)));
        }
    }
    Ok(())
}

/// Rule 2, over the whole branch: every start of a canary in wave k > 1 comes after every
/// instance of the earlier waves recorded the last stage for it, since wave 1 last started it.
fn waves_start_in_order(repo: &std::path::Path, fleet: &Fleet, skipped: &[(String, String)]) -> Result<(), String> {
    let commits: Vec<String> = git(repo, &["log", "--reverse", "--format=%H"]).lines().map(str::to_string).collect();
    let index = |c: &str| commits.iter().position(|x| x == c).expect("a commit of the branch");
    // Every commit made by a `--skip-gates` run.
    let by_skip = |j: usize| skipped.iter().any(|(before, after)| index(before) < j && j <= index(after));
    let last = fleet.release.names().pop().expect("a stage");
    let n = fleet.clusters.len();
    // Per instance: (commit index, record), oldest first.
    let records: Vec<Vec<(usize, Record)>> = (0..n)
        .map(|i| history(repo, &fleet.dir(i)).iter().map(|c| (index(c), record(repo, c, &fleet.dir(i)))).collect())
        .collect();
    let starts = |i: usize| -> Vec<(usize, String)> {
        let mut out = Vec::new();
        let mut before: Option<&Record> = None;
        for (j, x) in &records[i] {
            if x.stage == "prepare"
                && let Some(c) = &x.canary
                && before.is_none_or(|b| !(b.stage == "prepare" && b.canary == x.canary))
            {
                out.push((*j, c.clone()));
            }
            before = Some(x);
        }
        out
    };
    let wave_one_starts: Vec<(usize, String)> =
        (0..n).filter(|&i| fleet.clusters[i].wave == 1).flat_map(starts).collect();
    for i in (0..n).filter(|&i| fleet.clusters[i].wave > 1) {
        let wave = fleet.clusters[i].wave;
        for (j, c) in starts(i) {
            if by_skip(j) {
                continue;
            }
            let at = &commits[j][..12];
            let Some(since) = wave_one_starts.iter().filter(|(s, v)| *s < j && *v == c).map(|(s, _)| *s).max() else {
                return Err(format!(
                    "{} (wave {wave}) starts {c} at {at}, which wave 1 never started",
                    fleet.cluster(i)
                ));
            };
            for k in (0..n).filter(|&k| fleet.clusters[k].wave < wave) {
                let passed = records[k]
                    .iter()
                    .any(|(t, x)| since <= *t && *t < j && x.stage == last && x.canary.as_deref() == Some(&c));
                if !passed {
                    return Err(format!(
                        "{} (wave {wave}) starts {c} at {at} before {} (wave {}) recorded its last stage `{last}` for it",
                        fleet.cluster(i),
                        fleet.cluster(k),
                        fleet.clusters[k].wave
                    ));
                }
            }
        }
    }
    Ok(())
}

#[test]
fn every_instance_of_a_fleet_keeps_the_rules_of_a_release_and_the_waves() {
    let config = Config { max_shrink_iters: 128, max_shrink_time: 120_000, ..crate::proptesting::config(14) };
    let ops = prop::collection::vec(op(), 4..=25);
    crate::proptesting::run(config, (fleet(), ops), |(fleet, ops)| run_case(&fleet, &ops).map_err(TestCaseError::fail));
}

/// The smallest case the property found: an instance waiting at `steady` on `v1` while the
/// spec's stable became `v2` (with a canary `v3`) must not jump to `v2` when its wave is
/// approved: the approval records itself on the overlay as committed, and the new stable comes
/// with the next promote, made before it breaks.
#[test]
fn a_wave_approval_does_not_swap_the_stable_version_under_traffic() {
    let spec = |stable: u32, canary: Option<u32>| {
        let mut spec = crate::Spec::new("web").stable(&format!("v{stable}"), &format!("web:{stable}"));
        spec = match canary {
            Some(c) => spec.canary(&format!("v{c}"), &format!("web:{c}")),
            None => spec.without_canary(),
        };
        spec.output("overlays/{cluster}/web")
            .line("clusters: [{name: c1, wave: 1}, {name: c2, wave: 2}]")
            .line("waves: {approval: true}")
            .yaml()
    };
    let repo = repository(&[(FILE, &spec(1, None))]);
    let r = repo.path();
    let mut d = Driver::new(r);
    d.run(&["promote"], &[0]).unwrap();
    d.commit_spec(FILE, &spec(2, Some(3)), "web: stable v2, canary v3");
    d.run(&["approve", "web", "--wave", "2"], &[0]).unwrap();
    for _ in 0..4 {
        d.advance_hours(2);
        d.run(&["promote"], &[0, 3]).unwrap();
    }
    for cluster in ["c1", "c2"] {
        check_instance(r, &format!("overlays/{cluster}/web"), FILE, Some(cluster))
            .unwrap_or_else(|e| panic!("{cluster}: {e}\nlog:\n{}", d.log.join("\n")));
    }
}

/// The second case the property found: `promote --restart` in the second an abort was made,
/// while an instance of wave 2 still drains its canary, is undone by the next promote (wave 1
/// aborted again, exit 5, though no analysis ran): a restart must hold.
#[test]
fn a_restart_in_the_second_of_the_abort_is_not_aborted_again() {
    let spec = crate::Spec::new("web")
        .output("overlays/{cluster}/web")
        .line("clusters: [{name: c1, wave: 1}, {name: c2, wave: 2}]");
    let repo = repository(&[(FILE, &spec.yaml())]);
    let mut d = Driver::new(repo.path());
    for _ in 0..5 {
        d.run(&["promote"], &[0, 3]).unwrap();
        d.advance_hours(2);
    }
    assert_eq!(d.stage("overlays/c2/web").as_deref(), Some("half"), "{}", d.log.join("\n"));
    d.run(&["abort", "web@c2", "--reason", "x"], &[0]).unwrap();
    // In the second of the abort, c2's traffic and pods are still on their way back: the
    // restart holds, naming it.
    let held = d.run(&["promote", "--restart"], &[3]).unwrap();
    assert!(held.stderr.contains("abort is still under way in `shop/web@c2`"), "{}", held.stderr);
    assert_eq!(d.stage("overlays/c1/web").as_deref(), Some("aborted"), "{}", d.log.join("\n"));
    // Once the abort has finished, the restart goes, and no later promote undoes it (no exit 5).
    for _ in 0..3 {
        d.advance_minutes(5);
        d.run(&["promote"], &[0, 3]).unwrap();
    }
    d.run(&["promote", "--restart"], &[0, 3]).unwrap();
    d.advance_minutes(5);
    d.run(&["promote"], &[0, 3]).unwrap();
    let c1 = d.stage("overlays/c1/web");
    assert!(
        matches!(c1.as_deref(), Some("prepare" | "half")),
        "c1 runs the canary again: {c1:?}\n{}",
        d.log.join("\n")
    );
}
