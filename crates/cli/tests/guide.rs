//! Keeps `docs/guide.md` honest: every command of its ```sh blocks runs, in order, in one
//! temporary directory, with this build of `wasmgate`.
//!
//! - `wasmgate …` lines run the binary (`… &` in the background; `wasmgate run` is waited
//!   for until it listens, other background jobs until their port accepts connections).
//! - `curl …` lines are sent with a `TcpStream` (no curl needed); a trailing `# → text`
//!   is text the response (status line, headers, body) must contain, case-insensitively.
//! - `kill %N` stops background job N (numbered as a shell does), `sleep N` waits.
//! - [`ALSO_RUN`] lists the other programs the guide runs; [`SKIPPED`] the lines it shows but
//!   the test cannot run, with the reason. Any other line fails the test.
//! - `<!-- guide-test: write PATH -->` before a code block writes the block to PATH;
//!   `<!-- guide-test: excerpt PATH -->` checks that PATH (made by an earlier command)
//!   contains the block as it is.
//!
//! The guide's ports (`127.0.0.1:10000`, `:8081`, `--port 6379`, …) are replaced with free
//! ones everywhere, files included, so the test runs beside anything else.
//!
//! Every command builds in the target directory this test was built in: the generated
//! projects' `cargo test` compiles wasmtime and the rest of wasmgate-testkit's dependencies
//! once for all of them and for the next run (`wasmgate new` gives them the workspace's
//! `Cargo.lock` and dev profile), and shares its `wasm32-wasip1` builds with `wasmgate build`.

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{cache_dir, drain, free_port, parse_response, tempdir, Output};
use wasmgate_testkit::examples::repo_root;

/// Lines of the guide the test does not run, and why.
const SKIPPED: &[(&str, &str)] = &[
    (
        "curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh",
        "installs Rust; the test runs with the toolchain that builds it",
    ),
    (
        "rustup target add wasm32-wasip1",
        "installs the wasm target; `wasmgate build` checks it is there",
    ),
    (
        "cargo install --locked --path crates/cli",
        "installs wasmgate; the test uses the binary cargo built for it",
    ),
    (
        "export CARGO_TARGET_DIR=\"$HOME/.cache/wasmgate-plugins\"",
        "the test gives every command the target directory it was built in",
    ),
];

/// Programs other than `wasmgate` and `curl` the guide runs.
const ALSO_RUN: &[&str] = &["redis-server", "cargo", "docker-registry"];

/// The ports the guide uses; each becomes a free port.
const GUIDE_PORTS: &[u16] = &[10000, 8081, 6379, 5000];

#[derive(Debug)]
enum Step {
    Write(String, String),
    Excerpt(String, String),
    Command(String),
}

/// The guide's steps, in order, with its ports replaced.
fn steps(guide: &str) -> Vec<Step> {
    let mut steps = Vec::new();
    let mut lines = guide.lines().peekable();
    let mut marker: Option<(String, String)> = None;
    while let Some(line) = lines.next() {
        let trimmed = line.trim();
        if let Some(rest) = trimmed
            .strip_prefix("<!-- guide-test:")
            .and_then(|r| r.strip_suffix("-->"))
        {
            let mut words = rest.split_whitespace();
            let (Some(action), Some(path), None) = (words.next(), words.next(), words.next())
            else {
                panic!("bad marker: {line}");
            };
            assert!(
                matches!(action, "write" | "excerpt"),
                "unknown marker action: {line}"
            );
            marker = Some((action.to_string(), path.to_string()));
            continue;
        }
        let Some(info) = trimmed.strip_prefix("```") else {
            if !trimmed.is_empty() {
                assert!(
                    marker.is_none(),
                    "a marker must come right before a code block: {line}"
                );
            }
            continue;
        };
        let mut body = String::new();
        for inner in lines.by_ref() {
            if inner.trim_start().starts_with("```") {
                break;
            }
            body.push_str(inner);
            body.push('\n');
        }
        match (marker.take(), info.trim()) {
            (Some((action, path)), _) if action == "write" => steps.push(Step::Write(path, body)),
            (Some((_, path)), _) => steps.push(Step::Excerpt(path, body)),
            (None, "sh") => {
                let mut pending = String::new();
                for raw in body.lines() {
                    if let Some(part) = raw.strip_suffix('\\') {
                        pending.push_str(part);
                        pending.push(' ');
                        continue;
                    }
                    pending.push_str(raw);
                    let command = std::mem::take(&mut pending);
                    let command = command.trim();
                    if !command.is_empty() && !command.starts_with('#') {
                        steps.push(Step::Command(command.to_string()));
                    }
                }
                assert!(pending.is_empty(), "a ```sh block ends with a continuation");
            }
            (None, _) => {}
        }
    }
    steps
}

