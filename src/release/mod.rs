//! The release's life: from the state an overlay records and the spec to the state the release
//! is in, the next state, and the gates between them. Pure: the clock comes in as a value. Sits
//! above [`crate::plan`] (its `Step`, `State`, `Recorded` and `Observed`: the state model) and below the commands; it never
//! imports render, check, diff, overlay or repo, and does no I/O.
//!
//! One answer to "what state is this release in?": [`position`] reads the recorded state against
//! the spec, and everything else is derived from it: [`current`] (the state `render`, `lint`,
//! `plan` and `diff` render when no state is named), [`next`] (what `promote` commits),
//! [`approve`] and [`abort`] (what those commit), and the statuses of `kanari status`.
//!
//! The rules of [`position`]:
//! - nothing recorded: `New`, rendered as `steady`;
//! - `steady` recorded: at `steady`, its `since` kept, whatever the spec's canary;
//! - a recorded canary other than the spec's (or a canary recorded for a spec without one):
//!   `Outdated`, rendered as `prepare` (the release restarts), or `steady` when the spec has no
//!   canary (the release finished);
//! - otherwise the recorded stage, with its annotations kept so that a re-render changes nothing;
//!   a stage the spec no longer has is an error that names the overlay, the stage and the release.
//!
//! Where the former two readings disagreed and no test pinned either, the stricter or clearer rule
//! was kept: a spec without a canary whose overlay records `steady` keeps the recorded `since`
//! (re-rendering a finished release changes nothing); an overlay that records a stage but no
//! canary, for a spec without a canary, is an error (kanari never writes one) rather than `steady`;
//! and the error for a lost stage is worded one way for every command.
//!
//! What `promote` does from each recorded state (each move through [`advance`], which may
//! first commit a scale-up, and leaves a drain behind when a version's traffic drops: see
//! [`transition`] for the rules every pair of commits keeps):
//! - nothing recorded yet: commit `steady` first. A new release is brought under kanari with what
//!   runs today (the stable version alone), and the canary starts with the next promote. Adopting
//!   a service and starting a canary are two reviews, not one.
//! - a version whose image the spec changed under the same version: its pods re-rolled in place,
//!   in a commit of its own, before anything else.
//! - a scale-up under way (`toward`): the traffic moves, once the new pods had the warmup.
//! - a drain under way (`holding`): it settles, once the traffic had the warmup to leave.
//! - `steady`: `prepare`. A recorded canary other than the spec's, or a finish: [`leaving`]
//!   (the old version drains, then goes).
//! - `prepare`: the first stage. Stage k: stage k+1, once stage k's gates hold: its approval is
//!   recorded and its bake time has passed since `kanari.dev/since`.
//! - the last stage: nothing; the release finishes by a spec change (the canary becomes stable),
//!   after which `steady` is next. The finish leaves the stage the release is in, so it waits
//!   ([`finish_gate`]) for that stage's approval and bake and for every stage not yet run (or,
//!   from `aborted`, holds: the canary was judged bad), unless `--skip-gates` finishes early on
//!   purpose. A spec that drops its canary without making it the stable version rolls back, and
//!   nothing holds that.
//! - `--to` from `steady` commits `prepare` first: the canary's Deployment and subset must exist
//!   before any scale-up toward a stage can let its traffic move.
//! - `aborted`: nothing until the spec's canary version changes or `--restart` is given.
//!
//! `approve` records the approval of the current stage's gate (its `since` kept); `abort` moves
//! the traffic of a release that has a canary under way back to stable, wherever it stands, and
//! the next promote or a second abort scales the canary to 0.

use std::borrow::Cow;
use std::fmt;

use jiff::Timestamp;

use crate::plan::{Recorded, State, Step};
use crate::spec::{Canary, format_duration};

mod decide;
mod leaving;
mod transition;
pub(crate) mod waves;

pub(crate) use crate::plan::Observed;
pub(crate) use decide::{Check, Decision, Evidence, decide};
pub(crate) use transition::{advance, walk};

/// Why the release's life cannot be read or moved: a recorded state the spec does not know, a
/// bake time without its start, a `--to` that cannot be. Said as one sentence; no caller matches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Error(pub String);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

impl Error {
    fn new(message: impl Into<String>) -> Self {
        Error(message.into())
    }
}

