//! A fleet's waves, as gates computed from its instances' recorded states. Pure, like the rest
//! of the release's life: the commands read every instance's overlay (and ask its Prometheus)
//! and pass the [`Standing`] of each in a [`View`]; [`super::decide`] turns it into gates.
//!
//! The rules:
//! - An instance *starts* the canary when it leaves `steady` (or a canary the spec no longer
//!   has, or `aborted` for a restart) for `prepare`. An instance of wave k starts only when every
//!   instance of the waves before it has *passed*: it stands at the last stage (its traffic moved),
//!   with that stage's approval given, its bake over and every analysis check passing now; then
//!   the waves' bake (`waves.bake`, from the latest time an instance of wave k-1 passed: its last
//!   stage's start plus that stage's bake) and the wave's approval (`kanari approve NAME --wave
//!   k`, recorded in each of the wave's overlays while they wait at `steady`, for the spec's
//!   canary version) must hold too.
//! - While its wave has not opened, an instance is decided as a release whose spec has no
//!   canary: a new one commits `steady`, a changed canary drains and goes back to `steady`, an
//!   aborted one (after the fleet was aborted) clears its canary and waits at `steady`. So a
//!   changed canary version restarts the fleet at wave 1.
//! - An abort anywhere aborts every instance that runs the canary: an instance aborts when
//!   another is aborted for the same canary version at or after the time its own state began
//!   (an abort recorded, or one its analysis decides in this run), so a restarted instance is not
//!   aborted again by an old abort. A start waits while any instance is aborted for the canary,
//!   unless `promote --restart`, which itself waits until no other instance's abort is still
//!   under way (its traffic or pods on their way back). `promote --skip-gates` starts a wave early on purpose (the
//!   waves before it, their bake and its approval skipped), never past an abort.
//! - A finish (the spec's canary became its stable version) goes ahead only once every instance
//!   has passed its last stage (or finished already): a finish merged earlier holds every
//!   instance, as a single release's does, unless `--skip-gates`.

use jiff::{SignedDuration, Timestamp};

use super::{Check, Error, Gate, Next, Step, gates};
use crate::plan::{Observed, Recorded, State};
use crate::spec::Canary;
use crate::stats::Verdict;

/// The short form of the gate an abort elsewhere puts on a start.
pub(crate) const FLEET_ABORTED: &str = "fleet aborted";

/// Where one instance stands, for the waves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Standing {
    /// Has not started the spec's canary: nothing recorded, `steady`, or another canary.
    Waiting,
    /// Runs the spec's canary at this state, not yet past its last stage's gates.
    Running { stage: String },
    /// At the last stage with its gates passed, since `at`.
    Passed { at: Timestamp },
    /// Aborted for the spec's canary at `at` (recorded, or decided now by its analysis);
    /// `under_way` while its traffic or pods are still on their way back (a scale-up toward
    /// `aborted`, a drain).
    Aborted { at: Timestamp, reason: Option<String>, under_way: bool },
    /// The spec finishes the release and this instance has finished, or its finish is under way.
    Finished,
}

/// One instance of a fleet, as the others see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Member {
    /// `namespace/name@cluster`.
    pub id: String,
    pub wave: u32,
    pub standing: Standing,
}

/// Every instance of a fleet, as the waves judge them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct View {
    pub members: Vec<Member>,
}

