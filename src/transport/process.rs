//! Running a program under the run's deadline: in a process group of its own, its output read
//! by threads of their own, and the whole group killed when the deadline passes first.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

/// How long a killed process group's leader may take to be reaped (SIGKILL cannot be caught: it
/// ends at once unless the kernel holds it in an uninterruptible wait).
const KILL_GRACE: Duration = Duration::from_secs(5);

/// How long git's output may take to end after git exits: a process it started that outlives
/// it still holding the pipes (an ssh master left to persist) must not hold the run.
const DRAIN: Duration = Duration::from_secs(1);

/// Runs `cmd` in a process group of its own with `input` on its standard input (else none), and
/// waits for it until `deadline`: its status, standard output and standard error, or None when
/// the deadline came first (the group is then killed). An error when it cannot be started.
pub(super) fn run_until(
    mut cmd: Command,
    input: Option<&[u8]>,
    deadline: Instant,
) -> std::io::Result<Option<(ExitStatus, String, String)>> {
    cmd.stdin(if input.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut child = cmd.spawn()?;
    if let (Some(mut pipe), Some(bytes)) = (child.stdin.take(), input) {
        let bytes = bytes.to_vec();
        // A program that fails before it reads everything closes the pipe; its exit status and
        // standard error say why, so a failed write is not the error to report.
        std::thread::spawn(move || {
            let _ = std::io::Write::write_all(&mut pipe, &bytes);
        });
    }
    let (stdout, stderr) = (Capture::of(child.stdout.take()), Capture::of(child.stderr.take()));
    let status = match wait_until(&mut child, deadline) {
        Ok(Some(status)) => status,
        Ok(None) => {
            stop(child);
            return Ok(None);
        }
        Err(e) => {
            stop(child);
            return Err(e);
        }
    };
    let drained = Instant::now() + DRAIN;
    Ok(Some((status, stdout.text(drained), stderr.text(drained))))
}

/// Waits for `child` to exit until `deadline`: its status, or None when the deadline came
/// first. The child is not reaped before it exits, so its id (and its group's) stays its own.
fn wait_until(child: &mut Child, deadline: Instant) -> std::io::Result<Option<ExitStatus>> {
    let mut pause = Duration::from_millis(1);
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        let now = Instant::now();
        if now >= deadline {
            return Ok(None);
        }
        std::thread::sleep(pause.min(deadline - now));
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}

/// Kills `child`'s process group and reaps the child, waiting [`KILL_GRACE`] at most; a child
/// that has not ended by then is left to a thread that reaps it whenever it does.
fn stop(mut child: Child) {
    let _ =
        rustix::process::kill_process_group(rustix::process::Pid::from_child(&child), rustix::process::Signal::KILL);
    if !matches!(wait_until(&mut child, Instant::now() + KILL_GRACE), Ok(Some(_))) {
        let _ = child.kill();
        std::thread::spawn(move || child.wait());
    }
}

/// One of a child's output pipes, read to its end by a thread of its own.
struct Capture {
    read: Arc<Mutex<Vec<u8>>>,
    done: mpsc::Receiver<()>,
}

impl Capture {
    fn of(pipe: Option<impl Read + Send + 'static>) -> Capture {
        let read = Arc::new(Mutex::new(Vec::new()));
        let (tx, done) = mpsc::channel();
        if let Some(mut pipe) = pipe {
            let into = read.clone();
            std::thread::spawn(move || {
                let mut chunk = [0u8; 8192];
                while let Ok(n @ 1..) = pipe.read(&mut chunk) {
                    into.lock().expect("no panic holds it").extend_from_slice(&chunk[..n]);
                }
                let _ = tx.send(());
            });
        }
        Capture { read, done }
    }

    /// What was read, once the pipe ended or at `until`, whichever comes first.
    fn text(self, until: Instant) -> String {
        let _ = self.done.recv_timeout(until.saturating_duration_since(Instant::now()));
        String::from_utf8_lossy(&self.read.lock().expect("no panic holds it")).into_owned()
    }
}
