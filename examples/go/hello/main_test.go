package main

import (
	"encoding/json"
	"testing"

	"github.com/higress-group/proxy-wasm-go-sdk/proxywasm/types"
	"github.com/higress-group/wasm-go/pkg/test"
	"github.com/stretchr/testify/require"
)

var reqHeaders = [][2]string{
	{":authority", "example.com"},
	{":path", "/"},
	{":method", "GET"},
}

// test.RunTest runs each case twice: natively against the SDK's host mock
// and against the plugin compiled to wasip1 running in wazero.
func TestHello(t *testing.T) {
	test.RunTest(t, func(t *testing.T) {
		t.Run("adds header, no mock", func(t *testing.T) {
			host, status := test.NewTestHost(json.RawMessage(`{"mockEnable": false}`))
			defer host.Reset()
			require.Equal(t, types.OnPluginStartStatusOK, status)

			action := host.CallOnHttpRequestHeaders(reqHeaders)
			require.Equal(t, types.ActionContinue, action)
			require.True(t, test.HasHeaderWithValue(host.GetRequestHeaders(), "hello", "world"))
			require.Nil(t, host.GetLocalResponse())
		})
		t.Run("mock reply", func(t *testing.T) {
			host, status := test.NewTestHost(json.RawMessage(`{"mockEnable": true}`))
			defer host.Reset()
			require.Equal(t, types.OnPluginStartStatusOK, status)

			action := host.CallOnHttpRequestHeaders(reqHeaders)
			require.Equal(t, types.ActionContinue, action)
			require.True(t, test.HasHeaderWithValue(host.GetRequestHeaders(), "hello", "world"))
			resp := host.GetLocalResponse()
			require.NotNil(t, resp)
			require.Equal(t, uint32(200), resp.StatusCode)
			require.Equal(t, "hello world", string(resp.Data))
		})
	})
}
