//! Child processes in tests: their output collected while they run, a command run to its
//! end, the target directory a test binary was built in, waiting for a line of a log.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Output collected from a child's pipe, as it arrives.
pub type Output = Arc<Mutex<String>>;

/// Reads `pipe` to its end on a thread of its own; what arrived so far is in the answer.
pub fn drain(mut pipe: impl Read + Send + 'static) -> Output {
    let out = Output::default();
    let sink = out.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = pipe.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    out
}

/// Runs `command` to its end: whether it succeeded, and its stdout and stderr joined.
pub fn run(command: &mut Command) -> (bool, String) {
    let out = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// The target directory a binary was built in (`…/target` of `…/target/debug/NAME`).
pub fn target_dir(binary: impl AsRef<Path>) -> PathBuf {
    binary
        .as_ref()
        .ancestors()
        .nth(2)
        .expect("a binary in TARGET/PROFILE/")
        .to_path_buf()
}

/// Sends `SIG{NAME}` (such as `HUP`) to a child with `kill`.
#[track_caller]
pub fn signal(child: &Child, name: &str) {
    assert!(Command::new("kill")
        .args([format!("-{name}"), child.id().to_string()])
        .status()
        .unwrap()
        .success());
}

/// Waits up to 5 s for a line of `log` that `wanted` picks, and returns it; panics with
/// `no WHAT in …` (the whole log) when none comes.
#[track_caller]
pub fn wait_for_line(log: &Mutex<String>, what: &str, wanted: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let text = log.lock().unwrap().clone();
        if let Some(line) = text.lines().find(|l| wanted(l)) {
            return line.to_string();
        }
        assert!(Instant::now() < deadline, "no {what} in {text}");
        std::thread::sleep(Duration::from_millis(50));
    }
}
