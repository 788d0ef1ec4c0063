//! A full disk or a read-only folder at a write never costs a release: `promote` on a repository
//! in a small tmpfs filled to several levels, and with its overlay folder (then the whole file
//! system) mounted read-only, exits 0, 4 (nothing committed) or 6 (committed, the clone behind)
//! with advice that is true for what it left, never stages a revert, and the next command, once
//! there is room again, heals the repository and lands the move.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::git;
use crate::kills::{bookinfo_template, head, index_entries, kanari_at, tree_entries};

const OVERLAY: &str = "overlays/reviews";
const NOW: &str = "2026-03-01T02:00:00Z";

/// A tmpfs of `size` mounted on a new temporary folder, unmounted (with any bind mount inside
/// it) when dropped, also when the test fails.
struct Tmpfs {
    dir: tempfile::TempDir,
    binds: Vec<PathBuf>,
}

impl Tmpfs {
    fn mount(size: &str) -> Tmpfs {
        let dir = tempfile::tempdir().unwrap();
        mount(&["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs", dir.path().to_str().unwrap()]);
        Tmpfs { dir, binds: Vec::new() }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Mounts `folder` (inside the tmpfs) read-only, over itself.
    fn read_only(&mut self, folder: &Path) {
        let f = folder.to_str().unwrap();
        mount(&["--bind", f, f]);
        self.binds.push(folder.to_path_buf());
        mount(&["-o", "remount,bind,ro", f]);
    }

    fn writable_again(&mut self) {
        for folder in self.binds.drain(..).rev() {
            umount(&folder);
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        self.writable_again();
        umount(self.dir.path());
    }
}

fn mount(args: &[&str]) {
    let out = Command::new("mount").args(args).output().expect("mount runs");
    assert!(out.status.success(), "mount {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

fn umount(path: &Path) {
    let _ = Command::new("umount").arg("-l").arg(path).status();
}

/// The bookinfo repository at `prepare`, copied into `fs`; returns the clone's path.
fn clone_into(template: &Path, fs: &Path) -> PathBuf {
    let status = Command::new("cp").arg("-a").arg(template.join("clone")).arg(fs).status().unwrap();
    assert!(status.success());
    fs.join("clone")
}

fn template() -> tempfile::TempDir {
    let template = bookinfo_template(false);
    let clone = template.path().join("clone");
    for now in ["2026-03-01T00:00:00Z", "2026-03-01T01:00:00Z"] {
        assert_eq!(kanari_at(&clone, &["promote"], now, None).0, Some(0));
    }
    template
}

/// The overlay the promote commits, from a run with room to spare.
fn new_overlay(template: &Path) -> Vec<(String, String, String)> {
    let spare = tempfile::tempdir().unwrap();
    let clone = clone_into(template, spare.path());
    assert_eq!(kanari_at(&clone, &["promote"], NOW, None).0, Some(0));
    tree_entries(&clone, "HEAD")
}

/// Fills the file system of `dir` up to `free` bytes left: a file written until the disk is
/// full, then cut by `free` bytes (a tmpfs gives the pages back).
fn fill(dir: &Path, free: u64) -> PathBuf {
    let path = dir.join("filler");
    let mut file = std::fs::File::create(&path).unwrap();
    let chunk = vec![0u8; 64 * 1024];
    let mut written = 0u64;
    // Bounded: the file system is a few MiB.
    for _ in 0..10_000 {
        match file.write(&chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => written += n as u64,
        }
    }
    let _ = file.flush();
    file.set_len(written.saturating_sub(free)).unwrap();
    path
}

/// What the failed (or not) promote left, and then the next commands: the index never stages a
/// revert; once there is room, `status` heals and the same promote lands the move.
fn check_and_heal(
    clone: &Path,
    at: &str,
    old: &str,
    new_overlay: &[(String, String, String)],
    code: Option<i32>,
    stderr: &str,
) {
    let now = head(clone);
    let staged = index_entries(clone);
    match code {
        Some(0) => assert_eq!(tree_entries(clone, &now), new_overlay, "{at}: exit 0 commits the move"),
        Some(4) => {
            assert_eq!(now, old, "{at}: exit 4 commits nothing: {stderr}");
            assert!(stderr.contains("nothing was committed") || stderr.contains("No space left"), "{at}: {stderr}");
        }
        Some(6) => {
            assert_eq!(tree_entries(clone, &now), new_overlay, "{at}: exit 6 says the commit landed: {stderr}");
            assert!(stderr.contains("(committed)"), "{at}: {stderr}");
        }
        other => panic!("{at}: exit {other:?} (never bad input, never a crash): {stderr}"),
    }
    if now == old {
        let old_overlay = tree_entries(clone, old);
        assert!(staged == old_overlay || staged == new_overlay, "{at}: the index stages something else: {staged:?}");
    } else {
        assert_eq!(staged, new_overlay, "{at}: the index stages a revert of the move");
    }
    let (code, stderr) = kanari_at(clone, &["status"], NOW, None);
    assert_eq!(code, Some(0), "{at}: status once there is room: {stderr}");
    assert_eq!(git(clone, &["status", "--porcelain"]), "", "{at}: git status after kanari status");
    for left in [".git/index.lock", ".git/kanari-move", ".git/refs/heads/main.lock"] {
        assert!(!clone.join(left).exists(), "{at}: `{left}` left after kanari status");
    }
    if head(clone) == old {
        let (code, stderr) = kanari_at(clone, &["promote"], NOW, None);
        assert_eq!(code, Some(0), "{at}: the next promote: {stderr}");
    }
    assert_eq!(tree_entries(clone, "HEAD"), new_overlay, "{at}: the move lands");
    git(clone, &["fsck", "--no-dangling", "--no-progress"]);
}

#[test]
fn a_full_disk_at_any_fill_level_gives_4_or_6_with_true_advice_and_the_next_command_heals() {
    let template = template();
    let new_overlay = new_overlay(template.path());
    let old = head(&template.path().join("clone"));
    let mut outcomes = Vec::new();
    for free_kib in [0u64, 4, 8, 12, 16, 24, 32, 48, 64, 96, 128, 256, 512] {
        let fs = Tmpfs::mount("4m");
        let clone = clone_into(template.path(), fs.path());
        let filler = fill(fs.path(), free_kib * 1024);
        let at = format!("promote with {free_kib} KiB free");
        let (code, stderr) = kanari_at(&clone, &["promote"], NOW, None);
        std::fs::remove_file(&filler).unwrap();
        check_and_heal(&clone, &at, &old, &new_overlay, code, &stderr);
        outcomes.push(code);
    }
    eprintln!("exit codes by KiB free (0, 4, 8, 12, 16, 24, 32, 48, 64, 96, 128, 256, 512): {outcomes:?}");
    // The levels reach both ends: a disk too full to commit anything, and room enough.
    assert!(outcomes.contains(&Some(4)) && outcomes.contains(&Some(0)), "{outcomes:?}");
}

#[test]
fn a_read_only_overlay_folder_or_file_system_commits_nothing_and_the_next_command_heals() {
    let template = template();
    let new_overlay = new_overlay(template.path());
    let old = head(&template.path().join("clone"));

    // The overlay folder alone: the journal is written, the work tree is not; the folder cannot
    // be put back either, so the advice names the next command.
    let mut fs = Tmpfs::mount("8m");
    let clone = clone_into(template.path(), fs.path());
    fs.read_only(&clone.join(OVERLAY));
    let (code, stderr) = kanari_at(&clone, &["promote"], NOW, None);
    assert_eq!(code, Some(4), "{stderr}");
    assert!(
        stderr.contains("nothing was committed")
            && stderr.contains("the next kanari command puts `overlays/reviews` back"),
        "{stderr}"
    );
    assert_eq!(head(&clone), old);
    fs.writable_again();
    let (code, stderr) = kanari_at(&clone, &["status"], NOW, None);
    assert!(code == Some(0) && stderr.contains("note: an interrupted kanari had not moved `main`"), "{stderr}");
    check_and_heal(
        &clone,
        "promote after a read-only overlay folder",
        &old,
        &new_overlay,
        Some(4),
        "nothing was committed",
    );
    drop(fs);

    // The whole file system: nothing can be written, nothing is.
    let mut fs = Tmpfs::mount("8m");
    let clone = clone_into(template.path(), fs.path());
    let root = fs.path().to_path_buf();
    fs.read_only(&root);
    let (code, stderr) = kanari_at(&clone, &["promote"], NOW, None);
    assert_eq!(code, Some(4), "{stderr}");
    assert!(stderr.contains("Read-only file system"), "{stderr}");
    assert_eq!(head(&clone), old);
    fs.writable_again();
    check_and_heal(&clone, "promote on a read-only file system", &old, &new_overlay, code, "nothing was committed");
}
