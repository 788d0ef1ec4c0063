//! Plan → [`Rendered`]: the overlay's files as bytes in memory, one per resource plus the
//! `kustomization.yaml` that lists them and records the state. Templates of manifests are minijinja's
//! here alone (the analysis renders its query templates with it too).
//!
//! Templates are one per resource kind, embedded from `templates/` (with `router: gateway-api`,
//! the per-version Services and the HTTPRoute in place of the DestinationRule and VirtualService). A repository may override
//! any of them with a file of the same name in its own template folder (`--templates`, default
//! `.kanari/templates/` when it exists). Rendering is pure: the same plan gives the same bytes,
//! and it reads no file (the overrides are read by [`crate::overlay`] or from a commit and
//! handed in). It imports only `plan` and `yaml`; checking what it rendered is the next step
//! ([`crate::check`]), glued by the commands ([`crate::commands::Renderer`]).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use minijinja::{AutoEscape, Environment, UndefinedBehavior, Value as JinjaValue, context};
use serde::Serialize;

use crate::plan::Plan;
use crate::yaml;

/// The built-in templates, by the names a repository overrides them with.
pub(crate) const BUILTIN: [(&str, &str); 8] = [
    ("kustomization.yaml.j2", include_str!("../templates/kustomization.yaml.j2")),
    ("service.yaml.j2", include_str!("../templates/service.yaml.j2")),
    ("deployment.yaml.j2", include_str!("../templates/deployment.yaml.j2")),
    ("horizontalpodautoscaler.yaml.j2", include_str!("../templates/horizontalpodautoscaler.yaml.j2")),
    ("destinationrule.yaml.j2", include_str!("../templates/destinationrule.yaml.j2")),
    ("virtualservice.yaml.j2", include_str!("../templates/virtualservice.yaml.j2")),
    ("service-version.yaml.j2", include_str!("../templates/service-version.yaml.j2")),
    ("httproute.yaml.j2", include_str!("../templates/httproute.yaml.j2")),
];

/// The file that indexes an overlay and records its state.
pub(crate) const KUSTOMIZATION: &str = "kustomization.yaml";

/// The kinds of object kanari makes; an overlay holds these, the kinds of the user's own
/// manifests and those `spec.extraKinds` names, nothing else.
pub(crate) const KINDS: [&str; 6] =
    ["Deployment", "Service", "DestinationRule", "VirtualService", "HTTPRoute", "HorizontalPodAutoscaler"];

/// The most bytes one template may write: a manifest is a few KiB.
pub(crate) const MAX_OUTPUT_BYTES: usize = 1024 * 1024;

/// The instructions one template may run: kanari's own take a few thousand; a loop that would
/// run for hours ends here in milliseconds.
const FUEL: u64 = 2_000_000;

/// Whether `name` is a file of an overlay's own folder: no path, no `..`, no URL.
pub(crate) fn is_plain_file_name(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\\', '\0', ':'])
}

/// One release's overlay, in memory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rendered {
    /// The overlay directory, relative to the repository root.
    pub output: PathBuf,
    /// File name → contents, `kustomization.yaml` included.
    pub files: BTreeMap<String, Vec<u8>>,
    /// The resource files in the order `kustomization.yaml` lists them.
    pub resources: Vec<String>,
    /// The kinds the overlay may hold beyond [`KINDS`]: those of the user's own manifests and
    /// `spec.extraKinds` (`Kind`, or `group/Kind`).
    pub kinds: BTreeSet<String>,
    /// File name → the repository's template that wrote it, for the files an override wrote:
    /// a problem in such a file names its template.
    pub templates: BTreeMap<String, PathBuf>,
}

impl Rendered {
    /// The resources as one multi-document YAML stream, in kustomization order.
    pub(crate) fn to_stream(&self) -> String {
        let mut out = String::new();
        for name in &self.resources {
            out.push_str("---\n");
            out.push_str(&String::from_utf8_lossy(&self.files[name]));
        }
        out
    }
}

/// The compiled templates, built once per run and shared by every release.
pub(crate) struct Templates {
    env: Environment<'static>,
    /// Where the repository's templates are, and which of them it overrides.
    dir: PathBuf,
    overrides: BTreeSet<String>,
}

