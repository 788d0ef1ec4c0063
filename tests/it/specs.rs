//! Canary specs for the tests, built instead of copied and edited as text.
//!
//! `Spec::new("web").yaml()` is the smallest valid spec, and each method changes one part of it.
//! The layout is fixed, so tests can assert a `line:column`; a part that is not set takes no
//! line:
//!
//! ```text
//!  1  apiVersion: kanari.dev/v1alpha1
//!  2  kind: Canary
//!  3  metadata:
//!  4    name: web
//!  5    namespace: shop
//!  6  spec:
//!       output, the extra lines, hosts, gateways
//!  7    service: {port: 8080}
//!  8    stable: {version: v1, image: web:1}
//!  9    canary: {version: v2, image: web:2}
//!       replicas, autoscaling, template
//! 10    stages:
//! 11      - name: half
//! 12        weight: 50
//! ```
//!
//! Values are written as given, as YAML scalars: a test quotes one where YAML must
//! (`.canary("v2", "'a b'")`). A test about text no builder should write (a tab, a duplicate
//! key, a bracket left open) edits the builder's YAML by hand instead.

/// A Canary spec; [`Spec::yaml`] writes it.
#[derive(Clone, Debug)]
pub struct Spec {
    name: String,
    namespace: Option<String>,
    output: Option<String>,
    lines: Vec<String>,
    hosts: Option<Vec<String>>,
    gateways: Option<Vec<String>>,
    port: u32,
    create: Option<bool>,
    stable: (String, String),
    canary: Option<(String, String)>,
    replicas: Option<u32>,
    autoscaling: Option<(u32, u32, u32)>,
    template: Option<Template>,
    stages: Vec<Stage>,
    flow_stages: bool,
    block: bool,
}

#[derive(Clone, Debug)]
enum Template {
    /// Lines of YAML, indented under `template:`.
    Block(String),
    /// One value, written after `template: `.
    Inline(String),
}

/// One stage of a [`Spec`].
#[derive(Clone, Debug)]
pub struct Stage {
    name: String,
    weight: Option<u32>,
    matches: Option<String>,
    replicas: Option<(Option<u32>, Option<u32>)>,
    pause: Option<(Option<bool>, Option<String>)>,
    lines: Vec<String>,
}

impl Spec {
    /// The smallest valid spec for release `name`: in namespace `shop`, port 8080, stable `v1`
    /// (image `NAME:1`), canary `v2` (image `NAME:2`), one stage `half` at weight 50.
    pub fn new(name: &str) -> Spec {
        Spec {
            name: name.to_string(),
            namespace: Some("shop".to_string()),
            output: None,
            lines: Vec::new(),
            hosts: None,
            gateways: None,
            port: 8080,
            create: None,
            stable: ("v1".to_string(), format!("{name}:1")),
            canary: Some(("v2".to_string(), format!("{name}:2"))),
            replicas: None,
            autoscaling: None,
            template: None,
            stages: vec![Stage::new("half").weight(50)],
            flow_stages: false,
            block: false,
        }
    }

    pub fn namespace(mut self, namespace: &str) -> Spec {
        self.namespace = Some(namespace.to_string());
        self
    }

    /// No `metadata.namespace` line.
    pub fn without_namespace(mut self) -> Spec {
        self.namespace = None;
        self
    }

    /// `spec.output`, on line 7.
    pub fn output(mut self, output: &str) -> Spec {
        self.output = Some(output.to_string());
        self
    }

    /// A line of `spec` as it is (indented by the builder), after `output`: for what the
    /// builder has no method for.
    pub fn line(mut self, line: &str) -> Spec {
        self.lines.push(line.to_string());
        self
    }

    /// `spec.hosts`, as a flow sequence of the values as given.
    pub fn hosts(mut self, hosts: &[impl AsRef<str>]) -> Spec {
        self.hosts = Some(hosts.iter().map(|h| h.as_ref().to_string()).collect());
        self
    }

    /// `spec.gateways` (in block style, a bare `gateways:` when empty).
    pub fn gateways(mut self, gateways: &[impl AsRef<str>]) -> Spec {
        self.gateways = Some(gateways.iter().map(|g| g.as_ref().to_string()).collect());
        self
    }

    pub fn port(mut self, port: u32) -> Spec {
        self.port = port;
        self
    }

    /// `spec.service.create`.
    pub fn create(mut self, create: bool) -> Spec {
        self.create = Some(create);
        self
    }

