//! `sdk-probe`: exercises wasmgate-sdk for its tests (not an example to copy).
//!
//! Config `{"name": "...", "upstream": "cluster name"}`, strict (unknown keys fail), with
//! `merge_rules`: a rule's keys are laid over the global ones.
//! Request headers: adds `x-config: <name>` and, by path:
//! `/panic` panics, `/error` returns an error, `/reply` answers 403 itself, `/buffered`
//! switches to the buffered body handler, `/nobody` skips the body, `/stop` returns
//! `StopIteration`, `/call` calls `upstream` with a callback, `/async` awaits two calls in a
//! task, `/fail-call` calls an unknown cluster, `/redis-async` awaits `GET k` then
//! `SET copy <value> EX 10` on the `redis` service and reports both in `x-redis`.
//! `/leader` reports `x-leader`, `x-vm-id` and `x-lease-key`; `/elect` runs an election
//! first. `/metrics` bumps the counter `probe.requests`, sets the gauge `probe.gauge` (42,
//! then -2) and records 7 and 9 in the histogram `probe.latency`; `x-requests` reports the
//! counter. `/grow` leaks 64 MiB (for the rebuild-on-memory option, 48 MiB). A header
//! `x-binary` is copied, lossy, to `x-binary-lossy`. `/route-call*` buffers the body and
//! stops the headers (`/route-call-nostop` continues them; `/route-call-early` tries the
//! route call in the headers phase and fails); the body handler then route-calls
//! `POST http://backend.example/v1/chat%2Fx?x=1#frag` with `x-routed: 1` and body
//! `routed:<body>`; the callback answers locally (`route call answered <status>`) when the
//! response had no body, and otherwise rewrites it to `intercepted:<status>:<body>` with
//! `x-route-status`.
//! `/grpc-reply` answers with gRPC status 7 (`no access`, HTTP 403 for other clients).
//! Request trailers: adds `x-probe-trailers: <k=v,...>` (those it was given) and
//! `x-trailer-phase: <phase>`. Response trailers: with `grpc-status: 0`, `grpc-message`
//! becomes `checked by sdk-probe`.
//! Start hook: tick functions (all at 100 ms except `probe.tick.slow` at 60 s) count in
//! `probe.tick.*`: `fast` (also renews the leader lease), `named` (a named tick registered
//! twice, deduped), `dup` (an unnamed tick registered twice, not deduped); then a leader
//! election. Options: rebuild after 5
//! requests or 48 MiB of memory.
//! Request body: streaming (upper-cases each chunk, appends `|end` to the last) or buffered
//! (replaces the body with `buffered:<len>`). Response headers: reports cached request facts
//! in `x-*` headers and writes the user attributes to `custom_log` and the trace. Response
//! body: streaming, wraps each chunk in `[...]`. Stream done: logs `done: <name> <path>`.

use wasmgate_sdk::prelude::*;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Config {
    name: String,
    #[serde(default)]
    upstream: String,
    /// A Redis service (`FqdnCluster`, port 6379) for `/redis-async`.
    #[serde(default)]
    redis: String,
}

thread_local! {
    static REDIS: std::cell::RefCell<Option<RedisClient>> = const { std::cell::RefCell::new(None) };
}

/// The VM's Redis client, initialised on first use (user `u`, password `p`, db 2).
fn redis(service: &str) -> RedisClient {
    REDIS.with(|r| {
        r.borrow_mut()
            .get_or_insert_with(|| {
                let client = RedisClient::new(FqdnCluster::new(service, 6379));
                if let Err(e) = client.init("u", "p", 500, RedisOptions::default().database(2)) {
                    error!("{e}");
                }
                client
            })
            .clone()
    })
}

#[derive(Clone)]
struct Seen(String);

fn count(name: &str) {
    if let Err(e) = wasmgate_sdk::metrics::increment_counter(name, 1) {
        error!("{e}");
    }
}

fn on_plugin_start(plugin: &PluginContext) {
    plugin.register_tick(Tick::every_ms(100), || {
        count("probe.tick.fast");
        wasmgate_sdk::leader::do_leader_election();
    });
    plugin.register_tick(Tick::every_ms(60_000), || count("probe.tick.slow"));
    for _ in 0..2 {
        plugin.register_tick(Tick::every_ms(100).named("named"), || {
            count("probe.tick.named")
        });
        plugin.register_tick(Tick::every_ms(100), || count("probe.tick.dup"));
    }
    let leader = wasmgate_sdk::leader::do_leader_election();
    info!("leader at start: {leader}");
}

