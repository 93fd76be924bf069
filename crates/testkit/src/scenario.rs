//! Declarative plugin tests: a YAML scenario names a plugin and its configuration and lists
//! requests with what should come of them; the plugin's HTTP callouts are answered from the
//! scenario. Any plugin language works. `wasmgate test` runs scenario files.
//!
//! ```yaml
//! plugin: ./main.wasm            # relative to the scenario file
//! config: { mockEnable: false }
//! cases:
//!   - name: adds the hello header
//!     request: { method: GET, path: /, headers: { host: example.com } }
//!     expect:
//!       upstream_request: { headers: { hello: world } }
//!   - name: token from the auth service
//!     request: { path: /api }
//!     callouts:
//!       - match: { cluster: "outbound|8080||auth.dns", path: /token }
//!         reply: { status: 200, headers: { x-token: abc } }
//!     expect:
//!       upstream_request: { headers: { x-token: abc } }
//!   - name: blocked
//!     request: { path: /blocked }
//!     expect: { response: { status: 403, body_contains: "Access denied" } }
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::host::{StreamState, TestHost};
use crate::{HttpCallout, HttpCalloutResponse};

/// A scenario file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// The plugin `.wasm`, relative to the scenario file.
    pub plugin: PathBuf,
    /// The plugin's configuration (turned into JSON).
    #[serde(default)]
    pub config: Option<serde_yaml::Value>,
    /// What plugins read as `route_name`.
    #[serde(default)]
    pub route_name: Option<String>,
    /// What plugins read as `cluster_name`.
    #[serde(default)]
    pub cluster_name: Option<String>,
    /// The cases, run in order, each on a fresh plugin VM.
    pub cases: Vec<Case>,
}

/// One request and what should come of it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// What the case checks, in words.
    pub name: String,
    /// The request.
    #[serde(default)]
    pub request: Request,
    /// What the upstream answers when the request gets through (default 200, no body).
    #[serde(default)]
    pub upstream_response: Option<Response>,
    /// Answers to the plugin's HTTP callouts.
    #[serde(default)]
    pub callouts: Vec<Callout>,
    /// Answers to the plugin's Redis commands, in order.
    #[serde(default)]
    pub redis: Vec<RedisAnswer>,
    /// What should come of it.
    #[serde(default)]
    pub expect: Expect,
}

/// A request (or an upstream's response: `status` is used for those).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    /// Method (GET).
    pub method: Option<String>,
    /// Path with query (`/`).
    pub path: Option<String>,
    /// Headers; `host` becomes `:authority`.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Body.
    pub body: Option<String>,
}

/// An HTTP response given to the plugin.
#[derive(Debug, Default, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct Response {
    /// Status (200).
    pub status: Option<u16>,
    /// Headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Body.
    pub body: Option<String>,
}

/// The answer to callouts that match.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Callout {
    /// Which callouts: every given field must match.
    #[serde(rename = "match", default)]
    pub matcher: CalloutMatch,
    /// The reply; with `fail: true` the callout fails instead (as a timeout or reset).
    #[serde(default)]
    pub reply: Response,
    /// Fail the callout instead of replying.
    #[serde(default)]
    pub fail: bool,
}

/// The answer to one Redis command.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisAnswer {
    /// The reply, RESP-encoded (`"*3\r\n:100\r\n:1\r\n:60\r\n"`).
    #[serde(default)]
    pub reply: String,
    /// Fail the command (as an unreachable Redis) instead of replying.
    #[serde(default)]
    pub fail: bool,
}

/// Which callouts an answer is for.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalloutMatch {
    /// The cluster name the plugin used.
    pub cluster: Option<String>,
    /// The `:path` (query included).
    pub path: Option<String>,
    /// The `:method`.
    pub method: Option<String>,
}

/// What should come of a case.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// The request as the upstream receives it (the case fails if it never gets there).
    pub upstream_request: Option<MessageExpect>,
    /// The response the client receives.
    pub response: Option<ResponseExpect>,
    /// Text that some log line must contain.
    #[serde(default)]
    pub logs_contain: Vec<String>,
}

/// Expected headers and body of a message.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessageExpect {
    /// Headers that must have these values.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Headers that must be absent.
    #[serde(default)]
    pub headers_absent: Vec<String>,
    /// The exact body.
    pub body: Option<String>,
    /// Text the body must contain.
    pub body_contains: Option<String>,
}

/// Expected response.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResponseExpect {
    /// The status.
    pub status: Option<u16>,
    /// Headers and body.
    #[serde(flatten)]
    pub message: MessageExpect,
}

/// The result of one case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseResult {
    /// The case's name.
    pub name: String,
    /// Why it failed, one line each; empty when it passed.
    pub failures: Vec<String>,
}

impl CaseResult {
    /// Whether the case passed.
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// Why a scenario could not run at all.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The file is missing or not a valid scenario.
    #[error("{file}: {reason}")]
    Invalid {
        /// The scenario file.
        file: String,
        /// What is wrong.
        reason: String,
    },
}

