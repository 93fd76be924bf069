//! `sdk-hello`: the Higress guide's first plugin, on wasmgate-sdk.
//!
//! Config `{"mockEnable": bool}`. Adds the request header `hello: world`; with `mockEnable`
//! answers `200 hello world` itself.

use wasmgate_sdk::prelude::*;

#[derive(Deserialize, Default)]
struct MyConfig {
    #[serde(rename = "mockEnable", default)]
    mock_enable: bool,
}

fn on_request_headers(ctx: &HttpContext, config: &MyConfig) -> Result<HeaderAction> {
    ctx.add_request_header("hello", "world")?;
    if config.mock_enable {
        return ctx.send_response(200, &[], "hello world");
    }
    Ok(HeaderAction::Continue)
}

wasmgate_sdk::plugin! { name: "my-plugin", config: MyConfig, on_request_headers }