fn report_leader(ctx: &HttpContext) -> Result<()> {
    ctx.add_request_header("x-leader", plugin_leader().to_string())?;
    ctx.add_request_header("x-vm-id", wasmgate_sdk::leader::vm_id())?;
    ctx.add_request_header("x-lease-key", wasmgate_sdk::leader::lease_key())?;
    Ok(())
}

fn plugin_leader() -> bool {
    wasmgate_sdk::leader::is_leader()
}

fn route_call(ctx: &HttpContext, body: &[u8]) -> Result<()> {
    let body = format!("routed:{}", String::from_utf8_lossy(body));
    ctx.route_call(
        "POST",
        "http://backend.example/v1/chat%2Fx?x=1#frag",
        &[("x-routed", "1")],
        body,
        |ctx, response| -> Result<()> {
            let status = response.status.to_string();
            if response.body.is_empty() {
                ctx.send_response(
                    200,
                    &[("x-route-status", status.as_str())],
                    format!("route call answered {status}"),
                )
            } else {
                ctx.replace_response_header("x-route-status", &status)?;
                ctx.replace_response_body(format!("intercepted:{status}:{}", response.body_text()))
            }
        },
    )
}

fn on_request_headers(ctx: &HttpContext, config: &Config) -> Result<HeaderAction> {
    ctx.add_request_header("x-config", &config.name)?;
    ctx.insert(Seen(format!("{}:{}", config.name, ctx.path())));
    ctx.set_user_attribute("probe", config.name.as_str());
    ctx.set_user_attribute("path", ctx.path());
    info!("request headers for {}", ctx.path());
    if let Some(binary) = ctx.request_header("x-binary") {
        ctx.add_request_header("x-binary-lossy", binary)?;
        let all = ctx.request_headers();
        ctx.add_request_header("x-header-count", all.len().to_string())?;
    }
    let client = HttpClient::new(TargetCluster::new(
        config.upstream.as_str(),
        "upstream.local",
    ));
    match ctx.path().as_str() {
        "/panic" => panic!("probe panicked on purpose"),
        "/error" => return Err(Error::msg("probe handler failed on purpose")),
        "/reply" => return ctx.send_response(403, &[("x-reason", "probe")], "denied"),
        "/grpc-reply" => {
            return ctx.send_grpc_response(403, 7, "no access", &[("x-reason", "probe")])
        }
        "/buffered" => ctx.buffer_request_body(),
        "/nobody" => ctx.dont_read_request_body(),
        "/stop" => return Ok(HeaderAction::StopIteration),
        "/leader" => report_leader(ctx)?,
        "/elect" => {
            wasmgate_sdk::leader::do_leader_election();
            report_leader(ctx)?;
        }
        "/metrics" => {
            let requests = Counter::new("probe.requests")?;
            requests.increment(1)?;
            let gauge = Gauge::new("probe.gauge")?;
            gauge.set(42)?;
            gauge.add(-2)?;
            let latency = Histogram::new("probe.latency")?;
            latency.record(7)?;
            latency.record(9)?;
            ctx.add_request_header("x-requests", requests.value()?.to_string())?;
        }
        "/grow" => {
            let block: Vec<u8> = Vec::with_capacity(64 << 20);
            std::mem::forget(block);
        }
        "/route-call" => {
            ctx.buffer_request_body();
            return Ok(HeaderAction::StopIteration);
        }
        "/route-call-nostop" => ctx.buffer_request_body(),
        "/route-call-early" => {
            ctx.route_call("GET", "/x", &[], "", |_, _| ())?;
        }
        "/call" => {
            client.get("/token?x=1").header("x-probe", "1").send(
                ctx,
                |ctx, reply| -> Result<()> {
                    let reply = reply?;
                    ctx.add_request_header("x-token", reply.body_text())?;
                    ctx.add_request_header("x-status", reply.status.to_string())?;
                    Ok(())
                },
            )?;
        }
        "/fail-call" => {
            HttpClient::new(StaticIpCluster::new("nowhere", 80))
                .get("/x")
                .send(ctx, |_, reply| reply.map(drop))?;
        }
        "/async" => ctx.spawn(move |ctx| async move {
            let first = client.get("/first").await?;
            let second = client
                .post("/second")
                .body(first.body.clone())
                .timeout_ms(1500)
                .await?;
            ctx.add_request_header(
                "x-async",
                format!("{}+{}", first.body_text(), second.body_text()),
            )?;
            if second.status == 403 {
                return ctx.send_response(403, &[], "second said no");
            }
            Ok(())
        }),
        "/redis-async" => {
            let redis = redis(&config.redis);
            ctx.spawn(move |ctx| async move {
                let value = match redis.get("k").await {
                    Ok(v) => v.as_string().unwrap_or_else(|| "nil".into()),
                    Err(Error::RedisReply(e)) => format!("reply error {e}"),
                    Err(e) => return Err(e),
                };
                let stored = redis.set_ex("copy", value.as_str(), 10).await?;
                ctx.add_request_header("x-redis", format!("{value}/{stored:?}"))?;
                Ok(())
            });
        }
        _ => {}
    }
    Ok(HeaderAction::Continue)
}

