//! `wasmgate new NAME`: a plugin project that builds and passes its own tests as generated.
//! Rust projects are cdylib crates on wasmgate-sdk with a wasmgate-testkit test
//! (`tests/plugin.rs`, run by `cargo test`); Go projects are wasm-go modules. Both carry a
//! `wasmgate test` scenario (`tests/scenario.yaml`). The plugin sources are the repository's
//! examples, so a template is always a plugin this project builds and tests.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};

/// Arguments of `wasmgate new`.
#[derive(Args, Debug)]
pub struct NewArgs {
    /// The project's name (and directory).
    name: String,
    /// The plugin language.
    #[arg(long, value_enum, default_value_t = Lang::Rust)]
    lang: Lang,
    /// What the plugin starts as.
    #[arg(long, value_enum, default_value_t = Template::Hello)]
    template: Template,
    /// Where to create it (default: ./NAME).
    #[arg(long)]
    dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Lang {
    Rust,
    Go,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Template {
    Hello,
    HttpCall,
    Redis,
    Blank,
    /// An MCP server (Rust only: for Go see `examples/go/mcp-server`).
    Mcp,
}

const RUST_HELLO: &str = include_str!("../../../examples/rust/sdk-hello/src/lib.rs");
const RUST_HTTP_CALL: &str = include_str!("../../../examples/rust/sdk-http-call/src/lib.rs");
const RUST_REDIS: &str = include_str!("../../../examples/rust/cluster-key-rate-limit/src/lib.rs");
const RUST_MCP: &str = include_str!("../../../examples/rust/mcp-calculator/src/lib.rs");
const GO_HELLO: &str = include_str!("../../../examples/go/hello/main.go");
const GO_HTTP_CALL: &str = include_str!("../../../examples/go/http-call/main.go");
const GO_REDIS: &str = include_str!("../../../examples/go/redis-counter/main.go");
const RUST_HELLO_TEST: &str = include_str!("../templates/rust/hello.rs");
const RUST_HTTP_CALL_TEST: &str = include_str!("../templates/rust/http-call.rs");
const RUST_REDIS_TEST: &str = include_str!("../templates/rust/redis.rs");
const RUST_BLANK_TEST: &str = include_str!("../templates/rust/blank.rs");
const RUST_MCP_TEST: &str = include_str!("../templates/rust/mcp.rs");
/// The workspace manifest: its `[profile.dev.package.*]` settings go into Rust projects.
const WORKSPACE_MANIFEST: &str = include_str!("../../../Cargo.toml");
const GO_MOD: &str = include_str!("../../../examples/go/go.mod");
const GO_SUM: &str = include_str!("../../../examples/go/go.sum");

const RUST_BLANK: &str = r#"//! A plugin on wasmgate-sdk that lets every request through.

use wasmgate_sdk::prelude::*;

fn on_request_headers(_ctx: &HttpContext, _config: &NoConfig) -> HeaderAction {
    HeaderAction::Continue
}

wasmgate_sdk::plugin! { name: "NAME", on_request_headers }
"#;

const GO_BLANK: &str = r#"// A wasm-go plugin that lets every request through.
package main

import (
	"github.com/higress-group/proxy-wasm-go-sdk/proxywasm/types"
	"github.com/higress-group/wasm-go/pkg/wrapper"
	"github.com/tidwall/gjson"
)

func main() {}

func init() {
	wrapper.SetCtx(
		"NAME",
		wrapper.ParseConfig(func(json gjson.Result, config *Config) error { return nil }),
		wrapper.ProcessRequestHeaders(func(ctx wrapper.HttpContext, config Config) types.Action {
			return types.ActionContinue
		}),
	)
}

// Config is the plugin configuration.
type Config struct{}
"#;

/// `wasmgate new`.
pub fn new(args: NewArgs) -> Result<()> {
    let dir = args
        .dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(&args.name));
    if dir.exists() {
        bail!(
            "{} already exists; choose another name or remove it",
            dir.display()
        );
    }
    if !args
        .name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        || args.name.is_empty()
    {
        bail!("the name {:?} must be letters, digits, - or _", args.name);
    }
    match args.lang {
        Lang::Rust => rust_project(&dir, &args.name, args.template)?,
        Lang::Go => go_project(&dir, &args.name, args.template)?,
    }
    write(
        &dir.join("tests/scenario.yaml"),
        &scenario(args.lang, args.template),
    )?;
    println!(
        "created {} ({:?}, {:?} template)",
        dir.display(),
        args.lang,
        args.template
    );
    println!(
        "next: cd {} && wasmgate build && wasmgate test tests/scenario.yaml",
        dir.display()
    );
    if args.lang == Lang::Rust {
        println!("      and cargo test (tests/plugin.rs runs the plugin with wasmgate-testkit)");
    }
    Ok(())
}

fn write(path: &Path, text: &str) -> Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

/// The checkout this binary was built from: its crates (the SDK and the testkit are not on
/// crates.io yet) and its `Cargo.lock`.
fn checkout() -> Result<PathBuf> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let found = path.canonicalize().ok().filter(|root| {
        root.join("crates/sdk/Cargo.toml").is_file()
            && root.join("crates/testkit/Cargo.toml").is_file()
    });
    found.with_context(|| {
        format!(
            "the wasmgate-sdk and wasmgate-testkit sources are not in {} any more: \
             wasmgate new points projects at the checkout wasmgate was built from \
             (the crates are not on crates.io yet), so build wasmgate from a checkout you keep",
            path.display()
        )
    })
}