/// What holds a release in its stage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Gate {
    /// The stage waits for `kanari approve`.
    Approval { stage: String },
    /// The stage bakes until this time.
    Bake { stage: String, until: Timestamp, duration: String },
    /// The release was aborted.
    Aborted { reason: Option<String> },
    /// `--to` would pass through a stage whose pause a stage entered and left in one commit can
    /// never meet (an approval, a bake time).
    OnTheWay { stage: String, pause: String },
    /// New pods warm up, or moved traffic drains, until `until` (`spec.warmup`).
    Warmup { until: Timestamp, why: String },
    /// The analysis holds the release: a check is inconclusive, or failed with `onFailure: hold`.
    Analysis { check: String, why: String },
    /// Prometheus could not answer the analysis (exit 4 once the run is over).
    Unavailable { why: String },
    /// A stage the release has not run yet (what a finish would skip).
    NotRun { stage: String },
    /// The spec finishes the release (its canary became the stable version) while the release
    /// stands at `from`: `pending` are the gates of that stage and of every stage not yet run.
    Finish { from: String, pending: Vec<Gate> },
    /// A fleet's waves hold this instance (see [`waves`]): its wave has not opened, the fleet was
    /// aborted, or a finish waits for other instances.
    Wave { wave: u32, short: String, why: String },
}

impl fmt::Display for Gate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Gate::Approval { stage } => write!(f, "stage `{stage}` waits for approval (`kanari approve`)"),
            Gate::Bake { stage, until, duration } => write!(f, "stage `{stage}` bakes for {duration}, until {until}"),
            Gate::Aborted { reason: Some(reason) } => {
                write!(f, "the release was aborted ({reason}); change the canary or promote --restart")
            }
            Gate::Aborted { reason: None } => {
                write!(f, "the release was aborted; change the canary or promote --restart")
            }
            Gate::Warmup { until, why } => write!(f, "{why}, at {until}"),
            Gate::Analysis { why, .. } => write!(f, "the analysis holds it: {why}"),
            Gate::Unavailable { why } => write!(f, "the analysis cannot run: {why}"),
            Gate::NotRun { stage } => write!(f, "stage `{stage}` has not run"),
            Gate::Finish { from, pending } => {
                let said: Vec<String> = pending
                    .iter()
                    .map(|gate| match gate {
                        Gate::Aborted { reason: Some(reason) } => format!("the canary was aborted ({reason})"),
                        Gate::Aborted { reason: None } => "the canary was aborted".into(),
                        gate => gate.to_string(),
                    })
                    .collect();
                write!(
                    f,
                    "the spec finishes the release, which is at `{from}`: {}; finish early on purpose with promote --skip-gates --reason TEXT",
                    said.join("; ")
                )
            }
            Gate::Wave { why, .. } => f.write_str(why),
            Gate::OnTheWay { stage, pause } => write!(
                f,
                "--to passes stage `{stage}`, which {pause}; promote one stage at a time, or skip its gates on purpose with --skip-gates --reason TEXT"
            ),
        }
    }
}

impl Gate {
    /// A short form for tables and JSON: `approval`, `bake until T`, `aborted`.
    pub(crate) fn short(&self) -> String {
        match self {
            Gate::Approval { .. } => "approval".into(),
            Gate::Bake { until, .. } => format!("bake until {until}"),
            Gate::Aborted { .. } => "aborted".into(),
            Gate::OnTheWay { stage, .. } => format!("on the way: {stage}"),
            Gate::Warmup { until, .. } => format!("warmup until {until}"),
            // A hold past the analysis' deadline is said even in the short form: CI alerts on it.
            Gate::Analysis { check, why } if why.contains(crate::spec::PAST_DEADLINE) => {
                format!("analysis: {check} ({})", crate::spec::PAST_DEADLINE)
            }
            Gate::Analysis { check, .. } => format!("analysis: {check}"),
            Gate::Unavailable { .. } => "analysis: unavailable".into(),
            Gate::NotRun { stage } => format!("{stage} not run"),
            Gate::Wave { short, .. } => short.clone(),
            Gate::Finish { pending, .. } => {
                format!("finish early: {}", pending.iter().map(Gate::short).collect::<Vec<_>>().join(", "))
            }
        }
    }

