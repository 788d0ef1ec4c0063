//! The pull-request comment: `kanari diff --format markdown`. It starts with a hidden marker,
//! [`MARKER`], so a workflow finds its own comment among other bots', then names the two sides
//! (the base revision and its commit; the pull request and its head commit when given, else the
//! work tree). Per release, two parts:
//!
//! 1. **This pull request changes**: the difference between the base's spec and the head's, as
//!    values ([`crate::review::changes`]): stages added, removed or changed (weight, matches,
//!    mirror, approval, bake), images as tag changes (`1.16.2` → `1.17.0`), the pods that
//!    restarts and why, and every warning the head raises that the base did not.
//! 2. **After merge, the next promote** (with `--next`; else the overlay re-rendered): the move,
//!    where it leaves the release and what holds or guards it, a table of what moves (stage,
//!    traffic, pods, images, matches), the chart of the way through the stages with the stage
//!    the release is in and the next one marked ([`crate::commands::chart`]), and each overlay
//!    file's diff, folded, with a line saying those files are committed by `promote`, not by
//!    the pull request.
//!
//! Past [`MARKDOWN_LIMIT`] characters the largest file diffs are folded into a note.

use crate::commands::{by_version, chart};
use crate::diff::{self, Change};
use crate::plan::{Observed, PodCount};
use crate::review::SpecChanges;
use crate::spec::Canary;

/// The comment's first line, hidden on GitHub: a workflow finds its own comment by it.
pub(super) const MARKER: &str = "<!-- kanari -->";

/// A pull-request comment is cut at 65,536 characters by GitHub; stay well below.
pub(super) const MARKDOWN_LIMIT: usize = 60_000;

/// One release's diff.
pub(super) struct ReleaseDiff<'a> {
    pub canary: &'a Canary,
    pub from: Option<String>,
    pub to: String,
    pub changes: Vec<Change>,
    pub before: Observed,
    pub after: Observed,
    /// What the pull request changes in the release's spec, against the base's, or why that
    /// could not be read (the base's specs do not load).
    pub spec: Result<SpecChanges, String>,
    /// Where the release stands on its way and what holds it or guards its next stage, in a
    /// comment's words: `stage 3 of 4; needs approval before the next stage`.
    pub gate: Option<String>,
    /// With `--next`, the `kanari.dev/since` written is the clock's now, not the time the merge
    /// commits: the comment shows a placeholder instead.
    pub next: bool,
    /// With `--next`, every gate that holds the release where it is ([`release::Gate::held`]).
    pub held: Vec<String>,
    /// With `--next`, the failing check the next promote aborts the release for.
    pub aborts: Option<String>,
}

/// What the comment of a `--next` diff records as `kanari.dev/since` in place of a time: the time
/// is the commit's, which `promote` records when it commits.
pub(super) const SINCE_PLACEHOLDER: &str = "<time of the commit>";

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

/// What holds the release, or the abort the next promote commits: `held: needs approval of
/// 50-50; bake time, 12m left`, `the next promote aborts: success-rate fail ...`.
pub(super) fn held_text(d: &ReleaseDiff) -> Option<String> {
    let held = (!d.held.is_empty()).then(|| format!("held: {}", d.held.join("; ")));
    let aborts = d.aborts.as_ref().map(|check| format!("the next promote aborts: {check}"));
    match (held, aborts) {
        (Some(h), Some(a)) => Some(format!("{h}; {a}")),
        (one, other) => one.or(other),
    }
}