/// Where an instance (`canary`, its overlay recording `recorded` and showing `observed`) stands
/// at `now`, its analysis checks judged now being `checks` (None when none were due).
pub(crate) fn standing(
    canary: &Canary,
    recorded: Option<&Recorded>,
    observed: &Observed,
    now: Timestamp,
    checks: Option<&[Check]>,
) -> Standing {
    let finish = canary.canary.is_none();
    let Some(r) = recorded else {
        // A cluster new to a fleet without a canary is adopted at `steady`: nothing to wait for.
        return if finish { Standing::Finished } else { Standing::Waiting };
    };
    // The version the fleet's canary runs: the spec's canary, or, once the spec finishes the
    // release, its new stable.
    let target = canary.canary.as_ref().unwrap_or(&canary.stable);
    if r.canary.as_deref() != Some(target.version.as_str()) || r.stage == "steady" {
        let settled = r.stage == "steady" && observed.leaving(canary).is_empty();
        return match finish && (settled || !r.departing.is_empty()) {
            true => Standing::Finished,
            false => Standing::Waiting,
        };
    }
    if r.stage == "aborted" || r.toward.as_deref() == Some("aborted") {
        let under_way = r.toward.is_some() || r.holding.is_some();
        return Standing::Aborted { at: r.since.unwrap_or(now), reason: r.reason.clone(), under_way };
    }
    let checks = checks.unwrap_or_default();
    if let Some(failed) = checks.iter().find(|c| c.verdict == Verdict::Fail && c.aborts).filter(|_| !finish) {
        return Standing::Aborted { at: now, reason: Some(format!("analysis: {}", failed.line)), under_way: true };
    }
    if finish && (!r.departing.is_empty() || r.toward.as_deref() == Some("steady")) {
        return Standing::Finished;
    }
    let running = Standing::Running { stage: r.stage.clone() };
    let Some(last) = canary.stages.len().checked_sub(1) else { return running };
    // A drain under way in the last stage (the pods its traffic left going) does not hold it:
    // the stage's traffic moved when it began.
    if r.stage != canary.stages[last].name || r.toward.is_some() {
        return running;
    }
    let clear = gates(canary, Step::Stage(last), recorded, now).is_ok_and(|held| held.is_empty());
    if !clear || checks.iter().any(|c| c.verdict != Verdict::Pass) {
        return running;
    }
    let since = r.since.unwrap_or(now);
    let bake = canary.stages[last]
        .pause
        .duration
        .map_or(SignedDuration::ZERO, |d| SignedDuration::from_secs(d.as_secs() as i64));
    Standing::Passed { at: since + bake }
}

/// What a wave's approval records in the `kanari.dev/approved` of each of its instances while
/// they wait at `steady`: the wave and the canary version it is approved for.
pub(crate) fn approval(wave: u32, version: &str) -> String {
    format!("wave {wave} for {version}")
}

/// An abort of another instance that this one (recording `recorded`) follows: the first
/// instance aborted for the fleet's canary at or after this one's state began, when this one
/// runs that canary and is not aborted or aborting itself.
pub(crate) fn aborted_elsewhere<'a>(
    canary: &Canary,
    recorded: Option<&Recorded>,
    view: &'a View,
) -> Option<&'a Member> {
    let r = recorded?;
    let spec_canary = canary.canary.as_ref()?;
    let runs = r.canary.as_deref() == Some(spec_canary.version.as_str())
        && r.stage != "steady"
        && r.stage != "aborted"
        && r.toward.as_deref() != Some("aborted");
    let me = canary.id();
    view.members.iter().filter(|m| m.id != me).find(|m| match &m.standing {
        Standing::Aborted { at, .. } => runs && r.since.is_none_or(|since| *at >= since),
        _ => false,
    })
}

/// The reason an instance records when it follows another's abort.
pub(crate) fn abort_reason(member: &Member) -> String {
    match &member.standing {
        Standing::Aborted { reason: Some(reason), .. } => {
            format!("the fleet follows `{}`, aborted: {reason}", member.id)
        }
        _ => format!("the fleet follows `{}`, aborted", member.id),
    }
}

/// What holds an instance before it starts the canary.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct StartGates {
    /// Every gate, in the order of the rules.
    pub gates: Vec<Gate>,
    /// The waves before the instance's have not all passed: it waits at `steady`.
    pub closed: bool,
}

