//! Loading: which spec files are read (from the work tree, or from a commit's bytes), within
//! which limits, and how a run for named releases reads only the files that can define them
//! ([`Scope::Named`]). Each file is then read and validated by [`super::validate`]; the checks
//! across releases (one definition per release, one folder per release) are made over
//! everything loaded, by [`super::each`]. Like all of `spec`, it imports no later step of the
//! pipeline.
//!
//! Two ways to load. [`load`] and [`load_files`] return every release or fail: bad specs fail
//! them with a [`Problems`] value (every problem of every file parsed, with its place), anything
//! else (an unreadable folder, no specs at all) with a plain error; the top of the run tells the
//! two apart by downcasting to [`Problems`] (`kanari::describe` prints them as their report, and
//! they exit 2 like any bad input). `lint` and the commands that read specs whole use them.
//! [`load_each`] and [`load_files_each`] take each release on its own ([`Loaded`]): the
//! releases whose specs load, and beside them the problems of each that does not ([`Broken`]),
//! so that one broken spec never holds another release back (the committing commands and
//! `status`). A release is broken when a document that names it does not validate, when it
//! clashes with another (defined twice, one folder for two), or when a file it names with
//! `from:` cannot be used; a file that cannot be read as documents breaks no release by name,
//! as it may define any. Only the limits on the whole run (too many files or releases) and
//! what is no spec's fault (an unreadable folder) fail these loads.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use anyhow::{Context, Result};

use super::each::{Broken, Loaded, cross_check, held_by_shadows, outputs_of_failed};
use super::rules::{check_output_path, default_output, folded};
use super::validate::{Failed, Placed, parse_placed};
use super::{Canary, MAX_FILE_BYTES, MAX_RELEASES};
use crate::problem::{Problem, Problems};

/// How the files a spec names with `from:` are read: a repository-relative path (plain, checked)
/// to its bytes, or why it cannot be read. The work tree's ([`load`]) refuses symlinks on the
/// way; a commit's is the caller's ([`load_files`]).
pub(crate) type ReadFile<'a> = &'a dyn Fn(&Path) -> std::result::Result<Vec<u8>, String>;

/// Which spec files a load parses.
#[derive(Clone, Copy, Debug)]
pub enum Scope<'a> {
    /// Every file: `lint`, and any command run without release names.
    All,
    /// The files that can define the releases these selectors (`name` or `namespace/name`)
    /// name: those whose text holds the name as a word (validation refuses a name written with
    /// YAML escapes, so every file that defines a release is among them), and the files whose
    /// releases could write into a folder that nests with theirs: a file whose `output` lines,
    /// read as text, name a folder that nests with a named release's (a file whose `output`
    /// occurrences are not all plain `output: FOLDER` lines is parsed whatever they say). A
    /// command run for one release in a repository of thousands parses a few files, not
    /// thousands, and a broken spec of another team does not hold it up (`lint` in CI is what
    /// finds that). Every file is parsed when some selector's name is in no file (so that the
    /// error lists every release) or when a named release sets an output of its own under
    /// `overlays/` (it could hold another release's default folder, which only that release's
    /// file tells).
    Named(&'a [String]),
}

/// Every release found under `specs` (relative to `root`) in the work tree, validated, in the
/// order of their files; with [`Scope::Named`], those of the files that can define them.
///
/// Problems of every file parsed are collected; any problem makes the whole load fail, so
/// nothing downstream ever sees half a repository: the error is then the [`Problems`]. A specs
/// folder that is missing, is no folder, or holds no Canary document is the error [`no_specs`].
pub(crate) fn load(root: &Path, specs: &Path, scope: Scope) -> Result<Vec<Canary>> {
    load_each(root, specs, scope)?.strict()
}

