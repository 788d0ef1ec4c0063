//! `kanari status`: the committed state of each release at HEAD: its stage, its status, since
//! when, the state `promote` would commit next (once the gate opens, when one holds it), and the
//! gate that holds it.
//!
//! Statuses: `new` (nothing committed), `steady` (no canary), `ready` (promote moves it now),
//! `waiting` (a gate holds it), `complete` (at the last stage: finish it in the spec),
//! `restart` (the spec names another canary: the old one drains, then the new one is prepared),
//! `finish` (the spec has no canary any more: the old stable drains, then `steady`), `failing`
//! (the analysis failed: the next promote aborts), `aborting`
//! (the traffic is on its way back to stable; the next promote or abort scales the canary to 0
//! once it has drained), `aborted`.
//!
//! A commit on the way between two states (a scale-up before traffic moves, a drain after it
//! moved) shows in `doing` (`scaled up for 0-100`, `draining 50-50`), and a wait for new pods or
//! for traffic to drain in `gate` (`warmup until T`) and `why` (the whole sentence).
//!
//! The decision is `promote`'s own ([`crate::release::decide`], with Prometheus asked the same
//! way): every gate that holds the release is listed (`gate`: `approval, bake until T`; `why`:
//! the sentences), each analysis check that does not pass among them (`analysis:
//! success-rate`), and a release whose analysis fails so that the next promote aborts it has
//! the status `failing`, its next state `aborted` and the check in `aborts` (text: `the next
//! promote aborts: ...`).
//!
//! JSON (`--format json`): an array of objects with `name` (`namespace/name`), `stage` (or null),
//! `status`, `since` (or null), `next` (or null), `gate` (or null), `why` (or null), `doing` (or
//! null), `holds` (every gate that holds the release: objects with `gate` and `why`), `aborts`
//! (the failing check the next promote aborts for, or null), `canary` (the committed canary
//! version, or null), `reason` (why an aborted or
//! aborting release was aborted, or null), and `traffic` and `pods` (the committed overlay's, by
//! version, in the shape the README's "JSON output" gives; null when nothing is committed).

use anyhow::Result;
use serde::Serialize;

use crate::cli::{StatusArgs, StatusFormat};
use crate::commands::Workspace;
use crate::commands::commits::{Commits, now};
use crate::commands::fleet;
use crate::exit::Code;
use crate::plan::Recorded;
use crate::plan::Step;
use crate::release::{self, Evidence, Gate, Next, Observed, Position};

#[derive(Serialize)]
struct Row {
    name: String,
    stage: Option<String>,
    status: &'static str,
    since: Option<String>,
    next: Option<String>,
    /// Every gate that holds the release, in short forms, comma-separated.
    gate: Option<String>,
    /// Every gate that holds the release, in sentences, `; `-separated.
    why: Option<String>,
    /// Every gate that holds the release, one object each: `gate` (short) and `why`.
    holds: Vec<Hold>,
    /// The failing check the next promote aborts the release for, if it will.
    aborts: Option<String>,
    doing: Option<String>,
    canary: Option<String>,
    /// Why an aborted (or aborting) release was aborted: `kanari.dev/reason`.
    reason: Option<String>,
    /// The committed overlay's traffic and pods by version ([`crate::plan::traffic_json`],
    /// [`crate::plan::pods_json`]), or null when nothing is committed.
    traffic: serde_json::Value,
    pods: serde_json::Value,
    /// For an instance of a fleet: the fleet, the cluster, the wave and the fleet's position
    /// (absent for a release that is no fleet).
    #[serde(skip_serializing_if = "Option::is_none")]
    fleet: Option<FleetRow>,
    #[serde(skip)]
    of: Option<(usize, usize)>,
}

#[derive(Serialize)]
struct FleetRow {
    name: String,
    cluster: String,
    wave: u32,
    position: String,
}

#[derive(Serialize)]
struct Hold {
    gate: String,
    why: String,
}