/// Reads a scenario file.
pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
    let invalid = |reason: String| ScenarioError::Invalid {
        file: path.display().to_string(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| invalid(e.to_string()))?;
    let mut scenario: Scenario = serde_yaml::from_str(&text).map_err(|e| invalid(e.to_string()))?;
    if scenario.plugin.is_relative() {
        scenario.plugin = path
            .parent()
            .unwrap_or(Path::new("."))
            .join(&scenario.plugin);
    }
    Ok(scenario)
}

/// Runs every case of a scenario, each on a fresh VM.
pub fn run(scenario: &Scenario) -> Vec<CaseResult> {
    scenario
        .cases
        .iter()
        .map(|case| CaseResult {
            name: case.name.clone(),
            failures: run_case(scenario, case).err().unwrap_or_default(),
        })
        .collect()
}

fn run_case(scenario: &Scenario, case: &Case) -> Result<(), Vec<String>> {
    let one = |e: String| vec![e];
    let config = match &scenario.config {
        Some(value) => serde_json::to_string(value)
            .map_err(|e| one(format!("config cannot become JSON: {e}")))?,
        None => String::new(),
    };
    let mut builder = TestHost::builder(&scenario.plugin).config_json(&config);
    if let Some(route) = &scenario.route_name {
        builder = builder.route_name(route);
    }
    if let Some(cluster) = &scenario.cluster_name {
        builder = builder.cluster_name(cluster);
    }
    let mut host = builder
        .start()
        .map_err(|e| one(format!("the plugin did not start: {e}")))?;
    let request = &case.request;
    let mut headers: Vec<(String, String)> = vec![
        (
            ":method".into(),
            request.method.clone().unwrap_or_else(|| "GET".into()),
        ),
        (
            ":path".into(),
            request.path.clone().unwrap_or_else(|| "/".into()),
        ),
    ];
    for (name, value) in &request.headers {
        let name = name.to_ascii_lowercase();
        let name = if name == "host" {
            ":authority".to_string()
        } else {
            name
        };
        headers.push((name, value.clone()));
    }
    let pairs: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let body = request.body.clone().unwrap_or_default();
    let crashed = |e: wasmgate_host::HostError| vec![format!("the plugin failed: {e}")];
    let mut state = host
        .request_headers(&pairs, body.is_empty())
        .map_err(crashed)?;
    state = answer_callouts(&mut host, case, state)?;
    if !body.is_empty() && body_flows(&state) {
        state = host.request_body(body.as_bytes(), true).map_err(crashed)?;
        state = answer_callouts(&mut host, case, state)?;
    }
    let mut failures = Vec::new();
    let reached_upstream = state == StreamState::Running;
    if let Some(expected) = &case.expect.upstream_request {
        if reached_upstream {
            let headers = host.request_header_map();
            let body = String::from_utf8_lossy(&host.request_body_bytes()).into_owned();
            check_message("upstream request", &headers, &body, expected, &mut failures);
        } else {
            failures.push(format!(
                "the request did not reach the upstream: {}",
                describe(&state)
            ));
        }
    }
    let (status, headers, body) = match state {
        StreamState::Running => {
            let upstream = case.upstream_response.clone().unwrap_or_default();
            let status = upstream.status.unwrap_or(200).to_string();
            let mut pairs = vec![(":status".to_string(), status)];
            pairs.extend(
                upstream
                    .headers
                    .iter()
                    .map(|(k, v)| (k.to_ascii_lowercase(), v.clone())),
            );
            let refs: Vec<(&str, &str)> = pairs
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            let upstream_body = upstream.body.unwrap_or_default();
            let mut state = host
                .response_headers(&refs, upstream_body.is_empty())
                .map_err(crashed)?;
            state = answer_callouts(&mut host, case, state)?;
            if !upstream_body.is_empty() && body_flows(&state) {
                state = host
                    .response_body(upstream_body.as_bytes(), true)
                    .map_err(crashed)?;
                state = answer_callouts(&mut host, case, state)?;
            }
            match state {
                StreamState::Replied(reply) => (
                    reply.status as u16,
                    reply.headers,
                    String::from_utf8_lossy(&reply.body).into_owned(),
                ),
                StreamState::Running => {
                    let headers = host.response_header_map();
                    let status = headers
                        .get_str(":status")
                        .and_then(|s| s.parse().ok())
                        .unwrap_or(0);
                    (
                        status,
                        headers,
                        String::from_utf8_lossy(&host.response_body_bytes()).into_owned(),
                    )
                }
                other => {
                    return Err(vec![format!(
                        "the response did not complete: {}",
                        describe(&other)
                    )])
                }
            }
        }
        StreamState::Replied(reply) => (
            reply.status as u16,
            reply.headers,
            String::from_utf8_lossy(&reply.body).into_owned(),
        ),
        other => {
            failures.push(format!(
                "the request did not complete: {}",
                describe(&other)
            ));
            return Err(failures);
        }
    };
    if let Some(expected) = &case.expect.response {
        if let Some(want) = expected.status {
            if want != status {
                failures.push(format!(
                    "response status: expected {want}, got {status} (body: {body:?})"
                ));
            }
        }
        check_message(
            "response",
            &headers,
            &body,
            &expected.message,
            &mut failures,
        );
    }
    let logs: Vec<String> = host.logs().into_iter().map(|r| r.message).collect();
    for text in &case.expect.logs_contain {
        if !logs.iter().any(|l| l.contains(text.as_str())) {
            failures.push(format!("no log line contains {text:?}; logged: {logs:?}"));
        }
    }
    let _ = host.complete();
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures)
    }
}

