//! Git's index file (`.git/index`), read and changed one folder at a time, as bytes.
//!
//! Why not libgit2's index: a monorepo's index holds every file of the repository (10 MiB for
//! 100,000 files), and libgit2 parses every entry into a hash map and checks the file with
//! collision-detecting SHA-1 on each read, then writes every entry back: about a quarter of a
//! second per read or write, for a commit that changes one folder. Here the file is read as
//! bytes, entries are found by scanning their lengths (they are sorted by path, so one folder's
//! entries are one run of them), and the new file is the old one with that run replaced:
//! everything else is copied byte for byte.
//!
//! What is understood: versions 2 and 3 (version 4 compresses paths and is refused, like a split
//! index, `link`, and a sparse index, `sdir`: the caller then says how to turn them off). Of the
//! extensions, the cache tree (`TREE`) is kept with the changed folder's path invalidated, as
//! `git add` does, and resolve-undo (`REUC`) is kept; the other optional ones (untracked cache,
//! fsmonitor, offset tables) are caches that git rebuilds, and are dropped.
//!
//! Pure: bytes in, bytes out; the caller reads and writes the file under Git's `index.lock`.
//!
//! Part of the git layer: [`crate::repo`] stages through it. It imports nothing of kanari's.

use std::fmt;

use sha1::{Digest, Sha1};

/// The extended flag of an entry a sparse checkout keeps out of the work tree.
pub(crate) const SKIP_WORKTREE: u16 = 1 << 14;
const EXTENDED: u16 = 1 << 14;
const OID_LEN: usize = 20;
/// Bytes of an entry before its path: stat data (40), object id (20), flags (2).
const FIXED: usize = 40 + OID_LEN + 2;

/// Why an index cannot be read here.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Unreadable {
    /// Not an index, or cut short, or its checksum does not match.
    Corrupt(String),
    /// A form this reader does not handle (version 4, a split or sparse index): what it is.
    Unsupported(String),
}

impl fmt::Display for Unreadable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unreadable::Corrupt(why) => write!(f, "the index is corrupt: {why}"),
            Unreadable::Unsupported(what) => write!(f, "the index is {what}"),
        }
    }
}

impl std::error::Error for Unreadable {}

/// What git records of a file's state in the work tree, to tell quickly that it is unchanged.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stat {
    pub ctime: (u32, u32),
    pub mtime: (u32, u32),
    pub dev: u32,
    pub ino: u32,
    pub uid: u32,
    pub gid: u32,
    pub size: u32,
}

impl Stat {
    /// The stat data of a file's metadata, truncated to 32 bits as git stores it.
    pub(crate) fn of(meta: &std::fs::Metadata) -> Stat {
        use std::os::unix::fs::MetadataExt;
        Stat {
            ctime: (meta.ctime() as u32, meta.ctime_nsec() as u32),
            mtime: (meta.mtime() as u32, meta.mtime_nsec() as u32),
            dev: meta.dev() as u32,
            ino: meta.ino() as u32,
            uid: meta.uid(),
            gid: meta.gid(),
            size: meta.size() as u32,
        }
    }
}

/// One entry: a path (repository-relative, `/`-separated) at stage 0.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub path: String,
    pub oid: [u8; OID_LEN],
    pub mode: u32,
    pub stat: Stat,
    /// Extended flags (`SKIP_WORKTREE`); written only in a version 3 index.
    pub flags_extended: u16,
    /// The merge stage (0 unless the path is in conflict).
    pub stage: u8,
}

/// An index file, read.
pub struct Index {
    bytes: Vec<u8>,
    version: u32,
    /// Where each entry starts, in order, and where the entries end.
    starts: Vec<usize>,
    entries_end: usize,
    /// Where the checksum starts (the extensions end).
    body_end: usize,
    /// The file's checksum was all zeros (`index.skipHash`): keep it so.
    skip_hash: bool,
}

impl Index {
    /// Reads an index from its bytes, checking its form and checksum: the tests' check of
    /// what [`Index::splice`] writes.
    #[cfg(test)]
    fn parse(bytes: Vec<u8>) -> Result<Index, Unreadable> {
        Index::read(bytes, true)
    }

    /// [`Index::parse`] without the checksum, as git reads an index (only `git fsck` verifies
    /// it): hashing is most of a 10 MiB index's reading time. The form is checked all the same,
    /// and an index written back gets a checksum of its own.
    pub fn parse_to_look(bytes: Vec<u8>) -> Result<Index, Unreadable> {
        Index::read(bytes, false)
    }

