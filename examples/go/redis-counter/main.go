// redis-counter: counts each client's requests per minute in Redis and answers 429 past
// a limit — the Redis sample of Higress's Go guide, on github.com/higress-group/wasm-go.
//
// Config: {"serviceName": "redis.static", "servicePort": 6379, "qpm": 10}
//
// Each request INCRs the key `redis-counter:<minute>`; past `qpm` it is answered with
// 429 "Too many requests". When Redis cannot be reached the request goes on.
package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/higress-group/proxy-wasm-go-sdk/proxywasm"
	"github.com/higress-group/proxy-wasm-go-sdk/proxywasm/types"
	"github.com/higress-group/wasm-go/pkg/wrapper"
	"github.com/tidwall/gjson"
	"github.com/tidwall/resp"
)

func main() {}

func init() {
	wrapper.SetCtx(
		"redis-counter",
		wrapper.ParseConfig(parseConfig),
		wrapper.ProcessRequestHeaders(onHttpRequestHeaders),
	)
}

// Config is the plugin configuration.
type Config struct {
	client *wrapper.RedisClusterClient[wrapper.FQDNCluster]
	qpm    int64
}

func parseConfig(json gjson.Result, config *Config) error {
	name := json.Get("serviceName").String()
	if name == "" {
		return errors.New("missing serviceName in config")
	}
	port := json.Get("servicePort").Int()
	if port == 0 {
		port = 6379
	}
	config.qpm = json.Get("qpm").Int()
	if config.qpm <= 0 {
		config.qpm = 10
	}
	config.client = wrapper.NewRedisClusterClient(wrapper.FQDNCluster{FQDN: name, Port: port})
	if err := config.client.Init("", "", 1000); err != nil {
		proxywasm.LogWarnf("redis init: %v", err)
	}
	return nil
}

func onHttpRequestHeaders(ctx wrapper.HttpContext, config Config) types.Action {
	key := fmt.Sprintf("redis-counter:%d", time.Now().Unix()/60)
	err := config.client.Incr(key, func(response resp.Value) {
		if response.Error() != nil {
			proxywasm.LogWarnf("redis: %v", response.Error())
			proxywasm.ResumeHttpRequest()
			return
		}
		if int64(response.Integer()) > config.qpm {
			proxywasm.SendHttpResponse(429, nil, []byte("Too many requests"), -1)
			return
		}
		proxywasm.ResumeHttpRequest()
	})
	if err != nil {
		proxywasm.LogWarnf("redis call: %v", err)
		return types.ActionContinue
	}
	return types.HeaderStopAllIterationAndWatermark
}
