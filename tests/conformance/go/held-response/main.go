// held-response: a wasm-go plugin that holds the response headers with
// HeaderStopIteration and replaces the body once it has all of it, the way
// wasm-go's RouteCall and MCP server do. Under Higress's ABI 0_2_100 the body
// keeps coming to the plugin while the headers wait (Higress's host keeps
// StopIteration for headers of both directions); upstream Envoy turns it into
// StopAllIterationAndWatermark, so the plugin never sees the body there.
//
// Config: {} (none read).
//
// Response headers: removes `content-length`, adds `x-held: yes`, returns
// HeaderStopIteration. Response body: wasm-go buffers it; at the end of the
// stream the plugin replaces the body with `held <n> bytes: <upper-cased body>` and continues.
package main

import (
	"bytes"
	"fmt"

	"github.com/higress-group/proxy-wasm-go-sdk/proxywasm"
	"github.com/higress-group/proxy-wasm-go-sdk/proxywasm/types"
	"github.com/higress-group/wasm-go/pkg/wrapper"
	"github.com/tidwall/gjson"
)

func main() {}

func init() {
	wrapper.SetCtx(
		"held-response",
		wrapper.ParseConfig(func(gjson.Result, *Config) error { return nil }),
		wrapper.ProcessResponseHeaders(onResponseHeaders),
		wrapper.ProcessResponseBody(onResponseBody),
	)
}

// Config is empty: the plugin reads none.
type Config struct{}

func onResponseHeaders(ctx wrapper.HttpContext, _ Config) types.Action {
	_ = proxywasm.RemoveHttpResponseHeader("content-length")
	_ = proxywasm.AddHttpResponseHeader("x-held", "yes")
	return types.HeaderStopIteration
}

func onResponseBody(ctx wrapper.HttpContext, _ Config, body []byte) types.Action {
	swapped := fmt.Sprintf("held %d bytes: %s", len(body), bytes.ToUpper(body))
	if err := proxywasm.ReplaceHttpResponseBody([]byte(swapped)); err != nil {
		proxywasm.LogErrorf("replace response body failed: %v", err)
	}
	return types.ActionContinue
}
