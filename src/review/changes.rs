//! What a pull request changes in a release: its spec at the base against its spec at the head,
//! compared as values (the two [`Canary`]s), never as text. Each difference is one [`Change`]
//! (stages added, removed or changed: weight, matches, mirror, approval, bake, replicas; images
//! as tag changes `1.16.2 → 1.17.0`; versions, sizes, routing, analysis); the pods it restarts
//! and why ([`Restart`]); and the warnings the head raises that the base did not (`lint`'s,
//! from [`plan::warnings`], and a new image under the same version, which the next promote rolls
//! out in place at the current stage). Pure: the command loads both sides.

use std::time::Duration;

use serde::Serialize;

use crate::plan;
use crate::spec::{self, Canary, Stage, Version};

/// One difference between the base's spec and the head's.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub(crate) struct Change {
    /// What changes: `stage 0-100`, `image of v2`, `replicas`, `release`.
    pub subject: String,
    /// Which of its fields (`bake`, `weight`, `matches`...), or empty for the whole subject.
    pub field: String,
    /// The value at the base, as a reviewer reads it (`30m`, `1.16.2`); empty when it was not there.
    pub before: String,
    /// The value at the head; empty when it is gone.
    pub after: String,
}

impl Change {
    fn new(subject: impl Into<String>, field: &str, before: impl Into<String>, after: impl Into<String>) -> Change {
        Change { subject: subject.into(), field: field.to_string(), before: before.into(), after: after.into() }
    }

    /// The change in one line of Markdown: ``stage `0-100`: bake `30m` → `1h` ``.
    pub(crate) fn markdown(&self) -> String {
        let code = |s: &str| if s.is_empty() { "none".to_string() } else { format!("`{}`", s.replace('`', "'")) };
        let field = if self.field.is_empty() { String::new() } else { format!(" {}", self.field) };
        match (self.before.is_empty(), self.after.is_empty()) {
            (true, false) => format!("{}{field}: added {}", self.subject, code(&self.after)),
            (false, true) => format!("{}{field}: removed (was {})", self.subject, code(&self.before)),
            _ => format!("{}{field}: {} → {}", self.subject, code(&self.before), code(&self.after)),
        }
    }
}

/// A version whose pods the change replaces, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub(crate) struct Restart {
    pub version: String,
    pub why: String,
}

/// Everything a pull request changes in one release.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub(crate) struct SpecChanges {
    pub changes: Vec<Change>,
    pub restarts: Vec<Restart>,
    /// Warnings the head raises that the base does not.
    pub warnings: Vec<String>,
}

impl SpecChanges {
    pub(crate) fn is_empty(&self) -> bool {
        self.changes.is_empty() && self.restarts.is_empty() && self.warnings.is_empty()
    }
}

/// The differences from `base` (the release as the base commit's specs define it, or none: the
/// pull request adds it) to `head`.
pub(crate) fn between(base: Option<&Canary>, head: &Canary) -> SpecChanges {
    let Some(base) = base else {
        let what = match &head.canary {
            Some(c) => format!("stable {}, canary {}", head.stable.version, c.version),
            None => format!("stable {}", head.stable.version),
        };
        return SpecChanges {
            changes: vec![Change::new("release", "", "", what)],
            restarts: Vec::new(),
            warnings: plan::warnings(head).into_iter().map(|p| p.message).collect(),
        };
    };
    let mut out = SpecChanges::default();
    let changes = &mut out.changes;
    // Versions and images.
    version_changes(changes, "stable", Some(&base.stable), Some(&head.stable));
    version_changes(changes, "canary", base.canary.as_ref(), head.canary.as_ref());
    // Sizes.
    if base.replicas != head.replicas {
        changes.push(Change::new("replicas", "", base.replicas.to_string(), head.replicas.to_string()));
    }
    if base.autoscaling != head.autoscaling {
        let text = |a: &Option<spec::Autoscaling>| {
            a.as_ref().map_or(String::new(), |a| {
                format!("{}-{} pods at {}% CPU", a.min_replicas, a.max_replicas, a.target_cpu_utilization_percentage)
            })
        };
        changes.push(Change::new("autoscaling", "", text(&base.autoscaling), text(&head.autoscaling)));
    }
    // The stages, matched by name.
    for stage in &base.stages {
        match head.stages.iter().find(|s| s.name == stage.name) {
            None => changes.push(Change::new(format!("stage `{}`", stage.name), "", stage_text(stage), "")),
            Some(now) => stage_changes(changes, stage, now),
        }
    }
    for stage in head.stages.iter().filter(|s| !base.stages.iter().any(|b| b.name == s.name)) {
        changes.push(Change::new(format!("stage `{}`", stage.name), "", "", stage_text(stage)));
    }
    let names = |c: &Canary| c.stages.iter().map(|s| s.name.clone()).collect::<Vec<_>>();
    let kept = |of: &Canary, other: &Canary| {
        names(of).into_iter().filter(|n| other.stages.iter().any(|s| &s.name == n)).collect::<Vec<_>>()
    };
    if kept(base, head) != kept(head, base) {
        changes.push(Change::new("stages", "order", names(base).join(", "), names(head).join(", ")));
    }
    // Routing and the rest of the spec.
    let list = |v: &[String]| v.join(", ");
    let gateways = |c: &Canary| {
        let each = c.gateways.iter().map(|g| {
            let mut text = g.reference();
            if let Some(section) = &g.section_name {
                text.push_str(&format!(" ({section})"));
            }
            if let Some(port) = g.port {
                text.push_str(&format!(" :{port}"));
            }
            text
        });
        each.collect::<Vec<_>>().join(", ")
    };
    let ports = |c: &Canary| {
        let each = c.service.ports.iter().map(|p| match &p.app_protocol {
            Some(protocol) => format!("{} {} ({protocol})", p.name, p.port),
            None => format!("{} {}", p.name, p.port),
        });
        each.collect::<Vec<_>>().join(", ")
    };
    let pairs: [(&str, String, String); 6] = [
        ("output", base.output.display().to_string(), head.output.display().to_string()),
        ("router", format!("{:?}", base.router), format!("{:?}", head.router)),
        ("hosts", list(&base.hosts), list(&head.hosts)),
        ("gateways", gateways(base), gateways(head)),
        ("service ports", ports(base), ports(head)),
        ("warmup", spec::format_duration(base.warmup), spec::format_duration(head.warmup)),
    ];
    for (subject, a, b) in pairs {
        if a != b {
            changes.push(Change::new(subject, "", a, b));
        }
    }
    if analysis_of(base) != analysis_of(head) {
        let checks_of = |c: &Canary| {
            c.analysis
                .as_ref()
                .map_or(String::new(), |a| a.metrics.iter().map(|m| m.name.as_str()).collect::<Vec<_>>().join(", "))
        };
        changes.push(Change::new("analysis", "checks", checks_of(base), checks_of(head)));
    }
    if base.own != head.own {
        changes.push(Change::new("own manifests (`from:`)", "", "as before", "changed"));
    }
    out.restarts = restarts(base, head);
    out.warnings = warnings(base, head);
    out
}

