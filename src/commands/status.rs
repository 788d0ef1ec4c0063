//! `kanari status`: the committed state of each release at HEAD: its stage, its status, since
//! when, the state `promote` would commit next (once the gate opens, when one holds it), and the
//! gate that holds it.
//!
//! Statuses: `new` (nothing committed), `steady` (no canary), `ready` (promote moves it now),
//! `waiting` (a gate holds it), `complete` (at the last stage: finish it in the spec),
//! `restart` (the spec names another canary: the old one drains, then the new one is prepared),
//! `finish` (the spec has no canary any more: the old stable drains, then `steady`), `aborting`
//! (the traffic is on its way back to stable; the next promote or abort scales the canary to 0
//! once it has drained), `aborted`.
//!
//! A commit on the way between two states (a scale-up before traffic moves, a drain after it
//! moved) shows in `doing` (`scaled up for 0-100`, `draining 50-50`), and a wait for new pods or
//! for traffic to drain in `gate` (`warmup until T`) and `why` (the whole sentence).
//!
//! With `spec.analysis`, a release in a stage with canary traffic has its checks run now: the
//! first that does not pass shows as the gate (`analysis: success-rate fail`) with its numbers in
//! `why`.
//!
//! JSON (`--format json`): an array of objects with `name` (`namespace/name`), `stage` (or null),
//! `status`, `since` (or null), `next` (or null), `gate` (or null), `why` (or null), `doing` (or
//! null), `canary` (the committed canary version, or null), `reason` (why an aborted or
//! aborting release was aborted, or null), and `traffic` and `pods` (the committed overlay's, by
//! version, in the shape the README's "JSON output" gives; null when nothing is committed).

use anyhow::Result;
use serde::Serialize;

use crate::cli::{StatusArgs, StatusFormat};
use crate::commands::Workspace;
use crate::commands::analyze;
use crate::commands::git::{Git, now};
use crate::exit::Code;
use crate::plan::Recorded;
use crate::plan::Step;
use crate::release::Observed;
use crate::release::{self, Gate, Next, Position};
use crate::stats::Verdict;

#[derive(Serialize)]
struct Row {
    name: String,
    stage: Option<String>,
    status: &'static str,
    since: Option<String>,
    next: Option<String>,
    gate: Option<String>,
    why: Option<String>,
    doing: Option<String>,
    canary: Option<String>,
    /// Why an aborted (or aborting) release was aborted: `kanari.dev/reason`.
    reason: Option<String>,
    /// The committed overlay's traffic and pods by version ([`crate::plan::traffic_json`],
    /// [`crate::plan::pods_json`]), or null when nothing is committed.
    traffic: serde_json::Value,
    pods: serde_json::Value,
    #[serde(skip)]
    of: Option<(usize, usize)>,
}