/// As [`load`], each release on its own: the problems of a spec that does not load hold back
/// the releases it names, not the others.
pub(crate) fn load_each(root: &Path, specs: &Path, scope: Scope) -> Result<Loaded> {
    let dir = root.join(specs);
    match std::fs::symlink_metadata(&dir) {
        Ok(meta) if meta.is_dir() => {}
        Ok(_) => return Err(no_specs(specs)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(no_specs(specs)),
        Err(e) => return Err(e).with_context(|| format!("failed to read the specs folder `{}`", dir.display())),
    }
    let mut sources = Vec::new();
    let walk = walkdir::WalkDir::new(&dir).sort_by_file_name().follow_links(false);
    for entry in walk {
        let entry = entry.with_context(|| format!("failed to walk `{}`", dir.display()))?;
        let path = entry.path();
        if !is_spec_file(path) || entry.file_type().is_dir() {
            continue;
        }
        let shown = path.strip_prefix(root).unwrap_or(path).to_path_buf();
        let source = if entry.path_is_symlink() {
            Err(Problem::at(
                &shown,
                "",
                1,
                1,
                "a spec file may not be a symlink: specs are read from the repository alone",
            ))
        } else if !entry.file_type().is_file() {
            // A FIFO or a device would block or never end.
            Err(Problem::at(&shown, "", 1, 1, "a spec file must be a regular file"))
        } else {
            read_limited(path, &shown)
        };
        sources.push((shown, source));
    }
    parse_loaded(sources, scope, &relative_specs(root, specs), &|path| read_in_tree(root, path))
}

/// The bytes of `rel` in the work tree at `root`, refusing a symlink anywhere on the way and
/// anything but a regular file; at most one byte over the size limit is read.
fn read_in_tree(root: &Path, rel: &Path) -> std::result::Result<Vec<u8>, String> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let mut path = root.to_path_buf();
    for part in rel.components() {
        path.push(part);
        match std::fs::symlink_metadata(&path) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let shown = path.strip_prefix(root).unwrap_or(&path).display().to_string();
                return Err(format!("`{shown}` is a symlink: kanari reads files of the repository alone"));
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err("no such file".into()),
            Err(e) => return Err(format!("cannot read the file: {e}")),
        }
    }
    // Non-blocking, so that a FIFO cannot hang the run.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
        .open(&path)
        .map_err(|e| format!("cannot read the file: {e}"))?;
    if !file.metadata().is_ok_and(|m| m.is_file()) {
        return Err("not a regular file".into());
    }
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes).map_err(|e| format!("cannot read the file: {e}"))?;
    Ok(bytes)
}

/// The error for a repository whose specs folder is missing, is no folder, or holds no Canary
/// document: the same sentence for the work tree and for a commit.
pub(crate) fn no_specs(specs: &Path) -> anyhow::Error {
    let shown = specs.to_string_lossy();
    anyhow::anyhow!(
        "no Canary specs in `{}/` (the specs folder; set another with --specs DIR)",
        shown.trim_end_matches('/')
    )
}

/// The specs folder relative to the repository root, normalized (`./a/` is `a`): how a commit's
/// tree and the check that no output nests with it name it.
pub(crate) fn relative_specs(root: &Path, specs: &Path) -> PathBuf {
    let rel = specs.strip_prefix(root).unwrap_or(specs);
    if rel.is_absolute() {
        // Outside the repository: no output can nest with it.
        return rel.to_path_buf();
    }
    rel.components().filter(|c| matches!(c, Component::Normal(_))).collect()
}

/// Whether a file is read as specs: `*.yaml` or `*.yml`.
pub(crate) fn is_spec_file(path: &Path) -> bool {
    matches!(path.extension().and_then(|e| e.to_str()), Some("yaml" | "yml"))
}

/// Every release in `files` (path shown in problems → contents), as read from the specs folder
/// `specs` of a commit, the files named by `from:` read through `read` (from the same commit);
/// fails as [`load`] does.
pub fn load_files(
    files: BTreeMap<PathBuf, Vec<u8>>,
    specs: &Path,
    scope: Scope,
    read: ReadFile,
) -> Result<Vec<Canary>> {
    load_files_each(files, specs, scope, read)?.strict()
}

/// As [`load_files`], each release on its own, as [`load_each`] takes them.
pub(crate) fn load_files_each(
    files: BTreeMap<PathBuf, Vec<u8>>,
    specs: &Path,
    scope: Scope,
    read: ReadFile,
) -> Result<Loaded> {
    let sources = files
        .into_iter()
        .filter(|(path, _)| is_spec_file(path))
        .map(|(path, bytes)| {
            let source = check_size(&path, bytes);
            (path, source)
        })
        .collect();
    parse_loaded(sources, scope, &relative_specs(Path::new(""), specs), read)
}