    /// What holds the release, as a view of what comes next says it at time `now`: `needs
    /// approval of 50-50`, `bake time, 12m left`, the warmup's or the analysis's own reason.
    pub(crate) fn held(&self, now: Timestamp) -> String {
        match self {
            Gate::Approval { stage } => format!("needs approval of {stage}"),
            Gate::Bake { until, .. } => {
                let left = (until.as_second() - now.as_second()).max(0).unsigned_abs();
                format!("bake time, {} left", crate::spec::format_duration(std::time::Duration::from_secs(left)))
            }
            Gate::Aborted { reason: Some(reason) } => format!("aborted ({reason})"),
            Gate::Aborted { reason: None } => "aborted".into(),
            Gate::OnTheWay { .. } | Gate::Warmup { .. } | Gate::Unavailable { .. } | Gate::Wave { .. } => {
                self.to_string()
            }
            Gate::Analysis { why, .. } => format!("analysis: {why}"),
            Gate::NotRun { stage } => format!("{stage} has not run"),
            Gate::Finish { pending, .. } => format!(
                "the spec finishes the release early: {}",
                pending.iter().map(|g| g.held(now)).collect::<Vec<_>>().join(", ")
            ),
        }
    }
}

/// What a command would do to a release: `promote` decides the step ([`next`]), the committing
/// commands the whole state to record (`Next<State>`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Next<To = Step> {
    /// Move to `to`.
    Move { to: To },
    /// Nothing to do, and why.
    Stay { why: String },
    /// Gates hold the release where it is: every one of them, never none.
    Held(Vec<Gate>),
}

/// How far the recorded state is from what the spec describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Position {
    /// Nothing recorded yet.
    New,
    /// The recorded step of the spec's canary (or steady).
    At(Step),
    /// The recorded canary is no longer the spec's: the next step restarts at `prepare`, or
    /// finishes at `steady` when the spec has no canary.
    Outdated,
}

impl<To> Next<To> {
    /// The same decision with the move's target turned into another value.
    pub(crate) fn map<T>(self, f: impl FnOnce(To) -> T) -> Next<T> {
        match self {
            Next::Move { to } => Next::Move { to: f(to) },
            Next::Stay { why } => Next::Stay { why },
            Next::Held(gates) => Next::Held(gates),
        }
    }

    /// As [`Next::map`], with a turn that may fail.
    pub(crate) fn try_map<T, E>(self, f: impl FnOnce(To) -> Result<T, E>) -> Result<Next<T>, E> {
        Ok(match self {
            Next::Move { to } => Next::Move { to: f(to)? },
            Next::Stay { why } => Next::Stay { why },
            Next::Held(gates) => Next::Held(gates),
        })
    }
}

/// Where the recorded state stands relative to the spec: the one reading of an overlay's state
/// that every command uses (the rules are in the module doc).
pub(crate) fn position(canary: &Canary, recorded: Option<&Recorded>) -> Result<Position, Error> {
    let Some(r) = recorded else { return Ok(Position::New) };
    let spec_canary = canary.canary.as_ref().map(|c| c.version.as_str());
    if r.stage == "steady" {
        return Ok(Position::At(Step::Steady));
    }
    if r.canary.as_deref() != spec_canary {
        return Ok(Position::Outdated);
    }
    Step::parse(canary, &r.stage).map(Position::At).ok_or_else(|| {
        Error::new(format!(
            "the overlay `{}` records stage `{}`, which release `{}` no longer has; give the stage its name back in the spec, or render another state with `kanari render --stage`",
            canary.output.display(),
            r.stage,
            canary.id()
        ))
    })
}

/// The state a release is in, as `render`, `lint`, `plan` and `diff` render it: the recorded one
/// with its annotations (so that a re-render changes nothing); `steady` for a new release;
/// `prepare` for an outdated canary, or `steady` when the spec has none left (where the release
/// is headed: the commits on the way carry files the spec no longer describes).
pub(crate) fn current(canary: &Canary, recorded: Option<&Recorded>) -> Result<State, Error> {
    Ok(match (position(canary, recorded)?, recorded) {
        (Position::New, _) => State::new(Step::Steady),
        (Position::Outdated, _) if canary.canary.is_some() => State::new(Step::Prepare),
        (Position::Outdated, _) => State::new(Step::Steady),
        // A fleet's wave approval waits at `steady` ([`waves::approval`]); nothing else is approved there.
        (Position::At(Step::Steady), r) => State {
            since: r.and_then(|r| r.since),
            approved: r.and_then(|r| r.approved.clone()),
            ..State::new(Step::Steady)
        },
        (Position::At(step), None) => State::new(step),
        (Position::At(step), Some(r)) => {
            let named = |name: &Option<String>| name.as_deref().map(|n| known(canary, r, n)).transpose();
            State {
                step,
                since: r.since,
                approved: r.approved.clone(),
                reason: r.reason.clone(),
                holding: named(&r.holding)?,
                toward: named(&r.toward)?,
                warming: r.warming.clone(),
                ..State::default()
            }
        }
    })
}