pub(super) fn run(ws: &Workspace, args: &StatusArgs) -> Result<Code> {
    let git = Commits::open(ws)?;
    // Releases whose specs do not load are named at the end (exit 2); the others are shown.
    let (head, loaded) = git.loaded_at_head(&args.selection.releases)?;
    let canaries = loaded.canaries;
    let now = now()?;
    let mut rows = Vec::new();
    let committed = git.map_committed(head, &canaries, |_, c| Ok(c.into_observed()))?;
    let (observed, recorded): (Vec<Observed>, Vec<Option<Recorded>>) = committed.into_iter().unzip();
    // What Prometheus says, asked as `promote` asks it: the decision below is promote's.
    // A check whose query cannot be planned is shown as what holds the release.
    let ask = fleet::ask_now(ws, now);
    let evidence: Vec<Evidence> = ask(&canaries, &recorded, &observed);
    let asked: Vec<Option<&Evidence>> = evidence.iter().map(Some).collect();
    let views = fleet::views_of(&git, head, &canaries, &recorded, &observed, &asked, &ask, now)?;
    let committed = observed.iter().zip(&recorded);
    for ((canary, (observed, recorded)), mut evidence) in canaries.iter().zip(committed).zip(evidence.clone()) {
        let recorded = recorded.as_ref();
        let facts = recorded.map(|_| observed);
        let position = release::position(canary, recorded)?;
        let view = canary.fleet.as_ref().and_then(|_| views.get(&canary.fleet_id()));
        evidence.fleet = view.cloned();
        let decision = release::decide(canary, recorded, observed, now, &release::Options::default(), &evidence)?;
        let next = &decision.next;
        let gates: &[Gate] = match next {
            Next::Held(gates) => gates,
            _ => &[],
        };
        // Held in a stage, `next` is where the release goes once the gates open.
        let next_name = match (next, position) {
            (Next::Move { to }, _) => Some(crate::commands::state_text(canary, to)),
            (Next::Held(gates), Position::At(Step::Stage(i)))
                if recorded.is_some_and(|r| r.toward.is_none())
                    && !gates.iter().any(|g| matches!(g, Gate::Warmup { .. })) =>
            {
                canary.stages.get(i + 1).map(|s| s.name.clone())
            }
            _ => None,
        };
        let status = match decision.aborts {
            Some(_) => "failing",
            None => release::status(canary, position, recorded, next),
        };
        let of = match position {
            Position::At(Step::Stage(i)) => Some((i + 1, canary.stages.len())),
            _ => None,
        };
        let joined = |parts: Vec<String>, by: &str| (!parts.is_empty()).then(|| parts.join(by));
        rows.push(Row {
            name: canary.id(),
            stage: recorded.map(|r| r.stage.clone()),
            status,
            since: recorded.and_then(|r| r.since).map(|t| t.to_string()),
            next: next_name,
            gate: joined(gates.iter().map(Gate::short).collect(), ", "),
            why: joined(gates.iter().map(ToString::to_string).collect(), "; "),
            holds: gates.iter().map(|g| Hold { gate: g.short(), why: g.to_string() }).collect(),
            aborts: decision.aborts.clone(),
            doing: recorded.and_then(crate::commands::doing),
            canary: recorded.and_then(|r| r.canary.clone()),
            reason: recorded.filter(|_| matches!(status, "aborted" | "aborting")).and_then(|r| r.reason.clone()),
            traffic: facts.map_or(serde_json::Value::Null, |f| crate::plan::traffic_json(&f.traffic)),
            pods: facts.map_or(serde_json::Value::Null, |f| crate::plan::pods_json(&f.pods)),
            fleet: canary.fleet.as_ref().zip(view).map(|(member, view)| FleetRow {
                name: canary.fleet_id(),
                cluster: member.cluster.clone(),
                wave: member.wave,
                position: release::waves::position(canary, view).unwrap_or_default(),
            }),
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
            let next = match (&r.aborts, next.is_empty()) {
                (Some(check), true) => format!("the next promote aborts: {check}"),
                (Some(check), false) => format!("{next}, the next promote aborts: {check}"),
                (None, _) => next,
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
    let mut out: String = cells
        .iter()
        .map(|c| {
            let line: Vec<String> = c.iter().zip(&widths).map(|(cell, w)| format!("{cell:w$}")).collect();
            line.join("  ").trim_end().to_string() + "\n"
        })
        .collect();
    // Each fleet's position, once, after its instances' lines.
    let mut said = std::collections::BTreeSet::new();
    for fleet in rows.iter().filter_map(|r| r.fleet.as_ref()) {
        if said.insert(&fleet.name) {
            out.push_str(&format!("{}: {}\n", fleet.name, fleet.position));
        }
    }
    out
}
