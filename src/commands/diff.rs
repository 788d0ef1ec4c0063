//! `kanari diff`: what the specs in the work tree render, against what is committed at HEAD (or
//! `--base REV`). The state rendered is the committed one (as `render` would re-render it), or
//! `--stage NAME`, or with `--next` the one `promote` would commit. Exit 1 when anything differs.
//!
//! JSON (`--format json`): an array with one object per release: `name` (`namespace/name`),
//! `output`, `from` (the committed stage, or null), `to` (the rendered state), `changed` (bool),
//! `held` (with `--next`, what holds the release where it is: `needs approval of 50-50`; else
//! null), `before` and `after` (stage, traffic, pods, matches: see the README's "JSON output"),
//! `files`: objects with `path`, `kind` (`added`, `removed`, `modified`), `added` and
//! `removed` (line counts) and `diff` (the unified diff), and `spec`: what the work tree's spec
//! changes against the base's ([`crate::review::changes`]): `changes` (objects with `subject`,
//! `field`, `before`, `after`; an empty side is a value added or removed), `restarts` (objects
//! with `version` and `why`) and `warnings` (strings: those the head raises and the base did
//! not), or `{"error": why}` when the base's specs do not load. Top level fields are unchanged
//! for scripts; text output adds a `spec:` line per change.
//!
//! Exit 1 when anything differs: an overlay, a release's spec against the base's, or a release
//! the base defines whose spec is gone (said under the comment's heading, and as a
//! `removed from the specs` line in text).
//!
//! The comment (`--format markdown`) is [`comment`]'s. Its heading names the head as the pull
//! request and its head commit when `--pull-request` and `--head-commit` say them (the
//! environment's `KANARI_PULL_REQUEST` and `KANARI_HEAD_COMMIT`, which kanari's GitHub Action
//! sets on a `pull_request` event): in Actions the work tree is a merge commit nobody knows.
//!
//! With `--analysis`, the work tree is a pull request's head and not trusted: a Prometheus is
//! asked (with the token and headers) only when `--prometheus` or the base's committed specs
//! name it; a release whose URL only the head names is not asked, and its analysis says why
//! ([`analyze::answers_trusting`]).

use anyhow::{Context, Result};
use serde_json::json;

use crate::analysis::Outcome;
use crate::cli::{DiffArgs, DiffFormat};
use crate::commands::analyze;
use crate::commands::comment::{self, MARKDOWN_LIMIT, ReleaseDiff, held_text};
use crate::commands::commits::{Commits, Committed, now};
use crate::commands::fleet;
use crate::commands::{Workspace, named_state};
use crate::diff::{self, Change};
use crate::exit::Code;
use crate::plan;
use crate::plan::Observed;
use crate::release::{self, Evidence, Next};
use crate::review::{self, SpecChanges};
use crate::spec::Canary;

