//! `kanari render` in a repository: where it writes, what it keeps, and what it refuses.

use std::path::Path;

use crate::{documents, fixture, kanari, kanari_ok, kustomize, one, tree, weights};

fn c(repo: &Path) -> Vec<&str> {
    vec!["-C", repo.to_str().unwrap()]
}

fn render(repo: &Path, extra: &[&str]) -> crate::Run {
    let mut args = c(repo);
    args.push("render");
    args.extend_from_slice(extra);
    kanari(repo, &args)
}

fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

#[test]
fn render_writes_the_recorded_state_and_keeps_it() {
    let repo = fixture("bookinfo");
    let out = repo.path().join("overlays/reviews");

    let run = render(repo.path(), &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("bookinfo/reviews at steady"), "{}", run.stdout);
    assert_eq!(
        files(&out),
        [
            "deployment-reviews-v1.yaml",
            "destinationrule-reviews.yaml",
            "kustomization.yaml",
            "service-reviews.yaml",
            "virtualservice-reviews.yaml"
        ]
    );

    assert_eq!(render(repo.path(), &["--stage", "50-50"]).code, 0);
    assert!(files(&out).contains(&"deployment-reviews-v2.yaml".to_string()));
    // Without --stage the recorded state is kept, and a second render changes nothing.
    let before = tree(&out);
    let run = render(repo.path(), &[]);
    assert!(run.stdout.contains("is up to date: bookinfo/reviews at 50-50"), "{}", run.stdout);
    assert_eq!(tree(&out), before);
    assert_eq!(weights(one(&documents(&kustomize(&out)), "VirtualService"))[1], ("v2".to_string(), 50));

    // Back to steady: the canary's files kanari wrote are removed.
    assert_eq!(render(repo.path(), &["--stage", "steady"]).code, 0);
    assert!(!files(&out).contains(&"deployment-reviews-v2.yaml".to_string()));
}

#[test]
fn a_render_rewrites_only_the_files_that_change() {
    use std::os::unix::fs::MetadataExt;
    let repo = fixture("bookinfo");
    let out = repo.path().join("overlays/reviews");
    let inodes = || -> std::collections::BTreeMap<String, (u64, Vec<u8>)> {
        files(&out)
            .into_iter()
            .map(|name| {
                let path = out.join(&name);
                (name, (std::fs::metadata(&path).unwrap().ino(), std::fs::read(&path).unwrap()))
            })
            .collect()
    };
    assert_eq!(render(repo.path(), &["--stage", "90-10"]).code, 0);
    let before = inodes();
    assert_eq!(render(repo.path(), &["--stage", "50-50"]).code, 0);
    let after = inodes();
    // A file is replaced by a rename, so a new inode means written again.
    let (mut kept, mut rewritten) = (0, 0);
    for (name, (inode, bytes)) in &after {
        let (old_inode, old_bytes) = &before[name];
        if old_bytes == bytes {
            assert_eq!(inode, old_inode, "`{name}` did not change but was written again");
            kept += 1;
        } else {
            assert_ne!(inode, old_inode, "`{name}` changed in place");
            rewritten += 1;
        }
    }
    assert!(kept >= 3 && rewritten >= 2, "kept {kept}, rewrote {rewritten}");
}

#[test]
fn annotations_of_the_recorded_state_survive_a_re_render() {
    let repo = fixture("bookinfo");
    let out = repo.path().join("overlays/reviews");
    assert_eq!(render(repo.path(), &["--stage", "50-50"]).code, 0);
    let k = out.join("kustomization.yaml");
    // As promote and approve will record them: sorted, the time quoted.
    let text = std::fs::read_to_string(&k)
        .unwrap()
        .replace("  annotations:\n", "  annotations:\n    kanari.dev/approved: 50-50\n")
        .replace(
            "    kanari.dev/stage: 50-50\n",
            "    kanari.dev/since: \"2026-01-01T00:00:00Z\"\n    kanari.dev/stage: 50-50\n",
        );
    std::fs::write(&k, &text).unwrap();
    for args in [&[][..], &["--stage", "50-50"]] {
        let run = render(repo.path(), args);
        assert!(run.stdout.contains("is up to date"), "{args:?}: {}", run.stdout);
        assert_eq!(std::fs::read_to_string(&k).unwrap(), text);
    }
}

#[test]
fn a_foreign_file_in_the_overlay_is_an_error_that_names_it() {
    let repo = fixture("bookinfo");
    assert_eq!(render(repo.path(), &[]).code, 0);
    std::fs::write(repo.path().join("overlays/reviews/notes.txt"), "mine").unwrap();
    let before = tree(repo.path());
    let run = render(repo.path(), &["--stage", "90-10"]);
    assert_eq!(run.code, 2);
    insta::assert_snapshot!("a-foreign-file", crate::redact(&run.stderr, repo.path(), "[repo]"));
    assert_eq!(tree(repo.path()), before);
}

#[test]
fn a_folder_kanari_did_not_write_is_not_taken_over() {
    let repo = fixture("bookinfo");
    std::fs::create_dir_all(repo.path().join("overlays/reviews")).unwrap();
    std::fs::write(repo.path().join("overlays/reviews/kustomization.yaml"), "resources: [a.yaml]\n").unwrap();
    let before = tree(repo.path());
    let run = render(repo.path(), &[]);
    assert_eq!(run.code, 2);
    insta::assert_snapshot!("a-folder-kanari-did-not-write", crate::redact(&run.stderr, repo.path(), "[repo]"));
    assert_eq!(tree(repo.path()), before);
}