impl Templates {
    /// The built-in templates, each replaced by the one of the same name in `overrides`.
    pub(crate) fn new(overrides: &Overrides) -> Result<Self> {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_auto_escape_callback(|_| AutoEscape::None);
        env.set_debug(true);
        env.set_fuel(Some(FUEL));
        let mut syntax = minijinja::syntax::SyntaxConfig::builder();
        syntax.keep_trailing_newline(true);
        env.set_syntax(syntax.build().expect("the default syntax is valid"));
        env.add_filter("yaml", |v: JinjaValue| -> Result<String, minijinja::Error> { Ok(yaml::scalar(&to_json(&v)?)) });
        env.add_filter("yaml_block", |v: JinjaValue, indent: usize| -> Result<String, minijinja::Error> {
            let text = yaml::block(&to_json(&v)?, indent);
            Ok(text.trim_end_matches('\n').to_string())
        });
        for name in overrides.templates.keys() {
            if !BUILTIN.iter().any(|(known, _)| known == name) {
                let known: Vec<&str> = BUILTIN.iter().map(|(n, _)| *n).collect();
                bail!(
                    "the template folder `{}` holds `{name}`, which is not a template kanari uses (expected one of {})",
                    overrides.dir.display(),
                    known.join(", ")
                );
            }
        }
        for (name, builtin) in BUILTIN {
            let source = overrides.templates.get(name).cloned().unwrap_or_else(|| builtin.to_string());
            env.add_template_owned(name, source).with_context(|| match overrides.templates.contains_key(name) {
                true => format!("failed to compile template `{}`", overrides.dir.join(name).display()),
                false => format!("failed to compile the built-in template `{name}`"),
            })?;
        }
        Ok(Templates { env, dir: overrides.dir.clone(), overrides: overrides.templates.keys().cloned().collect() })
    }

    /// Whether some template is the repository's own rather than a built-in one: such a
    /// template can write anything, so what it renders is checked before it is used.
    pub(crate) fn overridden(&self) -> bool {
        !self.overrides.is_empty()
    }

    /// The overlay of `plan`. `spec_file` is named in the overlay's header comment. Files the
    /// plan carries over from the committed overlay ([`Plan::carried`]) are taken as they are.
    pub(crate) fn render(&self, plan: &Plan, spec_file: &Path) -> Result<Rendered> {
        let mut files = BTreeMap::new();
        let mut resources = Vec::new();
        let mut carried = Vec::new();
        let mut templates = BTreeMap::new();
        // Serialized once; minijinja values are shared, not copied.
        let plan_value = ser(plan);
        let mut add = |name: String, template: &str, ctx: JinjaValue| -> Result<()> {
            if let Some(bytes) = plan.carried.get(&name) {
                files.insert(name.clone(), bytes.clone());
                carried.push(name.clone());
            } else if let Some(object) = plan.own.get(&name) {
                // A manifest of the user's is its own template: no template applies to it.
                files.insert(name.clone(), yaml::block(object, 0).into_bytes());
            } else {
                let text = self.run(template, ctx)?;
                files.insert(name.clone(), text.into_bytes());
                if self.overrides.contains(template) {
                    templates.insert(name.clone(), self.dir.join(template));
                }
            }
            resources.push(name);
            Ok(())
        };
        if let Some(service) = &plan.service {
            add(
                crate::plan::object_file("service", &service.name),
                "service.yaml.j2",
                context! { plan => plan_value.clone(), service => ser(service) },
            )?;
        }
        let kept = |prefix: &'static str| plan.carry.iter().filter(move |n| n.starts_with(prefix)).cloned();
        // Gateway API: a Service per version (a leaving version's carried), each a backend.
        for service in plan.gateway.iter().flat_map(|g| &g.services) {
            add(
                crate::plan::object_file("service", &service.name),
                "service-version.yaml.j2",
                context! { plan => plan_value.clone(), service => ser(service) },
            )?;
        }
        for name in kept("service-") {
            add(name, "", JinjaValue::UNDEFINED)?;
        }
        for version in &plan.versions {
            add(
                crate::plan::object_file("deployment", &version.deployment),
                "deployment.yaml.j2",
                context! { plan => plan_value.clone(), version => ser(version) },
            )?;
        }
        for name in kept("deployment-") {
            add(name, "", JinjaValue::UNDEFINED)?;
        }
        for version in &plan.versions {
            if let Some(hpa) = &version.hpa {
                let name = crate::plan::object_file("horizontalpodautoscaler", &hpa.name);
                add(
                    name,
                    "horizontalpodautoscaler.yaml.j2",
                    context! { plan => plan_value.clone(), version => ser(version), hpa => ser(hpa) },
                )?;
            }
        }
        for name in kept("horizontalpodautoscaler-") {
            add(name, "", JinjaValue::UNDEFINED)?;
        }
        match &plan.gateway {
            Some(gateway) => {
                let route = &gateway.route;
                add(
                    crate::plan::object_file("httproute", &route.name),
                    "httproute.yaml.j2",
                    context! { plan => plan_value.clone(), route => ser(route) },
                )?;
            }
            None => {
                let rule = &plan.destination_rule;
                add(
                    crate::plan::object_file("destinationrule", &rule.name),
                    "destinationrule.yaml.j2",
                    context! { plan => plan_value.clone(), rule => ser(rule) },
                )?;
                let vs = &plan.virtual_service;
                add(
                    crate::plan::object_file("virtualservice", &vs.name),
                    "virtualservice.yaml.j2",
                    context! { plan => plan_value.clone(), vs => ser(vs) },
                )?;
            }
        }

        let kustomization =
            self.run("kustomization.yaml.j2", context! { plan => plan_value.clone(), resources => ser(&resources) })?;
        files.insert(KUSTOMIZATION.to_string(), kustomization.into_bytes());
        if self.overrides.contains("kustomization.yaml.j2") {
            templates.insert(KUSTOMIZATION.to_string(), self.dir.join("kustomization.yaml.j2"));
        }
        // Every file says whose it is: an unlisted file with this line is a leftover of a run
        // killed between two renames, and kanari's to replace or remove. Carried files have it.
        let header = header(&format!("{}/{}", plan.namespace, plan.name), spec_file);
        for (name, bytes) in files.iter_mut() {
            if !carried.contains(name) {
                bytes.splice(0..0, header.bytes());
            }
        }
        let own = plan.own.values().filter_map(|o| o["kind"].as_str().map(str::to_string));
        let kinds = own.chain(plan.extra_kinds.iter().cloned()).collect();
        Ok(Rendered { output: plan.output.clone(), files, resources, kinds, templates })
    }

