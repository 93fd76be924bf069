// hello: the first example of Higress's "Developing a WASM plugin with
// Golang" guide, rewritten for github.com/higress-group/wasm-go.
//
// Config: {"mockEnable": bool}
//
// On every request it adds the request header `hello: world`; when
// mockEnable is true it also answers the request itself with 200 "hello world".
package main

import (
	"github.com/higress-group/proxy-wasm-go-sdk/proxywasm"
	"github.com/higress-group/proxy-wasm-go-sdk/proxywasm/types"
	"github.com/higress-group/wasm-go/pkg/wrapper"
	"github.com/tidwall/gjson"
)

// main is required by the Go toolchain but never runs anything: with
// -buildmode=c-shared the host calls the exported proxy_* functions and the
// plugin registers itself in init().
func main() {}

func init() {
	wrapper.SetCtx(
		"hello",
		wrapper.ParseConfig(parseConfig),
		wrapper.ProcessRequestHeaders(onHttpRequestHeaders),
	)
}

// HelloConfig is the plugin configuration.
type HelloConfig struct {
	mockEnable bool
}

func parseConfig(json gjson.Result, config *HelloConfig) error {
	config.mockEnable = json.Get("mockEnable").Bool()
	return nil
}

func onHttpRequestHeaders(ctx wrapper.HttpContext, config HelloConfig) types.Action {
	if err := proxywasm.AddHttpRequestHeader("hello", "world"); err != nil {
		proxywasm.LogErrorf("failed to add request header: %v", err)
	}
	if config.mockEnable {
		if err := proxywasm.SendHttpResponseWithDetail(200, "hello.mock",
			[][2]string{{"content-type", "text/plain"}}, []byte("hello world"), -1); err != nil {
			proxywasm.LogErrorf("failed to send local reply: %v", err)
		}
	}
	return types.ActionContinue
}
