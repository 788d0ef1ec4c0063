//! Generated releases (every match form, mirror stages, stage replica overrides, replicas or
//! autoscaling, 1 to 64 stages) put through a random sequence of operations with the real binary: promote now or
//! two hours later, `promote --to` a random state, approve, abort (once, or until it is done),
//! `promote --restart`, a new canary version, and the finish (after which the next new canary
//! starts from the new stable). Then every consecutive pair of committed overlays must make
//! before it breaks, and every overlay must build. Two more rules about progress: every commit
//! `promote` makes changes routes, pods or the recorded stage (not only its time), and a target
//! taken with `promote --to T --skip-gates` (after `--restart` from `aborted`) is reached within a
//! bounded number of promotes.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError};
use serde_json::{Value, json};

use super::drive::{Driver, repository};
use super::{Overlay, check_release};
use crate::{Spec, Stage};

const FILE: &str = "canaries/web.yaml";
const OUTPUT: &str = "overlays/web";

#[derive(Clone, Debug)]
pub(super) enum Sizing {
    Default,
    Replicas(u32),
    Autoscaling { min: u32, max: u32 },
}

#[derive(Clone, Debug)]
pub(super) struct GenStage {
    weight: u32,
    /// Match entries, each as JSON text.
    matches: Vec<String>,
    /// A mirror stage's percent (then no weight and no match).
    mirror: Option<u32>,
    replicas: Option<(Option<u32>, Option<u32>)>,
    pause: Option<(bool, Option<&'static str>)>,
}

#[derive(Clone, Debug)]
pub(super) struct Release {
    pub(super) sizing: Sizing,
    pub(super) stages: Vec<GenStage>,
    /// `router: gateway-api`: an HTTPRoute over one Service per version.
    pub(super) gateway: bool,
}

#[derive(Clone, Debug)]
enum Op {
    /// `promote`, two hours later or at once.
    Promote {
        later: bool,
    },
    /// `promote --to` the stage at this index, modulo the stages and `prepare`.
    PromoteTo {
        to: usize,
        later: bool,
    },
    Approve,
    /// `abort --reason x` once, or until it says there is nothing to do.
    Abort {
        fully: bool,
    },
    Restart,
    /// A new canary version and image, committed in the spec.
    Change,
    /// The canary becomes the stable version and leaves the spec.
    Finish,
    /// `promote --to` the stage at this index (modulo the stages and `prepare`), every gate
    /// skipped, until it is there.
    Reach {
        to: usize,
    },
}

impl GenStage {
    /// Half the traffic to the canary, nothing else: the stage of a release drawn with none.
    pub(super) fn half() -> GenStage {
        GenStage { weight: 50, matches: Vec::new(), mirror: None, replicas: None, pause: None }
    }
}

fn string_match() -> impl Strategy<Value = Value> {
    prop_oneof![
        "[a-z0-9]{1,6}".prop_map(|v| json!({ "exact": v })),
        "[a-z]{1,5}".prop_map(|v| json!({ "prefix": v })),
        prop::sample::select(vec!["(?i)jason", "[0-9]{3}", "^(a|b)+$", ".*"]).prop_map(|v| json!({ "regex": v })),
    ]
}

fn uri_match() -> impl Strategy<Value = Value> {
    prop_oneof![
        "/[a-z]{1,6}".prop_map(|v| json!({ "exact": v })),
        "/[a-z]{0,5}".prop_map(|v| json!({ "prefix": v })),
        prop::sample::select(vec!["^/api(/.*)?$", "/v[0-9]+/.*"]).prop_map(|v| json!({ "regex": v })),
    ]
}

/// One match entry: headers, a cookie and a URI, at least one of them.
fn a_match() -> impl Strategy<Value = String> {
    let header = prop_oneof![Just("end-user".to_string()), "x-[a-z]{1,6}"];
    (
        prop::collection::btree_map(header, string_match(), 0..3),
        prop::option::weighted(0.3, ("[a-z]{1,6}", "[a-z0-9]{1,8}")),
        prop::option::weighted(0.4, uri_match()),
    )
        .prop_map(|(headers, cookie, uri)| {
            let mut m = serde_json::Map::new();
            if !headers.is_empty() {
                m.insert("headers".into(), json!(headers));
            }
            if let Some((name, value)) = cookie {
                m.insert("cookie".into(), json!({ "name": name, "value": value }));
            }
            match uri {
                Some(uri) => _ = m.insert("uri".into(), uri),
                None if m.is_empty() => _ = m.insert("uri".into(), json!({ "prefix": "/" })),
                None => {}
            }
            Value::Object(m).to_string()
        })
}

fn count() -> impl Strategy<Value = Option<u32>> {
    prop_oneof![2 => Just(None), 1 => Just(Some(0)), 2 => (1u32..=12).prop_map(Some)]
}

pub(super) fn stage() -> impl Strategy<Value = GenStage> {
    let weight = prop_oneof![1 => Just(0u32), 4 => 1u32..=99, 1 => Just(100u32)];
    let duration = prop::option::of(prop::sample::select(vec!["0s", "30m", "1h", "90m"]));
    (
        weight,
        prop_oneof![3 => Just(Vec::new()), 1 => prop::collection::vec(a_match(), 1..=2)],
        prop::option::weighted(0.2, 1u32..=100),
        prop::option::weighted(0.4, (count(), count())),
        prop::option::weighted(0.3, (any::<bool>(), duration)),
    )
        .prop_map(|(weight, matches, mirror, replicas, pause)| match mirror {
            Some(_) => GenStage { weight: 0, matches: Vec::new(), mirror, replicas, pause },
            None => GenStage { weight, matches, mirror, replicas, pause },
        })
}

/// The last stage most releases have: all the traffic to the canary, the stable often at 0.
pub(super) fn last_stage() -> impl Strategy<Value = GenStage> {
    (prop_oneof![Just(None), Just(Some(0)), (1u32..=4).prop_map(Some)], any::<bool>()).prop_map(|(stable, bake)| {
        GenStage {
            weight: 100,
            matches: Vec::new(),
            mirror: None,
            replicas: stable.map(|n| (Some(n), None)),
            pause: bake.then_some((false, Some("30m"))),
        }
    })
}

fn release() -> impl Strategy<Value = Release> {
    let sizing = prop_oneof![
        1 => Just(Sizing::Default),
        3 => (1u32..=12).prop_map(Sizing::Replicas),
        2 => (1u32..=5, 0u32..=6).prop_map(|(min, extra)| Sizing::Autoscaling { min, max: min + extra }),
    ];
    let stages = prop_oneof![6 => prop::collection::vec(stage(), 0..=3), 1 => prop::collection::vec(stage(), 4..=63)];
    let parts = (sizing, stages, prop::option::weighted(0.6, last_stage()), prop::bool::weighted(0.3));
    parts.prop_map(|(sizing, mut stages, last, gateway)| {
        stages.extend(last);
        if stages.is_empty() {
            stages.push(GenStage::half());
        }
        let mut release = Release { sizing, stages, gateway };
        release.make_valid();
        release
    })
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => any::<bool>().prop_map(|later| Op::Promote { later }),
        2 => (0usize..64, any::<bool>()).prop_map(|(to, later)| Op::PromoteTo { to, later }),
        2 => Just(Op::Approve),
        2 => any::<bool>().prop_map(|fully| Op::Abort { fully }),
        1 => Just(Op::Restart),
        2 => Just(Op::Change),
        1 => Just(Op::Finish),
        1 => (0usize..64).prop_map(|to| Op::Reach { to }),
    ]
}

