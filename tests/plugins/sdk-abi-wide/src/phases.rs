//! Header changes, body changes, local replies from the body phases, properties and the
//! callout.

use wasmgate_abi::MapType;
use wasmgate_sdk::prelude::*;

use crate::{probe, Config};

/// Add, add to a repeated name, replace (present and absent), remove, read.
pub fn request_headers(ctx: &HttpContext) -> Result<()> {
    ctx.add_request_header("x-added", "1")?;
    ctx.add_request_header("x-repeat", "c")?;
    ctx.replace_request_header("x-replace-me", "replaced")?;
    ctx.replace_request_header("x-replace-absent", "new")?;
    ctx.remove_request_header("x-remove-me")?;
    ctx.remove_request_header("x-never-sent")?;
    let mixed = ctx
        .request_header("x-mixed-case")
        .unwrap_or_else(|| "<missing>".into());
    ctx.add_request_header("x-seen-mixed", mixed)?;
    // Through the host, as wasm-go reads it (the SDK's cached head keeps the first value).
    let repeated = host_value(MapType::HttpRequestHeaders, "x-repeat");
    ctx.add_request_header("x-seen-repeat", repeated)?;
    let repeated = property(ctx, &["request", "headers", "x-repeat"]);
    ctx.add_request_header("x-seen-repeat-prop", repeated)?;
    let method = ctx.request_header(":method").unwrap_or_default();
    let path = ctx.request_header(":path").unwrap_or_default();
    ctx.add_request_header("x-seen-pseudo", format!("{method} {path}"))
}

/// A header read through the host call, lossy; `<missing>` when absent or refused.
fn host_value(map: MapType, name: &str) -> String {
    match wasmgate_sdk::raw::get_map_value(map, name) {
        Ok(Some(value)) => String::from_utf8_lossy(&value).into_owned(),
        _ => "<missing>".into(),
    }
}

/// The same on the response side.
pub fn response_headers(ctx: &HttpContext) -> Result<()> {
    let status = ctx.response_header(":status").unwrap_or_default();
    ctx.add_response_header("x-resp-status", status)?;
    ctx.add_response_header("x-resp-added", "1")?;
    ctx.add_response_header("x-resp-added", "2")?;
    let added = host_value(MapType::HttpResponseHeaders, "x-resp-added");
    ctx.add_response_header("x-resp-read-added", added)?;
    ctx.replace_response_header("content-type", "text/probe")?;
    ctx.add_response_header("x-resp-temp", "gone")?;
    ctx.remove_response_header("x-resp-temp")
}

/// Runs once the whole request body is buffered.
pub fn on_request_body(ctx: &HttpContext, _config: &Config, body: &[u8]) -> Result<DataAction> {
    match probe(ctx).as_str() {
        "req-replace" => {
            ctx.replace_request_body([b"replaced:".as_slice(), body].concat())?;
        }
        "req-append" => ctx.append_request_body("|appended")?,
        "req-prepend" => ctx.prepend_request_body("prepended|")?,
        "reply-req-body" => {
            let text = format!("denied at request body: {}", String::from_utf8_lossy(body));
            return ctx.send_response(403, &[("x-local", "request-body")], text);
        }
        _ => {}
    }
    Ok(DataAction::Continue)
}

pub fn on_streaming_request_body(
    ctx: &HttpContext,
    _config: &Config,
    chunk: &[u8],
    last: bool,
) -> Vec<u8> {
    if probe(ctx) == "chunks" {
        info!("request body chunk: {} bytes, last {last}", chunk.len());
    }
    if probe(ctx) != "req-stream" {
        return chunk.to_vec();
    }
    let mut out = chunk.to_ascii_uppercase();
    if last {
        out.extend_from_slice(b"|end");
    }
    out
}

/// Runs once the whole response body is buffered.
pub fn on_response_body(ctx: &HttpContext, _config: &Config, _body: &[u8]) -> Result<DataAction> {
    match probe(ctx).as_str() {
        "resp-replace" => ctx.replace_response_body("response replaced")?,
        "resp-append" => ctx.append_response_body("|appended")?,
        "resp-prepend" => ctx.prepend_response_body("prepended|")?,
        "reply-resp-body" => {
            return ctx.send_response(
                500,
                &[("x-local", "response-body")],
                "replaced at response body",
            );
        }
        _ => {}
    }
    Ok(DataAction::Continue)
}