/// The diff as a pull-request comment (see the module's docs). `compared` names the two sides.
/// `removed`: the releases (id, overlay folder) the base defines and the head no longer does.
pub(super) fn markdown(diffs: &[ReleaseDiff], removed: &[(String, String)], compared: &str, limit: usize) -> String {
    let changed = diffs.iter().filter(|d| !d.changes.is_empty()).count();
    let edited = diffs.iter().filter(|d| d.spec.as_ref().map_or(true, |s| !s.is_empty())).count();
    let mut head = format!("{MARKER}\n## kanari diff\n\n{compared}\n\n");
    let n = diffs.len();
    head.push_str(&format!(
        "This pull request changes the spec of {edited} of {n} release{}; after merge, {changed} overlay{} change{}.\n",
        plural(n),
        plural(changed),
        if changed == 1 { "s" } else { "" }
    ));
    for (id, output) in removed {
        head.push_str(&format!(
            "\nIt removes the spec of `{id}`: kanari no longer renders or moves its overlay `{output}`, which stays as committed, and so does what Argo CD or Flux syncs from it. To take the release out of the cluster, abort it first or delete the overlay too.\n"
        ));
    }
    // Sections are text around the file diffs, which may be folded.
    let mut sections: Vec<Section> = Vec::new();
    let mut wave = None;
    for d in diffs {
        let mut text = String::new();
        // A fleet's instances come wave by wave, each wave under a line of its own.
        if let Some(line) = crate::commands::wave_heading(d.canary, &mut wave) {
            text.push_str(&format!("\n**{line}**\n"));
        }
        text.push_str(&format!("\n### `{}`\n\n#### This pull request changes\n\n", d.canary.id()));
        text.push_str(&spec_part(&d.spec));
        let after = if d.next { "After merge, the next promote" } else { "After merge, the overlay re-rendered" };
        text.push_str(&format!("\n#### {after}"));
        if d.changes.is_empty() {
            text.push_str(&format!(": no changes (at `{}`)\n", d.to));
            if let Some(held) = held_text(d) {
                text.push_str(&format!("\n{}.\n", capitalized(&held)));
            }
            sections.push((text, Vec::new(), String::new()));
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
        if d.canary.canary.is_some() {
            let next = d.next.then_some(d.to.as_str());
            text.push_str(&format!("\n```mermaid\n{}```\n", chart::mermaid(d.canary, d.from.as_deref(), next)));
        }
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
                let body = c.unified();
                let fence = fence_for(&body);
                (summary, format!("{fence}diff\n{body}{fence}\n"), "\n</details>\n".to_string())
            })
            .collect();
        let by = if d.next { "the next `kanari promote` commits" } else { "`kanari promote` commits" };
        let tail = format!(
            "\nThese files are the overlay `{}/` as {by} it after the merge: they are not part of this pull request's files.\n",
            d.canary.output.display()
        );
        sections.push((text, files, tail));
    }
    let total = |sections: &[Section]| {
        head.len()
            + sections
                .iter()
                .map(|(t, f, tail)| {
                    t.len() + tail.len() + f.iter().map(|(a, b, c)| a.len() + b.len() + c.len() + 1).sum::<usize>()
                })
                .sum::<usize>()
    };
    // Fold the largest diffs first until the comment fits.
    let mut order: Vec<(usize, usize)> =
        sections.iter().enumerate().flat_map(|(i, (_, f, _))| (0..f.len()).map(move |j| (i, j))).collect();
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
    for (text, files, tail) in sections {
        out.push_str(&text);
        for (summary, body, end) in files {
            out.push('\n');
            out.push_str(&summary);
            out.push_str(&body);
            out.push_str(&end);
        }
        out.push_str(&tail);
    }
    out
}

/// A release's text, its files' diffs as (summary, body, end), the body foldable, and the text
/// after them.
type Section = (String, Vec<(String, String, String)>, String);

/// The first part of a release's section: what the pull request changes in its spec, a line
/// each, then the pods that restarts and the warnings it raises.
fn spec_part(spec: &Result<SpecChanges, String>) -> String {
    let spec = match spec {
        Ok(spec) if spec.is_empty() => return "Nothing in this release's spec.\n".to_string(),
        Ok(spec) => spec,
        Err(why) => return format!("The base's spec of this release could not be read: {why}\n"),
    };
    let mut out = String::new();
    for change in &spec.changes {
        out.push_str(&format!("- {}\n", cell_line(&change.markdown())));
    }
    for restart in &spec.restarts {
        out.push_str(&format!("- **⚠ restarts the pods of `{}`**: {}\n", restart.version, cell_line(&restart.why)));
    }
    for warning in &spec.warnings {
        out.push_str(&format!("- **⚠ warning**: {}\n", cell_line(warning)));
    }
    out
}

/// Text from a spec kept to one Markdown line.
fn cell_line(text: &str) -> String {
    text.replace('\n', " ")
}

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
fn table(before: &Observed, after: &Observed, from: Option<&str>, to: &str) -> String {
    let mut rows: Vec<(String, String, String)> =
        vec![("stage".into(), from.map_or("—".into(), |f| format!("`{f}`")), format!("`{to}`"))];
    let pairs =
        |label: &str, a: &[(String, String)], b: &[(String, String)], rows: &mut Vec<(String, String, String)>| {
            for (v, values) in by_version(&[a, b]) {
                let get = |i: usize| values[i].map_or("—".to_string(), String::clone);
                rows.push((format!("{label} `{v}`"), get(0), get(1)));
            }
        };
    let pct = |f: &Observed| f.traffic.iter().map(|(v, w)| (v.clone(), format!("{w}%"))).collect::<Vec<_>>();
    pairs("traffic", &pct(before), &pct(after), &mut rows);
    let pods = |f: &Observed| f.pods.iter().map(|(v, c)| (v.clone(), PodCount::text(*c))).collect::<Vec<_>>();
    pairs("pods", &pods(before), &pods(after), &mut rows);
    let images = |f: &Observed| {
        f.images.iter().map(|(v, images)| (v.clone(), format!("`{}`", cell(&images.join(", "))))).collect::<Vec<_>>()
    };
    pairs("image", &images(before), &images(after), &mut rows);
    if before.mirror.is_some() || after.mirror.is_some() {
        let side = |f: &Observed| f.mirror.as_ref().map_or("—".to_string(), |m| format!("`{m}`"));
        rows.push(("mirror".into(), side(before), side(after)));
    }
    for m in after.matches.iter().filter(|m| !before.matches.contains(m)) {
        rows.push(("match added".into(), String::new(), format!("`{}`", cell(&m.to_string()))));
    }
    for m in before.matches.iter().filter(|m| !after.matches.contains(m)) {
        rows.push(("match removed".into(), format!("`{}`", cell(&m.to_string())), String::new()));
    }
    let mut out = String::from("| | before | after |\n|---|---|---|\n");
    for (label, a, b) in rows {
        let b = if a != b && !b.is_empty() { format!("**{b}**") } else { b };
        out.push_str(&format!("| {label} | {a} | {b} |\n"));
    }
    out
}