fn on_streaming_request_body(
    _ctx: &HttpContext,
    _config: &Config,
    chunk: &[u8],
    last: bool,
) -> Vec<u8> {
    let mut out = chunk.to_ascii_uppercase();
    if last {
        out.extend_from_slice(b"|end");
    }
    out
}

fn on_request_body(ctx: &HttpContext, _config: &Config, body: &[u8]) -> Result<DataAction> {
    if ctx.path().starts_with("/route-call") {
        route_call(ctx, body)?;
        return Ok(DataAction::Continue);
    }
    ctx.replace_request_body(format!("buffered:{}", body.len()))?;
    Ok(DataAction::Continue)
}

fn on_response_headers(ctx: &HttpContext, _config: &Config) -> Result<HeaderAction> {
    let seen = ctx.get::<Seen>().map(|s| s.0).unwrap_or_default();
    ctx.add_response_header("x-seen", seen)?;
    ctx.add_response_header("x-path", ctx.path())?;
    ctx.add_response_header("x-method", ctx.method())?;
    ctx.add_response_header("x-host", ctx.host())?;
    ctx.add_response_header("x-scheme", ctx.scheme())?;
    ctx.add_response_header("x-phase", format!("{:?}", ctx.phase()))?;
    ctx.add_response_header("x-has-request-body", ctx.has_request_body().to_string())?;
    ctx.add_response_header("x-websocket", ctx.is_websocket().to_string())?;
    let binary = ctx.request_header_bytes("x-binary").unwrap_or_default();
    ctx.add_response_header("x-binary-len", binary.len().to_string())?;
    ctx.set_user_attribute("status", 200);
    ctx.write_user_attributes_to_log()?;
    ctx.write_user_attributes_to_ai_log()?;
    ctx.write_user_attributes_to_trace()?;
    Ok(HeaderAction::Continue)
}

fn on_streaming_response_body(
    _ctx: &HttpContext,
    _config: &Config,
    chunk: &[u8],
    _last: bool,
) -> Vec<u8> {
    [b"[", chunk, b"]"].concat()
}

fn on_request_trailers(ctx: &HttpContext, _config: &Config) -> Result<HeaderAction> {
    let names: Vec<String> = ctx
        .request_trailers()
        .into_iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    ctx.add_request_trailer("x-probe-trailers", names.join(","))?;
    ctx.add_request_trailer("x-trailer-phase", format!("{:?}", ctx.phase()))?;
    Ok(HeaderAction::Continue)
}

fn on_response_trailers(ctx: &HttpContext, _config: &Config) -> Result<HeaderAction> {
    if ctx.response_trailer("grpc-status").as_deref() == Some("0") {
        ctx.replace_response_trailer("grpc-message", "checked by sdk-probe")?;
    }
    Ok(HeaderAction::Continue)
}

fn on_stream_done(ctx: &HttpContext, config: &Config) {
    info!("done: {} {} {:?}", config.name, ctx.path(), ctx.phase());
}

wasmgate_sdk::plugin! {
    name: "sdk-probe",
    config: Config,
    merge_rules: true,
    on_plugin_start,
    rebuild_after_requests: 5,
    rebuild_max_memory_bytes: 48 << 20,
    on_request_headers,
    on_streaming_request_body,
    on_request_body,
    on_response_headers,
    on_streaming_response_body,
    on_request_trailers,
    on_response_trailers,
    on_stream_done,
}
