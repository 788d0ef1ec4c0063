//! Rendering as the commands use it: the templates' bytes ([`crate::render`]), then the check
//! ([`crate::check`]) when it is due. The two steps know nothing of each other; this is where
//! they meet.

use std::path::Path;

use anyhow::Result;

use crate::plan::Plan;
use crate::render::{self, Overrides, Rendered};

/// The compiled templates and whether what they render is checked.
///
/// Rendered overlays are checked when a template is overridden, since such a template can write
/// anything. The built-in templates write only what the validated spec holds, so their output
/// passes the check by construction; checking it would mean parsing every rendered file as YAML
/// again, which is most of the time of a `render` or a `diff`. That this holds is itself
/// checked: debug builds (the test suite's) check every overlay, and `lint` checks every state
/// of every release ([`Renderer::checking_all`]).
pub struct Renderer {
    templates: render::Templates,
    checks: bool,
}

impl Renderer {
    /// The built-in templates, each replaced by the one of the same name in `overrides`.
    pub fn new(overrides: &Overrides) -> Result<Self> {
        let templates = render::Templates::new(overrides)?;
        let checks = templates.overridden() || cfg!(debug_assertions);
        Ok(Renderer { templates, checks })
    }

    /// This renderer, checking every overlay it renders, whatever its templates.
    pub fn checking_all(self) -> Self {
        Renderer { checks: true, ..self }
    }

    /// The overlay of `plan` (`spec_file` is named in its header comment): nothing leaves here
    /// that Istio or Kubernetes would reject or break on.
    pub fn render(&self, plan: &Plan, spec_file: &Path) -> Result<Rendered> {
        let rendered = self.templates.render(plan, spec_file)?;
        if self.checks {
            crate::check::check(&rendered)?;
        }
        Ok(rendered)
    }
}