/// Whether the body goes to the plugin: the headers went on, or the plugin holds only them
/// (Higress's `StopIteration`) and takes the body.
fn body_flows(state: &StreamState) -> bool {
    matches!(state, StreamState::Running | StreamState::HoldingHeaders(_))
}

fn describe(state: &StreamState) -> String {
    match state {
        StreamState::Running => "it continued".into(),
        StreamState::HoldingHeaders(phase) => {
            format!("the plugin holds the headers in {phase:?} (StopIteration) with no body to let them go")
        }
        StreamState::Paused(phase) => {
            format!("the plugin is still holding it in {phase:?} (an unanswered callout?)")
        }
        StreamState::Replied(reply) => format!(
            "the plugin replied {} {:?}",
            reply.status,
            String::from_utf8_lossy(&reply.body)
        ),
        StreamState::Closed => "the plugin closed the stream".into(),
    }
}

/// Answers pending callouts (HTTP by match, Redis in order) until none is pending.
fn answer_callouts(
    host: &mut TestHost,
    case: &Case,
    mut state: StreamState,
) -> Result<StreamState, Vec<String>> {
    let failed =
        |e: wasmgate_host::HostError| vec![format!("the plugin failed answering a callout: {e}")];
    for _ in 0..64 {
        if let Some(call) = host.redis_callouts().into_iter().next() {
            let answered = host.answered_redis_count();
            let Some(answer) = case.redis.get(answered) else {
                return Err(vec![format!(
                    "no redis entry answers Redis command {} to {}",
                    answered + 1,
                    call.upstream
                )]);
            };
            let status = if answer.fail { 1 } else { 0 };
            state = host
                .answer_redis(call.token, status, answer.reply.as_bytes())
                .map_err(failed)?;
            continue;
        }
        let Some(call) = host.http_callouts().into_iter().next() else {
            return Ok(state);
        };
        let Some(answer) = case.callouts.iter().find(|c| matches(&c.matcher, &call)) else {
            return Err(vec![format!(
                "no callouts entry answers the call to {} {} {}",
                call.upstream,
                call.header(":method").unwrap_or("?"),
                call.header(":path").unwrap_or("?")
            )]);
        };
        let response = (!answer.fail).then(|| {
            let headers: Vec<(&str, &str)> = answer
                .reply
                .headers
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            HttpCalloutResponse::new(
                answer.reply.status.unwrap_or(200),
                &headers,
                answer.reply.body.clone().unwrap_or_default(),
            )
        });
        state = host.answer_http(call.token, response).map_err(failed)?;
    }
    Err(vec!["the plugin kept making callouts (64 answered)".into()])
}

fn matches(matcher: &CalloutMatch, call: &HttpCallout) -> bool {
    matcher
        .cluster
        .as_deref()
        .is_none_or(|c| c == call.upstream)
        && matcher
            .path
            .as_deref()
            .is_none_or(|p| call.header(":path") == Some(p))
        && matcher.method.as_deref().is_none_or(|m| {
            call.header(":method")
                .is_some_and(|have| have.eq_ignore_ascii_case(m))
        })
}

fn check_message(
    what: &str,
    headers: &wasmgate_host::HeaderMap,
    body: &str,
    expected: &MessageExpect,
    failures: &mut Vec<String>,
) {
    for (name, want) in &expected.headers {
        match headers.get(name.to_ascii_lowercase().as_bytes()) {
            Some(have) if have == want.as_bytes() => {}
            Some(have) => failures.push(format!(
                "{what} header {name}: expected {want:?}, got {:?}",
                String::from_utf8_lossy(&have)
            )),
            None => failures.push(format!(
                "{what} header {name}: expected {want:?}, but it is absent"
            )),
        }
    }
    for name in &expected.headers_absent {
        if let Some(have) = headers.get(name.to_ascii_lowercase().as_bytes()) {
            failures.push(format!(
                "{what} header {name}: expected absent, got {:?}",
                String::from_utf8_lossy(&have)
            ));
        }
    }
    if let Some(want) = &expected.body {
        if want != body {
            failures.push(format!("{what} body: expected {want:?}, got {body:?}"));
        }
    }
    if let Some(want) = &expected.body_contains {
        if !body.contains(want.as_str()) {
            failures.push(format!(
                "{what} body: expected to contain {want:?}, got {body:?}"
            ));
        }
    }
}