impl Release {
    /// Keeps the overrides lint accepts: 0 stable pods only where the canary takes all the
    /// traffic and nothing is matched, 0 canary pods only where it takes none (no weight, match
    /// or mirror), and with
    /// autoscaling no count above `maxReplicas`.
    pub(super) fn make_valid(&mut self) {
        let cap = match self.sizing {
            Sizing::Autoscaling { max, .. } => max,
            _ => u32::MAX,
        };
        for s in &mut self.stages {
            let plain = s.matches.is_empty();
            if let Some((stable, canary)) = &mut s.replicas {
                for n in [&mut *stable, &mut *canary].into_iter().flatten() {
                    *n = (*n).min(cap);
                }
                if *stable == Some(0) && !(s.weight == 100 && plain) {
                    *stable = Some(1);
                }
                if *canary == Some(0) && !(s.weight == 0 && plain && s.mirror.is_none()) {
                    *canary = Some(1);
                }
            }
        }
    }

    pub(super) fn names(&self) -> Vec<String> {
        let name = |(i, s): (usize, &GenStage)| match s.mirror {
            Some(m) => format!("m{m}-{i}"),
            None => format!("w{}-{i}", s.weight),
        };
        self.stages.iter().enumerate().map(name).collect()
    }

    /// The spec with stable version `v{stable}` and, if any, canary `v{canary}`.
    fn yaml(&self, stable: u32, canary: Option<u32>) -> String {
        self.spec(stable, canary).yaml()
    }