/// The gates that hold instance `canary` (recording `recorded`) before it starts the canary at
/// `now`; none when its wave is open. `restart`: `promote --restart` starts it even though an
/// instance is aborted.
pub(crate) fn start_gates(
    canary: &Canary,
    recorded: Option<&Recorded>,
    view: &View,
    now: Timestamp,
    restart: bool,
) -> StartGates {
    let (Some(member), Some(spec_canary)) = (&canary.fleet, &canary.canary) else { return StartGates::default() };
    let wave = member.wave;
    let mut held = Vec::new();
    // A restart waits until the fleet's abort has finished everywhere: an abort still under
    // way elsewhere would be followed again, undoing the restart.
    let me = canary.id();
    let under_way = |m: &&Member| m.id != me && matches!(m.standing, Standing::Aborted { under_way: true, .. });
    if restart && let Some(aborting) = view.members.iter().find(under_way) {
        held.push(Gate::Wave {
            wave,
            short: FLEET_ABORTED.into(),
            why: format!(
                "the fleet's abort is still under way in `{}`; promote --restart once it has finished",
                aborting.id
            ),
        });
    }
    if !restart && let Some(aborted) = view.members.iter().find(|m| matches!(m.standing, Standing::Aborted { .. })) {
        held.push(Gate::Wave {
            wave,
            short: FLEET_ABORTED.into(),
            why: format!(
                "{}; start the fleet again with promote --restart",
                abort_reason(aborted).replacen("the fleet follows", "the fleet's canary was aborted in", 1)
            ),
        });
    }
    let earlier: Vec<&Member> = view.members.iter().filter(|m| m.wave < wave).collect();
    let behind: Vec<String> = earlier
        .iter()
        .filter_map(|m| match &m.standing {
            Standing::Passed { .. } => None,
            Standing::Running { stage } => Some(format!("`{}` at {stage}", m.id)),
            Standing::Aborted { .. } => Some(format!("`{}` aborted", m.id)),
            Standing::Waiting | Standing::Finished => Some(format!("`{}` not started", m.id)),
        })
        .collect();
    if !behind.is_empty() {
        held.push(Gate::Wave {
            wave,
            short: format!("wave {} not passed", wave - 1),
            why: format!(
                "wave {wave} starts once every instance of the waves before it has passed its last stage: {}",
                first_three(&behind)
            ),
        });
        return StartGates { gates: held, closed: true };
    }
    let fleet = &member.fleet;
    let passed = earlier.iter().filter_map(|m| match m.standing {
        Standing::Passed { at } => Some(at),
        _ => None,
    });
    if let (Some(bake), Some(at)) = (fleet.waves.bake, passed.max()) {
        let until = at + SignedDuration::from_secs(bake.as_secs() as i64);
        if now < until {
            held.push(Gate::Wave {
                wave,
                short: format!("wave {wave}: bake until {until}"),
                why: format!(
                    "wave {} passed at {at}; the waves bake for {}, until {until}",
                    wave - 1,
                    crate::spec::format_duration(bake)
                ),
            });
        }
    }
    let approved = approval(wave, &spec_canary.version);
    if wave > 1 && fleet.waves.approval && recorded.and_then(|r| r.approved.as_deref()) != Some(approved.as_str()) {
        held.push(Gate::Wave {
            wave,
            short: format!("wave {wave}: approval"),
            why: format!("wave {wave} waits for approval (`kanari approve {} --wave {wave}`)", canary.name),
        });
    }
    StartGates { gates: held, closed: false }
}

/// What holds a fleet's finish: the instances that have not passed their last stage (nor
/// finished already). None when every one has.
pub(crate) fn finish_gate(canary: &Canary, view: &View) -> Option<Gate> {
    let member = canary.fleet.as_ref()?;
    // A stable version changed with no instance ever running it as the canary is no finish:
    // each instance rolls as a single release does.
    let ran = |m: &Member| {
        matches!(m.standing, Standing::Running { .. } | Standing::Passed { .. } | Standing::Aborted { .. })
    };
    if !view.members.iter().any(ran) {
        return None;
    }
    let behind: Vec<&Member> =
        view.members.iter().filter(|m| !matches!(m.standing, Standing::Passed { .. } | Standing::Finished)).collect();
    if behind.is_empty() {
        return None;
    }
    let named: Vec<String> = behind.iter().map(|m| format!("`{}`", m.id)).collect();
    Some(Gate::Wave {
        wave: member.fleet.last_wave,
        short: "finish waits for the fleet".into(),
        why: format!(
            "the spec finishes the fleet's release, and {} {} not passed the last stage; finish early on purpose with promote --skip-gates --reason TEXT",
            first_three(&named),
            if behind.len() == 1 { "has" } else { "have" }
        ),
    })
}

