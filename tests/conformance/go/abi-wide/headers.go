// Header changes, local replies from the body phases, properties and the callout.
package main

import (
	"encoding/binary"
	"net/http"
	"strconv"
	"strings"

	"github.com/higress-group/proxy-wasm-go-sdk/proxywasm"
	"github.com/higress-group/proxy-wasm-go-sdk/proxywasm/types"
	"github.com/higress-group/wasm-go/pkg/wrapper"
)

// requestHeaders: add, add to a repeated name, replace (present and absent), remove, read
// (a mixed-case name, a repeated name, the pseudo-headers).
func requestHeaders() {
	warnOn("add", proxywasm.AddHttpRequestHeader("x-added", "1"))
	warnOn("add repeated", proxywasm.AddHttpRequestHeader("x-repeat", "c"))
	warnOn("replace", proxywasm.ReplaceHttpRequestHeader("x-replace-me", "replaced"))
	warnOn("replace absent", proxywasm.ReplaceHttpRequestHeader("x-replace-absent", "new"))
	warnOn("remove", proxywasm.RemoveHttpRequestHeader("x-remove-me"))
	warnOn("remove absent", proxywasm.RemoveHttpRequestHeader("x-never-sent"))
	mixed, err := proxywasm.GetHttpRequestHeader("x-mixed-case")
	if err != nil {
		mixed = "<missing>"
	}
	warnOn("add", proxywasm.AddHttpRequestHeader("x-seen-mixed", mixed))
	repeated, err := proxywasm.GetHttpRequestHeader("x-repeat")
	if err != nil {
		repeated = "<missing>"
	}
	warnOn("add", proxywasm.AddHttpRequestHeader("x-seen-repeat", repeated))
	warnOn("add", proxywasm.AddHttpRequestHeader("x-seen-repeat-prop", property("request", "headers", "x-repeat")))
	method, _ := proxywasm.GetHttpRequestHeader(":method")
	path, _ := proxywasm.GetHttpRequestHeader(":path")
	warnOn("add", proxywasm.AddHttpRequestHeader("x-seen-pseudo", method+" "+path))
}

// responseHeaders: the same on the response side.
func responseHeaders() {
	status, _ := proxywasm.GetHttpResponseHeader(":status")
	warnOn("add", proxywasm.AddHttpResponseHeader("x-resp-status", status))
	warnOn("add", proxywasm.AddHttpResponseHeader("x-resp-added", "1"))
	warnOn("add", proxywasm.AddHttpResponseHeader("x-resp-added", "2"))
	added, _ := proxywasm.GetHttpResponseHeader("x-resp-added")
	warnOn("add", proxywasm.AddHttpResponseHeader("x-resp-read-added", added))
	warnOn("replace", proxywasm.ReplaceHttpResponseHeader("content-type", "text/probe"))
	warnOn("add", proxywasm.AddHttpResponseHeader("x-resp-temp", "gone"))
	warnOn("remove", proxywasm.RemoveHttpResponseHeader("x-resp-temp"))
}

// onRequestBody runs once the whole request body is buffered.
func onRequestBody(ctx wrapper.HttpContext, config Config, body []byte) types.Action {
	switch probe(ctx) {
	case "req-replace":
		warnOn("replace body", proxywasm.ReplaceHttpRequestBody([]byte("replaced:"+string(body))))
	case "req-append":
		warnOn("append body", proxywasm.AppendHttpRequestBody([]byte("|appended")))
	case "req-prepend":
		warnOn("prepend body", proxywasm.PrependHttpRequestBody([]byte("prepended|")))
	case "reply-req-body":
		warnOn("reply", proxywasm.SendHttpResponse(403, [][2]string{{"x-local", "request-body"}},
			[]byte("denied at request body: "+string(body)), -1))
		return types.ActionPause
	}
	return types.ActionContinue
}

func onStreamingRequestBody(ctx wrapper.HttpContext, config Config, chunk []byte, last bool) []byte {
	if probe(ctx) == "chunks" {
		proxywasm.LogInfof("request body chunk: %d bytes, last %t", len(chunk), last)
	}
	if probe(ctx) != "req-stream" {
		return chunk
	}
	out := []byte(strings.ToUpper(string(chunk)))
	if last {
		out = append(out, "|end"...)
	}
	return out
}