    /// The template's text: within its fuel and [`MAX_OUTPUT_BYTES`], or an error naming it.
    fn run(&self, name: &str, ctx: JinjaValue) -> Result<String> {
        let template = self.env.get_template(name).expect("every template is added in new()");
        let shown = match self.overrides.contains(name) {
            true => self.dir.join(name).display().to_string(),
            false => name.to_string(),
        };
        let mut out = Bounded(Vec::new());
        if let Err(e) = template.render_captured_to(ctx, &mut out) {
            if out.0.len() > MAX_OUTPUT_BYTES {
                bail!("template `{shown}` writes more than 1 MiB: a manifest is a few KiB");
            }
            if e.kind() == minijinja::ErrorKind::OutOfFuel {
                bail!(
                    "template `{shown}` ran out of fuel (it runs more than {FUEL} instructions): does a loop run without end?"
                );
            }
            return Err(anyhow::anyhow!("{e:#}")).with_context(|| format!("failed to render template `{shown}`"));
        }
        let mut text =
            String::from_utf8(out.0).with_context(|| format!("template `{shown}` wrote text that is not UTF-8"))?;
        if !text.ends_with('\n') {
            text.push('\n');
        }
        Ok(text)
    }
}

/// The first line of every file kanari writes for a release.
pub(crate) fn header(release: &str, spec_file: &Path) -> String {
    let spec_file: String =
        spec_file.display().to_string().chars().map(|c| if c.is_control() { '?' } else { c }).collect();
    format!("# Written by kanari for {release} from {spec_file}; edit the spec, not this file.\n")
}

/// A writer that refuses to grow past [`MAX_OUTPUT_BYTES`].
struct Bounded(Vec<u8>);

impl std::io::Write for Bounded {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.0.len() + buf.len() > MAX_OUTPUT_BYTES {
            self.0.resize(MAX_OUTPUT_BYTES + 1, 0);
            return Err(std::io::Error::other("the output limit is reached"));
        }
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn to_json(v: &JinjaValue) -> Result<serde_json::Value, minijinja::Error> {
    serde_json::to_value(v).map_err(|e| minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, e.to_string()))
}

/// Templates a repository puts in place of the built-in ones: file name → source. Read from
/// the work tree by [`crate::overlay::read_templates`], from a commit by [`Overrides::from_files`].
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    /// Where they came from, for messages.
    pub dir: PathBuf,
    pub templates: BTreeMap<String, String>,
}

impl Overrides {
    /// Templates from a commit's files (file name → bytes).
    pub(crate) fn from_files(dir: &Path, files: BTreeMap<PathBuf, Vec<u8>>) -> Result<Overrides> {
        let mut templates = BTreeMap::new();
        for (path, bytes) in files {
            let text = String::from_utf8(bytes)
                .map_err(|_| anyhow::anyhow!("template `{}` is not UTF-8", dir.join(&path).display()))?;
            templates.insert(path.to_string_lossy().into_owned(), text);
        }
        Ok(Overrides { dir: dir.to_path_buf(), templates })
    }
}

fn ser<T: Serialize>(value: &T) -> JinjaValue {
    JinjaValue::from(minijinja::value::Serde(value))
}