type Source = (PathBuf, std::result::Result<String, Problem>);

/// Whether `word` occurs in `text` with no name character (alphanumeric, `-`, `_`, `.`) on
/// either side.
pub(super) fn holds_word(text: &str, word: &str) -> bool {
    let is_name = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.'));
    !word.is_empty()
        && text
            .match_indices(word)
            .any(|(at, _)| !is_name(text[..at].chars().next_back()) && !is_name(text[at + word.len()..].chars().next()))
}

/// The releases of `sources`, read as `scope` asks; [`no_specs`] when every file was read and
/// none holds a Canary; the [`Problems`] when any file has one.
#[cfg(test)]
fn parse_sources(sources: Vec<Source>, scope: Scope, specs: &Path, read: ReadFile) -> Result<Vec<Canary>> {
    parse_loaded(sources, scope, specs, read)?.strict()
}

/// The releases of `sources`, read as `scope` asks, each on its own; [`no_specs`] when every
/// file was read and none holds a Canary or a problem.
fn parse_loaded(sources: Vec<Source>, scope: Scope, specs: &Path, read: ReadFile) -> Result<Loaded> {
    if let Scope::Named(selectors) = scope
        && !selectors.is_empty()
        && let Some(found) = parse_named(&sources, selectors, specs, read)
    {
        return Ok(found?);
    }
    let loaded = parse_every(sources, specs, read)?;
    if loaded.canaries.is_empty() && loaded.broken.is_empty() {
        return Err(no_specs(specs));
    }
    Ok(loaded)
}

/// The releases of the files that can define the releases `selectors` name, with the files
/// whose releases could share a folder with them (see [`Scope::Named`]); `None` when every file
/// must be read. Files that could not be read are always parsed: their problem is reported.
fn parse_named(
    sources: &[Source],
    selectors: &[String],
    specs: &Path,
    read: ReadFile,
) -> Option<std::result::Result<Loaded, Problems>> {
    let names: Vec<&str> = selectors
        .iter()
        .map(|s| super::split_cluster(s).0)
        .map(|s| s.rsplit_once('/').map_or(s, |(_, name)| name))
        .collect();
    let holds = |source: &Source, name: &str| source.1.as_ref().map_or(true, |text| holds_word(text, name));
    if !names.iter().all(|name| sources.iter().any(|source| holds(source, name))) {
        return None;
    }
    let defines: Vec<bool> = sources.iter().map(|source| names.iter().any(|name| holds(source, name))).collect();
    let pick = |keep: &dyn Fn(usize) -> bool| -> Vec<Source> {
        sources.iter().enumerate().filter(|(i, _)| keep(*i)).map(|(_, source)| source.clone()).collect()
    };
    let found = parse_every(pick(&|i| defines[i]), specs, read);
    let Ok(loaded) = &found else { return Some(found) };
    let named: Vec<&Canary> = loaded.canaries.iter().filter(|c| selectors.iter().any(|s| c.is_named(s))).collect();
    let own_under_defaults =
        |c: &Canary| folded(&c.output).starts_with("overlays") && c.output != default_output(&c.namespace, &c.name);
    if named.iter().any(|c| own_under_defaults(c)) {
        return None;
    }
    let outputs: Vec<PathBuf> = named.iter().map(|c| folded(&c.output)).collect();
    let neighbour = |i: usize| match &sources[i].1 {
        Ok(text) if !defines[i] => match outputs_in(text) {
            Some(theirs) => theirs.iter().any(|t| outputs.iter().any(|o| t.starts_with(o) || o.starts_with(t))),
            None => true,
        },
        _ => false,
    };
    if !(0..sources.len()).any(neighbour) {
        return Some(found);
    }
    Some(parse_every(pick(&|i| defines[i] || neighbour(i)), specs, read))
}

