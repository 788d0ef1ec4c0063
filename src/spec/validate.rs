//! Validation: raw documents (see [`super::raw`]) turned into [`Canary`] values that the
//! planner can trust, every problem of a file collected with its place. The checks on single
//! values are the pure rules of [`super::rules`]; the pod template's are in
//! [`super::template`]. Like all of `spec`, it imports no later step of the pipeline.
//!
//! A stage's `mirror` (1 to 100) stands alone: with a weight above 0 or a match it is an error at
//! that weight or match, so a mirror stage's canary serves copies only, of a known share.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use super::load::{ReadFile, holds_word};
use super::own::Want;
use super::raw::{
    RawAutoscaling, RawDoc, RawMatch, RawMirror, RawSpec, RawStage, RawStringMatch, RawVersion, S, not_a_canary,
    read_docs,
};
use super::rules::{
    HostRefusal, binds_mesh, check_header_name, check_output_path, default_output, folded, host_refusals,
    is_cookie_value, is_dns1035_label, is_dns1123_label, is_host, is_http_token, is_image, is_label_value,
    is_stage_name, parse_duration,
};
use super::{
    Autoscaling, Canary, Cookie, DEFAULT_WARMUP, Gateway, MAX_REPLICAS, MAX_STAGES, Match, Pause, Places,
    RESERVED_STAGE_NAMES, ReplicaOverride, Service, Stage, StringMatch, Version,
};
use crate::problem::{Place, Problem, Problems};

/// Parses and validates one file's documents. `file` is the path shown in problems.
pub fn parse_file(file: &Path, source: &str) -> (Vec<Canary>, Problems) {
    let (placed, failed) = parse_placed(file, source, None);
    let mut problems = Problems(failed.into_iter().flat_map(|f| f.problems.0).collect());
    let resolved = placed.into_iter().map(|p| p.resolved(&super::own::no_files, &mut problems));
    (resolved.collect(), problems)
}

/// A validated release and the places the checks across releases point at.
#[derive(Clone)]
pub(super) struct Placed {
    pub(super) canary: Canary,
    /// `metadata.name`.
    pub(super) name: Place,
    /// `spec.output`, or `metadata.name` when the output is the default one.
    pub(super) output: Place,
    /// The files its `from:` blocks name, read by [`Placed::resolved`].
    pub(super) wants: Vec<Want>,
    /// Where the Service's ports are written, for the checks that need the pod template.
    pub(super) ports: super::ports::PortsAt,
}

impl Placed {
    /// The release with the manifests its `from:` blocks name, read through `read`.
    pub(super) fn resolved(mut self, read: ReadFile, problems: &mut Problems) -> Canary {
        super::own::resolve(&mut self.canary, &self.wants, read, problems);
        super::ports::resolve(&mut self.canary, &self.ports, problems);
        self.canary
    }
}

/// [`parse_file`], keeping places; `specs` is the specs folder (relative to the repository
/// root), which no output may nest with. The problems come grouped by the release they belong
/// to: each document that does not validate gives the `namespace/name` it is written with and
/// its own problems; a file that cannot be read as documents gives its problems without a name.
pub(super) fn parse_placed(file: &Path, source: &str, specs: Option<&Path>) -> (Vec<Placed>, Vec<Failed>) {
    let docs = match read_docs(file, source) {
        Ok(docs) => docs,
        Err(problems) => return (Vec::new(), vec![Failed { id: None, output: None, problems }]),
    };
    let mut failed = Vec::new();
    let mut canaries = Vec::new();
    for doc in docs {
        let namespace = doc.metadata.namespace.as_ref().map_or("default", |n| n.value.as_str());
        let id = format!("{namespace}/{}", doc.metadata.name.value);
        let mut problems = Problems::default();
        let mut v = Validator { file, source, specs, problems: &mut problems };
        match v.canary(doc) {
            Ok(canary) => canaries.extend(super::fleet::instances(canary)),
            Err(output) => failed.push(Failed { id: Some(id), output, problems }),
        }
    }
    (canaries, failed)
}

/// The problems of a document that does not validate.
pub(super) struct Failed {
    /// The release it names (`None`: the file could not be read as documents, so the releases
    /// it defines are not known).
    pub(super) id: Option<String>,
    /// The folder it writes to, when that much of it is valid.
    pub(super) output: Option<PathBuf>,
    pub(super) problems: Problems,
}