pub(super) fn run(ws: &Workspace, args: &DiffArgs) -> Result<Code> {
    let canaries = ws.releases(&args.selection.releases)?;
    let renderer = ws.renderer()?;
    let git = Commits::open(ws)?;
    let base = match &args.base {
        Some(rev) => Some(git.repo.resolve(rev)?),
        None => git.repo.head_commit()?,
    };
    let now = now()?;
    // The two sides compared, for the comment's first line.
    let compared = {
        let base_name = args.base.as_deref().unwrap_or("HEAD");
        let at =
            |id: Option<crate::repo::CommitId>| id.map_or(String::new(), |id| format!(" (`{}`)", &id.short()[..7]));
        let work_tree = git.repo.head_commit()?.map_or(String::new(), |id| format!(" at `{}`", &id.short()[..7]));
        let short = |sha: &str| sha[..sha.len().min(7)].to_string();
        let head = match (args.pull_request, &args.head_commit) {
            (Some(n), Some(sha)) => format!("pull request #{n} at `{}`", short(sha)),
            (Some(n), None) => format!("pull request #{n} (the work tree{work_tree})"),
            (None, Some(sha)) => format!("head `{}`", short(sha)),
            (None, None) => format!("head: the work tree{work_tree}"),
        };
        format!("Base `{base_name}`{} → {head}.", at(base))
    };
    // The base's specs, to say what the work tree's change: a release the base lacks is added,
    // and so is every release of a base without the specs folder.
    let base_specs: Result<std::collections::BTreeMap<String, Canary>, String> = match base {
        Some(base) if git.spec_files(base)?.is_none() => Ok(Default::default()),
        Some(base) => git
            .loaded_at(base, &[])
            .map(|loaded| loaded.canaries.into_iter().map(|c| (c.id(), c)).collect())
            .map_err(|e| format!("{e:#}")),
        None => Ok(Default::default()),
    };
    // The releases the base defines and the work tree no longer does (only when every release
    // is diffed): a pull request that deletes a spec says so.
    let removed: Vec<(String, String)> = match (&base_specs, args.selection.releases.is_empty()) {
        (Ok(specs), true) => specs
            .iter()
            .filter(|(id, _)| !canaries.iter().any(|c| &c.id() == *id))
            .map(|(id, c)| (id.clone(), c.output.display().to_string()))
            .collect(),
        _ => Vec::new(),
    };
    // With `--analysis`, Prometheus is asked first, as `promote` asks it, so that `--next` shows
    // promote's own decision; without it no gate of the analysis is judged. The work tree is a
    // pull request's head, not trusted: only a Prometheus the base's specs (or `--prometheus`)
    // name is asked, and gets the token.
    let answers = match args.analysis {
        true => {
            let committed = git.map_committed(base, &canaries, |_, c| Ok(c.into_observed()))?;
            let (observed, recorded): (Vec<_>, Vec<_>) = committed.into_iter().unzip();
            // A base whose specs do not load names no Prometheus.
            let trusted =
                base_specs.as_ref().map_or_else(|_| Default::default(), |specs| analyze::trusted_urls(specs.values()));
            let base_name = args.base.as_deref().unwrap_or("HEAD");
            Some(analyze::answers_trusting(ws, &canaries, &recorded, &observed, now, (&trusted, base_name)))
        }
        false => None,
    };
    let evidence: Vec<Option<Evidence>> = canaries
        .iter()
        .enumerate()
        .map(|(i, _)| {
            answers.as_ref().map(|a| match &a[i] {
                Ok(a) => a.evidence.clone(),
                Err(e) => Evidence::unavailable(format!("{e:#}")),
            })
        })
        .collect();
    // With `--next`, a fleet's instances are decided with where all of them stand.
    let evidence = match args.next && canaries.iter().any(|c| c.fleet.is_some()) {
        true => with_fleets(&git, base, &canaries, evidence, now)?,
        false => evidence,
    };
    let progress = crate::commands::Progress::new(ws, "diffing", canaries.len());
    let index = |canary: &Canary| canaries.iter().position(|c| std::ptr::eq(c, canary)).expect("one of them");
    let diffs: Vec<ReleaseDiff> = git.map_committed(base, &canaries, |canary, committed| {
        progress.tick();
        let spec = match &base_specs {
            Ok(specs) => Ok(review::changes::between(specs.get(&canary.id()), canary)),
            Err(why) => Err(why.clone()),
        };
        release_diff(canary, &committed, args, now, &renderer, evidence[index(canary)].as_ref(), spec)
    })?;
    let analysis: Option<Vec<AnalysisNow>> = answers.map(|answers| {
        answers
            .into_iter()
            .map(|a| match a {
                Ok(a) => match (a.judged, a.evidence.checks) {
                    (Some(judged), _) => Some(Ok(judged)),
                    (None, Some(Err(why))) => Some(Err(why)),
                    (None, _) => None,
                },
                Err(e) => Some(Err(format!("{e:#}"))),
            })
            .collect()
    });
    let judged = |i: usize| analysis.as_ref().and_then(|a| a[i].as_ref());
    let out = match args.format {
        DiffFormat::Text => {
            let mut out = String::new();
            let mut wave = None;
            for (i, d) in diffs.iter().enumerate() {
                if let Some(line) = crate::commands::wave_heading(d.canary, &mut wave) {
                    out.push_str(&format!("{line}\n"));
                }
                out.push_str(&text(d, ws.color));
                match judged(i) {
                    Some(Ok((_, checks))) => {
                        checks.iter().for_each(|c| out.push_str(&format!("  analysis: {}\n", c.line())))
                    }
                    Some(Err(why)) => out.push_str(&format!("  analysis: {why}\n")),
                    None => {}
                }
            }
            out
        }
        DiffFormat::Json => {
            let list: Vec<serde_json::Value> = diffs
                .iter()
                .enumerate()
                .map(|(i, d)| {
                    let mut v = to_json(d);
                    if analysis.is_some() {
                        v["analysis"] = match judged(i) {
                            Some(Ok((window, checks))) => json!({"window": window, "checks": checks}),
                            Some(Err(why)) => json!({"error": why}),
                            None => serde_json::Value::Null,
                        };
                    }
                    v
                })
                .collect();
            serde_json::to_string_pretty(&list)? + "\n"
        }
        DiffFormat::Markdown => {
            let mut out = comment::markdown(&diffs, &removed, &compared, MARKDOWN_LIMIT);
            if analysis.is_some() {
                let mut rows = Vec::new();
                let mut errors = String::new();
                for (i, d) in diffs.iter().enumerate() {
                    match judged(i) {
                        Some(Ok((window, checks))) => rows.push((
                            d.canary.id(),
                            d.from.clone().unwrap_or_default(),
                            window.clone(),
                            checks.clone(),
                        )),
                        Some(Err(why)) => errors.push_str(&format!("- `{}`: {why}\n", d.canary.id())),
                        None => {}
                    }
                }
                out.push('\n');
                out.push_str(&analyze::markdown(&rows));
                out.push_str(&errors);
                if rows.is_empty() && errors.is_empty() {
                    out.push_str("No release is in a stage that sends the canary traffic.\n");
                }
            }
            out
        }
    };
    let out = match args.format {
        DiffFormat::Text => {
            let gone: String = removed.iter().map(|(id, _)| format!("{id}: removed from the specs\n")).collect();
            out + &gone
        }
        _ => out,
    };
    print!("{out}");
    // Anything differs: an overlay, a release's spec against the base's, or a release removed.
    let spec_changed = |d: &ReleaseDiff| d.spec.as_ref().is_ok_and(|s| !s.is_empty());
    let differs = diffs.iter().any(|d| !d.changes.is_empty() || spec_changed(d)) || !removed.is_empty();
    Ok(if differs { Code::Differences } else { Code::Ok })
}