/// A version's changes: a canary started, removed (a finish or a cancel), replaced by another
/// version, or its image changed.
fn version_changes(out: &mut Vec<Change>, role: &str, base: Option<&Version>, head: Option<&Version>) {
    match (base, head) {
        (None, None) => {}
        (None, Some(v)) => out.push(Change::new(role, "", "", format!("{} ({})", v.version, v.image))),
        (Some(v), None) => out.push(Change::new(role, "", format!("{} ({})", v.version, v.image), "")),
        (Some(a), Some(b)) => {
            if a.version != b.version {
                out.push(Change::new(role, "version", &a.version, &b.version));
            }
            if a.image != b.image {
                let (before, after) = tag_change(&a.image, &b.image);
                let subject = match before.as_str() == a.image {
                    true => format!("image of `{}`", b.version),
                    // The repository said once: `image of v2 (docker.io/.../reviews-v2)`.
                    false => format!("image of `{}` (`{}`)", b.version, repository(&b.image)),
                };
                out.push(Change::new(subject, "", before, after));
            }
        }
    }
}

/// Two images as the part that changes: the tags (`1.16.2`, `1.17.0`) when the repository is
/// the same, else the whole references.
pub(crate) fn tag_change(before: &str, after: &str) -> (String, String) {
    let split = |image: &str| -> (String, String) {
        // A digest, else a tag after the last `:` that is past the last `/` (a registry's port
        // is not a tag).
        if let Some((repo, digest)) = image.split_once('@') {
            return (repo.to_string(), format!("@{digest}"));
        }
        match image.rfind(':') {
            Some(i) if image[i..].find('/').is_none() => (image[..i].to_string(), image[i + 1..].to_string()),
            _ => (image.to_string(), "latest".to_string()),
        }
    };
    let (a, b) = (split(before), split(after));
    match a.0 == b.0 {
        true => (a.1, b.1),
        false => (before.to_string(), after.to_string()),
    }
}

fn repository(image: &str) -> &str {
    let image = image.split('@').next().unwrap_or(image);
    match image.rfind(':') {
        Some(i) if !image[i..].contains('/') => &image[..i],
        _ => image,
    }
}

/// A stage in a few words: `weight 50%, approval, bake 30m`.
fn stage_text(stage: &Stage) -> String {
    let mut parts = vec![format!("weight {}%", stage.weight)];
    if !stage.matches.is_empty() {
        parts.push(format!("match {}", matches_text(stage)));
    }
    if let Some(m) = stage.mirror {
        parts.push(format!("mirror {m}%"));
    }
    if stage.pause.approval {
        parts.push("approval".into());
    }
    if let Some(d) = stage.pause.duration {
        parts.push(format!("bake {}", spec::format_duration(d)));
    }
    parts.join(", ")
}

fn matches_text(stage: &Stage) -> String {
    stage.matches.iter().map(plan::match_text).collect::<Vec<_>>().join(" | ")
}

