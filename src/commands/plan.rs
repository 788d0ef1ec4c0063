//! `kanari plan`: each release as a table of the states it commits on its way (traffic, matches,
//! pods, gates), with the current one marked: `steady`, `prepare`, each stage, the intermediate
//! commits make before break adds where a move cannot be one commit (`0-100, draining 50-50`: the
//! traffic moved, the pods it left stay until the next promote), and `aborted`. A recorded state
//! the spec no longer describes (the spec finishes the release, or names a new canary, and no
//! promote has committed it yet) comes first, as the overlay's files show it
//! (`0-100 of v2 (recorded)`), and is the one marked. Formats: text for terminals, JSON for
//! scripts, Markdown for comments.
//!
//! In the tables, `—` is a version that does not run in that state, `0` is zero (no traffic,
//! no pods), and an empty cell is "not applicable" (no match rule, no gate).
//!
//! JSON: an array with one object per release: `name` (`namespace/name`), `file`, `output`,
//! `stable`, `canary` (or null), `current` (the state the overlay records, resolved against the
//! spec), and `states`: objects with `state`, `current` (bool), `traffic` (version → percent),
//! `matches` (strings), `pods` (version → `{"replicas": 10}` or `{"hpa": {"min": 1, "max": 10}}`:
//! the README's "JSON output"), `gate` (strings) and, in a
//! mirror stage, `mirror` (`mirror 20% -> v2`, also shown in the text table's MATCH column).

use std::cell::RefCell;
use std::io::Write;

use anyhow::Result;
use serde::Serialize;
use serde::ser::{SerializeSeq, Serializer};
use serde_json::{Value, json};

use crate::cli::{PlanArgs, PlanFormat};
use crate::commands::{Workspace, by_version, state_text};
use crate::exit::Code;
use crate::plan::{self, State, Summary};
use crate::release;
use crate::spec::Canary;

struct Release<'a> {
    canary: &'a Canary,
    current: String,
    /// The recorded state, when the spec no longer describes it: shown first, and current.
    outdated: Option<Summary>,
    states: Vec<Summary>,
    /// Which of `states` the release is in (none when `outdated` is).
    at: Vec<bool>,
}

impl Release<'_> {
    /// Every row, the outdated one first, each with whether it is the current state.
    fn rows(&self) -> impl Iterator<Item = (&Summary, bool)> {
        let outdated = self.outdated.iter().map(|s| (s, true));
        outdated.chain(self.states.iter().zip(self.at.iter().copied()))
    }
}

pub(super) fn run(ws: &Workspace, args: &PlanArgs) -> Result<Code> {
    let canaries = ws.releases(&args.selection.releases)?;
    // Each release is printed as soon as it is planned, so memory holds one release's states,
    // not every release's; the output is the same bytes as printing them all at the end.
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    if args.format == PlanFormat::Json {
        let list = JsonList { ws, canaries: &canaries, failed: RefCell::new(None) };
        if let Err(e) = serde_json::to_writer_pretty(&mut out, &list) {
            return Err(list.failed.into_inner().unwrap_or_else(|| e.into()));
        }
        writeln!(out)?;
    }
    let mut fleets = std::collections::BTreeSet::new();
    for (i, canary) in canaries.iter().enumerate().filter(|_| args.format != PlanFormat::Json) {
        let r = release_of(ws, canary)?;
        let piece = match args.format {
            PlanFormat::Markdown => markdown(&r),
            PlanFormat::Mermaid => mermaid(&r),
            _ => text(&r),
        };
        // A fleet's waves come once, before its first instance.
        let waves = match (args.format, fleets.insert(canary.fleet_id())) {
            (PlanFormat::Text, true) => waves(canary, "", "").map(|w| w + "\n"),
            (PlanFormat::Markdown, true) => {
                waves(canary, "- ", "`").map(|w| format!("### Fleet `{}`\n\n{w}\n", canary.fleet_id()))
            }
            _ => None,
        };
        write!(out, "{}{}{piece}", if i == 0 { "" } else { "\n" }, waves.unwrap_or_default())?;
    }
    out.flush()?;
    Ok(Code::Ok)
}

/// The releases as one JSON list, each planned as the list is written; the first error stops
/// the list and is kept, so that it reaches the user as it was raised.
struct JsonList<'a> {
    ws: &'a Workspace,
    canaries: &'a [Canary],
    failed: RefCell<Option<anyhow::Error>>,
}

impl Serialize for JsonList<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut list = s.serialize_seq(Some(self.canaries.len()))?;
        for canary in self.canaries {
            match release_of(self.ws, canary) {
                Ok(r) => list.serialize_element(&to_json(&r))?,
                Err(e) => {
                    let message = format!("{e:#}");
                    *self.failed.borrow_mut() = Some(e);
                    return Err(serde::ser::Error::custom(message));
                }
            }
        }
        list.end()
    }
}

