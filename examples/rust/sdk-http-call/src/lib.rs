//! `sdk-http-call`: the Higress guide's service-call plugin, on wasmgate-sdk.
//!
//! Config: `serviceSource` (`k8s`, `nacos`, `ip` or `dns`), `serviceName`, `servicePort`,
//! `namespace` (k8s, nacos), `domain` (dns), `requestPath`, `tokenHeader`.
//! Each request calls `requestPath` on the service; a 200 answer's `tokenHeader` header is
//! copied into the request, which then goes on; any other answer (or a failed call) is a
//! local `500 http call failed`. A call the host refuses (an unknown cluster) is logged and
//! the request goes on, as in the original.

use wasmgate_sdk::prelude::*;

struct MyConfig {
    client: HttpClient,
    request_path: String,
    token_header: String,
}

fn parse_config(json: &Value) -> Result<MyConfig> {
    let text = |key: &str| json[key].as_str().unwrap_or_default().to_string();
    let token_header = text("tokenHeader");
    if token_header.is_empty() {
        return Err(Error::Config("missing tokenHeader in config".into()));
    }
    let request_path = text("requestPath");
    if request_path.is_empty() {
        return Err(Error::Config("missing requestPath in config".into()));
    }
    let service_name = text("serviceName");
    let service_port = json["servicePort"].as_u64().unwrap_or(0) as u16;
    if service_name.is_empty() || service_port == 0 {
        return Err(Error::Config("invalid service config".into()));
    }
    let client = match text("serviceSource").as_str() {
        "k8s" => HttpClient::new(K8sCluster::new(
            service_name,
            text("namespace"),
            service_port,
        )),
        "nacos" => HttpClient::new(NacosCluster::new(
            service_name,
            text("namespace"),
            service_port,
        )),
        "ip" => HttpClient::new(StaticIpCluster::new(service_name, service_port)),
        "dns" => HttpClient::new(DnsCluster::new(service_name, text("domain"), service_port)),
        other => return Err(Error::Config(format!("unknown service source: {other}"))),
    };
    Ok(MyConfig {
        client,
        request_path,
        token_header,
    })
}

fn on_request_headers(ctx: &HttpContext, config: &MyConfig) -> Result<HeaderAction> {
    let token_header = config.token_header.clone();
    let sent = config
        .client
        .get(&config.request_path)
        .send(ctx, move |ctx, reply| -> Result<()> {
            match reply {
                Ok(reply) if reply.status == 200 => {
                    info!(
                        "get status: {}, response body: {}",
                        reply.status,
                        reply.body_text()
                    );
                    if let Some(token) = reply.header(&token_header) {
                        ctx.add_request_header(&token_header, token)?;
                    }
                    Ok(())
                }
                Ok(reply) => {
                    error!("http call failed, status: {}", reply.status);
                    ctx.send_response(500, &[], "http call failed")
                }
                Err(e) => {
                    error!("{e}");
                    ctx.send_response(500, &[], "http call failed")
                }
            }
        });
    if let Err(e) = sent {
        // As the original: a call that cannot be made lets the request through.
        error!("http call failed: {e}");
        return Ok(HeaderAction::Continue);
    }
    // As the Go guide: hold the headers and the body until the call's answer resumes the
    // request (a plain StopIteration would let a POST body, and the request, go on).
    Ok(HeaderAction::StopAllIterationAndWatermark)
}

wasmgate_sdk::plugin! {
    name: "http-call",
    config: MyConfig,
    parse: parse_config,
    on_request_headers,
}