/// The evidence of each release with its fleet's view ([`fleet::views_of`]), read at `base`;
/// an instance the run did not select counts as having no analysis due.
fn with_fleets(
    git: &Commits,
    base: Option<crate::repo::CommitId>,
    canaries: &[Canary],
    mut evidence: Vec<Option<Evidence>>,
    now: jiff::Timestamp,
) -> Result<Vec<Option<Evidence>>> {
    // Only the fleets' instances are read (again): a release that is no fleet needs no view.
    let (fleets, asked): (Vec<Canary>, Vec<Option<&Evidence>>) =
        canaries.iter().zip(&evidence).filter(|(c, _)| c.fleet.is_some()).map(|(c, e)| (c.clone(), e.as_ref())).unzip();
    let read = git.map_committed(base, &fleets, |_, c| Ok(c.into_observed()))?;
    let (observed, recorded): (Vec<_>, Vec<_>) = read.into_iter().unzip();
    let views = fleet::views_of(git, base, &fleets, &recorded, &observed, &asked, &fleet::no_analysis, now)?;
    for (canary, evidence) in canaries.iter().zip(&mut evidence) {
        if let Some(view) = canary.fleet.as_ref().and_then(|_| views.get(&canary.fleet_id())) {
            evidence.get_or_insert_with(Evidence::default).fleet = Some(std::sync::Arc::clone(view));
        }
    }
    Ok(evidence)
}

/// Each release's analysis run now, when it is in a stage with canary traffic: its window and
/// checks, or why they could not run (a comment shows that rather than failing).
type AnalysisNow = Option<Result<(String, Vec<Outcome>), String>>;