/// Wraps each non-empty chunk in `[...]` and appends `|end` to the last (how many calls
/// carry the body is framing: see the `chunks` action).
pub fn on_streaming_response_body(
    ctx: &HttpContext,
    _config: &Config,
    chunk: &[u8],
    last: bool,
) -> Vec<u8> {
    if probe(ctx) == "chunks" {
        // Not the size: the echo report's length depends on headers each host adds.
        let sized = if chunk.is_empty() { "empty" } else { "data" };
        info!("response body chunk: {sized}, last {last}");
    }
    if probe(ctx) != "resp-stream" {
        return chunk.to_vec();
    }
    let mut out = if chunk.is_empty() {
        Vec::new()
    } else {
        [b"[", chunk, b"]"].concat()
    };
    if last {
        out.extend_from_slice(b"|end");
    }
    out
}

/// A property as text: integers (8 bytes little-endian) as decimals, `source.address`
/// without its port (the client's ephemeral port differs).
fn property(ctx: &HttpContext, path: &[&str]) -> String {
    let value = match ctx.property(path) {
        Ok(Some(value)) => value,
        _ => return "<missing>".into(),
    };
    match path {
        ["response", "code"]
        | ["source", "port"]
        | ["upstream", "port"]
        | ["request", "size"]
        | ["response", "size"] => {
            if let Ok(bytes) = <[u8; 8]>::try_from(value.as_slice()) {
                return i64::from_le_bytes(bytes).to_string();
            }
        }
        ["source", "address"] => {
            let text = String::from_utf8_lossy(&value);
            if let Some((host, _port)) = text.rsplit_once(':') {
                return host.to_string();
            }
        }
        _ => {}
    }
    String::from_utf8_lossy(&value).into_owned()
}

/// At request headers: what the request and the plugin say.
const REQUEST_PROPERTIES: &[&[&str]] = &[
    &["request", "path"],
    &["request", "url_path"],
    &["request", "query"],
    &["request", "host"],
    &["request", "scheme"],
    &["request", "method"],
    &["request", "protocol"],
    &["request", "headers", "x-probe"],
    &["plugin_name"],
    &["source", "address"],
];

/// At response headers: what does not come from the request headers.
const RESPONSE_PROPERTIES: &[&[&str]] = &[
    &["response", "code"],
    &["request", "protocol"],
    &["plugin_name"],
    &["source", "address"],
    &["upstream", "address"],
    &["response", "code_details"],
    &["response", "headers", "content-type"],
    &["request", "size"],
    &["response", "size"],
];

/// At response headers: what comes from the request headers, the route and the cluster.
const LATE_PROPERTIES: &[&[&str]] = &[
    &["request", "path"],
    &["request", "method"],
    &["request", "headers", "x-probe"],
    &["route_name"],
    &["cluster_name"],
];

pub fn request_properties(ctx: &HttpContext) -> Result<()> {
    for path in REQUEST_PROPERTIES {
        let name = format!("x-req-prop-{}", path.join("."));
        ctx.add_request_header(&name, property(ctx, path))?;
    }
    Ok(())
}

pub fn response_properties(ctx: &HttpContext) -> Result<()> {
    for path in RESPONSE_PROPERTIES {
        let name = format!("x-resp-prop-{}", path.join("."));
        ctx.add_response_header(&name, property(ctx, path))?;
    }
    Ok(())
}

/// [`LATE_PROPERTIES`] and a request header read through the header map, at response
/// headers.
pub fn late_properties(ctx: &HttpContext) -> Result<()> {
    for path in LATE_PROPERTIES {
        let name = format!("x-late-prop-{}", path.join("."));
        ctx.add_response_header(&name, property(ctx, path))?;
    }
    let read = wasmgate_sdk::raw::get_map_value(MapType::HttpRequestHeaders, "x-probe");
    let value = match read {
        Ok(Some(value)) => String::from_utf8_lossy(&value).into_owned(),
        Ok(None) => "<not-found>".to_string(),
        Err(_) => format!("<{}>", crate::state::status(&read)),
    };
    ctx.add_response_header("x-late-request-header", value)
}

/// GETs `/abi-wide-callout` on the configured cluster; the answer's status and body go into
/// the request as `x-callout-status` and `x-callout-body`; the SDK then resumes it.
pub fn callout(ctx: &HttpContext, config: &Config) -> Result<()> {
    let cluster = if config.callout_cluster.is_empty() {
        "callout"
    } else {
        config.callout_cluster.as_str()
    };
    let timeout = if config.callout_timeout == 0 {
        5000
    } else {
        config.callout_timeout
    };
    HttpClient::new(TargetCluster::new(cluster, "callout.test"))
        .get("/abi-wide-callout?lang=any")
        .timeout_ms(timeout)
        .send(ctx, |ctx, reply| -> Result<()> {
            let (status, body) = match reply {
                Ok(reply) => (reply.status.to_string(), reply.body_text()),
                Err(e) => ("error".to_string(), e.to_string()),
            };
            ctx.add_request_header("x-callout-status", status)?;
            ctx.add_request_header("x-callout-body", body)
        })?;
    Ok(())
}
