//! `kanari render`: a state of each release into its overlay folder, another folder, or stdout.
//!
//! Without `--stage` the state is the one each overlay records (steady when there is none), so
//! a re-render after a template or spec edit keeps the release where it is. Every overlay is
//! rendered and checked before the first file is written.
//!
//! `--out DIR` takes one release and writes its overlay into DIR; `--all-stages --out DIR`
//! writes one overlay per state into `DIR/<state>/`. Those overlays record no `since` time: they
//! are previews, not committed states.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use rayon::prelude::*;

use crate::cli::RenderArgs;
use crate::commands::{Workspace, named_state};
use crate::exit::Code;
use crate::overlay::{self, OverlayWrite, Target};
use crate::plan::{self, State, Step};
use crate::render::Rendered;
use crate::spec::Canary;

pub(super) fn run(ws: &Workspace, args: &RenderArgs) -> Result<Code> {
    let releases = ws.releases(&args.selection.releases)?;
    let renderer = ws.renderer()?;

    if args.all_stages {
        let out = args.out.as_deref().expect("clap requires --out with --all-stages");
        let canary = only_one(&releases, "--all-stages")?;
        let (base, _) = out_target(out)?;
        let writing = overlay::lock_writes(&base, ws.quiet)?;
        let mut writes = Vec::new();
        for step in Step::all(canary) {
            let rendered = renderer.render(&plan::plan(canary, &State::new(step)), &canary.file)?;
            let (base, rel) = out_target(out)?;
            let dir = rel.join(step.name(canary));
            writes.push((
                overlay::plan_write(&Target { base: &base, dir: &dir }, &rendered)?,
                step.name(canary).to_string(),
            ));
        }
        let (writes, names): (Vec<_>, Vec<_>) = writes.into_iter().unzip();
        overlay::apply(&writes)?;
        drop(writing);
        if !ws.quiet {
            println!("wrote {} states of {} into `{}`: {}", names.len(), canary.id(), out.display(), names.join(", "));
        }
        return Ok(Code::Ok);
    }

    let progress = crate::commands::Progress::new(ws, "rendering", releases.len());
    let render_one = |canary: &Canary| -> Result<(State, Rendered)> {
        progress.tick();
        let state = state_to_render(ws, canary, args.stage.as_deref())?;
        let r = renderer.render(&plan::plan(canary, &state), &canary.file)?;
        Ok((state, r))
    };

    if args.stdout {
        let rendered: Vec<(State, Rendered)> = releases.par_iter().map(render_one).collect::<Result<_>>()?;
        let text: String = rendered.iter().map(|(_, r)| r.to_stream()).collect();
        print!("{text}");
        return Ok(Code::Ok);
    }

    // What is on disk is read and replaced under the write lock, so two renders into one output
    // leave it as the one or the other, whole. Each overlay is compared with what is on disk as
    // soon as it is rendered, so only the files that change are held until every overlay has
    // been rendered and checked; then the first file is written.
    let planned: Vec<(State, usize, OverlayWrite)> = if let Some(out) = &args.out {
        let canary = only_one(&releases, "--out")?;
        let (base, rel) = out_target(out)?;
        let writing = overlay::lock_writes(&base, ws.quiet)?;
        let (state, r) = render_one(canary)?;
        let write = overlay::plan_write(&Target { base: &base, dir: &rel }, &r)?;
        overlay::apply([&write])?;
        drop(writing);
        vec![(state, r.files.len(), write)]
    } else {
        let writing = overlay::lock_writes(&ws.root, ws.quiet)?;
        let planned: Vec<(State, usize, OverlayWrite)> = releases
            .par_iter()
            .map(|canary| {
                let (state, r) = render_one(canary)?;
                let write = overlay::plan_write(&Target { base: &ws.root, dir: &r.output }, &r)?;
                Ok((state, r.files.len(), write))
            })
            .collect::<Result<_>>()?;
        overlay::apply(planned.iter().map(|(_, _, w)| w))?;
        drop(writing);
        planned
    };
    if !ws.quiet {
        for (canary, (state, files, w)) in releases.iter().zip(&planned) {
            report(canary, state, *files, &w.dir, w.changed);
        }
    }
    Ok(Code::Ok)
}

/// The state `--stage` names, or the one the overlay records. Naming the recorded state keeps
/// its annotations, so `render --stage <current>` changes nothing.
fn state_to_render(ws: &Workspace, canary: &Canary, stage: Option<&str>) -> Result<State> {
    let current = ws.current_state(canary).with_context(|| format!("release `{}`", canary.id()))?;
    match stage {
        Some(name) => named_state(canary, name, current),
        None => Ok(current),
    }
}

fn only_one<'a>(releases: &'a [Canary], flag: &str) -> Result<&'a Canary> {
    match releases {
        [one] => Ok(one),
        _ => {
            let names: Vec<String> = releases.iter().map(Canary::id).collect();
            bail!("{flag} writes one release; name one of: {}", names.join(", "))
        }
    }
}

/// `--out DIR` as a base folder that exists (created if need be: it is the user's) and the
/// overlay folder inside it, which is opened without following symlinks like in a repository.
fn out_target(out: &Path) -> Result<(PathBuf, PathBuf)> {
    let (base, rel) = match (out.parent(), out.file_name()) {
        (Some(parent), Some(name)) => {
            let parent = if parent.as_os_str().is_empty() { Path::new(".") } else { parent };
            (parent.to_path_buf(), PathBuf::from(name))
        }
        _ => (out.to_path_buf(), PathBuf::new()),
    };
    std::fs::create_dir_all(&base).with_context(|| format!("failed to create `{}`", base.display()))?;
    Ok((base, rel))
}

fn report(canary: &Canary, state: &State, files: usize, dir: &Path, changed: bool) {
    let stage = state.step.name(canary);
    if changed {
        println!("wrote `{}`: {} at {stage} ({files} files)", dir.display(), canary.id());
    } else {
        println!("`{}` is up to date: {} at {stage}", dir.display(), canary.id());
    }
}