/// One release's table: every state it commits on its way, the current one marked. A recorded
/// state the spec no longer describes (a finish edit, or a new canary version, not yet promoted)
/// is the first row, read from the overlay's files, and the one marked: the spec's states are
/// where the release goes next.
fn release_of<'a>(ws: &Workspace, canary: &'a Canary) -> Result<Release<'a>> {
    let recorded = ws.recorded(canary)?;
    let outdated = match &recorded {
        Some(r) if release::position(canary, Some(r))? == release::Position::Outdated => {
            Some(recorded_row(ws, canary, r)?)
        }
        _ => None,
    };
    let current = release::current(canary, recorded.as_ref())?;
    let current_text = match &outdated {
        Some(row) => row.state.clone(),
        None => state_text(canary, &current),
    };
    // A state of the walk is the current one when it stands where the recorded one does: the
    // same step, scaled up toward the same state or else draining the same one.
    let here = |s: &State| {
        outdated.is_none()
            && s.step == current.step
            && s.toward == current.toward
            && (s.toward.is_some() || s.holding == current.holding)
    };
    let (states, at) = release::walk(canary)
        .into_iter()
        .map(|state| {
            let at = here(&state);
            let state = if at { current.clone() } else { state };
            let mut summary = plan::summarize(canary, state.step, &plan::plan(canary, &state));
            // A later wave's instance leaves `steady` once the wave before it has passed.
            if let Some(member) = canary.fleet.as_ref().filter(|m| m.wave > 1 && state.step == plan::Step::Steady) {
                summary.gate.push(format!("wave {} passed", member.wave - 1));
                summary.gate.extend(
                    member
                        .fleet
                        .waves
                        .describe()
                        .into_iter()
                        .flat_map(|d| d.split(", ").map(str::to_string).collect::<Vec<_>>()),
                );
            }
            (Summary { state: state_text(canary, &state), ..summary }, at)
        })
        .unzip();
    Ok(Release { canary, current: current_text, outdated, states, at })
}

/// The recorded state of a release whose spec has moved on, as its overlay's files show it:
/// `0-100 of v2 (recorded)`.
fn recorded_row(ws: &Workspace, canary: &Canary, r: &plan::Recorded) -> Result<Summary> {
    let owned = crate::overlay::read(&ws.root, &canary.output)?.map(|e| e.owned).unwrap_or_default();
    let names: Vec<String> = owned.into_iter().collect();
    let facts = crate::review::facts(&crate::overlay::read_named(&ws.root, &canary.output, &names)?);
    let label = match (&r.canary, crate::commands::doing(r)) {
        (Some(v), Some(doing)) => format!("{}, {doing}, of {v} (recorded)", r.stage),
        (Some(v), None) => format!("{} of {v} (recorded)", r.stage),
        (None, Some(doing)) => format!("{}, {doing} (recorded)", r.stage),
        (None, None) => format!("{} (recorded)", r.stage),
    };
    Ok(Summary {
        state: label,
        traffic: facts.traffic.iter().map(|(v, w)| (v.clone(), u32::try_from(*w).unwrap_or(u32::MAX))).collect(),
        matches: facts.matches.iter().map(ToString::to_string).collect(),
        mirror: facts.mirror,
        pods: facts.pods,
        gate: Vec::new(),
    })
}

/// A fleet's waves, a line each after a heading (text), or as a list (Markdown: `bullet` and
/// `quote` around names): the clusters of each wave and the stages each instance walks, and what
/// holds a wave after the first. None for a release that is no fleet.
fn waves(canary: &Canary, bullet: &str, quote: &str) -> Option<String> {
    let member = canary.fleet.as_ref()?;
    let fleet = &member.fleet;
    let stages: Vec<&str> = canary.stages.iter().map(|s| s.name.as_str()).collect();
    let mut lines = vec![format!(
        "{}: a fleet of {} clusters in {} waves ({})",
        canary.fleet_id(),
        fleet.clusters.len(),
        fleet.last_wave,
        canary.file.display()
    )];
    if !bullet.is_empty() {
        lines[0] = format!("{} clusters in {} waves:", fleet.clusters.len(), fleet.last_wave);
    }
    let held = fleet.waves.describe().map(|d| format!(", then {d}")).unwrap_or_default();
    for wave in 1..=fleet.last_wave {
        let clusters: Vec<String> = fleet
            .wave(wave)
            .map(|c| match c.replicas {
                Some(n) => format!("{quote}{}{quote} ({n} pods)", c.name),
                None => format!("{quote}{}{quote}", c.name),
            })
            .collect();
        let after = match wave {
            1 => String::new(),
            _ => format!("; starts once wave {} has passed its last stage{held}", wave - 1),
        };
        let indent = if bullet.is_empty() { "  " } else { bullet };
        lines.push(format!("{indent}wave {wave}: {}: {}{after}", clusters.join(", "), stages.join(", ")));
    }
    Some(lines.join("\n"))
}

fn heading(r: &Release) -> String {
    let c = r.canary;
    let versions = match &c.canary {
        Some(v) => format!("{} -> {}", c.stable.version, v.version),
        None => format!("{} (no canary)", c.stable.version),
    };
    format!("{}  {versions}  ({}, output {})", c.id(), c.file.display(), c.output.display())
}

