//! `kanari lint`: load and validate every spec, then plan and render every state of every
//! release in memory, so that a template or state problem shows before anything is written.

use anyhow::{Context, Result, bail};
use rayon::prelude::*;

use crate::cli::Selection;
use crate::commands::Workspace;
use crate::exit::Code;
use crate::plan::{self, State, Step};
use crate::problem::Problem;

pub fn run(ws: &Workspace, args: &Selection) -> Result<Code> {
    // Every spec file, even when releases are named: lint is what finds a broken spec.
    let releases = ws.all_releases(&args.releases)?;
    // lint is the thorough check: every rendered file is read back as Istio would read it,
    // built-in templates included.
    let renderer = ws.renderer()?.checking_all();
    let progress = crate::commands::Progress::new(ws, "checking", releases.len());
    // Every state of every release, rendered in memory, on every core.
    let counts: Vec<usize> = releases
        .par_iter()
        .map(|canary| {
            progress.tick();
            ws.current_state(canary).with_context(|| format!("release `{}`", canary.id()))?;
            for step in Step::all(canary) {
                let plan = plan::plan(canary, &State::new(step));
                renderer
                    .render(&plan, &canary.file)
                    .with_context(|| format!("release `{}` at `{}`", canary.id(), step.name(canary)))?;
            }
            Ok(Step::all(canary).len())
        })
        .collect::<Result<_>>()?;
    let states: usize = counts.iter().sum();
    let warnings: Vec<Problem> = releases.iter().flat_map(plan::warnings).collect();
    for warning in &warnings {
        eprintln!("warning: {warning}");
    }
    if ws.deny_warnings && !warnings.is_empty() {
        bail!("{} warning{} and --deny-warnings", warnings.len(), if warnings.len() == 1 { "" } else { "s" });
    }
    if !ws.quiet {
        let n = releases.len();
        let w = match warnings.len() {
            0 => String::new(),
            n => format!(", {n} warning{}", if n == 1 { "" } else { "s" }),
        };
        println!("ok: {n} release{}, {states} states rendered{w}", if n == 1 { "" } else { "s" });
    }
    Ok(Code::Ok)
}
