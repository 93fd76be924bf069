// http-call: the second example of Higress's "Developing a WASM plugin with
// Golang" guide, rewritten for github.com/higress-group/wasm-go.
//
// Config:
//
//	{
//	  "serviceSource": "k8s" | "nacos" | "ip" | "dns",
//	  "serviceName":   "token-service",     // required
//	  "servicePort":   8080,                // default 80
//	  "namespace":     "default",           // k8s namespace (default "default") / nacos namespace id (required)
//	  "domain":        "token.example.com", // required for "dns"
//	  "path":          "/token",            // required
//	  "tokenHeader":   "x-token",           // default "x-token"
//	  "timeout":       5000                 // milliseconds, default 5000
//	}
//
// On request headers it GETs `path` on the configured cluster and pauses the
// request. When the call returns 200 it copies the response header
// `tokenHeader` into the original request and resumes it; otherwise it
// replies 500 "http call failed".
package main

import (
	"errors"
	"fmt"
	"net/http"

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
		"http-call",
		wrapper.ParseConfig(parseConfig),
		wrapper.ProcessRequestHeaders(onHttpRequestHeaders),
	)
}

const (
	defaultTokenHeader = "x-token"
	defaultPort        = 80
	defaultTimeoutMs   = 5000
)

// MyConfig is the plugin configuration (the name follows the original guide).
type MyConfig struct {
	client      wrapper.HttpClient
	requestPath string
	tokenHeader string
	timeoutMs   uint32
}

func parseConfig(json gjson.Result, config *MyConfig) error {
	serviceSource := json.Get("serviceSource").String()
	serviceName := json.Get("serviceName").String()
	servicePort := json.Get("servicePort").Int()
	namespace := json.Get("namespace").String()
	domain := json.Get("domain").String()

	if serviceName == "" {
		return errors.New("serviceName must not be empty")
	}
	if servicePort == 0 {
		servicePort = defaultPort
	}
	if servicePort < 0 || servicePort > 65535 {
		return fmt.Errorf("invalid servicePort: %d", servicePort)
	}

	switch serviceSource {
	case "k8s":
		// K8sCluster.ClusterName() defaults an empty namespace to "default"
		// but HostName() does not, so default it here for both.
		if namespace == "" {
			namespace = "default"
		}
		config.client = wrapper.NewClusterClient(wrapper.K8sCluster{
			ServiceName: serviceName,
			Namespace:   namespace,
			Port:        servicePort,
		})
	case "nacos":
		if namespace == "" {
			return errors.New("namespace must not be empty when serviceSource is nacos")
		}
		config.client = wrapper.NewClusterClient(wrapper.NacosCluster{
			ServiceName: serviceName,
			NamespaceID: namespace,
			Port:        servicePort,
		})
	case "ip":
		config.client = wrapper.NewClusterClient(wrapper.StaticIpCluster{
			ServiceName: serviceName,
			Port:        servicePort,
		})
	case "dns":
		if domain == "" {
			return errors.New("domain must not be empty when serviceSource is dns")
		}
		config.client = wrapper.NewClusterClient(wrapper.DnsCluster{
			ServiceName: serviceName,
			Port:        servicePort,
			Domain:      domain,
		})
	default:
		return fmt.Errorf("unknown serviceSource: %q (want k8s, nacos, ip or dns)", serviceSource)
	}

	config.requestPath = json.Get("path").String()
	if config.requestPath == "" {
		return errors.New("path must not be empty")
	}
	config.tokenHeader = json.Get("tokenHeader").String()
	if config.tokenHeader == "" {
		config.tokenHeader = defaultTokenHeader
	}
	config.timeoutMs = defaultTimeoutMs
	if t := json.Get("timeout"); t.Exists() {
		if t.Int() <= 0 || t.Int() > 3600*1000 {
			return fmt.Errorf("invalid timeout: %s", t.Raw)
		}
		config.timeoutMs = uint32(t.Int())
	}
	proxywasm.LogInfof("http-call: cluster %s, path %s, token header %s, timeout %dms",
		config.client.ClusterName(), config.requestPath, config.tokenHeader, config.timeoutMs)
	return nil
}

func onHttpRequestHeaders(ctx wrapper.HttpContext, config MyConfig) types.Action {
	err := config.client.Get(config.requestPath, nil,
		func(statusCode int, responseHeaders http.Header, responseBody []byte) {
			// wrapper.HttpCall reports a failed/timed-out call as a
			// response without a parsable :status, i.e. 502.
			if statusCode != http.StatusOK {
				proxywasm.LogErrorf("http call failed, status: %d", statusCode)
				_ = proxywasm.SendHttpResponse(http.StatusInternalServerError, nil,
					[]byte("http call failed"), -1)
				return
			}
			token := responseHeaders.Get(config.tokenHeader)
			if token != "" {
				if err := proxywasm.ReplaceHttpRequestHeader(config.tokenHeader, token); err != nil {
					proxywasm.LogErrorf("failed to set request header %s: %v", config.tokenHeader, err)
				}
			} else {
				proxywasm.LogWarnf("http call response has no %s header", config.tokenHeader)
			}
			_ = proxywasm.ResumeHttpRequest()
		}, config.timeoutMs)
	if err != nil {
		proxywasm.LogErrorf("failed to dispatch http call: %v", err)
		_ = proxywasm.SendHttpResponse(http.StatusInternalServerError, nil,
			[]byte("http call failed"), -1)
		// The SDK asks for Pause after a local reply.
		return types.ActionPause
	}
	// Wait for the callback; it resumes the request or sends a local reply.
	return types.HeaderStopAllIterationAndWatermark
}