    fn read(bytes: Vec<u8>, verify: bool) -> Result<Index, Unreadable> {
        let corrupt = |why: &str| Unreadable::Corrupt(why.to_string());
        if bytes.len() < 12 + OID_LEN || &bytes[..4] != b"DIRC" {
            return Err(corrupt("it does not start with `DIRC`"));
        }
        let version = be32(&bytes, 4);
        match version {
            2 | 3 => {}
            4 => return Err(Unreadable::Unsupported("in version 4 (`index.version` 4 or `feature.manyFiles`)".into())),
            v => return Err(Unreadable::Corrupt(format!("unknown version {v}"))),
        }
        let count = be32(&bytes, 8) as usize;
        let body_end = bytes.len() - OID_LEN;
        let trailer = &bytes[body_end..];
        let skip_hash = trailer.iter().all(|&b| b == 0);
        if verify && !skip_hash && Sha1::digest(&bytes[..body_end]).as_slice() != trailer {
            return Err(corrupt("its checksum does not match"));
        }
        let mut starts = Vec::with_capacity(count);
        let mut at = 12;
        for _ in 0..count {
            starts.push(at);
            at += entry_len(&bytes, at, version, body_end).ok_or_else(|| corrupt("an entry runs past the end"))?;
        }
        let entries_end = at;
        // Extensions: a signature, a length, the data; mandatory ones start with a lowercase letter.
        let mut ext = entries_end;
        while ext < body_end {
            if ext + 8 > body_end {
                return Err(corrupt("an extension runs past the end"));
            }
            let size = be32(&bytes, ext + 4) as usize;
            let signature = &bytes[ext..ext + 4];
            if ext + 8 + size > body_end {
                return Err(corrupt("an extension runs past the end"));
            }
            match signature {
                b"link" => return Err(Unreadable::Unsupported("a split index (`core.splitIndex`)".into())),
                b"sdir" => return Err(Unreadable::Unsupported("a sparse index (`index.sparse`)".into())),
                s if s[0].is_ascii_lowercase() => {
                    let name = String::from_utf8_lossy(s).into_owned();
                    return Err(Unreadable::Unsupported(format!(
                        "using an extension `{name}` that kanari does not know"
                    )));
                }
                _ => {}
            }
            ext += 8 + size;
        }
        Ok(Index { bytes, version, starts, entries_end, body_end, skip_hash })
    }

    /// The number of entries.
    pub(crate) fn len(&self) -> usize {
        self.starts.len()
    }

    fn path_at(&self, i: usize) -> &[u8] {
        let at = self.starts[i];
        let flags = be16(&self.bytes, at + 40 + OID_LEN);
        let skip = if flags & EXTENDED != 0 && self.version >= 3 { 2 } else { 0 };
        let name = at + FIXED + skip;
        let end = self.bytes[name..].iter().position(|&b| b == 0).map_or(self.bytes.len(), |n| name + n);
        &self.bytes[name..end]
    }

    fn entry_at(&self, i: usize) -> Entry {
        let b = &self.bytes;
        let at = self.starts[i];
        let word = |k: usize| be32(b, at + 4 * k);
        let flags = be16(b, at + 40 + OID_LEN);
        let flags_extended = if flags & EXTENDED != 0 && self.version >= 3 { be16(b, at + FIXED) } else { 0 };
        let mut oid = [0; OID_LEN];
        oid.copy_from_slice(&b[at + 40..at + 40 + OID_LEN]);
        Entry {
            path: String::from_utf8_lossy(self.path_at(i)).into_owned(),
            oid,
            mode: word(6),
            stat: Stat {
                ctime: (word(0), word(1)),
                mtime: (word(2), word(3)),
                dev: word(4),
                ino: word(5),
                uid: word(7),
                gid: word(8),
                size: word(9),
            },
            flags_extended,
            stage: ((flags >> 12) & 3) as u8,
        }
    }