/// Checks the documents of one file, recording problems.
pub(super) struct Validator<'a> {
    pub(super) file: &'a Path,
    pub(super) source: &'a str,
    /// The specs folder, relative to the repository root, when known.
    pub(super) specs: Option<&'a Path>,
    pub(super) problems: &'a mut Problems,
}

impl Validator<'_> {
    pub(super) fn place<T>(&self, at: &S<T>) -> Place {
        Place::at(self.file, self.source, at.referenced.line(), at.referenced.column())
    }

    pub(super) fn problem<T>(&mut self, at: &S<T>, message: impl Into<String>) {
        let loc = &at.referenced;
        self.problems.push(Problem::at(self.file, self.source, loc.line(), loc.column(), message));
    }

    /// The place of byte `offset` of a string scalar, when the source shows it as written (plain,
    /// or quoted without escapes on one line); else the place of the scalar.
    fn inside(&self, at: &S<String>, offset: usize) -> (u64, u64) {
        let (line, column) = (at.referenced.line(), at.referenced.column());
        let text = &at.value;
        let written = self.source.lines().nth(line.saturating_sub(1) as usize).unwrap_or("");
        let rest: String = written.chars().skip(column.saturating_sub(1) as usize).collect();
        let quote = match rest.chars().next() {
            Some('\'') if !text.contains('\'') => 1,
            Some('"') if !text.contains(['"', '\\']) => 1,
            _ => 0,
        };
        let shown = rest.get(quote..).is_some_and(|r| r.starts_with(text.as_str()));
        match shown && text.is_char_boundary(offset) {
            true => (line, column + quote as u64 + text[..offset].chars().count() as u64),
            false => (line, column),
        }
    }

    /// Checks `value` against a predicate; on failure records `message` at its place.
    pub(super) fn check<T>(&mut self, at: &S<T>, ok: bool, message: impl FnOnce() -> String) -> bool {
        if !ok {
            self.problem(at, message());
        }
        ok
    }

    fn number(&mut self, at: &S<i64>, what: &str, min: i64, max: i64) -> Option<u32> {
        let v = at.value;
        if self.check(at, (min..=max).contains(&v), || format!("{what} must be from {min} to {max}, got {v}")) {
            Some(v as u32)
        } else {
            None
        }
    }

    /// One document as a release; when it has problems, which are recorded, the folder it
    /// writes to, if that much is valid. Each part of the spec is checked in the order it is
    /// written, so that problems read top to bottom.
    fn canary(&mut self, doc: RawDoc) -> Result<Placed, Option<PathBuf>> {
        let before = self.problems.len();
        self.kind(&doc);
        let name = doc.metadata.name;
        let namespace = self.identity(&name, doc.metadata.namespace.as_ref());
        let spec = doc.spec;
        let (output, output_at) = self.output_folder(&spec, &namespace, &name);
        let (ports, ports_at) = self.service_ports(&spec.service);
        let router = self.router(&spec);
        let gateway_api = router != super::Router::Istio;
        let (hosts, gateways) = self.routing(&spec, &name, gateway_api);
        let gateway_api_version = self.gateway_api_version(&spec, gateway_api);
        let (stable, canary) = self.versions(&spec, &name.value);
        let (replicas, autoscaling) = self.pods(&spec);
        let fleet = self.fleet(&spec, replicas, autoscaling.as_ref());
        let (template, containers) = match &spec.template {
            Some(t) => self.template(t, &name.value),
            None => (Value::Object(Default::default()), Vec::new()),
        };
        let places = Places {
            autoscaling: spec.autoscaling.as_ref().map(|a| self.place(a)),
            containers,
            images: [Some(&spec.stable), spec.canary.as_ref()]
                .into_iter()
                .flatten()
                .map(|v| (v.version.value.clone(), self.place(&v.image)))
                .collect(),
            ports: ports_at.short.iter().cloned().chain(ports_at.ports.iter().map(|(p, _)| p.clone())).collect(),
        };
        let stages = self.stages(&spec, autoscaling.as_ref());
        let warmup = self.warmup(&spec);
        let analysis = spec.analysis.as_ref().and_then(|a| self.analysis(a, &stages));
        let wants = self.own(&spec);
        let extra_kinds = self.extra_kinds(&spec);
        let (Some(output), Some(stable), false) = (output.clone(), stable, self.problems.len() > before) else {
            return Err(output);
        };
        let name_at = self.place(&name);
        let canary = Canary {
            name: name.value,
            namespace,
            file: self.file.to_path_buf(),
            output,
            service: Service { ports, create: spec.service.value.create.unwrap_or(true) },
            hosts,
            gateways,
            gateway_api_version,
            router,
            stable,
            canary,
            replicas,
            autoscaling,
            template,
            stages,
            warmup,
            analysis,
            places,
            own: Default::default(),
            extra_kinds,
            fleet: fleet.map(|fleet| super::fleet::Member {
                cluster: String::new(),
                wave: 0,
                fleet: std::sync::Arc::new(fleet),
            }),
        };
        Ok(Placed { canary, name: name_at, output: output_at, wants, ports: ports_at })
    }

    /// `spec.extraKinds`: each `Kind` or `group/Kind`, listed once.
    fn extra_kinds(&mut self, spec: &RawSpec) -> Vec<String> {
        let mut kinds = Vec::new();
        for entry in spec.extra_kinds.iter().flatten() {
            let text = entry.value.as_str();
            if !is_kind_entry(text) {
                self.problem(
                    entry,
                    format!("extraKinds entry `{text}` is not a kind: write `Kind` (`ConfigMap`) or `group/Kind` (`rbac.authorization.k8s.io/Role`)"),
                );
            } else if kinds.iter().any(|k| k == text) {
                self.problem(entry, format!("extraKinds lists `{text}` twice"));
            } else {
                kinds.push(text.to_string());
            }
        }
        kinds
    }

    /// `apiVersion` and `kind` name a kanari Canary; else a problem at the one that is wrong.
    fn kind(&mut self, doc: &RawDoc) {
        if let Some(message) = not_a_canary(&doc.kind, Some(&doc.api_version)) {
            let at = if doc.kind.value == "Canary" { &doc.api_version } else { &doc.kind };
            self.problem(at, message);
        }
    }

    /// `metadata.name` and `metadata.namespace`; returns the namespace (`default` when none
    /// is given).
    fn identity(&mut self, name: &S<String>, namespace: Option<&S<String>>) -> String {
        if self.check(name, is_dns1035_label(&name.value), || {
            format!("metadata.name `{}` must be a DNS-1035 label: at most 63 characters of a-z, 0-9 and `-`, starting with a letter and ending with a letter or digit", name.value)
        }) {
            // What makes `Scope::Named` exact: a file that defines a release holds its name.
            self.check(name, holds_word(self.source, &name.value), || {
                format!("write metadata.name `{}` as plain text, without YAML escapes: kanari finds a release's file by its name", name.value)
            });
        }
        match namespace {
            Some(ns) => {
                self.check(ns, is_dns1123_label(&ns.value), || {
                    format!("metadata.namespace `{}` must be a DNS-1123 label: at most 63 characters of a-z, 0-9 and `-`, starting and ending with a letter or digit", ns.value)
                });
                ns.value.clone()
            }
            None => "default".to_string(),
        }
    }

    /// The release's folder (`spec.output`, or the default one) and where it is written; the
    /// folder is `None` when it is refused. It may not nest with the specs folder.
    fn output_folder(&mut self, spec: &RawSpec, namespace: &str, name: &S<String>) -> (Option<PathBuf>, Place) {
        let output = match &spec.output {
            Some(out) => {
                // Named runs find the files that set an output by the word (see `Scope::Named`).
                self.check(out, holds_word(self.source, "output"), || {
                    "write the key `output` as plain text, without YAML escapes".to_string()
                });
                self.output(out)
            }
            None => Some(default_output(namespace, &name.value)),
        };
        let output_at = match &spec.output {
            Some(out) => self.place(out),
            None => self.place(name),
        };
        if let (Some(out), Some(specs)) = (&output, self.specs) {
            let (o, f) = (folded(out), folded(specs));
            let what = match &spec.output {
                Some(_) => format!("spec.output `{}`", out.display()),
                None => format!("the default output `{}` (no spec.output)", out.display()),
            };
            let why = if o.starts_with(&f) {
                Some(format!(
                    "is inside the specs folder `{}`: kanari would read the files it writes as specs; choose a folder outside it",
                    specs.display()
                ))
            } else if f.starts_with(&o) {
                Some(format!(
                    "holds the specs folder `{}`: kanari owns its output folder; choose one that does not hold the specs",
                    specs.display()
                ))
            } else {
                None
            };
            if let Some(why) = why {
                self.problems.push(output_at.problem(format!("{what} {why}")));
            }
        }
        (output, output_at)
    }

    /// `spec.hosts` (the release's name when none are given) and `spec.gateways`, each well
    /// formed, and together as Istio's admission takes them.
    fn routing(&mut self, spec: &RawSpec, name: &S<String>, gateway_api: bool) -> (Vec<String>, Vec<Gateway>) {
        let hosts = match &spec.hosts {
            Some(hosts) => {
                if hosts.is_empty() {
                    self.problem(name, "spec.hosts is empty: leave it out to use the release name");
                }
                for h in hosts {
                    self.check(h, is_host(&h.value), || {
                        format!("host `{}` must be a lowercase DNS name, optionally starting with `*.`", h.value)
                    });
                }
                hosts.iter().map(|h| h.value.clone()).collect()
            }
            None => vec![name.value.clone()],
        };
        let gateways = self.gateways(spec, gateway_api);
        if let Some(list) = &spec.hosts {
            self.host_admission(list, &gateways);
        }
        (hosts, gateways)
    }

    /// Istio's admission rules for the hosts of one VirtualService: a host once, none covered
    /// by a wildcard beside it, and `*` only for routes bound to gateways other than the mesh.
    fn host_admission(&mut self, hosts: &[S<String>], gateways: &[Gateway]) {
        let names: Vec<String> = gateways.iter().map(Gateway::reference).collect();
        let mesh = binds_mesh(names.iter().map(String::as_str));
        for (i, h) in hosts.iter().enumerate() {
            for refusal in host_refusals(&h.value, hosts[..i].iter().map(|o| o.value.as_str()), mesh) {
                let message = match refusal {
                    HostRefusal::WildcardOnMesh => "host `*` is not allowed on the mesh: Istio rejects a wildcard host for sidecar routes; name the hosts, or bind the route to gateways".to_string(),
                    HostRefusal::Overlaps(other) => {
                        let why = match other == h.value {
                            true => "is listed twice".to_string(),
                            false => format!("overlaps `{other}`"),
                        };
                        format!("host `{}` {why}: Istio rejects overlapping hosts in one VirtualService", h.value)
                    }
                };
                self.problem(h, message);
            }
        }
    }

    /// `spec.stable` and `spec.canary`, each valid, and not the same version.
    fn versions(&mut self, spec: &RawSpec, release: &str) -> (Option<Version>, Option<Version>) {
        let stable = self.version(&spec.stable, release);
        let canary = spec.canary.as_ref().and_then(|c| self.version(c, release));
        if let (Some(s), Some(c), Some(raw)) = (&stable, &canary, &spec.canary) {
            if s.version == c.version {
                let message = format!(
                    "canary version `{}` is the stable version: a canary needs a version of its own",
                    c.version
                );
                self.problem(&raw.version, message);
            } else if s.name == c.name {
                let message = format!(
                    "the canary `{}` and the stable `{}` would share the object name `{}`: set `subset:` on one of them",
                    c.version, s.version, c.name
                );
                self.problem(raw.subset.as_ref().unwrap_or(&raw.version), message);
            }
        }
        (stable, canary)
    }

    /// How many pods a version runs: `spec.replicas` (1 when not given), or `spec.autoscaling`;
    /// not both.
    fn pods(&mut self, spec: &RawSpec) -> (u32, Option<Autoscaling>) {
        let autoscaling = spec.autoscaling.as_ref().and_then(|a| self.autoscaling(a));
        let replicas = match (&spec.replicas, &spec.autoscaling) {
            (Some(r), Some(_)) => {
                self.problem(
                    r,
                    "`replicas` and `autoscaling` exclude each other: with autoscaling the HPAs own the pod count",
                );
                1
            }
            (Some(r), None) => self.number(r, "replicas", 1, MAX_REPLICAS).unwrap_or(1),
            (None, _) => 1,
        };
        (replicas, autoscaling)
    }

    /// `spec.warmup`: how long new pods get to become ready before traffic moves onto them
    /// ([`DEFAULT_WARMUP`] when not given).
    fn warmup(&mut self, spec: &RawSpec) -> Duration {
        let Some(w) = &spec.warmup else { return DEFAULT_WARMUP };
        match parse_duration(&w.value) {
            Ok(d) => d,
            Err(why) => {
                self.problem(w, format!("warmup `{}` {why}", w.value));
                DEFAULT_WARMUP
            }
        }
    }

    /// `spec.stages`: at most [`MAX_STAGES`], names unique without case, each stage valid; a
    /// canary needs one. Returns the valid stages.
    fn stages(&mut self, spec: &RawSpec, autoscaling: Option<&Autoscaling>) -> Vec<Stage> {
        if spec.stages.len() > MAX_STAGES {
            self.problem(&spec.stages[MAX_STAGES], format!("a release has at most {MAX_STAGES} stages"));
        }
        let mut names = BTreeSet::new();
        let mut stages = Vec::new();
        for stage in &spec.stages {
            // Compared without case: each state is a folder under `render --all-stages --out`, and
            // `Half` and `half` would be one folder on a case-insensitive filesystem.
            if !names.insert(stage.value.name.value.to_ascii_lowercase()) {
                self.problem(
                    &stage.value.name,
                    format!("stage name `{}` is used twice (names are compared without case)", stage.value.name.value),
                );
            }
            if let Some(s) = self.stage(stage, autoscaling) {
                stages.push(s);
            }
        }
        if let (Some(raw), true) = (&spec.canary, spec.stages.is_empty()) {
            self.problem(&raw.version, "a canary needs at least one stage under spec.stages");
        }
        stages
    }

    fn output(&mut self, out: &S<String>) -> Option<PathBuf> {
        match check_output_path(&out.value) {
            Ok(path) => Some(path),
            Err(why) => {
                self.problem(out, format!("spec.output `{}` {why}", out.value));
                None
            }
        }
    }

    fn version(&mut self, raw: &RawVersion, release: &str) -> Option<Version> {
        let v = &raw.version;
        let mut ok = self.check(v, !v.value.is_empty() && is_label_value(&v.value), || {
            format!("version `{}` must be a label value: at most 63 characters of letters, digits, `-`, `_` and `.`, starting and ending with a letter or digit", v.value)
        });
        let name = match &raw.subset {
            Some(subset) => {
                ok &= self.check(subset, is_dns1123_label(&subset.value), || {
                    format!("subset `{}` must be a DNS-1123 label: at most 63 characters of a-z, 0-9 and `-`, starting and ending with a letter or digit", subset.value)
                });
                subset.value.clone()
            }
            None => {
                let name = super::object_name(&v.value);
                // Only a valid label value gets a word about the name made from it.
                if ok {
                    ok = self.check(v, is_dns1123_label(&name), || {
                        format!("version `{}` gives the object name `{name}`, which is not a DNS-1123 label (a-z, 0-9 and `-`): set `subset:` beside it to a name that is", v.value)
                    });
                }
                name
            }
        };
        let deployment = super::version_object(release, &name);
        let at = raw.subset.as_ref().unwrap_or(v);
        ok &= self.check(at, deployment.len() <= 63, || {
            format!("the Deployment name `{deployment}` would be longer than 63 characters; shorten the release name or the version")
        });
        let image = &raw.image;
        ok &= self.check(image, is_image(&image.value), || {
            format!("image `{}` must be a non-empty image reference without spaces", image.value)
        });
        ok.then(|| Version { version: v.value.clone(), image: image.value.clone(), name })
    }

    pub(super) fn autoscaling(&mut self, raw: &S<RawAutoscaling>) -> Option<Autoscaling> {
        let a = &raw.value;
        let min = self.number(&a.min_replicas, "autoscaling.minReplicas", 1, MAX_REPLICAS);
        let max = self.number(&a.max_replicas, "autoscaling.maxReplicas", 1, MAX_REPLICAS);
        let target =
            self.number(&a.target_cpu_utilization_percentage, "autoscaling.targetCPUUtilizationPercentage", 1, 100);
        let (min, max, target) = (min?, max?, target?);
        if min > max {
            self.problem(&a.max_replicas, format!("autoscaling.maxReplicas ({max}) is below minReplicas ({min})"));
            return None;
        }
        Some(Autoscaling { min_replicas: min, max_replicas: max, target_cpu_utilization_percentage: target })
    }

    fn stage(&mut self, raw: &S<RawStage>, autoscaling: Option<&Autoscaling>) -> Option<Stage> {
        let before = self.problems.len();
        let s = &raw.value;
        let name = &s.name;
        self.check(name, is_stage_name(&name.value), || {
            format!("stage name `{}` must be 1 to 63 characters of letters, digits, `.`, `_` and `-`, starting with a letter or digit", name.value)
        });
        self.check(name, !RESERVED_STAGE_NAMES.iter().any(|r| r.eq_ignore_ascii_case(&name.value)), || {
            format!("stage name `{}` is reserved for kanari's own states (steady, prepare, aborted)", name.value)
        });
        let weight = match &s.weight {
            Some(w) => self.number(w, "weight", 0, 100).unwrap_or(0),
            None => 0,
        };
        let matches: Vec<Match> = s.matches.iter().filter_map(|m| self.match_entry(m)).collect();
        let (mirror, mirror_matches) = match s.mirror.as_ref().map(|m| self.mirror(m, s)) {
            Some(Some((percent, matches))) => (Some(percent), matches),
            _ => (None, Vec::new()),
        };
        let mut over = ReplicaOverride::default();
        if let Some(r) = &s.replicas {
            let cap = autoscaling.map_or(MAX_REPLICAS, |a| a.max_replicas as i64);
            let what = if autoscaling.is_some() { "(at most autoscaling.maxReplicas)" } else { "" };
            over.stable = r.stable.as_ref().and_then(|n| self.number(n, &format!("replicas.stable {what}"), 0, cap));
            over.canary = r.canary.as_ref().and_then(|n| self.number(n, &format!("replicas.canary {what}"), 0, cap));
            if let (Some(0), Some(at)) = (over.stable, &r.stable) {
                // At weight 100 every request goes to the canary, matched or not: stable takes none.
                self.check(at, weight == 100, || {
                    format!("replicas.stable is 0 but the stable version still takes {}% of the traffic", 100 - weight)
                });
            }
            if let (Some(0), Some(at)) = (over.canary, &r.canary) {
                self.check(at, weight == 0 && matches.is_empty() && s.mirror.is_none(), || {
                    "replicas.canary is 0 but the canary takes traffic in this stage".to_string()
                });
            }
        }
        let mut pause = Pause::default();
        if let Some(p) = &s.pause {
            pause.approval = p.approval.unwrap_or(false);
            if let Some(d) = &p.duration {
                match parse_duration(&d.value) {
                    Ok(duration) => pause.duration = Some(duration),
                    Err(why) => self.problem(d, format!("pause.duration `{}` {why}", d.value)),
                }
            }
        }
        let at = self.place(name);
        (self.problems.len() == before).then(|| Stage {
            name: name.value.clone(),
            weight,
            matches,
            mirror,
            mirror_matches,
            replicas: over,
            pause,
            at,
        })
    }

    /// A stage's `mirror`: 1 to 100, in a stage with no weight above 0 and no match (stable
    /// keeps every request while the canary gets copies; a weight or a match in the same stage
    /// would send it real ones too, and its share of the requests would read two ways). Its own
    /// `match` limits which requests are copied.
    fn mirror(&mut self, raw: &S<RawMirror>, stage: &RawStage) -> Option<(u32, Vec<Match>)> {
        let (percent, matches) = match &raw.value {
            RawMirror::Percent(n) => {
                let at = S::new(*n, raw.referenced, raw.defined);
                (self.number(&at, "mirror", 1, 100), &[][..])
            }
            RawMirror::Copy { percent, matches } => (self.number(percent, "mirror.percent", 1, 100), &matches[..]),
        };
        let before = self.problems.len();
        let matches: Vec<Match> = matches.iter().filter_map(|m| self.match_entry(m)).collect();
        let percent = percent?;
        let why = |what: String, noun: &str| {
            format!(
                "{what} with mirror {percent}: a mirror stage keeps every request on stable and copies a share to the canary; give the {noun} a stage of its own"
            )
        };
        if let Some(w) = stage.weight.as_ref().filter(|w| w.value > 0) {
            self.problem(w, why(format!("weight {}", w.value), "weight"));
        }
        if let Some(m) = stage.matches.first() {
            self.problem(
                m,
                format!(
                    "{} (to copy only the requests that match, write `mirror: {{percent: {percent}, match: [...]}}`)",
                    why("a match".into(), "match")
                ),
            );
        }
        (self.problems.len() == before).then_some((percent, matches))
    }

    fn match_entry(&mut self, raw: &S<RawMatch>) -> Option<Match> {
        let before = self.problems.len();
        let m = &raw.value;
        if m.headers.as_ref().is_none_or(|h| h.is_empty())
            && m.cookie.is_none()
            && m.uri.is_none()
            && m.method.is_none()
        {
            self.problem(
                raw,
                "an empty match would take every request; give `headers`, `cookie`, `uri` or `method`, or use `weight: 100`",
            );
            return None;
        }
        let mut out = Match::default();
        let mut headers: Vec<_> = m.headers.iter().flatten().collect();
        headers.sort_by(|a, b| a.0.value.cmp(&b.0.value));
        for (key, value) in headers {
            let header = &key.value;
            if let Err(why) = check_header_name(header) {
                self.problem(key, why.to_string());
            }
            if m.cookie.is_some() && header == "cookie" {
                self.problem(key, "a match cannot have both `cookie` and a `cookie` header");
            }
            if let Some(sm) = self.string_match(value, &format!("header `{header}`")) {
                out.headers.insert(header.clone(), sm);
            }
        }
        if let Some(c) = &m.cookie {
            self.check(&c.name, is_http_token(&c.name.value), || {
                format!("cookie name `{}` must be a non-empty HTTP token", c.name.value)
            });
            self.check(&c.value, is_cookie_value(&c.value.value), || {
                format!(
                    "cookie value `{}` must be non-empty and hold no spaces, quotes, commas, semicolons or backslashes",
                    c.value.value
                )
            });
            out.cookie = Some(Cookie { name: c.name.value.clone(), value: c.value.value.clone() });
        }
        if let Some(u) = &m.uri {
            out.uri = self.string_match(u, "uri");
        }
        if let Some(method) = &m.method {
            self.check(method, HTTP_METHODS.contains(&method.value.as_str()), || {
                format!("method `{}` is none of {}", method.value, HTTP_METHODS.join(", "))
            });
            out.method = Some(method.value.clone());
        }
        (self.problems.len() == before).then_some(out)
    }

    fn string_match(&mut self, raw: &S<RawStringMatch>, what: &str) -> Option<StringMatch> {
        let m = &raw.value;
        let given: Vec<(&str, &S<String>)> = [("exact", &m.exact), ("prefix", &m.prefix), ("regex", &m.regex)]
            .into_iter()
            .filter_map(|(k, v)| v.as_ref().map(|v| (k, v)))
            .collect();
        let [(kind, value)] = given[..] else {
            self.problem(raw, format!("{what} needs exactly one of `exact`, `prefix` or `regex`, got {}", given.len()));
            return None;
        };
        let text = &value.value;
        match kind {
            "exact" => Some(StringMatch::Exact(text.clone())),
            "prefix" => self
                .check(value, !text.is_empty(), || format!("{what}: an empty prefix matches everything"))
                .then(|| StringMatch::Prefix(text.clone())),
            _ => match crate::re2::check(text) {
                Ok(()) => Some(StringMatch::Regex(text.clone())),
                Err(why) => {
                    // A parse error's own place is sometimes past the mistake: those point at
                    // the regex; what RE2 reads otherwise, at the construct itself.
                    let (line, column) = match why {
                        crate::re2::Refusal::NotRe2(..) => self.inside(value, why.offset()),
                        _ => (value.referenced.line(), value.referenced.column()),
                    };
                    self.problems.push(Problem::at(self.file, self.source, line, column, format!("{what}: {why}")));
                    None
                }
            },
        }
    }
}

/// The HTTP methods a match may name, as Gateway API's `HTTPMethod` lists them (Istio matches
/// any string; these keep both routers alike).
pub const HTTP_METHODS: [&str; 9] = ["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"];

#[cfg(test)]
#[path = "validate_tests.rs"]
mod tests;

/// A Kubernetes kind (`ConfigMap`: a capital letter, then letters and digits, at most 63) or
/// `group/Kind`, the group a DNS-1123 subdomain or `core`.
fn is_kind_entry(text: &str) -> bool {
    let (group, kind) = text.rsplit_once('/').map_or((None, text), |(g, k)| (Some(g), k));
    let kind_ok = kind.len() <= 63
        && kind.starts_with(|c: char| c.is_ascii_uppercase())
        && kind.chars().all(|c| c.is_ascii_alphanumeric());
    kind_ok && group.is_none_or(|g| g == "core" || super::is_dns1123_subdomain(g))
}