/// A state the overlay names in an annotation, which the spec must still have.
fn known(canary: &Canary, r: &Recorded, name: &str) -> Result<Step, Error> {
    Step::parse(canary, name).ok_or_else(|| {
        Error::new(format!(
            "the overlay `{}` (at `{}`) names state `{name}`, which release `{}` no longer has; give the stage its name back in the spec",
            canary.output.display(),
            r.stage,
            canary.id()
        ))
    })
}

/// The state a move to `step` at `now` records: the step entered at `now`, nothing approved yet.
pub(crate) fn entered(step: Step, now: Timestamp) -> State {
    State { since: Some(now), ..State::new(step) }
}

/// Options of a promote.
#[derive(Clone, Debug, Default)]
pub(crate) struct Options {
    /// `--to`: the state to move to instead of the next one.
    pub to: Option<Step>,
    /// `--restart`: leave `aborted` for `prepare`.
    pub restart: bool,
    /// `--skip-gates`: move forward whatever the approvals and bake times say (not out of
    /// `aborted`: that is `--restart`).
    pub skip_gates: bool,
}

/// The gates that hold a release at `step` now, if any.
pub(crate) fn gates(
    canary: &Canary,
    step: Step,
    recorded: Option<&Recorded>,
    now: Timestamp,
) -> Result<Vec<Gate>, Error> {
    let Step::Stage(i) = step else {
        if step == Step::Aborted {
            return Ok(vec![Gate::Aborted { reason: recorded.and_then(|r| r.reason.clone()) }]);
        }
        return Ok(vec![]);
    };
    let stage = &canary.stages[i];
    let mut held = Vec::new();
    if stage.pause.approval && recorded.and_then(|r| r.approved.as_deref()) != Some(stage.name.as_str()) {
        held.push(Gate::Approval { stage: stage.name.clone() });
    }
    if let Some(d) = stage.pause.duration {
        let since = recorded.and_then(|r| r.since).ok_or_else(|| {
            Error::new(format!(
                "stage `{}` has a bake time, but its overlay records no `{}`; commit stages with `kanari promote`",
                stage.name,
                crate::plan::key("since")
            ))
        })?;
        let until = since + jiff::SignedDuration::from_secs(d.as_secs() as i64);
        if now < until {
            held.push(Gate::Bake { stage: stage.name.clone(), until, duration: format_duration(d) });
        }
    }
    Ok(held)
}

/// The gates of the stages a move from `from` to `to` enters and leaves in the same commit:
/// their approval cannot have been given and their bake time cannot have run.
pub(crate) fn gates_on_the_way(canary: &Canary, from: Step, to: Step) -> Vec<Gate> {
    let first = match from {
        Step::Steady | Step::Prepare => 0,
        Step::Stage(i) => i + 1,
        Step::Aborted => return vec![],
    };
    let Step::Stage(last) = to else { return vec![] };
    canary.stages[first.min(last)..last]
        .iter()
        .filter_map(|stage| {
            let pause = match (stage.pause.approval, stage.pause.duration) {
                (true, Some(d)) => format!("waits for approval and bakes for {}", format_duration(d)),
                (true, None) => "waits for approval".to_string(),
                (false, Some(d)) => format!("bakes for {}", format_duration(d)),
                (false, None) => return None,
            };
            Some(Gate::OnTheWay { stage: stage.name.clone(), pause })
        })
        .collect()
}

/// Every gate a forward move from `from` to `to` passes: those of the stage it leaves, then
/// those of each stage it passes through. What `--skip-gates` skips, and the commit records.
pub(crate) fn gates_passed(
    canary: &Canary,
    from: Step,
    to: Step,
    recorded: Option<&Recorded>,
    now: Timestamp,
) -> Result<Vec<Gate>, Error> {
    if to <= from || from == Step::Aborted {
        return Ok(vec![]);
    }
    let mut all = gates(canary, from, recorded, now)?;
    all.extend(gates_on_the_way(canary, from, to));
    Ok(all)
}