fn release_diff<'a>(
    canary: &'a Canary,
    committed: &Committed,
    args: &DiffArgs,
    now: jiff::Timestamp,
    renderer: &crate::commands::Renderer,
    evidence: Option<&Evidence>,
    spec: Result<SpecChanges, String>,
) -> Result<ReleaseDiff<'a>> {
    let recorded = committed.recorded.as_ref();
    let current = release::current(canary, recorded)?;
    let mut held = Vec::new();
    let mut aborts = None;
    let state = if let Some(name) = &args.stage {
        named_state(canary, name, current)?
    } else if args.next {
        let observed = committed.observed();
        let options = release::Options::default();
        let decision = match evidence {
            Some(evidence) => release::decide(canary, recorded, observed, now, &options, evidence)?,
            None => release::Decision {
                next: release::next(canary, recorded, observed, now, &options)?,
                aborts: None,
                analysis: Vec::new(),
            },
        };
        aborts = decision.aborts;
        match decision.next {
            Next::Move { to } => to,
            Next::Stay { .. } => current,
            Next::Held(gates) => {
                held = gates;
                current
            }
        }
    } else {
        current
    };
    let gate = gate_line(canary, state.step, &held, now);
    let mut planned = plan::plan(canary, &state);
    // The comment of a `--next` diff cannot know the time the merge's promote records (the clock
    // here is not it): a time it records anew reads as a placeholder.
    if args.next && args.format == DiffFormat::Markdown && state.since != recorded.and_then(|r| r.since) {
        planned.annotations.insert(plan::key("since"), comment::SINCE_PLACEHOLDER.to_string());
    }
    committed.carry_into(&mut planned)?;
    let rendered = renderer.render(&planned, &canary.file).with_context(|| format!("release `{}`", canary.id()))?;
    let changes = diff::changes(&canary.output, &committed.files, &rendered.files);
    // The facts cost a YAML parse of both sides: only the formats that show them pay for it
    // (JSON always has them; Markdown's table is shown for a release that changed).
    let shows_facts = match args.format {
        DiffFormat::Text => false,
        DiffFormat::Json => true,
        DiffFormat::Markdown => !changes.is_empty(),
    };
    let (before, after) = if shows_facts {
        let rendered_files = rendered.files.into_iter().map(|(k, v)| (k.into(), v)).collect();
        (committed.observed().clone(), review::facts(&rendered_files))
    } else {
        (Observed::default(), Observed::default())
    };
    Ok(ReleaseDiff {
        canary,
        from: recorded.map(|r| r.stage.clone()),
        to: crate::commands::state_text(canary, &state),
        changes,
        before,
        after,
        spec,
        gate,
        next: args.next,
        held: held.iter().map(|g| g.held(now)).collect(),
        aborts,
    })
}

/// Where `step` stands among the stages, and the gate that holds the release (`held`) or else
/// the one that guards the stage after it: `stage 3 of 4; needs approval before the next stage`.
fn gate_line(canary: &Canary, step: plan::Step, held: &[release::Gate], now: jiff::Timestamp) -> Option<String> {
    let left = |until: &jiff::Timestamp| {
        let secs = until.duration_since(now).as_secs().max(0) as u64;
        // Rounded up: a bake with 30 seconds left has not ended.
        crate::spec::format_duration(std::time::Duration::from_secs(secs.div_ceil(60) * 60))
    };
    let place = match step {
        plan::Step::Stage(i) => Some(format!("stage {} of {}", i + 1, canary.stages.len())),
        _ => None,
    };
    let said = |gate: &release::Gate| match gate {
        release::Gate::Approval { .. } => "needs approval (`kanari approve`)".to_string(),
        release::Gate::Bake { duration, until, .. } => format!("bake {duration}, {} left", left(until)),
        release::Gate::Warmup { until, why } => format!("{why}, {} left", left(until)),
        gate => gate.to_string(),
    };
    let guard = match (held, step) {
        ([_, ..], _) => Some(format!("held: {}", held.iter().map(said).collect::<Vec<_>>().join("; "))),
        ([], plan::Step::Stage(i)) => {
            let pause = &canary.stages[i].pause;
            let mut needs = Vec::new();
            if pause.approval {
                needs.push("needs approval".to_string());
            }
            if let Some(d) = pause.duration {
                needs.push(format!("bakes {}", crate::spec::format_duration(d)));
            }
            (!needs.is_empty()).then(|| format!("{} before the next stage", needs.join(" and ")))
        }
        ([], _) => None,
    };
    match (place, guard) {
        (None, None) => None,
        (Some(p), None) | (None, Some(p)) => Some(p),
        (Some(p), Some(g)) => Some(format!("{p}; {g}")),
    }
}