    pub fn stable(mut self, version: &str, image: &str) -> Spec {
        self.stable = (version.to_string(), image.to_string());
        self
    }

    pub fn canary(mut self, version: &str, image: &str) -> Spec {
        self.canary = Some((version.to_string(), image.to_string()));
        self
    }

    /// No `spec.canary`: a steady release.
    pub fn without_canary(mut self) -> Spec {
        self.canary = None;
        self
    }

    /// `spec.replicas`.
    pub fn replicas(mut self, replicas: u32) -> Spec {
        self.replicas = Some(replicas);
        self
    }

    /// `spec.autoscaling`.
    pub fn autoscaling(mut self, min: u32, max: u32, target_cpu: u32) -> Spec {
        self.autoscaling = Some((min, max, target_cpu));
        self
    }

    /// `spec.template` as YAML lines written as at the top of a file; the builder indents
    /// them under `template:`.
    pub fn template(mut self, yaml: &str) -> Spec {
        self.template = Some(Template::Block(yaml.to_string()));
        self
    }

    /// `spec.template` as one value on the line of `template:` (a flow mapping, a scalar).
    pub fn template_inline(mut self, yaml: &str) -> Spec {
        self.template = Some(Template::Inline(yaml.to_string()));
        self
    }

    /// Adds a stage after the others.
    pub fn stage(mut self, stage: Stage) -> Spec {
        self.stages.push(stage);
        self
    }

    /// These stages instead of `half` (none: no `stages` key).
    pub fn stages(mut self, stages: impl IntoIterator<Item = Stage>) -> Spec {
        self.stages = stages.into_iter().collect();
        self
    }

    /// Writes the stages as one JSON-style flow sequence (keys quoted) instead of block style.
    pub fn flow_stages(mut self) -> Spec {
        self.flow_stages = true;
        self
    }

    /// Writes `service`, `stable`, `canary`, `autoscaling` and a stage's `replicas` and `pause`
    /// in block style, a key a line, instead of as flow mappings.
    pub fn block(mut self) -> Spec {
        self.block = true;
        self
    }

    /// The spec as YAML text.
    pub fn yaml(&self) -> String {
        let mut y = String::from("apiVersion: kanari.dev/v1alpha1\nkind: Canary\nmetadata:\n");
        y += &format!("  name: {}\n", self.name);
        if let Some(namespace) = &self.namespace {
            y += &format!("  namespace: {namespace}\n");
        }
        y += "spec:\n";
        if let Some(output) = &self.output {
            y += &format!("  output: {output}\n");
        }
        for line in &self.lines {
            y += &format!("  {line}\n");
        }
        if let Some(hosts) = &self.hosts {
            y += &format!("  hosts: [{}]\n", hosts.join(", "));
        }
        if let Some(gateways) = &self.gateways {
            y += "  gateways:\n";
            for g in gateways {
                y += &format!("    - {g}\n");
            }
        }
        let mut service = vec![("port", self.port.to_string())];
        if let Some(create) = self.create {
            service.push(("create", create.to_string()));
        }
        y += &mapping(2, "service", &service, self.block);
        let (version, image) = &self.stable;
        y += &mapping(2, "stable", &[("version", version.clone()), ("image", image.clone())], self.block);
        if let Some((version, image)) = &self.canary {
            y += &mapping(2, "canary", &[("version", version.clone()), ("image", image.clone())], self.block);
        }
        if let Some(n) = self.replicas {
            y += &format!("  replicas: {n}\n");
        }
        if let Some((min, max, target)) = self.autoscaling {
            let entries = [
                ("minReplicas", min.to_string()),
                ("maxReplicas", max.to_string()),
                ("targetCPUUtilizationPercentage", target.to_string()),
            ];
            y += &mapping(2, "autoscaling", &entries, self.block);
        }
        match &self.template {
            None => {}
            Some(Template::Inline(value)) => y += &format!("  template: {value}\n"),
            Some(Template::Block(lines)) => {
                y += "  template:\n";
                for line in lines.lines() {
                    y += &format!("    {line}\n");
                }
            }
        }
        if self.stages.is_empty() {
            return y;
        }
        if self.flow_stages {
            let stages: Vec<String> = self.stages.iter().map(Stage::flow).collect();
            y += &format!("  stages: [{}]\n", stages.join(", "));
            return y;
        }
        y += "  stages:\n";
        for stage in &self.stages {
            y += &stage.block(self.block);
        }
        y
    }
}