/// A command line split into words the way sh would (quotes, backslashes), and its
/// trailing comment.
fn split(line: &str) -> (Vec<String>, Option<String>) {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                for c in chars.by_ref() {
                    if c == '\'' {
                        break;
                    }
                    word.push(c);
                }
            }
            '"' => {
                in_word = true;
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => word.extend(chars.next()),
                        c => word.push(c),
                    }
                }
            }
            '\\' => {
                in_word = true;
                word.extend(chars.next());
            }
            '#' if !in_word => {
                let comment: String = chars.collect();
                return (words, Some(comment.trim().to_string()));
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    (words, None)
}

struct Job {
    number: u32,
    line: String,
    child: Child,
    stdout: Output,
    stderr: Output,
}

impl Job {
    fn output(&self) -> String {
        format!(
            "[{}] {}\n{}{}",
            self.number,
            self.line,
            self.stdout.lock().unwrap(),
            self.stderr.lock().unwrap()
        )
    }
}

/// The background jobs; all are stopped when the test ends, passed or not.
#[derive(Default)]
struct Jobs(Vec<Job>);

impl Jobs {
    fn outputs(&self) -> String {
        self.0
            .iter()
            .map(Job::output)
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for Jobs {
    fn drop(&mut self) {
        for job in &mut self.0 {
            let _ = job.child.kill();
            let _ = job.child.wait();
        }
    }
}

/// The target directory this test was built in (`…/target` of `…/target/debug/wasmgate`).
fn target_dir() -> PathBuf {
    common::target_dir(env!("CARGO_BIN_EXE_wasmgate"))
}

fn command(program: &str, args: &[String], work: &Path) -> Command {
    let program = match program {
        "wasmgate" => PathBuf::from(env!("CARGO_BIN_EXE_wasmgate")),
        // The cargo that runs this test.
        "cargo" => std::env::var_os("CARGO").map_or_else(|| "cargo".into(), PathBuf::from),
        other => PathBuf::from(other),
    };
    let mut command = Command::new(program);
    command
        .args(args)
        .current_dir(work)
        .env("CARGO_TARGET_DIR", target_dir())
        .env("WASMGATE_CACHE_DIR", cache_dir());
    command
}

/// The loopback port a background job serves on, from its arguments, else from a file
/// an argument names (a server's config file with `127.0.0.1:PORT` in it).
fn port_of(args: &[String], work: &Path) -> Option<u16> {
    let in_args = args.iter().enumerate().find_map(|(i, a)| {
        if a == "--port" {
            return args.get(i + 1)?.parse().ok();
        }
        a.strip_prefix("127.0.0.1:")?.parse().ok()
    });
    in_args.or_else(|| {
        args.iter().find_map(|a| {
            let text = std::fs::read_to_string(work.join(a)).ok()?;
            let at = text.find("127.0.0.1:")? + "127.0.0.1:".len();
            let digits: String = text[at..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            digits.parse().ok()
        })
    })
}

fn start(line: &str, words: &[String], jobs: &mut Jobs, work: &Path) {
    let mut child = command(&words[0], &words[1..], work)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start `{line}`: {e}"));
    let stdout = drain(child.stdout.take().unwrap());
    let stderr = drain(child.stderr.take().unwrap());
    let number = jobs.0.iter().map(|j| j.number).max().unwrap_or(0) + 1;
    let job = Job {
        number,
        line: line.to_string(),
        child,
        stdout,
        stderr,
    };
    let is_gateway = words[0] == "wasmgate" && words.get(1).is_some_and(|w| w == "run");
    if is_gateway {
        assert!(
            words.iter().any(|w| w == "--listen" || w == "-c"),
            "the guide starts `wasmgate run` without --listen: {line}"
        );
    }
    let port = port_of(words, work);
    assert!(
        is_gateway || port.is_some(),
        "no port to wait for in `{line}`"
    );
    jobs.0.push(job);
    let job = jobs.0.last_mut().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let ready = if is_gateway {
            job.stdout.lock().unwrap().contains("wasmgate listening on")
        } else {
            TcpStream::connect(("127.0.0.1", port.unwrap())).is_ok()
        };
        if ready {
            return;
        }
        if let Ok(Some(status)) = job.child.try_wait() {
            std::thread::sleep(Duration::from_millis(100));
            panic!(
                "`{line}` exited ({status}) before it was ready:\n{}",
                job.output()
            );
        }
        assert!(
            Instant::now() < deadline,
            "`{line}` was not ready in 60 s:\n{}",
            job.output()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn kill(words: &[String], jobs: &mut Jobs) {
    let number: u32 = words
        .get(1)
        .and_then(|w| w.strip_prefix('%'))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("the guide's kill must be `kill %N`: {words:?}"));
    let index = jobs
        .0
        .iter()
        .position(|j| j.number == number)
        .unwrap_or_else(|| panic!("kill %{number}: no such job"));
    let mut job = jobs.0.remove(index);
    let _ = job.child.kill();
    let _ = job.child.wait();
}

/// What an open stream sends in its first 2 s, as text.
fn streamed(mut stream: TcpStream) -> String {
    let until = Instant::now() + Duration::from_secs(2);
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    while Instant::now() < until {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(_) => continue,
        }
    }
    String::from_utf8_lossy(&raw).replace("\r\n", "\n")
}

/// `curl [-i] [-s] [-N] [-H 'k: v']… [-X M] [-d DATA] URL`, as text: the status line, the
/// headers and the body. With `-N` (a stream that stays open) what arrives in 2 s, as it
/// came on the wire.
fn curl(line: &str, words: &[String]) -> String {
    let mut streaming = false;
    let mut headers: Vec<(String, String)> = Vec::new();
    let mut method = None;
    let mut data: Option<String> = None;
    let mut url = None;
    let mut args = words[1..].iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-i" | "-s" | "-si" | "-is" => {}
            "-N" => streaming = true,
            "-H" => {
                let header = args.next().expect("-H takes a header");
                let (k, v) = header.split_once(':').expect("a header is k: v");
                headers.push((k.trim().to_string(), v.trim().to_string()));
            }
            "-X" => method = args.next().cloned(),
            "-d" => data = args.next().cloned(),
            a if a.starts_with("http://") => url = Some(a.to_string()),
            a => panic!("the test's curl does not know {a:?} in `{line}`"),
        }
    }
    let url = url.unwrap_or_else(|| panic!("no URL in `{line}`"));
    let rest = url.strip_prefix("http://").unwrap();
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let method = method.unwrap_or_else(|| if data.is_some() { "POST" } else { "GET" }.into());
    let mut head = format!("{method} {path} HTTP/1.1\r\n");
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        head += &format!("host: {authority}\r\n");
    }
    head += "user-agent: curl/8.0 (wasmgate guide test)\r\naccept: */*\r\nconnection: close\r\n";
    for (k, v) in &headers {
        head += &format!("{k}: {v}\r\n");
    }
    let body = data.unwrap_or_default();
    if !body.is_empty() {
        head += &format!(
            "content-type: application/x-www-form-urlencoded\r\ncontent-length: {}\r\n",
            body.len()
        );
    }
    head += "\r\n";
    let mut stream =
        TcpStream::connect(authority).unwrap_or_else(|e| panic!("`{line}`: connect: {e}"));
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body.as_bytes()).unwrap();
    if streaming {
        return streamed(stream);
    }
    let mut raw = Vec::new();
    stream
        .read_to_end(&mut raw)
        .unwrap_or_else(|e| panic!("`{line}`: read: {e}"));
    let response = parse_response(&raw);
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    format!(
        "{}\n\n{}",
        String::from_utf8_lossy(&raw[..split]).replace("\r\n", "\n"),
        response.text()
    )
}

