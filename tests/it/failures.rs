//! Failures that are not bad input, with the exit code their kind has in `exit::TABLE`: a folder
//! the file system will not let kanari write (an immutable one, which root cannot write either)
//! is an I/O failure, exit 4, never 2 ("nothing was written"); a write that stops part way says
//! which files it wrote, and the same command finishes them; and a Prometheus error keeps its
//! type up to the exit code, so `analyze` over a release whose query Prometheus refuses (2) and
//! one whose Prometheus cannot be reached (4) ends with the graver, 4.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::servers::LoggingHttp;
use crate::{fixture, git, kanari, kanari_env, kustomize, repo_with, tree};

/// `chattr +i` on a file or folder (the file system refuses every change to it, also root's),
/// undone when dropped, also when the test fails, so the temporary folder can be removed.
struct Immutable(PathBuf);

impl Immutable {
    fn set(path: &Path) -> Immutable {
        chattr("+i", path);
        Immutable(path.to_path_buf())
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        chattr("-i", &self.0);
    }
}

fn chattr(flag: &str, path: &Path) {
    let out = Command::new("chattr").arg(flag).arg(path).output().expect("chattr runs (Debian's e2fsprogs)");
    assert!(
        out.status.success(),
        "chattr {flag} {}: {} (the temporary folder's file system must keep the immutable flag)",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The bookinfo fixture rendered at `steady`, with the overlay's bytes and what kustomize makes
/// of them.
fn rendered_bookinfo() -> (tempfile::TempDir, String) {
    let dir = fixture("bookinfo");
    let run = kanari(dir.path(), &["render"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let built = kustomize(&dir.path().join("overlays/reviews"));
    (dir, built)
}

#[test]
fn an_overlay_folder_the_file_system_refuses_is_exit_4_not_bad_input() {
    let (dir, built) = rendered_bookinfo();
    let overlay = dir.path().join("overlays/reviews");
    let before = tree(dir.path());
    let locked = Immutable::set(&overlay);
    let run = kanari(dir.path(), &["render", "--stage", "prepare"]);
    let said = format!(
        "error: failed to write `{}/deployment-reviews-v2.yaml`: Operation not permitted (os error 1)\n",
        overlay.display()
    );
    assert_eq!((run.code, run.stdout.as_str(), run.stderr.as_str()), (4, "", said.as_str()));
    drop(locked);
    assert_eq!(tree(dir.path()), before, "nothing was written");
    assert_eq!(kustomize(&overlay), built);
}

#[test]
fn a_render_stopped_part_way_names_what_it_wrote_and_the_next_render_finishes() {
    let (dir, built) = rendered_bookinfo();
    let overlay = dir.path().join("overlays/reviews");
    // kustomization.yaml is written last: the files before it are written, it is refused.
    let locked = Immutable::set(&overlay.join("kustomization.yaml"));
    let run = kanari(dir.path(), &["render", "--stage", "prepare"]);
    let said = format!(
        "error: the writes stopped part way, after `{o}` (2 of 3 files): failed to write `{o}/kustomization.yaml`: Operation not permitted (os error 1)\n",
        o = overlay.display()
    );
    assert_eq!((run.code, run.stdout.as_str(), run.stderr.as_str()), (4, "", said.as_str()));
    assert!(overlay.join("deployment-reviews-v2.yaml").is_file(), "the new Deployment was written");
    // The overlay still records the state before (its kustomization is the old one) and builds.
    let kustomization = std::fs::read_to_string(overlay.join("kustomization.yaml")).unwrap();
    assert!(kustomization.contains("kanari.dev/stage: steady"), "{kustomization}");
    assert_ne!(kustomize(&overlay), built, "the changed files listed were written");
    drop(locked);
    let run = kanari(dir.path(), &["render", "--stage", "prepare"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let fresh = fixture("bookinfo");
    let run = kanari(fresh.path(), &["render", "--stage", "prepare"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(tree(&overlay), tree(&fresh.path().join("overlays/reviews")), "the next render finishes the overlay");
    kustomize(&overlay);
}

/// A Prometheus that refuses every query naming `refused_total` (HTTP 400, as Prometheus answers
/// a query it cannot parse) and answers every other with an empty vector.
fn refusing_prometheus() -> LoggingHttp {
    LoggingHttp::serve(|head| {
        let (status, body) = match head.lines().next().unwrap_or("").contains("refused_total") {
            true => {
                ("400 Bad Request", r#"{"status":"error","errorType":"bad_data","error":"parse error: unexpected"}"#)
            }
            false => ("200 OK", r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#),
        };
        format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
    })
}

/// The spec of release `name` with `metrics`, asking the Prometheus at `url`.
fn spec(name: &str, url: &str, metrics: &str) -> String {
    crate::analysis::spec(metrics)
        .replace("  analysis:\n", &format!("  analysis:\n    prometheus: {url}\n"))
        .replace("name: reviews", &format!("name: {name}"))
        .replace("output: overlays/reviews", &format!("output: overlays/{name}"))
}

#[test]
fn analyze_ends_with_the_gravest_prometheus_error_read_from_its_type() {
    let prometheus = refusing_prometheus();
    let own = "      - name: own\n        query: 'sum(rate(refused_total[{{ window }}]))'\n        max: 1\n";
    // Nothing listens on port 1: the connection is refused at once, every attempt.
    let gone = "http://127.0.0.1:1";
    let repo = repo_with(&[
        ("canaries/alpha.yaml", &spec("alpha", &prometheus.base(), own)),
        ("canaries/beta.yaml", &spec("beta", gone, crate::analysis::SUCCESS)),
    ]);
    let r = repo.path();
    // Both releases committed at their first stage, entered at `since`.
    let since = "2026-03-01T00:00:00Z";
    let run = kanari_env(r, &["render", "--stage", "ten"], &[("KANARI_NOW", since)]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    for name in ["alpha", "beta"] {
        let path = r.join(format!("overlays/{name}/kustomization.yaml"));
        let text = std::fs::read_to_string(&path).unwrap();
        let annotated =
            text.replacen("  annotations:\n", &format!("  annotations:\n    kanari.dev/since: \"{since}\"\n"), 1);
        assert_ne!(annotated, text, "{text}");
        std::fs::write(&path, annotated).unwrap();
    }
    for args in [&["init", "-q", "-b", "main"][..], &["add", "-A"], &["commit", "-q", "-m", "two releases at ten"]] {
        git(r, args);
    }
    let run = kanari_env(r, &["analyze"], &[("KANARI_NOW", "2026-03-01T00:30:00Z")]);
    assert_eq!(run.code, 4, "{}{}", run.stdout, run.stderr);
    let said = format!(
        "error: shop/alpha: canaries/alpha.yaml:14:15: check `own`: Prometheus refused the query: parse error: unexpected
 14 |       - name: own
    |               ^
error: shop/beta: release `shop/beta`: Prometheus at {gone} cannot be reached: io: Connection refused (os error 111) (after 3 attempts)
"
    );
    assert_eq!(run.stderr, said);
}