    /// The entries of `path` (a file) and below it (a folder), in index order.
    pub(crate) fn entries_under(&self, path: &str) -> Vec<Entry> {
        let folder = format!("{path}/");
        // Every path that starts with `path` is one run (entries are sorted by path bytes); it
        // also holds neighbours such as `path-x/…`, which are left out.
        let (from, to) = self.run_with_prefix(path.as_bytes());
        (from..to)
            .filter(|&i| self.path_at(i) == path.as_bytes() || self.path_at(i).starts_with(folder.as_bytes()))
            .map(|i| self.entry_at(i))
            .collect()
    }

    /// The entries whose path starts with `prefix`: one run, found by a binary search.
    fn run_with_prefix(&self, prefix: &[u8]) -> (usize, usize) {
        let start = self.partition(|p| p < prefix);
        let end = start + (start..self.len()).take_while(|&i| self.path_at(i).starts_with(prefix)).count();
        (start, end)
    }

    /// The first entry number for which `before` is false (entries are sorted).
    fn partition(&self, before: impl Fn(&[u8]) -> bool) -> usize {
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = (lo + hi) / 2;
            if before(self.path_at(mid)) { lo = mid + 1 } else { hi = mid }
        }
        lo
    }

    /// The index with the folder `dir` (repository-relative) holding exactly `entries` (all
    /// below `dir/`, any order), as the bytes of a new index file.
    #[cfg(test)]
    fn with_folder(&self, dir: &str, entries: &[Entry]) -> Vec<u8> {
        self.with_folders(&[(dir.to_string(), entries.to_vec())])
    }

    /// [`Index::with_folder`] for several folders (none inside another) at once: one pass.
    pub fn with_folders(&self, folders: &[(String, Vec<Entry>)]) -> Vec<u8> {
        let runs = folders
            .iter()
            .map(|(dir, entries)| {
                let (start, end) = self.run_with_prefix(format!("{dir}/").as_bytes());
                (start, end, dir.as_str(), entries.as_slice())
            })
            .collect();
        self.splice(runs)
    }

    /// The index with each run of entries `start..end` replaced by its entries (runs do not
    /// overlap); the cache tree is invalidated along each run's folder.
    fn splice(&self, mut runs: Vec<(usize, usize, &str, &[Entry])>) -> Vec<u8> {
        // In index order; new folders that go in at the same place, in the order of their
        // entries' paths (`a-b/` before `a/`, as `-` sorts before `/`).
        runs.sort_by(|a, b| (a.0, a.1, format!("{}/", a.2)).cmp(&(b.0, b.1, format!("{}/", b.2))));
        let sorted = |entries: &[Entry]| {
            let mut new: Vec<Entry> = entries.to_vec();
            new.sort_by(|a, b| a.path.as_bytes().cmp(b.path.as_bytes()).then(a.stage.cmp(&b.stage)));
            new
        };
        let runs: Vec<(usize, usize, &str, Vec<Entry>)> =
            runs.into_iter().map(|(s, e, d, n)| (s, e, d, sorted(n))).collect();
        // Extended flags need version 3; the entries of version 2 read the same in 3.
        let extended = runs.iter().any(|r| r.3.iter().any(|e| e.flags_extended != 0));
        let version = if extended { self.version.max(3) } else { self.version };
        let count = runs.iter().fold(self.len(), |n, (s, e, _, new)| n - (e - s) + new.len());
        let mut out = Vec::with_capacity(self.bytes.len() + runs.iter().map(|r| r.3.len() * 128).sum::<usize>());
        out.extend_from_slice(b"DIRC");
        out.extend_from_slice(&version.to_be_bytes());
        out.extend_from_slice(&(count as u32).to_be_bytes());
        let offset = |i: usize| if i < self.len() { self.starts[i] } else { self.entries_end };
        let mut copied = 0;
        for (start, end, _, new) in &runs {
            out.extend_from_slice(&self.bytes[offset(copied).max(12)..offset(*start)]);
            for entry in new {
                write_entry(&mut out, entry, version);
            }
            copied = *end;
        }
        out.extend_from_slice(&self.bytes[offset(copied).max(12)..self.entries_end]);
        let dirs: Vec<&str> = runs.iter().map(|r| r.2).collect();
        self.write_extensions(&mut out, &dirs);
        match self.skip_hash {
            true => out.extend_from_slice(&[0; OID_LEN]),
            false => {
                let sum = Sha1::digest(&out);
                out.extend_from_slice(sum.as_slice());
            }
        }
        out
    }

    fn write_extensions(&self, out: &mut Vec<u8>, dirs: &[&str]) {
        let mut at = self.entries_end;
        while at < self.body_end {
            let signature = &self.bytes[at..at + 4];
            let size = be32(&self.bytes, at + 4) as usize;
            let data = &self.bytes[at + 8..at + 8 + size];
            match signature {
                b"TREE" => {
                    let tree = dirs.iter().try_fold(data.to_vec(), |tree, dir| invalidate_tree(&tree, dir));
                    if let Some(tree) = tree {
                        out.extend_from_slice(b"TREE");
                        out.extend_from_slice(&(tree.len() as u32).to_be_bytes());
                        out.extend_from_slice(&tree);
                    }
                }
                b"REUC" => out.extend_from_slice(&self.bytes[at..at + 8 + size]),
                // Caches git rebuilds (untracked cache, fsmonitor, offset tables): dropped.
                _ => {}
            }
            at += 8 + size;
        }
    }
}

