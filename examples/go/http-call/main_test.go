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
	{":path", "/api"},
	{":method", "GET"},
}

// test.RunTest runs each case twice: natively against the SDK's host mock
// and against the plugin compiled to wasip1 running in wazero.
func TestClusterNames(t *testing.T) {
	cases := []struct {
		config, cluster, authority string
	}{
		{`{"serviceSource":"k8s","serviceName":"token","servicePort":8080,"namespace":"auth","path":"/token"}`,
			"outbound|8080||token.auth.svc.cluster.local", "token.auth.svc.cluster.local"},
		{`{"serviceSource":"k8s","serviceName":"token","path":"/token"}`,
			"outbound|80||token.default.svc.cluster.local", "token.default.svc.cluster.local"},
		{`{"serviceSource":"nacos","serviceName":"token","servicePort":8080,"namespace":"ns1","path":"/token"}`,
			"outbound|8080||token.DEFAULT-GROUP.ns1.nacos", "token"},
		{`{"serviceSource":"ip","serviceName":"token","servicePort":8080,"path":"/token"}`,
			"outbound|8080||token.static", "token"},
		{`{"serviceSource":"dns","serviceName":"token","servicePort":443,"domain":"token.example.com","path":"/token"}`,
			"outbound|443||token.dns", "token.example.com"},
	}
	test.RunTest(t, func(t *testing.T) {
		for _, c := range cases {
			t.Run(c.cluster, func(t *testing.T) {
				host, status := test.NewTestHost(json.RawMessage(c.config))
				defer host.Reset()
				require.Equal(t, types.OnPluginStartStatusOK, status)

				action := host.CallOnHttpRequestHeaders(reqHeaders)
				require.Equal(t, types.HeaderStopAllIterationAndWatermark, action)
				callouts := host.GetHttpCalloutAttributes()
				require.Len(t, callouts, 1)
				require.Equal(t, c.cluster, callouts[0].Upstream)
				require.True(t, test.HasHeaderWithValue(callouts[0].Headers, ":method", "GET"))
				require.True(t, test.HasHeaderWithValue(callouts[0].Headers, ":path", "/token"))
				require.True(t, test.HasHeaderWithValue(callouts[0].Headers, ":authority", c.authority))
			})
		}
	})
}

func TestInvalidConfig(t *testing.T) {
	bad := []string{
		`{}`,
		`{"serviceSource":"consul","serviceName":"token","path":"/token"}`,
		`{"serviceSource":"k8s","path":"/token"}`,
		`{"serviceSource":"k8s","serviceName":"token"}`,
		`{"serviceSource":"dns","serviceName":"token","path":"/token"}`,
		`{"serviceSource":"nacos","serviceName":"token","path":"/token"}`,
		`{"serviceSource":"ip","serviceName":"token","path":"/token","timeout":0}`,
	}
	test.RunTest(t, func(t *testing.T) {
		for _, cfg := range bad {
			t.Run(cfg, func(t *testing.T) {
				host, status := test.NewTestHost(json.RawMessage(cfg))
				defer host.Reset()
				require.Equal(t, types.OnPluginStartStatusFailed, status)
			})
		}
	})
}

const ipConfig = `{"serviceSource":"ip","serviceName":"token","servicePort":8080,"path":"/token","tokenHeader":"x-auth-token","timeout":1000}`

func TestCallSucceeded(t *testing.T) {
	test.RunTest(t, func(t *testing.T) {
		host, status := test.NewTestHost(json.RawMessage(ipConfig))
		defer host.Reset()
		require.Equal(t, types.OnPluginStartStatusOK, status)

		action := host.CallOnHttpRequestHeaders(reqHeaders)
		require.Equal(t, types.HeaderStopAllIterationAndWatermark, action)

		host.CallOnHttpCall([][2]string{{":status", "200"}, {"x-auth-token", "abc123"}}, []byte("ok"))
		require.True(t, test.HasHeaderWithValue(host.GetRequestHeaders(), "x-auth-token", "abc123"))
		require.Nil(t, host.GetLocalResponse())
		require.Equal(t, types.ActionContinue, host.GetHttpStreamAction())
	})
}

func TestCallFailed(t *testing.T) {
	test.RunTest(t, func(t *testing.T) {
		for _, respHeaders := range [][][2]string{
			{{":status", "403"}, {"x-auth-token", "abc123"}},
			nil, // failed/timed-out call: no headers at all
		} {
			host, status := test.NewTestHost(json.RawMessage(ipConfig))
			require.Equal(t, types.OnPluginStartStatusOK, status)

			action := host.CallOnHttpRequestHeaders(reqHeaders)
			require.Equal(t, types.HeaderStopAllIterationAndWatermark, action)

			host.CallOnHttpCall(respHeaders, nil)
			resp := host.GetLocalResponse()
			require.NotNil(t, resp)
			require.Equal(t, uint32(500), resp.StatusCode)
			require.Equal(t, "http call failed", string(resp.Data))
			require.False(t, test.HasHeader(host.GetRequestHeaders(), "x-auth-token"))
			host.Reset()
		}
	})
}