/// The workspace's `[profile.dev.package.*]` sections: the tests compile the plugin with
/// Cranelift, which is slow unoptimized.
fn dev_profile() -> String {
    let mut out = String::new();
    let mut inside = false;
    for line in WORKSPACE_MANIFEST.lines() {
        if line.starts_with('[') {
            inside = line.starts_with("[profile.dev.package.");
        }
        if inside && !line.trim().is_empty() {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

fn rust_project(dir: &Path, name: &str, template: Template) -> Result<()> {
    let (source, test) = match template {
        Template::Hello => (RUST_HELLO, RUST_HELLO_TEST),
        Template::HttpCall => (RUST_HTTP_CALL, RUST_HTTP_CALL_TEST),
        Template::Redis => (RUST_REDIS, RUST_REDIS_TEST),
        Template::Blank => (RUST_BLANK, RUST_BLANK_TEST),
        Template::Mcp => (RUST_MCP, RUST_MCP_TEST),
    };
    let checkout = checkout()?;
    let regex_lite = if source.contains("regex_lite") {
        "regex-lite = \"0.1\"\n"
    } else {
        ""
    };
    // An MCP server takes the SDK's `mcp` feature and derives its tools' schemas.
    let (sdk_features, schemars) = if source.contains("wasmgate_sdk::mcp") {
        (", features = [\"mcp\"]", "schemars = \"1\"\n")
    } else {
        ("", "")
    };
    let cargo = format!(
        r#"[package]
name = "{name}"
version = "0.1.0"
edition = "2021"

[lib]
crate-type = ["cdylib"]

[dependencies]
wasmgate-sdk = {{ path = "{sdk}"{sdk_features} }}
serde = {{ version = "1", features = ["derive"] }}
serde_json = "1"
{regex_lite}{schemars}
[dev-dependencies]
# tests/plugin.rs builds the plugin and runs it in-process.
wasmgate-testkit = {{ path = "{testkit}" }}

[profile.release]
opt-level = "s"
lto = true
codegen-units = 1
strip = true
panic = "abort"

# The tests compile the plugin with Cranelift (in wasmgate-testkit), which is slow
# unoptimized: these keep `cargo test` fast.
{dev_profile}
[workspace]
"#,
        sdk = checkout.join("crates/sdk").display(),
        testkit = checkout.join("crates/testkit").display(),
        dev_profile = dev_profile(),
    );
    write(&dir.join("Cargo.toml"), &cargo)?;
    let source = if template == Template::Mcp {
        named(source, "wasmgate_sdk::entry!", "plugin(", name)
    } else {
        named(source, "wasmgate_sdk::plugin!", "name: ", name)
    };
    write(&dir.join("src/lib.rs"), &source)?;
    write(&dir.join("tests/plugin.rs"), test)?;
    // Start from the dependency versions wasmgate is built and tested with.
    let lock = checkout.join("Cargo.lock");
    if lock.is_file() {
        std::fs::copy(&lock, dir.join("Cargo.lock"))
            .with_context(|| format!("cannot copy {}", lock.display()))?;
    }
    write(&dir.join(".gitignore"), "/target\n/main.wasm\n")
}

/// `source` with the plugin's registered name (the first string literal after `at`, then
/// `key`) replaced by the project's: it prefixes the plugin's log lines.
fn named(source: &str, at: &str, key: &str, name: &str) -> String {
    let literal = |from: usize| -> Option<(usize, usize)> {
        let open = from + source[from..].find(&format!("{key}\""))? + key.len();
        let close = open + 1 + source[open + 1..].find('"')?;
        Some((open, close + 1))
    };
    match source.find(at).and_then(literal) {
        Some((open, end)) => format!("{}{name:?}{}", &source[..open], &source[end..]),
        None => source.to_string(),
    }
}

fn go_project(dir: &Path, name: &str, template: Template) -> Result<()> {
    let source = match template {
        Template::Hello => GO_HELLO,
        Template::HttpCall => GO_HTTP_CALL,
        Template::Blank => GO_BLANK,
        Template::Redis => GO_REDIS,
        Template::Mcp => bail!(
            "the mcp template is a Rust plugin (--lang rust); for an MCP server on wasm-go \
             start from examples/go/mcp-server"
        ),
    };
    let module = GO_MOD.replacen(
        "module github.com/wasmgate/examples/go",
        &format!("module {name}"),
        1,
    );
    write(&dir.join("go.mod"), &module)?;
    write(&dir.join("go.sum"), GO_SUM)?;
    write(
        &dir.join("main.go"),
        &named(source, "wrapper.SetCtx(", "", name),
    )?;
    write(&dir.join(".gitignore"), "/main.wasm\n")
}

fn scenario(lang: Lang, template: Template) -> String {
    let cases = match template {
        Template::Redis if lang == Lang::Go => {
            r#"config: { serviceName: redis.static, servicePort: 6379, qpm: 10 }
cases:
  - name: under the limit the request goes on
    redis: [{ reply: ":1\r\n" }]
    expect: { response: { status: 200 } }
  - name: past the limit it is a 429
    redis: [{ reply: ":11\r\n" }]
    expect: { response: { status: 429, body: "Too many requests" } }
"#
        }
        Template::Hello => {
            r#"config: { mockEnable: false }
cases:
  - name: adds the hello header
    request: { path: / }
    expect:
      upstream_request: { headers: { hello: world } }
"#
        }
        Template::HttpCall => {
            r#"config: { serviceSource: dns, serviceName: auth, servicePort: 8080, domain: auth.local, path: /token, requestPath: /token, tokenHeader: x-token }
cases:
  - name: copies the token from the auth service
    callouts:
      - match: { cluster: "outbound|8080||auth.dns" }
        reply: { status: 200, headers: { x-token: abc } }
    expect:
      upstream_request: { headers: { x-token: abc } }
  - name: a failed call is a 500
    callouts:
      - match: { cluster: "outbound|8080||auth.dns" }
        fail: true
    expect: { response: { status: 500 } }
"#
        }
        Template::Redis => {
            r#"config:
  rule_name: demo
  global_threshold: { query_per_minute: 100 }
  redis: { service_name: redis.static, service_port: 6379 }
cases:
  - name: under the limit the request goes on
    redis: [{ reply: "*3\r\n:100\r\n:1\r\n:60\r\n" }]
    expect: { response: { status: 200 } }
  - name: past the limit it is a 429
    redis: [{ reply: "*3\r\n:100\r\n:101\r\n:60\r\n" }]
    expect: { response: { status: 429 } }
"#
        }
        Template::Blank => {
            r#"cases:
  - name: lets the request through
    expect: { response: { status: 200 } }
"#
        }
        Template::Mcp => {
            r#"cases:
  - name: answers initialize
    request:
      method: POST
      path: /mcp
      headers: { content-type: application/json }
      body: '{"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-06-18"}}'
    expect: { response: { status: 200, body_contains: '"protocolVersion":"2025-06-18"' } }
  - name: calls a tool
    request:
      method: POST
      path: /mcp
      headers: { content-type: application/json }
      body: '{"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "add", "arguments": {"a": 2, "b": 3}}}'
    expect: { response: { status: 200, body_contains: '"text":"5"' } }
"#
        }
    };
    format!("plugin: ../main.wasm\n{cases}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_is_renamed_to_the_project() {
        for source in [RUST_HELLO, RUST_HTTP_CALL, RUST_REDIS, RUST_BLANK] {
            let renamed = named(source, "wasmgate_sdk::plugin!", "name: ", "my-proj");
            assert!(renamed.contains("name: \"my-proj\""), "{renamed}");
        }
        for source in [GO_HELLO, GO_HTTP_CALL, GO_REDIS, GO_BLANK] {
            let renamed = named(source, "wrapper.SetCtx(", "", "my-proj");
            assert!(
                renamed.contains("wrapper.SetCtx(\n\t\t\"my-proj\","),
                "{renamed}"
            );
        }
    }

    #[test]
    fn rust_projects_get_the_workspace_dev_profile() {
        let profile = dev_profile();
        assert!(profile.starts_with("[profile.dev.package."), "{profile}");
        assert!(profile.contains("opt-level = 2"), "{profile}");
        assert!(!profile.contains("[profile.release]"), "{profile}");
    }
}