    /// [`Release::yaml`]'s spec, as a builder a test can add to.
    pub(super) fn spec(&self, stable: u32, canary: Option<u32>) -> Spec {
        let mut spec = Spec::new("web").output(OUTPUT).stable(&format!("v{stable}"), &format!("web:{stable}"));
        spec = match canary {
            Some(c) => spec.canary(&format!("v{c}"), &format!("web:{c}")),
            None => spec.without_canary(),
        };
        if self.gateway {
            spec = spec.line("router: gateway-api");
        }
        spec = match self.sizing {
            Sizing::Default => spec,
            Sizing::Replicas(n) => spec.replicas(n),
            Sizing::Autoscaling { min, max } => spec.autoscaling(min, max, 80),
        };
        let stages = self.stages.iter().zip(self.names()).map(|(s, name)| {
            let mut stage = Stage::new(&name).weight(s.weight);
            if !s.matches.is_empty() {
                stage = stage.matches(&format!("[{}]", s.matches.join(", ")));
            }
            if let Some(m) = s.mirror {
                stage = stage.line(&format!("mirror: {m}"));
            }
            if let Some((stable, canary)) = s.replicas {
                stage = stage.replicas(stable, canary);
            }
            if let Some((approval, duration)) = s.pause {
                stage = stage.pause(Some(approval), duration);
            }
            stage
        });
        spec.stages(stages)
    }
}

