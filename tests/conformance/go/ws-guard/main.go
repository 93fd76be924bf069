// ws-guard: a wasm-go plugin that tells WebSocket handshakes apart with
// HttpContext.IsWebsocket() (Higress's check: `connection` is `upgrade` and
// `upgrade` is `websocket`, without case), for the conformance suite's
// WebSocket cases (tests/conformance/tests/websocket.rs).
//
// Config: {} (none read).
//
// Request headers: adds `x-ws-guard: websocket` or `x-ws-guard: plain`; a
// WebSocket handshake with the header `x-deny` is answered locally with 403
// `websocket refused` and `x-ws-guard: denied`. Response headers: adds
// `x-ws-guard-status: <:status>` (a handshake the upstream took: 101) and
// `x-ws-guard-websocket: <IsWebsocket() read again there>`.
package main

import (
	"strconv"

	"github.com/higress-group/proxy-wasm-go-sdk/proxywasm"
	"github.com/higress-group/proxy-wasm-go-sdk/proxywasm/types"
	"github.com/higress-group/wasm-go/pkg/wrapper"
	"github.com/tidwall/gjson"
)

// main is required by the Go toolchain but never runs: the host calls the
// exported proxy_* functions and the plugin registers itself in init().
func main() {}

func init() {
	wrapper.SetCtx(
		"ws-guard",
		wrapper.ParseConfig(parseConfig),
		wrapper.ProcessRequestHeaders(onHttpRequestHeaders),
		wrapper.ProcessResponseHeaders(onHttpResponseHeaders),
	)
}

// Config is empty: the plugin reads none.
type Config struct{}

func parseConfig(_ gjson.Result, _ *Config) error {
	return nil
}

func onHttpRequestHeaders(ctx wrapper.HttpContext, _ Config) types.Action {
	if !ctx.IsWebsocket() {
		addRequestHeader("x-ws-guard", "plain")
		return types.ActionContinue
	}
	if deny, _ := proxywasm.GetHttpRequestHeader("x-deny"); deny != "" {
		if err := proxywasm.SendHttpResponseWithDetail(403, "ws-guard.denied",
			[][2]string{{"x-ws-guard", "denied"}}, []byte("websocket refused"), -1); err != nil {
			proxywasm.LogErrorf("failed to send local reply: %v", err)
		}
		return types.ActionContinue
	}
	addRequestHeader("x-ws-guard", "websocket")
	return types.ActionContinue
}

func onHttpResponseHeaders(ctx wrapper.HttpContext, _ Config) types.Action {
	status, _ := proxywasm.GetHttpResponseHeader(":status")
	addResponseHeader("x-ws-guard-status", status)
	addResponseHeader("x-ws-guard-websocket", strconv.FormatBool(ctx.IsWebsocket()))
	return types.ActionContinue
}

func addRequestHeader(name, value string) {
	if err := proxywasm.AddHttpRequestHeader(name, value); err != nil {
		proxywasm.LogErrorf("failed to add request header %s: %v", name, err)
	}
}

func addResponseHeader(name, value string) {
	if err := proxywasm.AddHttpResponseHeader(name, value); err != nil {
		proxywasm.LogErrorf("failed to add response header %s: %v", name, err)
	}
}
