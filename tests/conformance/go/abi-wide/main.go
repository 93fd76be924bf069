// abi-wide: a plugin written for the conformance suite (tests/conformance/tests/abi_wide.rs),
// not an example to copy. It exercises much of the proxy-wasm ABI through Higress's
// wasm-go SDK; its Rust twin is tests/plugins/sdk-abi-wide, which answers the same way.
//
// Config: {"calloutCluster": "callout", "calloutTimeout": 5000}
//
// The request header `x-probe` picks what it does (see README.md next to go.mod):
//
//	headers                       add/replace/remove request and response headers
//	req-replace|req-append|req-prepend     buffered request body changes
//	req-stream                    streaming request body: each chunk upper-cased, `|end` last
//	resp-replace|resp-append|resp-prepend  buffered response body changes
//	resp-stream                   streaming response body: each chunk wrapped in `[...]`
//	reply-req-headers|reply-req-body|reply-resp-headers|reply-resp-body  local replies
//	props                         properties reported in `x-req-prop-*` / `x-resp-prop-*`
//	props-late                    request-derived properties and a request header read at
//	                              response headers (`x-late-*`)
//	chunks                        one log line per body call (size, end of stream)
//	callout                       GET /abi-wide-callout on the callout cluster, reported
//	ticks                         `x-ticked: yes` once the tick function has run
//	shared                        shared data get/set with CAS, reported in `x-shared`
//	metrics                       a counter, a gauge and a histogram
//	log                           one line per log level
package main

import (
	"github.com/higress-group/proxy-wasm-go-sdk/proxywasm"
	"github.com/higress-group/proxy-wasm-go-sdk/proxywasm/types"
	"github.com/higress-group/wasm-go/pkg/wrapper"
	"github.com/tidwall/gjson"
)

func main() {}

func init() {
	wrapper.SetCtx(
		"abi-wide",
		wrapper.ParseConfig(parseConfig),
		wrapper.ProcessRequestHeaders(onRequestHeaders),
		wrapper.ProcessStreamingRequestBody(onStreamingRequestBody),
		wrapper.ProcessRequestBody(onRequestBody),
		wrapper.ProcessResponseHeaders(onResponseHeaders),
		wrapper.ProcessStreamingResponseBody(onStreamingResponseBody),
		wrapper.ProcessResponseBody(onResponseBody),
		wrapper.ProcessStreamDone(onStreamDone),
	)
}

// Config is the plugin configuration.
type Config struct {
	calloutCluster string
	calloutTimeout uint32
}

func parseConfig(json gjson.Result, config *Config) error {
	config.calloutCluster = json.Get("calloutCluster").String()
	if config.calloutCluster == "" {
		config.calloutCluster = "callout"
	}
	config.calloutTimeout = 5000
	if t := json.Get("calloutTimeout"); t.Exists() && t.Int() > 0 {
		config.calloutTimeout = uint32(t.Int())
	}
	defineMetrics()
	wrapper.RegisterTickFunc(100, onTick)
	return nil
}

func probe(ctx wrapper.HttpContext) string {
	return ctx.GetStringContext("probe", "")
}

func warnOn(what string, err error) {
	if err != nil {
		proxywasm.LogWarnf("%s: %v", what, err)
	}
}

func onRequestHeaders(ctx wrapper.HttpContext, config Config) types.Action {
	action, _ := proxywasm.GetHttpRequestHeader("x-probe")
	ctx.SetContext("probe", action)
	switch action {
	case "headers":
		requestHeaders()
	case "req-replace", "req-append", "req-prepend", "reply-req-body":
		warnOn("remove content-length", proxywasm.RemoveHttpRequestHeader("content-length"))
		ctx.BufferRequestBody()
	case "req-stream":
		warnOn("remove content-length", proxywasm.RemoveHttpRequestHeader("content-length"))
	case "reply-req-headers":
		warnOn("reply", proxywasm.SendHttpResponse(403, [][2]string{{"x-local", "request-headers"}},
			[]byte("denied at request headers"), -1))
		return types.HeaderStopAllIterationAndWatermark
	case "props":
		requestProperties()
	case "callout":
		return callout(config)
	case "ticks":
		reportTicks()
	case "shared":
		sharedData()
	case "metrics":
		bumpMetrics()
	case "log":
		logEveryLevel()
	}
	return types.ActionContinue
}

func onResponseHeaders(ctx wrapper.HttpContext, config Config) types.Action {
	switch probe(ctx) {
	case "headers":
		responseHeaders()
	case "resp-replace", "resp-append", "resp-prepend":
		warnOn("remove content-length", proxywasm.RemoveHttpResponseHeader("content-length"))
		ctx.BufferResponseBody()
	case "resp-stream":
		warnOn("remove content-length", proxywasm.RemoveHttpResponseHeader("content-length"))
	case "reply-resp-headers":
		warnOn("reply", proxywasm.SendHttpResponse(401, [][2]string{{"x-local", "response-headers"}},
			[]byte("replaced at response headers"), -1))
		return types.HeaderStopAllIterationAndWatermark
	case "reply-resp-body":
		if ctx.HasResponseBody() {
			ctx.BufferResponseBody()
			// The reply in the body phase replaces a response whose headers were held.
			return types.HeaderStopIteration
		}
	case "props":
		responseProperties()
	case "props-late":
		lateProperties()
	}
	return types.ActionContinue
}

func onStreamDone(ctx wrapper.HttpContext, config Config) {
	if probe(ctx) == "log" {
		proxywasm.LogInfof("done: %s %s", ctx.Method(), ctx.Path())
	}
}

func logEveryLevel() {
	proxywasm.LogTrace("probe log trace")
	proxywasm.LogDebug("probe log debug")
	proxywasm.LogInfo("probe log info")
	proxywasm.LogWarn("probe log warn")
	proxywasm.LogError("probe log error")
	proxywasm.LogCritical("probe log critical")
}