/// The first three of `items`, and how many more: `a, b, c and 4 more`.
fn first_three(items: &[String]) -> String {
    let shown = items.iter().take(3).cloned().collect::<Vec<_>>().join(", ");
    match items.len() {
        n if n > 3 => format!("{shown} and {} more", n - 3),
        _ => shown,
    }
}

/// The fleet's position in a line: `wave 1 of 2: eu-1 at 50-50`, `wave 2 of 2: eu-2 waiting,
/// us-1 at prepare`, `every wave passed its last stage`, `aborted (eu-2)`, `finished`.
pub(crate) fn position(canary: &Canary, view: &View) -> Option<String> {
    let member = canary.fleet.as_ref()?;
    let last = member.fleet.last_wave;
    let cluster = |id: &str| id.rsplit_once('@').map_or(id.to_string(), |(_, c)| c.to_string());
    if view.members.iter().all(|m| m.standing == Standing::Finished) {
        return Some(format!("finished in all {} clusters", view.members.len()));
    }
    let aborted: Vec<String> = view
        .members
        .iter()
        .filter(|m| matches!(m.standing, Standing::Aborted { .. }))
        .map(|m| cluster(&m.id))
        .collect();
    if !aborted.is_empty() {
        return Some(format!("aborted in {}", aborted.join(", ")));
    }
    let open = |m: &&Member| !matches!(m.standing, Standing::Passed { .. } | Standing::Finished);
    let Some(wave) = view.members.iter().filter(open).map(|m| m.wave).min() else {
        return Some(format!("all {last} waves passed their last stage"));
    };
    let of_wave: Vec<String> = view
        .members
        .iter()
        .filter(|m| m.wave == wave)
        .map(|m| match &m.standing {
            Standing::Running { stage } => format!("{} at {stage}", cluster(&m.id)),
            Standing::Passed { .. } => format!("{} passed", cluster(&m.id)),
            Standing::Finished => format!("{} finished", cluster(&m.id)),
            Standing::Waiting | Standing::Aborted { .. } => format!("{} not started", cluster(&m.id)),
        })
        .collect();
    Some(format!("wave {wave} of {last}: {}", of_wave.join(", ")))
}

/// What `approve --wave K` commits for an instance of a fleet: the wave's approval, recorded
/// while the instance waits at `steady` for the spec's canary ([`waves::approval`]).
pub(crate) fn approve(
    canary: &Canary,
    recorded: Option<&Recorded>,
    observed: &Observed,
    wave: u32,
) -> Result<Next<State>, Error> {
    let stay = |why: String| Ok(Next::Stay { why });
    // The approval re-renders `steady` as the spec has it: a stable version or image the spec
    // changed would be swapped in that commit. Promote rolls it first.
    if !observed.leaving(canary).is_empty() || !observed.rerolled(canary).is_empty() {
        return stay("the overlay runs a stable version or image the spec has changed; promote rolls it first".into());
    }
    let (Some(member), Some(c)) = (&canary.fleet, &canary.canary) else {
        return stay("no canary waits for a wave".into());
    };
    if member.wave != wave {
        return stay(format!("in wave {}, not {wave}", member.wave));
    }
    if wave == 1 {
        return stay("wave 1 starts without a wave approval".into());
    }
    let marker = approval(wave, &c.version);
    match super::position(canary, recorded)? {
        super::Position::At(Step::Steady) => {}
        super::Position::New => return stay("nothing committed yet; promote commits `steady` first".into()),
        _ => return stay("the canary has started here already".into()),
    }
    if recorded.and_then(|r| r.approved.as_deref()) == Some(marker.as_str()) {
        return stay(format!("wave {wave} is approved already for `{}`", c.version));
    }
    let cur = super::current(canary, recorded)?;
    Ok(Next::Move { to: State { approved: Some(marker), ..cur } })
}
