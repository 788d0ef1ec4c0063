//! The real binary, kustomize and the upstream schemas.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use kanari::spec;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError};

use super::sound::render_all;
use super::strategies::gen_spec;
use super::{FILE, config};
use crate::{kanari_ok, kustomize, repo_with};

#[test]
fn the_binary_writes_overlays_that_kustomize_builds() {
    let accepted = gen_spec(false).prop_filter("accepted by the loader", |sg| {
        let (canaries, _) = spec::parse_file(Path::new(FILE), &sg.yaml());
        !canaries.is_empty()
    });
    crate::proptesting::run(Config { max_shrink_iters: 16, ..config(8) }, accepted, |sg| {
        let text = sg.yaml();
        let (canaries, _) = spec::parse_file(Path::new(FILE), &text);
        let canary = &canaries[0];
        let repo = repo_with(&[(FILE, &text)]);
        let out = tempfile::tempdir().unwrap();
        let states = out.path().join("states");
        let root = repo.path().to_str().unwrap();
        kanari_ok(repo.path(), &["-C", root, "lint"]);
        kanari_ok(repo.path(), &["-C", root, "render", "--all-stages", "--out", states.to_str().unwrap()]);
        let mut manifests: Vec<PathBuf> = Vec::new();
        for (step, rendered) in render_all(canary)? {
            let dir = states.join(step.name(canary));
            let on_disk = crate::tree(&dir);
            let expected: BTreeMap<PathBuf, Vec<u8>> = std::iter::once((PathBuf::new(), b"<dir>".to_vec()))
                .chain(rendered.files.iter().map(|(n, b)| (PathBuf::from(n), b.clone())))
                .collect();
            prop_assert_eq!(
                on_disk,
                expected,
                "{}: the binary wrote other files than the library renders",
                step.name(canary)
            );
            let built = crate::documents(&kustomize(&dir));
            prop_assert_eq!(
                built.len(),
                rendered.resources.len(),
                "{}: kustomize built every resource",
                step.name(canary)
            );
            manifests.extend(rendered.resources.iter().map(|f| dir.join(f)));
        }
        if let Err(e) = crate::schema::validate(&manifests) {
            return Err(TestCaseError::fail(format!("{e}\nspec:\n{text}")));
        }
        Ok(())
    });
}
