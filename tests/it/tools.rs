//! The outside tools the tests run (kubectl, prometheus and promtool, strace, node and the npm
//! packages of tests/schema and tests/comment, chromium, python3 and its modules, git daemon and
//! git http-backend, ssh-keygen, gpg, jq, curl, check-jsonschema), found in one place. A test
//! asks here for every tool before it runs it; a missing tool fails that test with one message
//! that names the tool and the command that installs them all. No test is skipped for a missing
//! tool.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// What a test prints when `what` is missing.
pub fn missing_message(what: &str) -> String {
    format!("`{what}` is not installed: `bash .ci/run` (Debian, as root) installs every tool the tests need")
}

#[track_caller]
fn missing(what: &str) -> ! {
    panic!("{}", missing_message(what))
}

/// The program `name` as found on `PATH`, to run with `Command::new`; a missing one fails the
/// test with [`missing_message`].
#[track_caller]
pub fn tool(name: &str) -> PathBuf {
    match find(name, &std::env::var_os("PATH").unwrap_or_default()) {
        Some(path) => path,
        None => missing(name),
    }
}

/// The first executable file `name` in the folders of `path` (a `PATH` value).
pub fn find(name: &str, path: &OsStr) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    std::env::split_paths(path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0))
}

/// `git`, after checking that it carries `git <program>` (`daemon`, `http-backend`: Debian's git
/// package has both; some builds leave them out).
#[track_caller]
pub fn git_with(program: &str) -> PathBuf {
    let git = tool("git");
    let exec_path = Command::new(&git).arg("--exec-path").output().map(|o| o.stdout).unwrap_or_default();
    let exec_path = String::from_utf8_lossy(&exec_path).trim().to_string();
    if !Path::new(&exec_path).join(format!("git-{program}")).is_file() {
        missing(&format!("git {program}"));
    }
    git
}

/// `python3`, after checking that it imports every module of `modules`.
#[track_caller]
pub fn python3_with(modules: &[&str]) -> PathBuf {
    let python = tool("python3");
    for module in modules {
        let imported = Command::new(&python)
            .args(["-c", &format!("import {module}")])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !imported {
            missing(&format!("python3 -m {module}"));
        }
    }
    python
}

/// `node`, after checking that `npm ci --prefix <folder>` put every package of `packages` into
/// `<folder>/node_modules` (`folder` relative to the project).
#[track_caller]
pub fn node_with(folder: &str, packages: &[&str]) -> PathBuf {
    let node = tool("node");
    for package in packages {
        if !crate::project().join(folder).join("node_modules").join(package).is_dir() {
            missing(&format!("{folder}/node_modules/{package}"));
        }
    }
    node
}

#[test]
fn a_missing_tool_fails_with_one_message_naming_it_and_the_install_command() {
    let empty = tempfile::tempdir().unwrap();
    assert_eq!(find("kanari-no-such-tool", empty.path().as_os_str()), None);
    let message = std::panic::catch_unwind(|| tool("kanari-no-such-tool")).unwrap_err();
    assert_eq!(
        message.downcast_ref::<String>().map(String::as_str),
        Some(
            "`kanari-no-such-tool` is not installed: `bash .ci/run` (Debian, as root) installs every tool the tests need"
        )
    );
    let calls: [(&str, fn()); 3] = [
        ("python3 -m kanari_no_such_module", || drop(python3_with(&["kanari_no_such_module"]))),
        ("tests/schema/node_modules/kanari-no-such-package", || {
            drop(node_with("tests/schema", &["kanari-no-such-package"]))
        }),
        ("git kanari-no-such-program", || drop(git_with("kanari-no-such-program"))),
    ];
    for (what, call) in calls {
        let message = std::panic::catch_unwind(call).unwrap_err();
        assert_eq!(message.downcast_ref::<String>(), Some(&missing_message(what)));
    }
}

#[test]
fn a_tool_is_found_only_where_it_is_an_executable_file() {
    use std::os::unix::fs::PermissionsExt;
    let (first, second) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    std::fs::write(first.path().join("t"), "").unwrap();
    std::fs::create_dir(first.path().join("d")).unwrap();
    std::fs::write(second.path().join("t"), "#!/bin/sh\n").unwrap();
    std::fs::set_permissions(second.path().join("t"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = std::env::join_paths([first.path(), second.path()]).unwrap();
    assert_eq!(find("t", &path), Some(second.path().join("t")));
    assert_eq!(find("d", &path), None);
}
