//! `kanari diff`: what the specs in the work tree render, against what is committed at HEAD (or
//! `--base REV`). The state rendered is the committed one (as `render` would re-render it), or
//! `--stage NAME`, or with `--next` the one `promote` would commit. Exit 1 when anything differs.
//!
//! JSON (`--format json`): an array with one object per release: `name` (`namespace/name`),
//! `output`, `from` (the committed stage, or null), `to` (the rendered state), `changed` (bool),
//! `held` (with `--next`, what holds the release where it is: `needs approval of 50-50`; else
//! null), `before` and `after` (stage, traffic, pods, matches: see the README's "JSON output"),
//! and `files`: objects with `path`, `kind` (`added`, `removed`, `modified`), `added` and
//! `removed` (line counts) and `diff` (the unified diff).
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
use crate::commands::git::{Committed, Git, now};
use crate::commands::{Workspace, by_version, named_state};
use crate::diff::{self, Change};
use crate::exit::Code;
use crate::plan;
use crate::release::{self, Evidence, Next};
use crate::review::{self, Facts};
use crate::spec::Canary;

/// A pull-request comment is cut at 65,536 characters by GitHub; stay well below.
pub const MARKDOWN_LIMIT: usize = 60_000;

/// One release's diff.
struct ReleaseDiff<'a> {
    canary: &'a Canary,
    from: Option<String>,
    to: String,
    changes: Vec<Change>,
    before: Facts,
    after: Facts,
    /// Where the release stands on its way and what holds it or guards its next stage, in a
    /// comment's words: `stage 3 of 4; needs approval before the next stage`.
    gate: Option<String>,
    /// With `--next`, the `kanari.dev/since` written is the clock's now, not the time the merge
    /// commits: the comment shows a placeholder instead.
    next: bool,
    /// With `--next`, every gate that holds the release where it is ([`release::Gate::held`]).
    held: Vec<String>,
    /// With `--next`, the failing check the next promote aborts the release for.
    aborts: Option<String>,
}

/// What the comment shows in place of the `kanari.dev/since` a `--next` diff adds: the time is
/// the commit's, which `promote` records when it commits.
pub const SINCE_PLACEHOLDER: &str = "<time of the commit>";