fn stage_changes(out: &mut Vec<Change>, a: &Stage, b: &Stage) {
    let subject = || format!("stage `{}`", b.name);
    if a.weight != b.weight {
        out.push(Change::new(subject(), "weight", format!("{}%", a.weight), format!("{}%", b.weight)));
    }
    if a.matches != b.matches {
        out.push(Change::new(subject(), "match", matches_text(a), matches_text(b)));
    }
    if a.mirror != b.mirror {
        let text = |m: Option<u32>| m.map_or(String::new(), |m| format!("{m}%"));
        out.push(Change::new(subject(), "mirror", text(a.mirror), text(b.mirror)));
    }
    if a.pause.approval != b.pause.approval {
        let text = |on: bool| if on { "required" } else { "" };
        out.push(Change::new(subject(), "approval", text(a.pause.approval), text(b.pause.approval)));
    }
    if a.pause.duration != b.pause.duration {
        let text = |d: Option<Duration>| d.map_or(String::new(), spec::format_duration);
        out.push(Change::new(subject(), "bake", text(a.pause.duration), text(b.pause.duration)));
    }
    for (role, x, y) in
        [("stable", a.replicas.stable, b.replicas.stable), ("canary", a.replicas.canary, b.replicas.canary)]
    {
        if x != y {
            let text = |n: Option<u32>| n.map_or(String::new(), |n| n.to_string());
            out.push(Change::new(subject(), &format!("{role} replicas"), text(x), text(y)));
        }
    }
}

/// The analysis without the places its checks are written at, so a line moved is no change.
fn analysis_of(c: &Canary) -> Option<spec::Analysis> {
    c.analysis.clone().map(|mut a| {
        a.metrics.iter_mut().for_each(|m| m.at = Default::default());
        a
    })
}

/// The pods the change replaces: a version whose image changes (its pod template does), every
/// version when the shared pod template changes, and a canary replaced by a new version.
fn restarts(base: &Canary, head: &Canary) -> Vec<Restart> {
    let mut out = Vec::new();
    let template = base.template != head.template || base.own.deployment != head.own.deployment;
    let versions = [Some(&head.stable), head.canary.as_ref()];
    for (role, v) in ["stable", "canary"].into_iter().zip(versions) {
        let Some(v) = v else { continue };
        let before = match role {
            "stable" => Some(&base.stable),
            _ => base.canary.as_ref(),
        };
        let Some(before) = before.filter(|b| b.version == v.version) else {
            if let Some(old) = base.canary.as_ref().filter(|_| role == "canary") {
                out.push(Restart {
                    version: v.version.clone(),
                    why: format!(
                        "a new canary version replaces `{}`: the release starts again at `prepare` (the old canary drains first)",
                        old.version
                    ),
                });
            }
            continue;
        };
        let mut why = Vec::new();
        if before.image != v.image {
            let (a, b) = tag_change(&before.image, &v.image);
            why.push(format!("its image changes (`{a}` → `{b}`)"));
        }
        if template {
            why.push("the pod template every version shares changes".to_string());
        }
        if !why.is_empty() {
            out.push(Restart { version: v.version.clone(), why: why.join(" and ") });
        }
    }
    out
}

/// The warnings the head raises that the base does not (by their words: the places move with
/// any edit above them), and a new image under an unchanged canary version.
fn warnings(base: &Canary, head: &Canary) -> Vec<String> {
    let old: Vec<String> = plan::warnings(base).into_iter().map(|p| p.message).collect();
    let mut out: Vec<String> =
        plan::warnings(head).into_iter().map(|p| p.message).filter(|m| !old.contains(m)).collect();
    if let (Some(a), Some(b)) = (&base.canary, &head.canary)
        && a.version == b.version
        && a.image != b.image
    {
        let (from, to) = tag_change(&a.image, &b.image);
        out.push(format!(
            "the image of `{v}` changes (`{from}` → `{to}`) but its version does not: the next promote replaces the pods of `{v}` in place at the stage the release is in, and the new image skips the stages before it; a new canary needs a new version",
            v = b.version
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_said_alone_when_the_repository_is_the_same() {
        assert_eq!(tag_change("a/b:1.16.2", "a/b:1.17.0"), ("1.16.2".into(), "1.17.0".into()));
        assert_eq!(tag_change("reg:5000/b:1", "reg:5000/b:2"), ("1".into(), "2".into()));
        assert_eq!(tag_change("a/b", "a/b:2"), ("latest".into(), "2".into()));
        assert_eq!(tag_change("a/b:1", "c/d:1"), ("a/b:1".into(), "c/d:1".into()));
        assert_eq!(repository("reg:5000/b:1"), "reg:5000/b");
    }

    #[test]
    fn a_change_reads_as_one_line() {
        assert_eq!(Change::new("stage `0-100`", "bake", "30m", "1h").markdown(), "stage `0-100` bake: `30m` → `1h`");
        assert_eq!(Change::new("stage `x`", "", "", "weight 5%").markdown(), "stage `x`: added `weight 5%`");
        assert_eq!(
            Change::new("stage `x`", "approval", "required", "").markdown(),
            "stage `x` approval: removed (was `required`)"
        );
    }
}