#[test]
fn every_command_of_the_guide_runs() {
    let started = Instant::now();
    let mut guide = std::fs::read_to_string(repo_root().join("docs/guide.md")).unwrap();
    for port in GUIDE_PORTS {
        let free = free_port();
        guide = guide
            .replace(&format!("127.0.0.1:{port}"), &format!("127.0.0.1:{free}"))
            .replace(&format!("--port {port}"), &format!("--port {free}"));
    }
    let work = tempdir("guide");
    let mut jobs = Jobs::default();
    let mut skipped: BTreeMap<&str, &str> = SKIPPED.iter().copied().collect();
    let mut ran = 0;
    for step in steps(&guide) {
        match step {
            Step::Write(path, text) => {
                let path = work.join(path);
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(&path, text).unwrap();
            }
            Step::Excerpt(path, text) => {
                let file = std::fs::read_to_string(work.join(&path))
                    .unwrap_or_else(|e| panic!("the guide quotes {path}, which is missing: {e}"));
                assert!(
                    file.contains(&text),
                    "the guide quotes {path}, but the file differs:\n--- guide\n{text}--- file\n{file}"
                );
            }
            Step::Command(line) => {
                let (mut words, comment) = split(&line);
                let line_only = line.split(" #").next().unwrap().trim().to_string();
                let background = words.last().is_some_and(|w| w == "&");
                if background {
                    words.pop();
                }
                if skipped.remove(line_only.as_str()).is_some() {
                    eprintln!("skipped: {line_only}");
                    continue;
                }
                let at = Instant::now();
                match words[0].as_str() {
                    "curl" if words.iter().any(|w| w.starts_with("http://127.0.0.1:")) => {
                        let text = curl(&line, &words);
                        let expect = comment
                            .as_deref()
                            .and_then(|c| c.strip_prefix('→'))
                            .map(str::trim)
                            .unwrap_or_else(|| panic!("`{line}` says nothing of its output"));
                        assert!(
                            text.to_lowercase().contains(&expect.to_lowercase()),
                            "`{line}`: the response does not contain {expect:?}:\n{text}\n\n{}",
                            jobs.outputs()
                        );
                    }
                    "kill" => kill(&words, &mut jobs),
                    "sleep" => {
                        let secs: f64 = words[1].parse().unwrap();
                        std::thread::sleep(Duration::from_secs_f64(secs));
                    }
                    program if program == "wasmgate" || ALSO_RUN.contains(&program) => {
                        if background {
                            start(&line, &words, &mut jobs, &work);
                        } else {
                            let out = command(program, &words[1..], &work)
                                .output()
                                .unwrap_or_else(|e| panic!("cannot run `{line}`: {e}"));
                            assert!(
                                out.status.success(),
                                "`{line}` failed ({}):\n{}{}",
                                out.status,
                                String::from_utf8_lossy(&out.stdout),
                                String::from_utf8_lossy(&out.stderr)
                            );
                        }
                    }
                    _ => panic!(
                        "the guide has a command the test neither runs nor lists as skipped: `{line}`"
                    ),
                }
                ran += 1;
                eprintln!("{:>6.1}s  {line}", at.elapsed().as_secs_f64());
            }
        }
    }
    assert!(
        skipped.is_empty(),
        "SKIPPED lists lines the guide no longer has: {:?}",
        skipped.keys().collect::<Vec<_>>()
    );
    assert!(
        jobs.0.is_empty(),
        "the guide leaves jobs running:\n{}",
        jobs.outputs()
    );
    assert!(
        ran > 40,
        "only {ran} commands ran: is the guide parsed right?"
    );
    eprintln!("{ran} commands in {:.1}s", started.elapsed().as_secs_f64());
    // The projects' test binaries each hold a copy of wasmtime (hundreds of MB): only the
    // dependencies they share stay in the target directory.
    for entry in std::fs::read_dir(&work).unwrap().flatten() {
        if entry.path().join("Cargo.toml").is_file() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let _ = command("cargo", &["clean".into(), "-p".into(), name], &entry.path()).output();
        }
    }
    let _ = std::fs::remove_dir_all(&work);
}