impl Stage {
    /// A stage with a name and nothing else.
    pub fn new(name: &str) -> Stage {
        Stage { name: name.to_string(), weight: None, matches: None, replicas: None, pause: None, lines: Vec::new() }
    }

    pub fn weight(mut self, weight: u32) -> Stage {
        self.weight = Some(weight);
        self
    }

    /// `match`: a YAML flow sequence, as it is (`[{uri: {prefix: /}}]`).
    pub fn matches(mut self, yaml: &str) -> Stage {
        self.matches = Some(yaml.to_string());
        self
    }

    /// `replicas`, with either count or none (`replicas: {}`).
    pub fn replicas(mut self, stable: Option<u32>, canary: Option<u32>) -> Stage {
        self.replicas = Some((stable, canary));
        self
    }

    /// `pause`, with either field or none (`pause: {}`).
    pub fn pause(mut self, approval: Option<bool>, duration: Option<&str>) -> Stage {
        self.pause = Some((approval, duration.map(str::to_string)));
        self
    }

    /// A line of the stage as it is, after the others.
    pub fn line(mut self, line: &str) -> Stage {
        self.lines.push(line.to_string());
        self
    }

    fn replicas_entries(&self) -> Option<Vec<(&'static str, String)>> {
        let (stable, canary) = self.replicas?;
        let named = [("stable", stable), ("canary", canary)];
        Some(named.into_iter().filter_map(|(k, n)| Some((k, n?.to_string()))).collect())
    }

    fn pause_entries(&self) -> Option<Vec<(&'static str, String)>> {
        let (approval, duration) = self.pause.as_ref()?;
        let mut entries = Vec::new();
        if let Some(a) = approval {
            entries.push(("approval", a.to_string()));
        }
        if let Some(d) = duration {
            entries.push(("duration", d.clone()));
        }
        Some(entries)
    }

    fn block(&self, block: bool) -> String {
        let mut y = format!("    - name: {}\n", self.name);
        if let Some(w) = self.weight {
            y += &format!("      weight: {w}\n");
        }
        if let Some(m) = &self.matches {
            y += &format!("      match: {m}\n");
        }
        if let Some(entries) = self.replicas_entries() {
            y += &mapping(6, "replicas", &entries, block);
        }
        if let Some(entries) = self.pause_entries() {
            y += &mapping(6, "pause", &entries, block);
        }
        for line in &self.lines {
            y += &format!("      {line}\n");
        }
        y
    }

    /// The stage as a flow mapping with quoted keys.
    fn flow(&self) -> String {
        let quoted = |entries: Vec<(&str, String)>| -> Vec<String> {
            entries.into_iter().map(|(k, v)| format!("\"{k}\": {v}")).collect()
        };
        let mut parts = vec![format!("\"name\": {}", self.name)];
        if let Some(w) = self.weight {
            parts.push(format!("\"weight\": {w}"));
        }
        if let Some(m) = &self.matches {
            parts.push(format!("\"match\": {m}"));
        }
        if let Some(entries) = self.replicas_entries() {
            parts.push(format!("\"replicas\": {{{}}}", quoted(entries).join(", ")));
        }
        if let Some(entries) = self.pause_entries() {
            parts.push(format!("\"pause\": {{{}}}", quoted(entries).join(", ")));
        }
        parts.extend(self.lines.iter().cloned());
        format!("{{{}}}", parts.join(", "))
    }
}

/// `key:` and its entries at `indent`: a flow mapping on one line, or in block style a key a
/// line (`{}` when there are none).
fn mapping(indent: usize, key: &str, entries: &[(&str, String)], block: bool) -> String {
    let pad = " ".repeat(indent);
    if block && !entries.is_empty() {
        let lines: String = entries.iter().map(|(k, v)| format!("{pad}  {k}: {v}\n")).collect();
        format!("{pad}{key}:\n{lines}")
    } else {
        let parts: Vec<String> = entries.iter().map(|(k, v)| format!("{k}: {v}")).collect();
        format!("{pad}{key}: {{{}}}\n", parts.join(", "))
    }
}

#[test]
fn the_smallest_spec_is_laid_out_as_the_tests_count_on() {
    assert_eq!(
        Spec::new("web").yaml(),
        "apiVersion: kanari.dev/v1alpha1
kind: Canary
metadata:
  name: web
  namespace: shop
spec:
  service: {port: 8080}
  stable: {version: v1, image: web:1}
  canary: {version: v2, image: web:2}
  stages:
    - name: half
      weight: 50
"
    );
}