#[test]
fn symlinks_on_the_way_to_the_overlay_are_refused() {
    // A symlinked parent of the output, pointing out of the repository.
    let repo = fixture("bookinfo");
    let outside = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(outside.path(), repo.path().join("overlays")).unwrap();
    let run = render(repo.path(), &[]);
    assert_eq!(run.code, 2);
    insta::assert_snapshot!("a-symlinked-parent", crate::redact(&run.stderr, repo.path(), "[repo]"));
    assert!(tree(outside.path()).len() <= 1, "wrote outside the repository");

    // A symlinked file inside an overlay kanari wrote.
    let repo = fixture("bookinfo");
    assert_eq!(render(repo.path(), &[]).code, 0);
    let file = repo.path().join("overlays/reviews/service-reviews.yaml");
    std::fs::remove_file(&file).unwrap();
    let target = outside.path().join("target.yaml");
    std::fs::write(&target, "keep").unwrap();
    std::os::unix::fs::symlink(&target, &file).unwrap();
    let run = render(repo.path(), &["--stage", "50-50"]);
    assert_eq!(run.code, 2);
    insta::assert_snapshot!("a-symlinked-file", crate::redact(&run.stderr, repo.path(), "[repo]"));
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep");
}

#[test]
fn a_leftover_temporary_file_from_a_killed_run_is_cleaned() {
    let repo = fixture("bookinfo");
    assert_eq!(render(repo.path(), &[]).code, 0);
    let tmp = repo.path().join("overlays/reviews/.kanari-123-virtualservice-reviews.yaml.tmp");
    std::fs::write(&tmp, "half").unwrap();
    assert_eq!(render(repo.path(), &["--stage", "90-10"]).code, 0);
    assert!(!tmp.exists());
}

#[test]
fn usage_errors_exit_2() {
    let repo = fixture("bookinfo");
    let cases: [&[&str]; 4] =
        [&["render", "--stage", "75-25"], &["render", "ratings"], &["render", "--all-stages"], &["frobnicate"]];
    let mut said = String::new();
    for args in cases {
        let mut all = c(repo.path());
        all.extend_from_slice(args);
        let run = kanari(repo.path(), &all);
        assert_eq!(run.code, 2, "{args:?}");
        assert_eq!(run.stdout, "", "{args:?}");
        said.push_str(&format!("$ kanari {}\n{}\n", args.join(" "), run.stderr));
    }
    insta::assert_snapshot!("usage-errors", said);
    assert!(!repo.path().join("overlays").exists());
}

#[test]
fn a_recorded_stage_the_spec_lost_is_an_error() {
    let repo = fixture("bookinfo");
    assert_eq!(render(repo.path(), &["--stage", "90-10"]).code, 0);
    let spec = repo.path().join("canaries/reviews.yaml");
    std::fs::write(&spec, std::fs::read_to_string(&spec).unwrap().replace("name: 90-10", "name: 80-20")).unwrap();
    let run = render(repo.path(), &[]);
    assert_eq!(run.code, 2);
    insta::assert_snapshot!("a-recorded-stage-the-spec-lost", run.stderr);
    // A changed canary version starts the release again at prepare.
    std::fs::write(&spec, std::fs::read_to_string(&spec).unwrap().replace("version: v2", "version: v3")).unwrap();
    let run = render(repo.path(), &[]);
    assert!(run.stdout.contains("bookinfo/reviews at prepare"), "{}{}", run.stdout, run.stderr);
}

#[test]
fn templates_can_be_overridden_file_by_file() {
    let repo = fixture("bookinfo");
    let dir = repo.path().join(".kanari/templates");
    std::fs::create_dir_all(&dir).unwrap();
    let builtin = std::fs::read_to_string(crate::project().join("templates/service.yaml.j2")).unwrap();
    std::fs::write(dir.join("service.yaml.j2"), builtin.replace("    service: ", "    team: payments\n    service: "))
        .unwrap();
    let run = kanari_ok(repo.path(), &["-C", repo.path().to_str().unwrap(), "render", "--stdout"]);
    assert!(run.stdout.contains("    team: payments\n"), "{}", run.stdout);

    std::fs::write(dir.join("virtualservce.yaml.j2"), "").unwrap();
    let run = render(repo.path(), &["--stdout"]);
    assert_eq!(run.code, 2);
    insta::assert_snapshot!("a-template-kanari-does-not-use", crate::redact(&run.stderr, repo.path(), "[repo]"));
}

#[test]
fn an_output_inside_another_repository_is_refused() {
    let repo = fixture("bookinfo");
    // `overlays` is a nested repository (a submodule's work tree looks the same).
    std::fs::create_dir_all(repo.path().join("overlays/.git")).unwrap();
    let before = tree(repo.path());
    let run = render(repo.path(), &[]);
    assert_eq!(run.code, 2);
    insta::assert_snapshot!("an-output-inside-another-repository", crate::redact(&run.stderr, repo.path(), "[repo]"));
    assert_eq!(tree(repo.path()), before);
}