/// The gates a forward move to `to` passes from where the release stands: what a promote with
/// `--skip-gates` skips and its commit lists. None when the release is not at a known step.
pub(crate) fn gates_skipped(
    canary: &Canary,
    recorded: Option<&Recorded>,
    to: Step,
    now: Timestamp,
) -> Result<Vec<Gate>, Error> {
    if let Some(Gate::Finish { pending, .. }) = finish_gate(canary, recorded, now)? {
        return Ok(pending);
    }
    match position(canary, recorded)? {
        Position::At(from) => gates_passed(canary, from, to, recorded, now),
        Position::New | Position::Outdated => Ok(vec![]),
    }
}

/// Whether the spec finishes the release that `r` records, and the finish has not started: the
/// spec made the recorded canary its stable version and has no canary left, while the overlay
/// still records a canary's state (not `steady`, no version departing, no scale-up toward
/// `steady` under way: those are a finish already past its gates).
pub(crate) fn finishing(canary: &Canary, r: &Recorded) -> bool {
    canary.canary.is_none()
        && r.canary.as_deref() == Some(canary.stable.version.as_str())
        && r.stage != "steady"
        && r.departing.is_empty()
        && r.toward.as_deref() != Some("steady")
}

/// The release as its analysis judges it: the spec itself, or, while the spec finishes the
/// release ([`finishing`]), the spec as it was before the finish: the version leaving the
/// overlay as the stable and the new stable as the canary, so that the stage the release is in is
/// judged as it runs (the finish is one of the moves its analysis guards).
pub(crate) fn judged_as<'a>(canary: &'a Canary, recorded: Option<&Recorded>, observed: &Observed) -> Cow<'a, Canary> {
    let leaving = observed.leaving(canary);
    let (Some(_), [old]) = (recorded.filter(|r| finishing(canary, r)), leaving.as_slice()) else {
        return Cow::Borrowed(canary);
    };
    let prefix = format!("{}-", canary.name);
    let name = match observed.deployments.get(*old).and_then(|d| d.strip_prefix(&prefix)) {
        Some(name) => name.to_string(),
        None => observed.subset(old).name,
    };
    let image = observed.images.get(*old).and_then(|i| i.first()).cloned().unwrap_or_default();
    let stable = crate::spec::Version { version: (*old).clone(), image, name };
    Cow::Owned(Canary { canary: Some(canary.stable.clone()), stable, ..canary.clone() })
}

/// What holds a finish: the spec made the recorded canary its stable version and has no canary
/// left, while the release stands before the end of its last stage. The finish leaves the stage
/// the release is in, so that stage's gates (approval, bake) and every stage not yet run guard
/// it; a release that was aborted has a canary judged bad. None when the spec does not finish
/// the release this way, when the finish is already under way, or when nothing holds it.
pub(crate) fn finish_gate(canary: &Canary, recorded: Option<&Recorded>, now: Timestamp) -> Result<Option<Gate>, Error> {
    let Some(r) = recorded.filter(|r| finishing(canary, r)) else { return Ok(None) };
    let not_run = |from: usize| canary.stages[from..].iter().map(|s| Gate::NotRun { stage: s.name.clone() });
    let pending: Vec<Gate> = match r.stage.as_str() {
        "prepare" => not_run(0).collect(),
        "aborted" => vec![Gate::Aborted { reason: r.reason.clone() }],
        stage => match canary.stage(stage) {
            Some((i, _)) => {
                let mut pending = gates(canary, Step::Stage(i), recorded, now)?;
                pending.extend(not_run(i + 1));
                pending
            }
            None => vec![Gate::NotRun { stage: format!("{stage}` (no longer in the spec, so its gates are unknown`") }],
        },
    };
    Ok((!pending.is_empty()).then(|| Gate::Finish { from: r.stage.clone(), pending }))
}

/// What promote commits next for a release whose overlay records `recorded` (its files read
/// as `observed`), at time `now`: the next state toward the next stage, through the intermediate
/// commits of [`transition`] and [`leaving`].
/// A leaving version whose Deployment has the name a version of the spec takes (a version label
/// changed while its object name did not: `6.5.0` → `6_5_0` are both `6-5-0`). The two cannot
/// run side by side, and a Deployment's selector cannot change in place, so the spec must give
/// the new version a name of its own.
fn refuse_a_taken_name(canary: &Canary, observed: &Observed, leaving: &[&String]) -> Result<(), Error> {
    for old in leaving {
        let Some(deployment) = observed.deployments.get(*old) else { continue };
        let versions = [Some(&canary.stable), canary.canary.as_ref()];
        if let Some(new) =
            versions.into_iter().flatten().find(|v| &crate::plan::version_object_name(canary, v) == deployment)
        {
            return Err(Error::new(format!(
                "the committed Deployment `{deployment}` runs version `{old}`, and the spec's version `{}` would take the same name; a Deployment's selector cannot change in place, so give `{}` a `subset:` of its own",
                new.version, new.version
            )));
        }
    }
    Ok(())
}