/// The folders a spec file's `output` keys name (folded as [`folded`] folds them), read from its
/// lines without parsing YAML; `None` unless every occurrence of the word `output` is a line
/// `output: FOLDER` (indented by spaces, the folder plain or quoted without escapes, a comment
/// after it allowed) whose folder is a valid output. Words in other places (a comment, a value,
/// a block scalar) make it `None` or add a folder too many: either way the file is parsed
/// rather than skipped when it matters, never skipped when it could nest.
pub(super) fn outputs_in(text: &str) -> Option<Vec<PathBuf>> {
    const WORD: &str = "output";
    let is_name = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.'));
    let mut found = Vec::new();
    for (at, _) in text.match_indices(WORD) {
        let (before, after) = (&text[..at], &text[at + WORD.len()..]);
        if is_name(before.chars().next_back()) || is_name(after.chars().next()) {
            continue;
        }
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        if !before[line_start..].bytes().all(|b| b == b' ') {
            return None;
        }
        let line = &after[..after.find('\n').unwrap_or(after.len())];
        let value = line.strip_prefix(':')?.trim_end_matches('\r');
        if !value.is_empty() && !value.starts_with(' ') {
            return None;
        }
        let value = match value.find(" #") {
            Some(comment) => &value[..comment],
            None => value,
        }
        .trim_matches(' ');
        let unquoted = match value.as_bytes() {
            [q @ (b'\'' | b'"'), .., last] if last == q && value.len() >= 2 => &value[1..value.len() - 1],
            _ => value,
        };
        let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '/' | '-');
        if unquoted.is_empty() || !unquoted.chars().all(plain) {
            return None;
        }
        found.push(folded(&check_output_path(unquoted).ok()?));
    }
    Some(found)
}

/// Every release of `sources`, validated, with the files their `from:` blocks name read
/// through `read` (one after the other: a commit's reader holds a repository handle), and the
/// checks across releases; each release on its own ([`Loaded`]). Only the limits on the whole
/// run fail it.
fn parse_every(sources: Vec<Source>, specs: &Path, read: ReadFile) -> std::result::Result<Loaded, Problems> {
    use rayon::prelude::*;
    if sources.len() > MAX_RELEASES {
        let shown = &sources[MAX_RELEASES].0;
        let message = format!("more than {MAX_RELEASES} spec files; split the repository");
        return Err(Problems(vec![Problem::at(shown, "", 1, 1, message)]));
    }
    // Files parse independently, on every core; the results are put back in file order.
    let parsed: Vec<(Vec<Placed>, Vec<Failed>, Vec<PathBuf>)> = sources
        .into_par_iter()
        .map(|(shown, source)| match source {
            Ok(source) => {
                let (found, failed) = parse_placed(&shown, &source, Some(specs));
                let outputs = if failed.is_empty() { Vec::new() } else { outputs_of_failed(&source, &found, &failed) };
                (found, failed, outputs)
            }
            Err(problem) => {
                (Vec::new(), vec![Failed { id: None, output: None, problems: Problems(vec![problem]) }], Vec::new())
            }
        })
        .collect();
    let mut placed = Vec::new();
    let mut broken = Vec::new();
    // The folders that files with a document that does not validate may write to.
    let mut shadows: Vec<(usize, Vec<PathBuf>)> = Vec::new();
    for (found, failed, outputs) in parsed {
        placed.extend(found);
        if !outputs.is_empty() {
            shadows.push((broken.len(), outputs));
        }
        let failed = failed.into_iter().map(|f| Broken { ids: f.id.into_iter().collect(), problems: f.problems });
        broken.extend(failed);
    }
    if placed.len() > MAX_RELEASES {
        let shown = placed[MAX_RELEASES].canary.file.clone();
        let message = format!("more than {MAX_RELEASES} releases; split the repository");
        let mut problems = Problems(broken.into_iter().flat_map(|b| b.problems.0).collect());
        problems.push(Problem::at(&shown, "", 1, 1, message));
        problems.sort();
        return Err(problems);
    }
    let held = held_by_shadows(&placed, &shadows, &broken);
    broken.extend(held);
    broken.extend(cross_check(&placed));
    let mut canaries = Vec::new();
    for p in placed {
        let mut problems = Problems::default();
        let canary = p.resolved(read, &mut problems);
        match problems.is_empty() {
            true => canaries.push(canary),
            false => broken.push(Broken { ids: vec![canary.id()], problems }),
        }
    }
    // A release that any problem names is broken as a whole: a second definition of it that
    // does not validate leaves no telling which one is meant.
    canaries.retain(|c| !broken.iter().any(|b| b.ids.contains(&c.id())));
    for b in &mut broken {
        b.problems.sort();
    }
    broken.sort_by(|a, b| {
        let place =
            |x: &Broken| x.problems.0.first().map(|p| (p.location.file.clone(), p.location.line, p.location.column));
        place(a).cmp(&place(b))
    });
    Ok(Loaded { canaries, broken })
}