fn headline(d: &ReleaseDiff) -> String {
    let from = d.from.as_deref().unwrap_or("(nothing committed)");
    let moves = if d.from.as_deref() == Some(d.to.as_str()) { d.to.clone() } else { format!("{from} -> {}", d.to) };
    match (held_text(d), d.changes.is_empty()) {
        (Some(held), true) => return format!("{}: {moves}: {held}\n", d.canary.id()),
        (None, true) => return format!("{}: {moves}: no changes\n", d.canary.id()),
        _ => {}
    }
    let (added, removed) = d.changes.iter().map(Change::stat).fold((0, 0), |a, s| (a.0 + s.0, a.1 + s.1));
    let n = d.changes.len();
    format!("{}: {moves}: {n} file{} changed, +{added} -{removed}\n", d.canary.id(), if n == 1 { "" } else { "s" })
}

fn text(d: &ReleaseDiff, color: bool) -> String {
    let mut out = paint(&headline(d), BOLD, color);
    if let Some(held) = held_text(d).filter(|_| !d.changes.is_empty()) {
        out.push_str(&format!("{held}\n"));
    }
    match &d.spec {
        Ok(spec) => {
            for change in &spec.changes {
                out.push_str(&format!("spec: {}\n", change.markdown()));
            }
            for restart in &spec.restarts {
                out.push_str(&format!("spec: restarts the pods of `{}`: {}\n", restart.version, restart.why));
            }
            for warning in &spec.warnings {
                out.push_str(&format!("spec: warning: {warning}\n"));
            }
        }
        Err(why) => out.push_str(&format!("spec: the base's spec could not be read: {why}\n")),
    }
    for change in &d.changes {
        for line in change.unified().split_inclusive('\n') {
            let style = match line.as_bytes().first() {
                _ if line.starts_with("+++") || line.starts_with("---") => BOLD,
                Some(b'+') => GREEN,
                Some(b'-') => RED,
                Some(b'@') => CYAN,
                _ => "",
            };
            out.push_str(&paint(line, style, color));
        }
    }
    out
}

const BOLD: &str = "\x1b[1m";
const GREEN: &str = "\x1b[32m";
const RED: &str = "\x1b[31m";
const CYAN: &str = "\x1b[36m";

/// `line` in `style` (its newline outside the color), or as it is.
fn paint(line: &str, style: &str, color: bool) -> String {
    if !color || style.is_empty() {
        return line.to_string();
    }
    let (body, newline) = line.strip_suffix('\n').map_or((line, ""), |b| (b, "\n"));
    format!("{style}{body}\x1b[0m{newline}")
}

fn to_json(d: &ReleaseDiff) -> serde_json::Value {
    let files: Vec<serde_json::Value> = d
        .changes
        .iter()
        .map(|c| {
            let (added, removed) = c.stat();
            json!({ "path": c.path, "kind": c.kind, "added": added, "removed": removed, "diff": c.unified() })
        })
        .collect();
    json!({
        "name": d.canary.id(),
        "output": d.canary.output,
        "from": d.from,
        "to": d.to,
        "changed": !d.changes.is_empty(),
        "held": (!d.held.is_empty()).then(|| d.held.join("; ")),
        "holds": d.held,
        "aborts": d.aborts,
        "before": d.before.to_json(),
        "after": d.after.to_json(),
        "files": files,
        "spec": match &d.spec {
            Ok(spec) => json!(spec),
            Err(why) => json!({ "error": why }),
        },
    })
}