pub fn run(ws: &Workspace, args: &DiffArgs) -> Result<Code> {
    let canaries = ws.releases(&args.selection.releases)?;
    let renderer = ws.renderer()?;
    let git = Git::open(ws)?;
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
        let head = git.repo.head_commit()?;
        let head = head.map_or(String::new(), |id| format!(" at `{}`", &id.short()[..7]));
        format!("Base `{base_name}`{} → head: the work tree{head}.", at(base))
    };
    // With `--analysis`, Prometheus is asked first, as `promote` asks it, so that `--next` shows
    // promote's own decision; without it no gate of the analysis is judged. The work tree is a
    // pull request's head, not trusted: only a Prometheus the base's specs (or `--prometheus`)
    // name is asked, and gets the token.
    let answers = match args.analysis {
        true => {
            let committed = git.map_committed(base, &canaries, |canary, c| Ok((c.observed_for(canary), c.recorded)))?;
            let (observed, recorded): (Vec<_>, Vec<_>) = committed.into_iter().unzip();
            // A base whose specs do not load names no Prometheus.
            let trusted = base
                .and_then(|base| git.loaded_at(base, &[]).ok())
                .map_or_else(Default::default, |loaded| analyze::trusted_urls(&loaded.canaries));
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
    let progress = crate::commands::Progress::new(ws, "diffing", canaries.len());
    let index = |canary: &Canary| canaries.iter().position(|c| std::ptr::eq(c, canary)).expect("one of them");
    let diffs: Vec<ReleaseDiff> = git.map_committed(base, &canaries, |canary, committed| {
        progress.tick();
        release_diff(canary, &committed, args, now, &renderer, evidence[index(canary)].as_ref())
    })?;
    let analysis: Option<Vec<Judged>> = answers.map(|answers| {
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
            for (i, d) in diffs.iter().enumerate() {
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
            let mut out = markdown(&diffs, &compared, MARKDOWN_LIMIT);
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
    print!("{out}");
    let differs = diffs.iter().any(|d| !d.changes.is_empty());
    Ok(if differs { Code::Differences } else { Code::Ok })
}

/// Each release's analysis run now, when it is in a stage with canary traffic: its window and
/// checks, or why they could not run (a comment shows that rather than failing).
type Judged = Option<Result<(String, Vec<Outcome>), String>>;

fn release_diff<'a>(
    canary: &'a Canary,
    committed: &Committed,
    args: &DiffArgs,
    now: jiff::Timestamp,
    renderer: &crate::commands::Renderer,
    evidence: Option<&Evidence>,
) -> Result<ReleaseDiff<'a>> {
    let recorded = committed.recorded.as_ref();
    let current = release::current(canary, recorded)?;
    let mut held = Vec::new();
    let mut aborts = None;
    let state = if let Some(name) = &args.stage {
        named_state(canary, name, current)?
    } else if args.next {
        let observed = committed.observed_for(canary);
        let options = release::Options::default();
        let decision = match evidence {
            Some(evidence) => release::decide(canary, recorded, &observed, now, &options, evidence)?,
            None => release::Decision {
                next: release::next(canary, recorded, &observed, now, &options)?,
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
        (review::facts(&committed.files), review::facts(&rendered_files))
    } else {
        (Facts::default(), Facts::default())
    };
    Ok(ReleaseDiff {
        canary,
        from: recorded.map(|r| r.stage.clone()),
        to: crate::commands::state_text(canary, &state),
        changes,
        before,
        after,
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

/// How much a file tells a reviewer, first first: the routes, the Deployments, the rest, and the
/// Kustomization (the state's annotations) last.
fn review_rank(change: &Change) -> u8 {
    let name = change.path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    match name {
        "kustomization.yaml" => 3,
        _ if name.starts_with("virtualservice") || name.starts_with("httproute") => 0,
        _ if name.starts_with("deployment") => 1,
        _ => 2,
    }
}

/// A `--next` diff's body with the `kanari.dev/since` it adds shown as [`SINCE_PLACEHOLDER`].
fn placeholder_since(body: &str) -> String {
    body.split_inclusive('\n')
        .map(|line| match line.strip_prefix('+').and_then(|rest| rest.split_once("kanari.dev/since: ")) {
            Some((indent, _)) if !line.starts_with("+++") => {
                format!("+{indent}kanari.dev/since: {SINCE_PLACEHOLDER}\n")
            }
            _ => line.to_string(),
        })
        .collect()
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

/// What holds the release, or the abort the next promote commits: `held: needs approval of
/// 50-50; bake time, 12m left`, `the next promote aborts: success-rate fail ...`.
fn held_text(d: &ReleaseDiff) -> Option<String> {
    let held = (!d.held.is_empty()).then(|| format!("held: {}", d.held.join("; ")));
    let aborts = d.aborts.as_ref().map(|check| format!("the next promote aborts: {check}"));
    match (held, aborts) {
        (Some(h), Some(a)) => Some(format!("{h}; {a}")),
        (one, other) => one.or(other),
    }
}

fn text(d: &ReleaseDiff, color: bool) -> String {
    let mut out = paint(&headline(d), BOLD, color);
    if let Some(held) = held_text(d).filter(|_| !d.changes.is_empty()) {
        out.push_str(&format!("{held}\n"));
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
    })
}

/// The diff as a pull-request comment: per release a heading, a table of what moves (stage,
/// traffic and pods per version, match rules added or removed), and each file's diff in a
/// collapsible block. Past `limit` characters the largest file diffs are folded into a note.
fn markdown(diffs: &[ReleaseDiff], compared: &str, limit: usize) -> String {
    let changed = diffs.iter().filter(|d| !d.changes.is_empty()).count();
    let mut head = format!("## kanari diff\n\n{compared}\n\n");
    head.push_str(&match changed {
        0 => "No changes.\n".to_string(),
        n => {
            format!("{n} of {} release{} change{}.\n", diffs.len(), plural(diffs.len()), if n == 1 { "s" } else { "" })
        }
    });
    // Sections are text around the file diffs, which may be folded.
    let mut sections: Vec<Section> = Vec::new();
    for d in diffs {
        let mut text = format!("\n### `{}`", d.canary.id());
        if d.changes.is_empty() {
            text.push_str(&format!(": no changes (at `{}`)\n", d.to));
            if let Some(held) = held_text(d) {
                text.push_str(&format!("\n{}.\n", capitalized(&held)));
            }
            sections.push((text, Vec::new()));
            continue;
        }
        match d.from.as_deref() {
            Some(from) if from == d.to => text.push_str(&format!(": at `{from}`\n\n")),
            Some(from) => text.push_str(&format!(": `{from}` → `{}`\n\n", d.to)),
            None => text.push_str(&format!(": nothing committed → `{}`\n\n", d.to)),
        }
        if let Some(gate) = &d.gate {
            text.push_str(&format!("{}.\n\n", capitalized(gate)));
        }
        let restarts: Vec<String> = d
            .after
            .templates
            .iter()
            .filter(|(v, t)| d.before.templates.get(*v).is_some_and(|b| b != *t))
            .map(|(v, _)| format!("`{v}`"))
            .collect();
        if !restarts.is_empty() {
            text.push_str(&format!(
                "**⚠ restarts the pods of {}**: the pod template changes (image, env or anything under the Deployment's `spec.template`).\n\n",
                restarts.join(", ")
            ));
        }
        text.push_str(&table(&d.before, &d.after, d.from.as_deref(), &d.to));
        let mut changes: Vec<&Change> = d.changes.iter().collect();
        changes.sort_by_key(|c| review_rank(c));
        let files = changes
            .into_iter()
            .map(|c| {
                let (added, removed) = c.stat();
                let summary = format!(
                    "<details>\n<summary><code>{}</code>: {}, +{added} −{removed}</summary>\n\n",
                    html_escape(&c.path.display().to_string()),
                    kind_word(c.kind)
                );
                let body = if d.next { placeholder_since(&c.unified()) } else { c.unified() };
                let fence = fence_for(&body);
                (summary, format!("{fence}diff\n{body}{fence}\n"), "\n</details>\n".to_string())
            })
            .collect();
        sections.push((text, files));
    }
    let total = |sections: &[Section]| {
        head.len()
            + sections
                .iter()
                .map(|(t, f)| t.len() + f.iter().map(|(a, b, c)| a.len() + b.len() + c.len() + 1).sum::<usize>())
                .sum::<usize>()
    };
    // Fold the largest diffs first until the comment fits.
    let mut order: Vec<(usize, usize)> =
        sections.iter().enumerate().flat_map(|(i, (_, f))| (0..f.len()).map(move |j| (i, j))).collect();
    order.sort_by_key(|&(i, j)| std::cmp::Reverse(sections[i].1[j].1.len()));
    for (i, j) in order {
        if total(&sections) <= limit {
            break;
        }
        let lines = sections[i].1[j].1.lines().count();
        sections[i].1[j].1 =
            format!("_A diff of {lines} lines, folded to keep this comment short: run `kanari diff` to see it._\n");
    }
    let mut out = head;
    for (text, files) in sections {
        out.push_str(&text);
        for (summary, body, end) in files {
            out.push('\n');
            out.push_str(&summary);
            out.push_str(&body);
            out.push_str(&end);
        }
    }
    out
}

/// A release's text, and its files' diffs as (summary, body, end), the body foldable.
type Section = (String, Vec<(String, String, String)>);

fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map_or(String::new(), |first| first.to_uppercase().chain(chars).collect())
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn kind_word(kind: diff::Kind) -> &'static str {
    match kind {
        diff::Kind::Added => "added",
        diff::Kind::Removed => "removed",
        diff::Kind::Modified => "modified",
    }
}

/// A code fence longer than any run of backticks in `body`.
fn fence_for(body: &str) -> String {
    let longest = body.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    "`".repeat(longest.max(2) + 1)
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// Escapes what would break a table cell.
fn cell(text: &str) -> String {
    text.replace('|', "\\|")
}

/// The before/after table; changed values in bold.
fn table(before: &Facts, after: &Facts, from: Option<&str>, to: &str) -> String {
    let mut rows: Vec<(String, String, String)> =
        vec![("stage".into(), from.map_or("—".into(), |f| format!("`{f}`")), format!("`{to}`"))];
    let pairs =
        |label: &str, a: &[(String, String)], b: &[(String, String)], rows: &mut Vec<(String, String, String)>| {
            for (v, values) in by_version(&[a, b]) {
                let get = |i: usize| values[i].map_or("—".to_string(), String::clone);
                rows.push((format!("{label} `{v}`"), get(0), get(1)));
            }
        };
    let pct = |f: &Facts| f.traffic.iter().map(|(v, w)| (v.clone(), format!("{w}%"))).collect::<Vec<_>>();
    pairs("traffic", &pct(before), &pct(after), &mut rows);
    pairs("pods", &before.pods, &after.pods, &mut rows);
    let images = |f: &Facts| {
        f.images.iter().map(|(v, images)| (v.clone(), format!("`{}`", cell(&images.join(", "))))).collect::<Vec<_>>()
    };
    pairs("image", &images(before), &images(after), &mut rows);
    if before.mirror.is_some() || after.mirror.is_some() {
        let side = |f: &Facts| f.mirror.as_ref().map_or("—".to_string(), |m| format!("`{m}`"));
        rows.push(("mirror".into(), side(before), side(after)));
    }
    for m in after.matches.iter().filter(|m| !before.matches.contains(m)) {
        rows.push(("match added".into(), String::new(), format!("`{}`", cell(m))));
    }
    for m in before.matches.iter().filter(|m| !after.matches.contains(m)) {
        rows.push(("match removed".into(), format!("`{}`", cell(m)), String::new()));
    }
    let mut out = String::from("| | before | after |\n|---|---|---|\n");
    for (label, a, b) in rows {
        let b = if a != b && !b.is_empty() { format!("**{b}**") } else { b };
        out.push_str(&format!("| {label} | {a} | {b} |\n"));
    }
    out
}