/// The bytes of an index with no entry (a repository that never had one).
pub(crate) fn empty() -> Vec<u8> {
    let mut bytes = b"DIRC".to_vec();
    bytes.extend_from_slice(&2u32.to_be_bytes());
    bytes.extend_from_slice(&0u32.to_be_bytes());
    let sum = Sha1::digest(&bytes);
    bytes.extend_from_slice(sum.as_slice());
    bytes
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

/// The on-disk length of the entry at `at`, padded: 1 to 8 NULs after the path, to a multiple
/// of 8 bytes.
fn entry_len(b: &[u8], at: usize, version: u32, end: usize) -> Option<usize> {
    if at + FIXED > end {
        return None;
    }
    let flags = be16(b, at + 40 + OID_LEN);
    let extra = if flags & EXTENDED != 0 && version >= 3 { 2 } else { 0 };
    let name = at + FIXED + extra;
    let name_len = match (flags & 0xfff) as usize {
        0xfff => b.get(name..end)?.iter().position(|&c| c == 0)?,
        n => n,
    };
    let len = (FIXED + extra + name_len + 8) & !7;
    (at + len <= end).then_some(len)
}

fn write_entry(out: &mut Vec<u8>, e: &Entry, version: u32) {
    let start = out.len();
    let s = &e.stat;
    for word in [s.ctime.0, s.ctime.1, s.mtime.0, s.mtime.1, s.dev, s.ino, e.mode, s.uid, s.gid, s.size] {
        out.extend_from_slice(&word.to_be_bytes());
    }
    out.extend_from_slice(&e.oid);
    let extended = e.flags_extended != 0 && version >= 3;
    let flags = (e.path.len().min(0xfff) as u16) | (u16::from(e.stage & 3) << 12) | if extended { EXTENDED } else { 0 };
    out.extend_from_slice(&flags.to_be_bytes());
    if extended {
        out.extend_from_slice(&e.flags_extended.to_be_bytes());
    }
    out.extend_from_slice(e.path.as_bytes());
    let len = out.len() - start;
    let padded = (len + 8) & !7;
    out.resize(start + padded, 0);
}

/// The cache tree with the nodes on the way to `dir` (and `dir` itself) marked invalid, as git
/// does when a path below them changes; `None` when the data does not parse (it is dropped).
fn invalidate_tree(data: &[u8], dir: &str) -> Option<Vec<u8>> {
    let parts: Vec<&str> = dir.split('/').filter(|p| !p.is_empty()).collect();
    let mut out = Vec::with_capacity(data.len());
    let mut at = 0;
    node(data, &mut at, &mut out, Some(&parts))?;
    (at == data.len()).then_some(out)
}

/// Copies one cache-tree node and its subtrees; `on_path` is the rest of the path to invalidate
/// when this node lies on it.
fn node(data: &[u8], at: &mut usize, out: &mut Vec<u8>, on_path: Option<&[&str]>) -> Option<()> {
    let name_end = *at + data.get(*at..)?.iter().position(|&b| b == 0)?;
    let line_end = name_end + data.get(name_end..)?.iter().position(|&b| b == b'\n')?;
    let header = std::str::from_utf8(data.get(name_end + 1..line_end)?).ok()?;
    let (count, subtrees) = header.split_once(' ')?;
    let count: i64 = count.parse().ok()?;
    let subtrees: usize = subtrees.parse().ok()?;
    let mut next = line_end + 1;
    if count >= 0 {
        next += OID_LEN;
        data.get(..next)?;
    }
    out.extend_from_slice(&data[*at..=name_end]);
    match on_path {
        Some(_) => out.extend_from_slice(format!("-1 {subtrees}\n").as_bytes()),
        None => out.extend_from_slice(&data[name_end + 1..next]),
    }
    *at = next;
    for _ in 0..subtrees {
        let child_name_end = *at + data.get(*at..)?.iter().position(|&b| b == 0)?;
        let child = std::str::from_utf8(&data[*at..child_name_end]).ok()?;
        let rest = match on_path {
            Some([first, rest @ ..]) if *first == child => Some(rest),
            _ => None,
        };
        node(data, at, out, rest)?;
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str, byte: u8) -> Entry {
        Entry {
            path: path.into(),
            oid: [byte; OID_LEN],
            mode: 0o100644,
            stat: Stat::default(),
            flags_extended: 0,
            stage: 0,
        }
    }

    /// An index of `paths` (sorted), written by this module.
    fn index_of(paths: &[&str]) -> Index {
        let entries: Vec<Entry> = paths.iter().map(|p| entry(p, 1)).collect();
        Index::parse(Index::parse(empty()).unwrap().splice(vec![(0, 0, "", &entries)])).unwrap()
    }

    #[test]
    fn a_folder_is_one_run_even_beside_names_that_sort_between() {
        let index = index_of(&["a/x", "o/r-x/f", "o/r/f1", "o/r/f2", "o/r0/f", "z"]);
        let paths = |es: Vec<Entry>| es.into_iter().map(|e| e.path).collect::<Vec<_>>();
        assert_eq!(paths(index.entries_under("o/r")), ["o/r/f1", "o/r/f2"]);
        assert_eq!(paths(index.entries_under("o/r-x")), ["o/r-x/f"]);
        assert_eq!(paths(index.entries_under("z")), ["z"]);
        assert!(index.entries_under("o/q").is_empty());
        let replaced = Index::parse(index.with_folder("o/r", &[entry("o/r/new", 9)])).unwrap();
        assert_eq!(
            (0..replaced.len()).map(|i| replaced.entry_at(i).path).collect::<Vec<_>>(),
            ["a/x", "o/r-x/f", "o/r/new", "o/r0/f", "z"]
        );
        let added = Index::parse(index.with_folder("n", &[entry("n/b", 2), entry("n/a", 3)])).unwrap();
        assert_eq!(
            (0..added.len()).map(|i| added.entry_at(i).path).collect::<Vec<_>>(),
            ["a/x", "n/a", "n/b", "o/r-x/f", "o/r/f1", "o/r/f2", "o/r0/f", "z"]
        );
    }

    #[test]
    fn corrupt_and_unsupported_indexes_are_refused() {
        assert!(matches!(Index::parse(b"nope".to_vec()), Err(Unreadable::Corrupt(_))));
        let index = index_of(&["a"]);
        let mut bytes = index.bytes.clone();
        bytes[20] ^= 1;
        assert!(matches!(Index::parse(bytes), Err(Unreadable::Corrupt(_))));
        let mut v4 = index.bytes.clone();
        v4[7] = 4;
        assert!(matches!(Index::parse(v4), Err(Unreadable::Unsupported(_))));
    }

    #[test]
    fn the_cache_tree_is_invalidated_along_the_path_only() {
        // root (2 entries, 2 subtrees) -> a (1, 0), o (1, 1) -> r (1, 0)
        let oid = [7u8; OID_LEN];
        let mut data = Vec::new();
        for (name, count, subs) in [("", 3, 2), ("a", 1, 0), ("o", 2, 1), ("r", 2, 0)] {
            data.extend_from_slice(name.as_bytes());
            data.push(0);
            data.extend_from_slice(format!("{count} {subs}\n").as_bytes());
            data.extend_from_slice(&oid);
        }
        let out = invalidate_tree(&data, "o/r").unwrap();
        let text = String::from_utf8_lossy(&out);
        assert!(text.starts_with("\0-1 2\na\u{0}1 0\n"), "{text:?}");
        assert!(text.contains("o\0-1 1\nr\0-1 0\n"), "{text:?}");
        // A folder the cache tree does not have: only the root changes (`3` becomes `-1`, no id).
        assert_eq!(invalidate_tree(&data, "b").unwrap().len(), data.len() - OID_LEN + 1);
    }
}