pub fn run(ws: &Workspace, args: &StatusArgs) -> Result<Code> {
    let git = Git::open(ws)?;
    // Releases whose specs do not load are named at the end (exit 2); the others are shown.
    let (head, loaded) = git.loaded_at_head(&args.selection.releases)?;
    let canaries = loaded.canaries;
    let now = now()?;
    let mut rows = Vec::new();
    let committed = git.map_committed(head, &canaries, |canary, c| {
        let facts = c.recorded.is_some().then(|| crate::review::facts(&c.files));
        Ok(((c.observed_for(canary), c.recorded), facts))
    })?;
    let (committed, facts): (Vec<_>, Vec<Option<crate::review::Facts>>) = committed.into_iter().unzip();
    let (observed, recorded): (Vec<Observed>, Vec<Option<Recorded>>) = committed.into_iter().unzip();
    // The analysis of each release in a stage with canary traffic, run now: a check that does
    // not pass is what holds the release (or, for a failure, what the next promote aborts on).
    let verdicts: Vec<Option<(String, String)>> = analyze::judge_each(ws, &canaries, &recorded, now)
        .into_iter()
        .map(|judged| match judged?.1 {
            Ok(checks) => checks
                .iter()
                .find(|c| c.verdict() != Verdict::Pass)
                .map(|c| (format!("analysis: {} {}", c.name, c.verdict), c.line())),
            Err(e) => Some(("analysis: unavailable".to_string(), format!("{e:#}"))),
        })
        .collect();
    let committed = observed.into_iter().zip(recorded);
    for (((canary, (observed, recorded)), verdict), facts) in canaries.iter().zip(committed).zip(verdicts).zip(facts) {
        let recorded = recorded.as_ref();
        let position = release::position(canary, recorded)?;
        let next = release::next(canary, recorded, &observed, now, &release::Options::default())?;
        // Held in a stage, `next` is where the release goes once the gate opens.
        let (next_name, gate) = match (&next, position) {
            (Next::Move { to }, _) => (Some(crate::commands::state_text(canary, to)), None),
            (Next::Stay { .. }, _) => (None, None),
            (Next::Held(gate @ Gate::Warmup { .. }), _) => (None, Some(gate)),
            (Next::Held(gate), Position::At(Step::Stage(i))) if recorded.is_some_and(|r| r.toward.is_none()) => {
                (canary.stages.get(i + 1).map(|s| s.name.clone()), Some(gate))
            }
            (Next::Held(gate), _) => (None, Some(gate)),
        };
        let status = if verdict.is_some() { "waiting" } else { release::status(canary, position, recorded, &next) };
        let of = match position {
            Position::At(Step::Stage(i)) => Some((i + 1, canary.stages.len())),
            _ => None,
        };
        rows.push(Row {
            name: canary.id(),
            stage: recorded.map(|r| r.stage.clone()),
            status,
            since: recorded.and_then(|r| r.since.clone()),
            next: next_name,
            gate: verdict.as_ref().map(|(short, _)| short.clone()).or(gate.map(Gate::short)),
            why: verdict.as_ref().map(|(_, why)| why.clone()).or(gate.map(|g| g.to_string())),
            doing: recorded.and_then(crate::commands::doing),
            canary: recorded.and_then(|r| r.canary.clone()),
            reason: recorded.filter(|_| matches!(status, "aborted" | "aborting")).and_then(|r| r.reason.clone()),
            traffic: facts.as_ref().map_or(serde_json::Value::Null, |f| crate::plan::traffic_json(&f.traffic)),
            pods: facts.as_ref().map_or(serde_json::Value::Null, |f| crate::plan::pods_json(&f.pods)),
            of,
        });
    }
    match args.format {
        StatusFormat::Json => println!("{}", serde_json::to_string_pretty(&rows)?),
        StatusFormat::Text => print!("{}", text(&rows)),
    }
    crate::commands::broken::finish(&loaded.broken, Ok(Code::Ok))
}

fn text(rows: &[Row]) -> String {
    let cells: Vec<[String; 5]> = rows
        .iter()
        .map(|r| {
            let mut stage = match (&r.stage, r.of) {
                (Some(s), Some((k, n))) => format!("{s} ({k} of {n})"),
                (Some(s), None) => s.clone(),
                (None, _) => "-".into(),
            };
            if let Some(doing) = &r.doing {
                stage.push_str(&format!(", {doing}"));
            }
            let since = r.since.as_ref().map_or(String::new(), |s| format!("since {s}"));
            let next = match (&r.next, &r.gate) {
                (Some(next), Some(gate)) => format!("next: {next}, held: {gate}"),
                (None, Some(gate)) => format!("held: {gate}"),
                (Some(next), None) => format!("next: {next}"),
                (None, None) => String::new(),
            };
            let next = match (&r.reason, next.is_empty()) {
                (Some(reason), true) => format!("reason: {reason}"),
                (Some(reason), false) => format!("{next}, reason: {reason}"),
                (None, _) => next,
            };
            [r.name.clone(), stage, r.status.to_string(), since, next]
        })
        .collect();
    let widths: Vec<usize> = (0..5).map(|i| cells.iter().map(|c| c[i].chars().count()).max().unwrap_or(0)).collect();
    cells
        .iter()
        .map(|c| {
            let line: Vec<String> = c.iter().zip(&widths).map(|(cell, w)| format!("{cell:w$}")).collect();
            line.join("  ").trim_end().to_string() + "\n"
        })
        .collect()
}
