//! `kanari init`: reads the manifests the flags name, makes the release's first spec from them
//! ([`crate::scaffold`]), and writes it into the specs folder, with the manifests its `from:`
//! names when they must be written beside it, through [`overlay::SafeDir`]: never over an
//! existing file (nothing at all is written when one of them exists), never through a symlink
//! or out of the repository. Then prints what it wrote, what the spec does not keep, and the
//! next three commands.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use super::Workspace;
use crate::cli::{InitArgs, InitRouter};
use crate::exit::Code;
use crate::overlay::SafeDir;
use crate::scaffold::{self, Input, Request, Router};
use crate::spec;

/// An input file larger than this is refused: a chart's whole output fits well below it.
const MAX_INPUT_BYTES: u64 = 16 * 1024 * 1024;

pub(super) fn run(ws: &Workspace, args: &InitArgs) -> Result<Code> {
    let name = args.name.as_str();
    if !spec::is_dns1035_label(name) {
        bail!(
            "the release name `{}` is not a DNS-1035 label (at most 63 lowercase letters, digits and `-`, starting with a letter and ending with a letter or digit)",
            name.escape_debug()
        );
    }
    if args.router == InitRouter::GatewayApi && (args.virtual_service.is_some() || args.destination_rule.is_some()) {
        bail!(
            "--router gateway-api routes with an HTTPRoute: a VirtualService or DestinationRule of yours (--virtual-service, --destination-rule) has no place in it"
        );
    }
    let root = ws.root.canonicalize().with_context(|| format!("failed to read the folder `{}`", ws.root.display()))?;
    let read = |path: &PathBuf| read_input(&root, path);
    let from = args.from.iter().map(read).collect::<Result<Vec<_>>>()?;
    let virtual_service = args.virtual_service.as_ref().map(read).transpose()?;
    let destination_rule = args.destination_rule.as_ref().map(read).transpose()?;
    let made = scaffold::scaffold(&Request {
        name,
        from: &from,
        deployment: args.deployment.as_deref(),
        virtual_service: virtual_service.as_ref(),
        destination_rule: destination_rule.as_ref(),
        router: match args.router {
            InitRouter::Istio => Router::Istio,
            InitRouter::GatewayApi => Router::GatewayApi,
        },
    })?;

    let specs = spec::relative_specs(&ws.root, &ws.specs);
    if specs.is_absolute() {
        bail!(
            "the specs folder `{}` is outside the repository `{}`: kanari init writes specs inside it",
            ws.specs.display(),
            ws.root.display()
        );
    }
    let spec_path = specs.join(format!("{name}.yaml"));
    if let Ok(loaded) = spec::load_each(&ws.root, &ws.specs, spec::Scope::Named(&[name.to_string()]))
        && let Some(found) = loaded.canaries.iter().find(|c| c.name == name && c.namespace == made.namespace)
    {
        bail!(
            "the release `{}` is already defined, in `{}`: kanari init writes a release's first spec only",
            found.id(),
            found.file.display()
        );
    }
    let mut writes: Vec<(&Path, &str)> = made.manifests.iter().map(|(p, t)| (p.as_path(), t.as_str())).collect();
    writes.push((&spec_path, &made.spec));
    for (path, _) in &writes {
        if let Some(existing) = existing(&ws.root, path)? {
            bail!("`{}` exists: kanari init never overwrites a file, and wrote nothing", existing.display());
        }
    }
    if let Some(twin) = existing(&ws.root, &spec_path.with_extension("yml"))? {
        bail!("`{}` exists: kanari init never overwrites a spec, and wrote nothing", twin.display());
    }
    for (path, text) in &writes {
        let (folder, file) = split(path);
        let dir = SafeDir::open(&ws.root, folder, true)?.expect("made when missing");
        dir.write_new(file, text.as_bytes())?;
        println!("wrote `{}`", path.display());
    }
    if !ws.quiet {
        for note in &made.notes {
            println!("note: {note}");
        }
        let output = PathBuf::from("overlays").join(&made.namespace).join(name);
        let steps = [
            (format!("kanari lint {name}"), "check the spec (after editing its stages to your liking)".to_string()),
            (
                format!("kanari render {name}"),
                format!("write its steady state into `{}`, then commit it with the spec", output.display()),
            ),
            (
                format!("kanari promote {name}"),
                "once `spec.canary` names the new version, committed: the first stage".to_string(),
            ),
        ];
        println!("next:");
        let width = steps.iter().map(|(c, _)| c.len()).max().unwrap_or(0);
        for (command, why) in steps {
            println!("  {command:width$}  # {why}");
        }
    }
    Ok(Code::Ok)
}

/// The folder and file name of a repository-relative file path.
fn split(path: &Path) -> (&Path, &str) {
    let folder = path.parent().unwrap_or(Path::new(""));
    let file = path.file_name().and_then(|f| f.to_str()).unwrap_or("");
    (folder, file)
}

/// The path of `path` in the repository when something is there already (a symlink too), or
/// None; a symlink or a file in the way of a folder on the way is refused by [`SafeDir`].
fn existing(root: &Path, path: &Path) -> Result<Option<PathBuf>> {
    let (folder, file) = split(path);
    let Some(dir) = SafeDir::open(root, folder, false)? else { return Ok(None) };
    Ok(dir.kind(file)?.map(|_| path.to_path_buf()))
}

/// An input file: its text, and its path in the repository when `from:` can name it there.
fn read_input(root: &Path, path: &PathBuf) -> Result<Input> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        // Non-blocking, so that a FIFO cannot hang the run.
        .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
        .open(path)
        .with_context(|| format!("failed to read `{}`", path.display()))?;
    if !file.metadata().is_ok_and(|m| m.is_file()) {
        bail!("`{}` is not a regular file", path.display());
    }
    let mut bytes = Vec::new();
    file.take(MAX_INPUT_BYTES + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("failed to read `{}`", path.display()))?;
    if bytes.len() as u64 > MAX_INPUT_BYTES {
        bail!("`{}` is larger than {} MiB", path.display(), MAX_INPUT_BYTES / 1024 / 1024);
    }
    let Ok(source) = String::from_utf8(bytes) else { bail!("`{}` is not UTF-8 text", path.display()) };
    Ok(Input { shown: path.clone(), source, in_repo: in_repo(root, path) })
}

/// `path` relative to the repository `root` (canonical), when it is a plain path inside it
/// that `from:` can name: no symlink or `..` on the way, not in `.git`.
fn in_repo(root: &Path, path: &Path) -> Option<PathBuf> {
    let absolute = std::path::absolute(path).ok()?;
    let canonical = absolute.canonicalize().ok()?;
    if absolute != canonical {
        return None;
    }
    let rel = canonical.strip_prefix(root).ok()?;
    spec::check_output_path(rel.to_str()?).ok()
}
