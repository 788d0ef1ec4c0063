//! Each release on its own: what a load found ([`Loaded`]: the releases whose specs load, and
//! [`Broken`]: the problems that hold the others back), and the checks across releases that
//! decide which a problem holds back: two releases that clash ([`cross_check`]: defined twice,
//! one folder for two) hold back each other; a file that does not load holds back the releases
//! that write to a folder that nests with one it may write to ([`held_by_shadows`]), as no one
//! can tell whose folder it is until it loads. Like all of `spec`, no later step of the pipeline.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Result;

use super::Canary;
use super::load::outputs_in;
use super::rules::folded;
use super::validate::{Failed, Placed};
use crate::problem::Problems;

/// What a load that takes each release on its own found ([`load_each`], [`load_files_each`]).
#[derive(Debug, Default)]
pub(crate) struct Loaded {
    /// The releases whose specs load, validated, in the order of their files.
    pub canaries: Vec<Canary>,
    /// The problems of the specs that do not load, in the order of their places.
    pub broken: Vec<Broken>,
}

/// Problems that hold releases back, and which.
#[derive(Debug)]
pub(crate) struct Broken {
    /// The releases (`namespace/name`) the problems hold back: one for a document that does not
    /// validate or a `from:` file that cannot be used, one or two for releases that clash; none
    /// for a file that cannot be read as documents (it may define any release).
    pub ids: Vec<String>,
    pub problems: Problems,
}

impl Loaded {
    /// Every release, or the [`Problems`] of every spec that does not load, as one report.
    pub(crate) fn strict(self) -> Result<Vec<Canary>> {
        if self.broken.is_empty() {
            return Ok(self.canaries);
        }
        let mut problems = Problems(self.broken.into_iter().flat_map(|b| b.problems.0).collect());
        problems.sort();
        Err(problems.into())
    }
}

/// The folders a file whose documents do not all validate may write to, folded: those of its
/// documents that do not validate, where that much of them is valid, and those its `output`
/// lines name ([`outputs_in`]) but its releases that load do not write to.
pub(super) fn outputs_of_failed(text: &str, found: &[Placed], failed: &[Failed]) -> Vec<PathBuf> {
    let mut lines = outputs_in(text).unwrap_or_default();
    for p in found {
        if let Some(at) = lines.iter().position(|o| *o == folded(&p.canary.output)) {
            lines.remove(at);
        }
    }
    lines.extend(failed.iter().filter_map(|f| f.output.as_deref().map(folded)));
    lines
}

/// Releases that load but write to a folder that nests with one a file that does not load may
/// write to (`shadows`: the index of the file's first [`Broken`] in `broken`, and its folders):
/// kanari cannot tell whose folder it is until that file loads. Each is held back with a
/// problem at its output and the problems of that file, so that a run for it alone shows them.
pub(super) fn held_by_shadows(placed: &[Placed], shadows: &[(usize, Vec<PathBuf>)], broken: &[Broken]) -> Vec<Broken> {
    let mut held = Vec::new();
    for p in placed {
        let (c, mine) = (&p.canary, folded(&p.canary.output));
        let clash = shadows.iter().find_map(|(first, outputs)| {
            outputs.iter().find(|o| o.starts_with(&mine) || mine.starts_with(o)).map(|o| (*first, o))
        });
        let Some((first, theirs)) = clash else { continue };
        let file = broken[first].problems.0.first().map(|p| p.location.file.clone()).unwrap_or_default();
        let message = format!(
            "release `{}` writes to `{}`, which nests with `{}`, a folder of `{}`: that file does not load, so kanari cannot tell whose folder it is",
            c.id(),
            c.output.display(),
            theirs.display(),
            file.display()
        );
        let mut problems = Problems(vec![p.output.problem(message)]);
        let same_file = |b: &&Broken| b.problems.0.first().is_some_and(|x| x.location.file == file);
        problems.0.extend(broken[first..].iter().take_while(same_file).flat_map(|b| b.problems.0.iter().cloned()));
        held.push(Broken { ids: vec![c.id()], problems });
    }
    held
}