// onResponseBody runs once the whole response body is buffered.
func onResponseBody(ctx wrapper.HttpContext, config Config, body []byte) types.Action {
	switch probe(ctx) {
	case "resp-replace":
		warnOn("replace body", proxywasm.ReplaceHttpResponseBody([]byte("response replaced")))
	case "resp-append":
		warnOn("append body", proxywasm.AppendHttpResponseBody([]byte("|appended")))
	case "resp-prepend":
		warnOn("prepend body", proxywasm.PrependHttpResponseBody([]byte("prepended|")))
	case "reply-resp-body":
		warnOn("reply", proxywasm.SendHttpResponse(500, [][2]string{{"x-local", "response-body"}},
			[]byte("replaced at response body"), -1))
		return types.ActionPause
	}
	return types.ActionContinue
}

func sized(chunk []byte) string {
	if len(chunk) == 0 {
		return "empty"
	}
	return "data"
}

// onStreamingResponseBody wraps each non-empty chunk in `[...]` and appends `|end` to the
// last (how many calls carry the body is framing: see the `chunks` action).
func onStreamingResponseBody(ctx wrapper.HttpContext, config Config, chunk []byte, last bool) []byte {
	if probe(ctx) == "chunks" {
		// Not the size: the echo report's length depends on headers each host adds.
		proxywasm.LogInfof("response body chunk: %s, last %t", sized(chunk), last)
	}
	if probe(ctx) != "resp-stream" {
		return chunk
	}
	out := chunk
	if len(chunk) > 0 {
		out = []byte("[" + string(chunk) + "]")
	}
	if last {
		out = append(out, "|end"...)
	}
	return out
}

// property reads a property as text: integers (8 bytes little-endian) as decimals,
// source.address without its port (the client's ephemeral port differs).
func property(path ...string) string {
	value, err := proxywasm.GetProperty(path)
	if err != nil {
		return "<missing>"
	}
	name := strings.Join(path, ".")
	switch name {
	case "response.code", "source.port", "upstream.port", "request.size", "response.size":
		if len(value) == 8 {
			return strconv.FormatInt(int64(binary.LittleEndian.Uint64(value)), 10)
		}
	case "source.address":
		if at := strings.LastIndexByte(string(value), ':'); at >= 0 {
			return string(value[:at])
		}
	}
	return string(value)
}

// requestProperties: at request headers, what the request and the plugin say.
func requestProperties() {
	for _, path := range [][]string{
		{"request", "path"}, {"request", "url_path"}, {"request", "query"}, {"request", "host"},
		{"request", "scheme"}, {"request", "method"}, {"request", "protocol"},
		{"request", "headers", "x-probe"}, {"plugin_name"}, {"source", "address"},
	} {
		warnOn("add", proxywasm.AddHttpRequestHeader("x-req-prop-"+strings.Join(path, "."), property(path...)))
	}
}

// responseProperties: at response headers, what does not come from the request headers.
func responseProperties() {
	for _, path := range [][]string{
		{"response", "code"}, {"request", "protocol"}, {"plugin_name"}, {"source", "address"},
		{"upstream", "address"}, {"response", "code_details"},
		{"response", "headers", "content-type"}, {"request", "size"}, {"response", "size"},
	} {
		warnOn("add", proxywasm.AddHttpResponseHeader("x-resp-prop-"+strings.Join(path, "."), property(path...)))
	}
}

// lateProperties: at response headers, what comes from the request headers, the route and
// the cluster, and a request header read through the header map.
func lateProperties() {
	for _, path := range [][]string{
		{"request", "path"}, {"request", "method"}, {"request", "headers", "x-probe"},
		{"route_name"}, {"cluster_name"},
	} {
		warnOn("add", proxywasm.AddHttpResponseHeader("x-late-prop-"+strings.Join(path, "."), property(path...)))
	}
	value, err := proxywasm.GetHttpRequestHeader("x-probe")
	if err != nil {
		value = "<" + status(err) + ">"
	}
	warnOn("add", proxywasm.AddHttpResponseHeader("x-late-request-header", value))
}

// callout GETs /abi-wide-callout on the configured cluster; the answer's status and body go
// into the request as `x-callout-status` and `x-callout-body`, then the request resumes.
func callout(config Config) types.Action {
	cluster := wrapper.TargetCluster{Cluster: config.calloutCluster, Host: "callout.test"}
	err := wrapper.HttpCall(cluster, "GET", "/abi-wide-callout?lang=any", nil, nil,
		func(status int, headers http.Header, body []byte) {
			warnOn("add", proxywasm.AddHttpRequestHeader("x-callout-status", strconv.Itoa(status)))
			warnOn("add", proxywasm.AddHttpRequestHeader("x-callout-body", string(body)))
			warnOn("resume", proxywasm.ResumeHttpRequest())
		}, config.calloutTimeout)
	if err != nil {
		proxywasm.LogErrorf("callout not sent: %v", err)
		return types.ActionContinue
	}
	return types.HeaderStopAllIterationAndWatermark
}