fn read_limited(path: &Path, shown: &Path) -> std::result::Result<String, Problem> {
    use std::io::Read;
    let fail = |message: String| Problem::at(shown, "", 1, 1, message);
    use std::os::unix::fs::OpenOptionsExt;
    // Non-blocking, so that a FIFO swapped in after the walk cannot hang the run.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
        .open(path)
        .map_err(|e| fail(format!("cannot read the file: {e}")))?;
    if !file.metadata().is_ok_and(|m| m.is_file()) {
        return Err(fail("a spec file must be a regular file".into()));
    }
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes).map_err(|e| fail(format!("cannot read the file: {e}")))?;
    check_size(shown, bytes)
}

/// The text of a spec file, if it is within the size limit and UTF-8.
fn check_size(shown: &Path, bytes: Vec<u8>) -> std::result::Result<String, Problem> {
    if bytes.len() as u64 > MAX_FILE_BYTES {
        let message = format!("the file is larger than {} KiB, the limit for a spec file", MAX_FILE_BYTES / 1024);
        return Err(Problem::at(shown, "", 1, 1, message));
    }
    String::from_utf8(bytes).map_err(|e| {
        let upto = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line = upto.iter().filter(|&&b| b == b'\n').count() as u64 + 1;
        Problem::at(shown, "", line, 1, "the file is not UTF-8 text")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_is_found_as_a_word() {
        assert!(holds_word("  name: web\n", "web"));
        assert!(holds_word("{name: \"web\", namespace: shop}", "web"));
        assert!(holds_word("image: web:1", "web"));
        assert!(!holds_word("name: webshop", "web"));
        assert!(!holds_word("name: my-web", "web"));
        assert!(!holds_word("host: web.shop.svc", "web"));
        assert!(!holds_word("anything", ""));
        assert!(holds_word("name: web-2\nname: web", "web"));
    }

    #[test]
    fn output_lines_are_read_as_text_or_not_at_all() {
        let read = |text: &str| outputs_in(text).map(|o| o.iter().map(|p| p.display().to_string()).collect::<Vec<_>>());
        assert_eq!(read("spec:\n  output: deploy/web\n"), Some(vec!["deploy/web".to_string()]));
        assert_eq!(read("  output: 'Deploy/Web' # moved\r\n"), Some(vec!["deploy/web".to_string()]));
        assert_eq!(read("  output: \"./deploy/web/\"\n"), Some(vec!["deploy/web".to_string()]));
        assert_eq!(read("name: web\nimage: outputs:1\n"), Some(vec![]));
        // Anything else where the word stands: the file is parsed.
        for unsure in [
            "spec: {output: deploy/web}",
            "# output: deploy/web",
            "  output: \"deploy\\x2fweb\"",
            "  output: *folder",
            "  output:\n    deploy/web",
            "  output: >-\n    deploy/web",
            "\toutput: deploy/web",
            "  - output: deploy/web",
            "  output: ../web",
            "  \"output\": deploy/web",
            "  output: deploy/web\n  args: [output, x]",
        ] {
            assert_eq!(read(unsure), None, "{unsure:?}");
        }
    }

    mod named_scope {
        use super::*;
        use proptest::prelude::*;

        /// How a file writes a release's `output`.
        #[derive(Clone, Debug)]
        enum Form {
            Plain,
            Quoted,
            Commented,
            /// With an anchor: valid YAML that the line reading does not take.
            Anchored,
        }

        #[derive(Clone, Debug)]
        struct Doc {
            name: usize,
            namespace: &'static str,
            output: Option<&'static str>,
            form: Form,
        }

        const OUTPUTS: &[&str] = &[
            "deploy/r0",
            "deploy/r1",
            "deploy/r1/sub",
            "deploy",
            "overlays/shop",
            "overlays/shop/r2",
            "overlays/other/r0",
            "elsewhere/r3",
            "Deploy/R1",
        ];

        fn doc() -> impl Strategy<Value = Doc> {
            (
                0..4usize,
                prop::sample::select(vec!["shop", "other"]),
                prop::option::of(prop::sample::select(OUTPUTS.to_vec())),
                prop::sample::select(vec![Form::Plain, Form::Quoted, Form::Commented, Form::Anchored]),
            )
                .prop_map(|(name, namespace, output, form)| Doc { name, namespace, output, form })
        }

        fn text(docs: &[Doc], decoy: bool) -> String {
            let mut out = String::new();
            if decoy {
                out.push_str("# output: deploy/r0 (a comment)\n");
            }
            for d in docs {
                let name = format!("r{}", d.name);
                let output = match (d.output, &d.form) {
                    (None, _) => String::new(),
                    (Some(o), Form::Plain) => format!("  output: {o}\n"),
                    (Some(o), Form::Quoted) => format!("  output: \"{o}\"\n"),
                    (Some(o), Form::Commented) => format!("  output: {o}   # where it goes\n"),
                    (Some(o), Form::Anchored) => format!("  output: &folder {o}\n"),
                };
                out.push_str(&format!(
                    "---\napiVersion: kanari.dev/v1alpha1\nkind: Canary\nmetadata: {{name: {name}, namespace: {}}}\nspec:\n{output}  service: {{port: 8080}}\n  stable: {{version: v1, image: app:1}}\n",
                    d.namespace
                ));
            }
            out
        }

        fn ids(found: &[Canary]) -> Vec<(String, PathBuf)> {
            found.iter().map(|c| (c.id(), c.output.clone())).collect()
        }

        proptest! {
            #![proptest_config(crate::proptesting::config(400))]

            /// A run for one release sees what a run over every file sees of it: the same
            /// release, or a problem whenever every file shows one that involves it.
            #[test]
            fn a_named_load_agrees_with_reading_every_file(
                files in prop::collection::vec((prop::collection::vec(doc(), 1..3), any::<bool>()), 1..6),
                wanted in 0..4usize,
            ) {
                let sources: Vec<Source> = files
                    .iter()
                    .enumerate()
                    .map(|(i, (docs, decoy))| (PathBuf::from(format!("canaries/f{i}.yaml")), Ok(text(docs, *decoy))))
                    .collect();
                let specs = Path::new("canaries");
                let selector = vec![format!("r{wanted}")];
                let all = parse_sources(sources.clone(), Scope::All, specs, &crate::spec::own::no_files)
                    .map_err(|e| e.downcast::<Problems>().expect("every file reads, or has problems"));
                let named = parse_sources(sources, Scope::Named(&selector), specs, &crate::spec::own::no_files);
                let pick = |found: &[Canary]| -> Vec<(String, PathBuf)> {
                    ids(found).into_iter().filter(|(id, _)| id.ends_with(&format!("/r{wanted}"))).collect()
                };
                match (&all, named) {
                    (Ok(every), Ok(some)) => prop_assert_eq!(pick(every), pick(&some)),
                    (Ok(_), named) => prop_assert!(false, "every file reads, the named run does not: {:?}", named.map(|c| ids(&c))),
                    (Err(problems), named) => {
                        let involved = problems.0.iter().any(|p| {
                            let text = format!("{} {:?}", p.message, p.note.as_ref().map(|n| n.message.clone()));
                            ["shop", "other"].iter().any(|ns| text.contains(&format!("release `{ns}/r{wanted}`")))
                        });
                        if involved {
                            prop_assert!(named.is_err(), "every file shows a problem with r{}: {}; the named run saw none", wanted, problems);
                        }
                    }
                }
            }
        }
    }
}
