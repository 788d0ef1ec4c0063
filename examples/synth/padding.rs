//! Padding: unrelated files and commits, so the repository looks like a monorepo (step 4 of the
//! history in the module documentation of `main.rs`).

use std::io::Write as _;
use std::path::Path;
use std::process::Stdio;

use super::{EPOCH, Env, Rng};

/// One commit adding `files` small files, then `commits - 1` commits editing 1-3 of them, with
/// `git fast-import`; then the work tree is checked out.
pub(super) fn pad(env: &Env, files: usize, commits: usize, seed: u64) -> Result<(), String> {
    let mut rng = Rng::new(seed, u64::MAX - 2);
    let path = |i: usize| format!("src/mod-{:03}/pkg-{:02}/file-{:05}.txt", i / 1000, i / 100 % 10, i);
    let content = |i: usize, rev: usize| {
        format!(
            "// module {} package {} file {i}, revision {rev}\nfn item_{i}() -> u32 {{ {} }}\n",
            i / 1000,
            i / 100 % 10,
            i * 31 + rev
        )
    };
    let head = env.git_out(&["rev-parse", "HEAD"])?;
    let mut child = env
        .cmd(Path::new("git"), 0)
        .args(["fast-import", "--quiet", "--force"])
        .stdin(Stdio::piped())
        .spawn()
        .map_err(|e| format!("git fast-import: {e}"))?;
    {
        let stdin = child.stdin.as_mut().expect("piped");
        let mut out = std::io::BufWriter::with_capacity(1 << 20, stdin);
        let commit = |out: &mut std::io::BufWriter<_>,
                      n: usize,
                      message: &str,
                      from: Option<&str>,
                      edits: &[(usize, usize)]|
         -> std::io::Result<()> {
            let when = EPOCH + 10 * 86_400 + 600 * n as i64;
            writeln!(out, "commit refs/heads/main")?;
            writeln!(out, "committer Dev {} <dev{}@example.com> {when} +0000", n % 17, n % 17)?;
            writeln!(out, "data {}\n{message}", message.len())?;
            if let Some(from) = from {
                writeln!(out, "from {from}")?;
            }
            for &(i, rev) in edits {
                let text = content(i, rev);
                writeln!(out, "M 100644 inline {}\ndata {}\n{text}", path(i), text.len())?;
            }
            writeln!(out)
        };
        let all: Vec<(usize, usize)> = (0..files).map(|i| (i, 0)).collect();
        commit(&mut out, 0, &format!("Import {files} files of the monorepo"), Some(head.trim()), &all)
            .map_err(|e| e.to_string())?;
        let mut revs = vec![0usize; files];
        for n in 1..commits {
            let edits: Vec<(usize, usize)> = (0..1 + rng.below(3))
                .map(|_| {
                    let i = rng.below(files as u64) as usize;
                    revs[i] += 1;
                    (i, revs[i])
                })
                .collect();
            commit(&mut out, n, &format!("Update module {} (change {n})", edits[0].0 / 1000), None, &edits)
                .map_err(|e| e.to_string())?;
        }
        out.flush().map_err(|e| e.to_string())?;
    }
    let status = child.wait().map_err(|e| e.to_string())?;
    if !status.success() {
        return Err(format!("git fast-import failed: {status}"));
    }
    env.git(&["reset", "-q", "--hard", "main"], 0)
}