/// Runs `ops` on `release` in a new repository, then checks its history.
fn run_case(release: &Release, ops: &[Op], final_to: usize) -> Result<(), String> {
    let (mut stable, mut canary, mut next) = (1, Some(2), 3);
    let first = release.yaml(stable, canary);
    let repo = repository(&[(FILE, &first)]);
    let mut d = Driver::new(repo.path());
    let with_spec = |e: String| format!("{e}\nfirst spec:\n{first}");
    d.run(&["lint"], &[0]).map_err(with_spec)?;
    d.run(&["promote"], &[0]).map_err(with_spec)?;
    let names = release.names();
    for op in ops {
        let done = match op {
            Op::Promote { later } => {
                d.advance_hours(if *later { 2 } else { 0 });
                d.run(&["promote"], &[0, 3]).map(drop)
            }
            Op::PromoteTo { to, later } => {
                d.advance_hours(if *later { 2 } else { 0 });
                let target = names.get(to % (names.len() + 1)).map_or("prepare", String::as_str);
                d.run(&["promote", "--to", target], &[0, 2, 3]).map(drop)
            }
            Op::Approve => d.run(&["approve"], &[0, 2, 3]).map(drop),
            Op::Abort { fully: false } => d.run(&["abort", "--reason", "x"], &[0, 3]).map(drop),
            Op::Abort { fully: true } => d.abort_fully(),
            Op::Restart => d.run(&["promote", "--restart"], &[0, 2, 3]).map(drop),
            Op::Change => {
                canary = Some(next);
                next += 1;
                d.commit_spec(FILE, &release.yaml(stable, canary), &format!("web: canary v{}", next - 1));
                Ok(())
            }
            Op::Reach { to } => {
                let target = names.get(to % (names.len() + 1)).map_or("prepare", String::as_str);
                reach_skipping_gates(&mut d, if canary.is_some() { target } else { "steady" })
            }
            Op::Finish => {
                if let Some(c) = canary.take() {
                    stable = c;
                    d.commit_spec(FILE, &release.yaml(stable, canary), &format!("web: v{c} is the stable version"));
                }
                Ok(())
            }
        };
        done.map_err(with_spec)?;
    }
    let target = names.get(final_to % (names.len() + 1)).map_or("prepare", String::as_str);
    let target = if canary.is_some() { target } else { "steady" };
    reach_skipping_gates(&mut d, target).map_err(with_spec)?;
    let overlays = check_release(repo.path(), OUTPUT, FILE)
        .map_err(|e| format!("{e}\nlog:\n{}\nfirst spec:\n{first}", d.log.join("\n")))?;
    every_promote_makes_progress(&overlays).map_err(|e| format!("{e}\nlog:\n{}", d.log.join("\n")))?;
    Ok(())
}

/// Takes the release to `target` on purpose (every gate skipped, `--restart` out of `aborted`
/// unless the spec finished the release,
/// a plain promote where `--to` refuses a move under way), two hours apart: it must be there,
/// with no move under way, within 12 runs.
fn reach_skipping_gates(d: &mut Driver, target: &str) -> Result<(), String> {
    let skip = ["--skip-gates", "--reason", "prop"];
    for _ in 0..12 {
        d.advance_hours(2);
        let head = d.stage_annotations(OUTPUT);
        if head.as_ref().is_some_and(|(stage, between)| stage == target && !between) {
            return Ok(());
        }
        let run = match head.as_ref().map(|(stage, _)| stage.as_str()) {
            _ if target == "steady" => d.run(&[&["promote"][..], &skip].concat(), &[0, 3])?,
            Some("aborted") => d.run(&["promote", "--restart"], &[0, 3])?,
            _ => d.run(&[&["promote", "--to", target][..], &skip].concat(), &[0, 2, 3])?,
        };
        if run.code == 2 {
            d.run(&[&["promote"][..], &skip].concat(), &[0, 3])?;
        }
    }
    Err(format!("`promote --to {target} --skip-gates` did not reach it in 12 runs:\n{}", d.log.join("\n")))
}

/// Every commit of `promote` changes more than the recorded time: its routes, its pods or its
/// recorded stage (a promote that commits the same state again, run after run, is no progress).
fn every_promote_makes_progress(overlays: &[Overlay]) -> Result<(), String> {
    let without_times = |x: &Overlay| -> Vec<(String, String)> {
        let kept = |line: &&str| !line.contains("kanari.dev/since:") && !line.contains("kanari.dev/warming:");
        x.files.iter().map(|(name, text)| (name.clone(), text.lines().filter(kept).collect())).collect()
    };
    for pair in overlays.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        if b.subject.contains(": promote ") && without_times(a) == without_times(b) {
            return Err(format!("`{}` changes nothing but the time of `{}` (no progress)", b.subject, a.subject));
        }
    }
    Ok(())
}

#[test]
fn every_committed_transition_makes_before_it_breaks() {
    let config = Config { max_shrink_iters: 256, max_shrink_time: 60_000, ..crate::proptesting::config(16) };
    let ops = prop::collection::vec(op(), 4..=15);
    crate::proptesting::run(config, (release(), ops, 0usize..64), |(release, ops, final_to)| {
        run_case(&release, &ops, final_to).map_err(TestCaseError::fail)
    });
}
