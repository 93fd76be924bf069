// inject-probe: a wasm-go plugin that injects response data into the filter
// chain after itself, as wasm-go's MCP server does, with the arguments
// encoded as wasm-go encodes them (pkg/protos, proto.Marshal). The request
// header `x-inject` picks what it does:
//
//   - `on-header`: at response headers, sets `content-type:
//     application/json`, calls the foreign function
//     `inject_encoded_data_to_filter_chain_on_header` with the body
//     `{"injected":"on-header"}` and end of stream, and returns
//     HeaderStopAllIterationAndWatermark (as wasm-go's makeHttpResponse does
//     from a RouteCall callback); the upstream's body is not the client's.
//   - `body`: at the first response body chunk, injects `[injected]` with the
//     proxy_inject_encoded_data_to_filter_chain host call (not ending the
//     stream) and lets the chunk go on after it.
//   - `body-end`: at the first response body chunk, holds the chunk and calls
//     the foreign function `inject_encoded_data_to_filter_chain` with
//     `[the end]` and end of stream: the response ends with it.
//
// Without `x-inject` it does nothing. A failed call is logged and answered
// with `x-inject-error` on the response.
package main

import (
	"github.com/higress-group/proxy-wasm-go-sdk/proxywasm"
	"github.com/higress-group/proxy-wasm-go-sdk/proxywasm/types"
	pb "github.com/higress-group/wasm-go/pkg/protos"
	"github.com/higress-group/wasm-go/pkg/wrapper"
	"github.com/tidwall/gjson"
	"google.golang.org/protobuf/proto"
)

func main() {}

func init() {
	wrapper.SetCtx(
		"inject-probe",
		wrapper.ParseConfig(func(gjson.Result, *Config) error { return nil }),
		wrapper.ProcessRequestHeaders(onRequestHeaders),
		wrapper.ProcessResponseHeaders(onResponseHeaders),
		wrapper.ProcessStreamingResponseBody(onResponseBody),
	)
}

// Config is empty: the plugin reads none.
type Config struct{}

func onRequestHeaders(ctx wrapper.HttpContext, _ Config) types.Action {
	mode, _ := proxywasm.GetHttpRequestHeader("x-inject")
	ctx.SetContext("mode", mode)
	return types.ActionContinue
}

func inject(function string, body string, end bool) {
	args, _ := proto.Marshal(&pb.InjectEncodedDataToFilterChainArguments{Body: body, Endstream: end})
	if _, err := proxywasm.CallForeignFunction(function, args); err != nil {
		proxywasm.LogErrorf("%s failed: %v", function, err)
		_ = proxywasm.AddHttpResponseHeader("x-inject-error", function)
	}
}

func onResponseHeaders(ctx wrapper.HttpContext, _ Config) types.Action {
	if ctx.GetStringContext("mode", "") != "on-header" {
		return types.ActionContinue
	}
	_ = proxywasm.RemoveHttpResponseHeader("content-length")
	_ = proxywasm.ReplaceHttpResponseHeader("content-type", "application/json")
	inject("inject_encoded_data_to_filter_chain_on_header", `{"injected":"on-header"}`, true)
	return types.HeaderStopAllIterationAndWatermark
}

func onResponseBody(ctx wrapper.HttpContext, _ Config, chunk []byte, end bool) []byte {
	first := ctx.GetContext("seen") == nil
	ctx.SetContext("seen", true)
	switch ctx.GetStringContext("mode", "") {
	case "body":
		if first {
			if err := proxywasm.InjectEncodedDataToFilterChain([]byte("[injected]"), false); err != nil {
				proxywasm.LogErrorf("proxy_inject_encoded_data_to_filter_chain failed: %v", err)
			}
		}
	case "body-end":
		if first {
			inject("inject_encoded_data_to_filter_chain", "[the end]", true)
		}
		return nil
	}
	return chunk
}
