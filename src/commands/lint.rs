//! `kanari lint`: load and validate every spec, then plan and render every state of every
//! release in memory, so that a template or state problem shows before anything is written.

use anyhow::{Context, Result};

use crate::cli::Selection;
use crate::commands::Workspace;
use crate::exit;
use crate::plan::{self, State, Step};

pub fn run(ws: &Workspace, args: &Selection) -> Result<u8> {
    let releases = ws.releases(&args.releases)?;
    let renderer = ws.renderer()?;
    let mut states = 0;
    for canary in &releases {
        ws.current_state(canary).with_context(|| format!("release `{}`", canary.id()))?;
        for step in Step::all(canary) {
            let plan = plan::plan(canary, &State::new(step));
            renderer
                .render(&plan, &canary.file)
                .with_context(|| format!("release `{}` at `{}`", canary.id(), step.name(canary)))?;
            states += 1;
        }
    }
    if !ws.quiet {
        let n = releases.len();
        println!("ok: {n} release{}, {states} states rendered", if n == 1 { "" } else { "s" });
    }
    Ok(exit::OK)
}