pub(crate) fn next(
    canary: &Canary,
    recorded: Option<&Recorded>,
    observed: &Observed,
    now: Timestamp,
    opts: &Options,
) -> Result<Next<State>, Error> {
    let position = position(canary, recorded)?;
    let departing = recorded.is_some_and(|r| !r.departing.is_empty());
    // A version the committed overlay runs that the spec no longer names (a changed canary, a
    // finish, a stable version changed in place) leaves before anything else happens.
    let leaving = observed.leaving(canary);
    refuse_a_taken_name(canary, observed, &leaving)?;
    let leaving = !leaving.is_empty();
    if let Some(r) = recorded.filter(|_| position == Position::Outdated || departing || leaving) {
        if !opts.skip_gates
            && let Some(gate) = finish_gate(canary, recorded, now)?
        {
            return Ok(Next::Held(vec![gate]));
        }
        return leaving::next(canary, r, observed, now, None);
    }
    let cur = current(canary, recorded)?;
    let has_canary = canary.canary.is_some();
    // A new image under the same version: its pods are replaced where they stand, in a commit
    // of their own, before any traffic moves onto them.
    let rerolled: Vec<String> = observed.rerolled(canary).into_iter().map(|(v, _)| v).collect();
    if position != Position::New && !rerolled.is_empty() {
        let mut warming = cur.warming.clone();
        warming.extend(rerolled.iter().filter(|v| !cur.warming.contains(v)).cloned());
        warming.sort();
        return Ok(Next::Move { to: State { since: Some(now), warming, rerolled, ..cur } });
    }
    if let Some(to) = opts.to {
        if matches!(to, Step::Steady | Step::Aborted) {
            return Err(Error::new("--to takes `prepare` or a stage; abort with `kanari abort`"));
        }
        let Position::At(from) = position else {
            return Err(Error::new("--to moves a release that is under way; promote without --to first"));
        };
        if from == Step::Aborted && !opts.restart {
            return Ok(Next::Held(gates(canary, from, recorded, now)?));
        }
        if to == from && !cur.in_between() {
            return Ok(Next::Stay { why: format!("already at `{}`", to.name(canary)) });
        }
        // Going back (a partial rollback) needs no gate; going forward passes the gates of every
        // stage it leaves, the current one and each one it passes through.
        if !opts.skip_gates && cur.toward.is_none() {
            let passed = gates_passed(canary, from, to, recorded, now)?;
            if !passed.is_empty() {
                return Ok(Next::Held(passed));
            }
        }
        // From `steady` the canary has no Deployment or subset yet: `prepare` comes first, or a
        // scale-up toward the target could never let its traffic move.
        let to = if from == Step::Steady { Step::Prepare } else { to };
        return advance(canary, &cur, to, now, None);
    }
    let reason = cur.reason.clone();
    let go = |target: Step| advance(canary, &cur, target, now, reason.as_deref());
    match position {
        Position::New => Ok(Next::Move { to: entered(Step::Steady, now) }),
        Position::Outdated => unreachable!("handled above"),
        Position::At(Step::Steady) if departing => unreachable!("handled above"),
        Position::At(Step::Steady) if has_canary => go(Step::Prepare),
        Position::At(Step::Steady) => Ok(Next::Stay { why: "steady, and the spec has no canary".into() }),
        // A scale-up under way: its traffic moves now (an abort's too).
        _ if cur.toward.is_some() => go(cur.toward.expect("checked")),
        Position::At(Step::Aborted) if opts.restart => go(Step::Prepare),
        // The second half of an abort: the canary goes to 0 once its traffic has drained.
        Position::At(Step::Aborted) if cur.holding.is_some() => go(Step::Aborted),
        Position::At(Step::Aborted) => Ok(Next::Held(gates(canary, Step::Aborted, recorded, now)?)),
        // A drain under way ends before the release moves on.
        Position::At(step) if cur.holding.is_some() => go(step),
        Position::At(Step::Prepare) => go(Step::Stage(0)),
        Position::At(Step::Stage(i)) => {
            let held = if opts.skip_gates { vec![] } else { gates(canary, Step::Stage(i), recorded, now)? };
            if !held.is_empty() {
                Ok(Next::Held(held))
            } else if i + 1 < canary.stages.len() {
                go(Step::Stage(i + 1))
            } else {
                let c = canary.canary.as_ref().expect("a stage implies a canary");
                Ok(Next::Stay {
                    why: format!(
                        "at the last stage; finish by making `{}` the stable version in `{}` and removing the canary",
                        c.version,
                        canary.file.display()
                    ),
                })
            }
        }
    }
}