/// Checks across releases: unique ids, outputs that neither coincide nor nest. Each problem
/// points at both places, and holds back the releases involved.
pub(super) fn cross_check(placed: &[Placed]) -> Vec<Broken> {
    let mut problems = Vec::new();
    // By `namespace/name`: a fleet's instances come from one document (one place of
    // `metadata.name`); a fleet and a single release of one name are two definitions.
    let mut ids: BTreeMap<String, &Placed> = BTreeMap::new();
    let mut reported = Vec::new();
    for p in placed {
        let id = p.canary.fleet_id();
        match ids.get(&id) {
            Some(first) if first.name != p.name && !reported.contains(&(&first.name, &p.name)) => {
                reported.push((&first.name, &p.name));
                let message = format!("release `{id}` is defined twice: a release is one Canary document");
                let problem = p.name.problem(message).with_note(&first.name, format!("`{id}` is first defined here"));
                let mut held: Vec<String> =
                    placed.iter().filter(|q| q.name == first.name || q.name == p.name).map(|q| q.canary.id()).collect();
                held.dedup();
                problems.push(Broken { ids: held, problems: Problems(vec![problem]) });
            }
            Some(_) => {}
            None => {
                ids.insert(id, p);
            }
        }
    }
    let mut outputs: Vec<(PathBuf, &Placed)> = placed.iter().map(|p| (folded(&p.canary.output), p)).collect();
    outputs.sort_by(|a, b| a.0.cmp(&b.0));
    for pair in outputs.windows(2) {
        let ((fa, a), (fb, b)) = (&pair[0], &pair[1]);
        let (ac, bc) = (&a.canary, &b.canary);
        // A release defined twice is reported as that, not again as two writers of one folder.
        if !fb.starts_with(fa) || ac.id() == bc.id() {
            continue;
        }
        let message = if fa == fb {
            format!(
                "release `{}` writes to `{}`, as release `{}` does: each release needs a folder of its own",
                bc.id(),
                bc.output.display(),
                ac.id()
            )
        } else {
            format!(
                "release `{}` writes to `{}`, inside the output `{}` of release `{}`: each release needs a folder of its own",
                bc.id(),
                bc.output.display(),
                ac.output.display(),
                ac.id()
            )
        };
        let note = format!("release `{}` writes to `{}`", ac.id(), ac.output.display());
        let problem = b.output.problem(message).with_note(&a.output, note);
        problems.push(Broken { ids: vec![bc.id(), ac.id()], problems: Problems(vec![problem]) });
    }
    problems
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::{Path, PathBuf};

    use crate::spec::{Scope, load_files, load_files_each};

    fn doc(name: &str, output: &str, port: u32) -> String {
        format!(
            "apiVersion: kanari.dev/v1alpha1\nkind: Canary\nmetadata: {{name: {name}, namespace: shop}}\nspec:\n  output: {output}\n  service: {{port: {port}}}\n  stable: {{version: v1, image: app:1}}\n"
        )
    }

    #[test]
    fn a_problem_holds_back_the_releases_it_involves_and_no_other() {
        let files: BTreeMap<PathBuf, Vec<u8>> = [
            ("a.yaml", doc("a", "deploy/a", 80)),
            // A document that does not validate, beside one that does.
            ("b.yaml", format!("{}---\n{}", doc("b", "deploy/b", 70000), doc("b2", "deploy/b2", 80))),
            ("c.yaml", "spec: [\n".to_string()),
            // Two releases, one folder.
            ("d.yaml", doc("d", "deploy/same", 80)),
            ("e.yaml", doc("e", "deploy/same", 80)),
            // A release whose folder holds one that a file that does not load writes to.
            ("f.yaml", doc("f", "deploy/f", 80)),
            ("g.yaml", doc("g", "deploy/f/g", 0)),
        ]
        .into_iter()
        .map(|(path, text)| (Path::new("canaries").join(path), text.into_bytes()))
        .collect();
        let specs = Path::new("canaries");
        let loaded = load_files_each(files.clone(), specs, Scope::All, &crate::spec::own::no_files).unwrap();
        let ids: Vec<String> = loaded.canaries.iter().map(|c| c.id()).collect();
        assert_eq!(ids, ["shop/a", "shop/b2"]);
        let held: Vec<(Vec<&str>, String)> = loaded
            .broken
            .iter()
            .map(|b| (b.ids.iter().map(String::as_str).collect(), b.problems.0[0].headline()))
            .collect();
        let expected: &[(&[&str], &str)] = &[
            (&["shop/b"], "canaries/b.yaml:6:19: service.port must be from 1 to 65535, got 70000"),
            (&[], "canaries/c.yaml:"),
            (
                &["shop/e", "shop/d"],
                "canaries/e.yaml:5:11: release `shop/e` writes to `deploy/same`, as release `shop/d` does",
            ),
            (
                &["shop/f"],
                "canaries/f.yaml:5:11: release `shop/f` writes to `deploy/f`, which nests with `deploy/f/g`, a folder of `canaries/g.yaml`",
            ),
            (&["shop/g"], "canaries/g.yaml:6:19: service.port must be from 1 to 65535, got 0"),
        ];
        assert_eq!(held.len(), expected.len(), "{held:#?}");
        for ((ids, headline), (want_ids, want)) in held.iter().zip(expected) {
            assert_eq!(ids, want_ids, "{headline}");
            assert!(headline.starts_with(want), "{headline}\n{want}");
        }
        // Held back for another file's problems, it carries them, so a run for it shows them.
        assert!(loaded.broken[3].problems.0.iter().any(|p| p.location.file == Path::new("canaries/g.yaml")));
        // Taken whole, the same problems fail the load, each once.
        let all = load_files(files, specs, Scope::All, &crate::spec::own::no_files).unwrap_err();
        let problems = all.downcast::<crate::problem::Problems>().unwrap();
        assert_eq!(problems.len(), 5, "{problems}");
    }
}
