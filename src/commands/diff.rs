//! `kanari diff`: what the specs in the work tree render, against what is committed at HEAD (or
//! `--base REV`). The state rendered is the committed one (as `render` would re-render it), or
//! `--stage NAME`, or with `--next` the one `promote` would commit. Exit 1 when anything differs.
//!
//! JSON (`--format json`): an array with one object per release: `name` (`namespace/name`),
//! `output`, `from` (the committed stage, or null), `to` (the rendered state), `changed` (bool),
//! and `files`: objects with `path`, `kind` (`added`, `removed`, `modified`), `added` and
//! `removed` (line counts) and `diff` (the unified diff).

use anyhow::{Context, Result, bail};
use serde_json::json;

use crate::cli::{DiffArgs, DiffFormat};
use crate::commands::Workspace;
use crate::commands::git::{Git, now};
use crate::diff::{self, Change};
use crate::exit;
use crate::plan::{self, State, Step};
use crate::release::{self, Next};
use crate::spec::Canary;

/// One release's diff.
struct ReleaseDiff<'a> {
    canary: &'a Canary,
    from: Option<String>,
    to: String,
    changes: Vec<Change>,
}

pub fn run(ws: &Workspace, args: &DiffArgs) -> Result<u8> {
    let canaries = ws.releases(&args.selection.releases)?;
    let renderer = ws.renderer()?;
    let git = Git::open(ws)?;
    let base = match &args.base {
        Some(rev) => Some(git.repo.resolve(rev)?),
        None => git.repo.head_commit()?,
    };
    let now = now()?;
    let mut diffs = Vec::new();
    for canary in &canaries {
        let committed = git.committed(base, canary)?;
        let recorded = committed.recorded.as_ref();
        let current = plan::resolve(canary, recorded).map_err(anyhow::Error::msg)?;
        let state = if let Some(name) = &args.stage {
            let Some(step) = Step::parse(canary, name) else {
                let known: Vec<&str> = Step::all(canary).iter().map(|s| s.name(canary)).collect();
                bail!("release `{}` has no state `{name}` (it has: {})", canary.id(), known.join(", "));
            };
            if step == current.step { current } else { State::new(step) }
        } else if args.next {
            match release::next(canary, recorded, now, &release::Options::default()).map_err(anyhow::Error::msg)? {
                Next::Move { to } => State { step: to, since: Some(now.to_string()), approved: None, reason: None },
                Next::Stay { .. } | Next::Held(_) => current,
            }
        } else {
            current
        };
        let rendered = renderer
            .render(&plan::plan(canary, &state), &canary.file)
            .with_context(|| format!("release `{}`", canary.id()))?;
        let changes = diff::changes(&canary.output, &committed.files, &rendered.files);
        diffs.push(ReleaseDiff {
            canary,
            from: recorded.map(|r| r.stage.clone()),
            to: state.step.name(canary).to_string(),
            changes,
        });
    }
    let out = match args.format {
        DiffFormat::Text => diffs.iter().map(text).collect::<String>(),
        DiffFormat::Json => serde_json::to_string_pretty(&diffs.iter().map(to_json).collect::<Vec<_>>())? + "\n",
    };
    print!("{out}");
    let differs = diffs.iter().any(|d| !d.changes.is_empty());
    Ok(if differs { exit::DIFFERENCES } else { exit::OK })
}

fn headline(d: &ReleaseDiff) -> String {
    let from = d.from.as_deref().unwrap_or("(nothing committed)");
    let moves = if d.from.as_deref() == Some(d.to.as_str()) { d.to.clone() } else { format!("{from} -> {}", d.to) };
    if d.changes.is_empty() {
        return format!("{}: {moves}: no changes\n", d.canary.id());
    }
    let (added, removed) = d.changes.iter().map(Change::stat).fold((0, 0), |a, s| (a.0 + s.0, a.1 + s.1));
    let n = d.changes.len();
    format!("{}: {moves}: {n} file{} changed, +{added} -{removed}\n", d.canary.id(), if n == 1 { "" } else { "s" })
}

fn text(d: &ReleaseDiff) -> String {
    let mut out = headline(d);
    for change in &d.changes {
        out.push_str(&change.unified());
    }
    out
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
        "files": files,
    })
}