/// A version that does not run in a state (no Deployment, no route), unlike `0`.
const NOT_RUNNING: &str = "—";

/// Rows of cells, one per state, with the header first.
fn rows(r: &Release) -> Vec<Vec<String>> {
    let states: Vec<(&Summary, bool)> = r.rows().collect();
    let traffic: Vec<Vec<(String, String)>> =
        states.iter().map(|(s, _)| s.traffic.iter().map(|(v, w)| (v.clone(), w.to_string())).collect()).collect();
    let pods: Vec<Vec<(String, String)>> = states
        .iter()
        .map(|(s, _)| s.pods.iter().map(|(v, c)| (v.clone(), plan::PodCount::text(*c))).collect())
        .collect();
    // Traffic of every state, then pods of every state: the versions are those the traffic names.
    let sides: Vec<&[(String, String)]> = traffic.iter().chain(&pods).map(Vec::as_slice).collect();
    let table = by_version(&sides);
    let per_version = |side: usize| {
        table.iter().map(|(_, values)| values[side].map_or(NOT_RUNNING, String::as_str)).collect::<Vec<_>>().join(" / ")
    };
    let label = table.iter().map(|(v, _)| *v).collect::<Vec<_>>().join(" / ");
    let mut out = vec![vec![
        "".to_string(),
        "STATE".to_string(),
        format!("TRAFFIC {label}"),
        "MATCH".to_string(),
        format!("PODS {label}"),
        "GATE".to_string(),
    ]];
    let n = states.len();
    for (i, (s, at)) in states.iter().enumerate() {
        out.push(vec![
            if *at { "*".into() } else { "".into() },
            s.state.clone(),
            per_version(i),
            match s.matches.iter().chain(&s.mirror).cloned().collect::<Vec<_>>() {
                routing if routing.is_empty() => String::new(),
                routing => routing.join(" | "),
            },
            per_version(n + i),
            s.gate.join(" + "),
        ]);
    }
    out
}

fn text(r: &Release) -> String {
    let rows = rows(r);
    let widths: Vec<usize> =
        (0..rows[0].len()).map(|i| rows.iter().map(|row| row[i].chars().count()).max().unwrap_or(0)).collect();
    let mut out = heading(r) + "\n";
    for row in &rows {
        let cells: Vec<String> = row.iter().zip(&widths).map(|(cell, w)| format!("{cell:w$}")).collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

fn markdown(r: &Release) -> String {
    let escape = |s: &str| s.replace('|', "\\|");
    let rows = rows(r);
    let mut out = format!("### `{}`\n\n", r.canary.id());
    let c = r.canary;
    let canary = c.canary.as_ref().map_or("none".to_string(), |v| format!("`{}`", v.version));
    out.push_str(&format!(
        "Stable `{}`, canary {canary}; spec `{}`, output `{}`; current state **{}**.\n\n",
        c.stable.version,
        c.file.display(),
        c.output.display(),
        r.current
    ));
    for (i, row) in rows.iter().enumerate() {
        let cells: Vec<String> = row[1..]
            .iter()
            .map(|cell| {
                let cell = escape(cell);
                if i > 0 && row[0] == "*" && !cell.is_empty() { format!("**{cell}**") } else { cell }
            })
            .collect();
        out.push_str(&format!("| {} |\n", cells.join(" | ")));
        if i == 0 {
            out.push_str(&format!("|{}\n", "---|".repeat(cells.len())));
        }
    }
    if r.canary.canary.is_some() {
        out.push_str(&format!("\n```mermaid\n{}```\n", mermaid(r)));
    }
    out
}

/// The Mermaid chart of the canary's share per stage, the current stage marked
/// ([`crate::commands::chart`]); without a fence (`markdown` adds one).
fn mermaid(r: &Release) -> String {
    crate::commands::chart::mermaid(r.canary, Some(&r.current), None)
}

fn to_json(r: &Release) -> Value {
    let c = r.canary;
    let states: Vec<Value> = r
        .rows()
        .map(|(s, at)| {
            let mut state = json!({
                "state": s.state,
                "current": at,
                "traffic": plan::traffic_json(&s.traffic),
                "matches": s.matches,
                "pods": plan::pods_json(&s.pods),
                "gate": s.gate,
            });
            if let Some(mirror) = &s.mirror {
                state["mirror"] = json!(mirror);
            }
            state
        })
        .collect();
    let mut release = json!({
        "name": c.id(),
        "file": c.file,
        "output": c.output,
        "stable": c.stable.version,
        "canary": c.canary.as_ref().map(|v| &v.version),
        "current": r.current,
        "states": states,
    });
    if let Some(member) = &c.fleet {
        release["fleet"] = json!({
            "name": c.fleet_id(),
            "cluster": member.cluster,
            "wave": member.wave,
            "waves": member.fleet.last_wave,
        });
    }
    release
}