/// A release's status in a word, from where it stands and what `promote` would do: `new`,
/// `steady`, `ready`, `waiting`, `complete`, `restart`, `finish`, `aborting` or `aborted`
/// (`kanari status` explains each).
pub(crate) fn status(
    canary: &Canary,
    position: Position,
    recorded: Option<&Recorded>,
    next: &Next<State>,
) -> &'static str {
    let r = recorded.cloned().unwrap_or_default();
    match (position, next) {
        (Position::New, _) => "new",
        (Position::Outdated, _) if canary.canary.is_some() => "restart",
        (Position::Outdated, _) => "finish",
        (Position::At(Step::Steady), _) if !r.departing.is_empty() => "finish",
        (Position::At(Step::Aborted), _) if r.holding.is_some() => "aborting",
        (Position::At(_), _) if r.toward.as_deref() == Some("aborted") => "aborting",
        (Position::At(Step::Aborted), _) => "aborted",
        (_, Next::Held(_)) => "waiting",
        (Position::At(Step::Steady), Next::Stay { .. }) => "steady",
        (_, Next::Stay { .. }) => "complete",
        (_, Next::Move { .. }) => "ready",
    }
}

/// What `approve` commits: the approval of the current stage's gate; the stage, its `since` and
/// whatever transition is under way stay as they are, so a bake time still runs from the
/// stage's start.
pub(crate) fn approve(canary: &Canary, recorded: Option<&Recorded>) -> Result<Next<State>, Error> {
    let position = position(canary, recorded)?;
    let (Position::At(Step::Stage(i)), Some(r)) = (position, recorded) else {
        return Ok(Next::Stay { why: "no stage is under way".into() });
    };
    let stage = &canary.stages[i];
    if !stage.pause.approval {
        return Ok(Next::Stay { why: format!("stage `{}` needs no approval", stage.name) });
    }
    if r.approved.as_deref() == Some(stage.name.as_str()) {
        return Ok(Next::Stay { why: format!("stage `{}` is approved already", stage.name) });
    }
    let cur = current(canary, recorded)?;
    Ok(Next::Move { to: State { approved: Some(stage.name.clone()), ..cur } })
}

/// What `abort` commits, wherever the release stands: the traffic back to stable as fast as
/// stable can take it ([`advance`] toward `aborted`), the reason recorded; a second abort (or the
/// next promote) scales the canary to 0 once its traffic has drained. Nothing when no canary is
/// under way or the release is aborted already.
pub(crate) fn abort(
    canary: &Canary,
    recorded: Option<&Recorded>,
    observed: &Observed,
    now: Timestamp,
    reason: &str,
) -> Result<Next<State>, Error> {
    let stay = |why: &str| Ok(Next::Stay { why: why.into() });
    let position = position(canary, recorded)?;
    match (position, recorded) {
        (Position::New, _) | (Position::At(Step::Steady), _) => stay("no canary is under way"),
        (Position::Outdated, _) if canary.canary.is_none() => stay("no canary is under way"),
        (Position::Outdated, Some(r)) => leaving::next(canary, r, observed, now, Some(reason)),
        _ => {
            let cur = current(canary, recorded)?;
            let continuing = cur.toward == Some(Step::Aborted) || (cur.step == Step::Aborted && cur.holding.is_some());
            if cur.step == Step::Aborted && !cur.in_between() {
                return stay("aborted already");
            }
            let reason = if continuing { cur.reason.clone() } else { Some(reason.to_string()) };
            advance(canary, &cur, Step::Aborted, now, reason.as_deref())
        }
    }
}

#[cfg(test)]
mod make_before_break;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod waves_tests;
