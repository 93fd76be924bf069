//! `grpc-authz`: ext-authz over gRPC with wasmgate-sdk's gRPC client, for the gateway's
//! gRPC callout tests (not an example to copy).
//!
//! Config `{"cluster": "<cluster name>", "timeout_ms": N}` (timeout default 500). On request
//! headers, by path:
//! - `/stream`: opens a stream to `test.Echo/Chat` for the request, sends each
//!   comma-separated value of `x-messages` and half-closes; at the close it answers 200
//!   with the messages received joined by `,` and `x-grpc-status: <code>`.
//! - `/cancel`: opens the same stream, sends `one`, cancels it at once and lets the
//!   request through with `x-cancelled: yes` (a message or close after the cancel would
//!   be logged as `stream event after cancel`).
//! - anything else: calls `test.Echo/<method>` (the method is `x-method`, default `Unary`)
//!   with the path as the message and metadata `x-probe-te: from-plugin`. An answer lets
//!   the request through with `x-authz: <answer>`, unless the answer contains `deny`
//!   (403, body `denied`); a failure answers 403 with `x-grpc-status: <code>` and the
//!   status message as the body; a call the host refuses answers 500 with the error.

use std::cell::RefCell;
use std::rc::Rc;

use wasmgate_sdk::prelude::*;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Config {
    cluster: String,
    #[serde(default)]
    timeout_ms: Option<u32>,
}

fn client(config: &Config) -> GrpcClient {
    GrpcClient::new(TargetCluster::new(config.cluster.as_str(), ""))
}

fn on_request_headers(ctx: &HttpContext, config: &Config) -> Result<HeaderAction> {
    match ctx.path().as_str() {
        "/stream" => stream(ctx, config),
        "/cancel" => cancel(ctx, config),
        path => call(ctx, config, path),
    }
}

fn call(ctx: &HttpContext, config: &Config, path: &str) -> Result<HeaderAction> {
    let method = ctx
        .request_header("x-method")
        .unwrap_or_else(|| "Unary".into());
    let call = client(config)
        .call("test.Echo", &method, path.as_bytes().to_vec())
        .metadata("x-probe-te", "from-plugin")
        .timeout_ms(config.timeout_ms.unwrap_or(500));
    let sent = call.send(ctx, |ctx, answer| match answer {
        Ok(reply) if String::from_utf8_lossy(&reply).contains("deny") => {
            ctx.send_response(403, &[], "denied")
        }
        Ok(reply) => ctx.add_request_header("x-authz", reply),
        Err(Error::Grpc { code, message }) => {
            let code = code.to_string();
            ctx.send_response(403, &[("x-grpc-status", code.as_str())], message)
        }
        Err(e) => ctx.send_response(500, &[], e.to_string()),
    });
    match sent {
        Ok(_) => Ok(HeaderAction::StopIteration),
        Err(e) => ctx.send_response(500, &[], e.to_string()),
    }
}

fn stream(ctx: &HttpContext, config: &Config) -> Result<HeaderAction> {
    let received = Rc::new(RefCell::new(Vec::<String>::new()));
    let seen = received.clone();
    let stream =
        client(config)
            .stream("test.Echo", "Chat")
            .open_for(ctx, move |ctx, _stream, event| match event {
                GrpcStreamEvent::Message(m) => {
                    seen.borrow_mut()
                        .push(String::from_utf8_lossy(&m).into_owned());
                    Ok(())
                }
                GrpcStreamEvent::Close { code, .. } => {
                    let code = code.to_string();
                    let body = seen.borrow().join(",");
                    ctx.send_response(200, &[("x-grpc-status", code.as_str())], body)
                }
                _ => Ok(()),
            })?;
    let messages = ctx.request_header("x-messages").unwrap_or_default();
    for message in messages.split(',').filter(|m| !m.is_empty()) {
        stream.send(message.as_bytes())?;
    }
    stream.close()?;
    Ok(HeaderAction::StopIteration)
}

fn cancel(ctx: &HttpContext, config: &Config) -> Result<HeaderAction> {
    let stream = client(config)
        .stream("test.Echo", "Chat")
        .open(|_stream, event| warn!("stream event after cancel: {event:?}"))?;
    stream.send(b"one")?;
    stream.cancel()?;
    ctx.add_request_header("x-cancelled", "yes")?;
    Ok(HeaderAction::Continue)
}

wasmgate_sdk::plugin! {
    name: "grpc-authz",
    config: Config,
    on_request_headers,
}
