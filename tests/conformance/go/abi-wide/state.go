// Shared data (with CAS), ticks and metrics.
package main

import (
	"errors"
	"strconv"
	"strings"

	"github.com/higress-group/proxy-wasm-go-sdk/proxywasm"
	"github.com/higress-group/proxy-wasm-go-sdk/proxywasm/types"
)

const (
	ticksKey  = "abi-wide.ticks"
	sharedKey = "abi-wide.shared"
)

var (
	requests proxywasm.MetricCounter
	gauge    proxywasm.MetricGauge
	latency  proxywasm.MetricHistogram
)

func defineMetrics() {
	requests = proxywasm.DefineCounterMetric("abi_wide_requests_total")
	gauge = proxywasm.DefineGaugeMetric("abi_wide_gauge")
	latency = proxywasm.DefineHistogramMetric("abi_wide_latency")
}

// bumpMetrics: counter +1, gauge +5, histogram 7; the counter and gauge reported.
func bumpMetrics() {
	requests.Increment(1)
	gauge.Add(5)
	latency.Record(7)
	warnOn("add", proxywasm.AddHttpRequestHeader("x-metric-counter", strconv.FormatUint(requests.Value(), 10)))
	warnOn("add", proxywasm.AddHttpRequestHeader("x-metric-gauge", strconv.FormatInt(gauge.Value(), 10)))
}

// onTick counts ticks in shared data, retrying on a CAS mismatch.
func onTick() {
	for try := 0; try < 3; try++ {
		value, cas, err := proxywasm.GetSharedData(ticksKey)
		n := 0
		if err == nil {
			n, _ = strconv.Atoi(string(value))
		}
		err = proxywasm.SetSharedData(ticksKey, []byte(strconv.Itoa(n+1)), cas)
		if !errors.Is(err, types.ErrorStatusCasMismatch) {
			return
		}
	}
}

func reportTicks() {
	ticked := "no"
	if value, _, err := proxywasm.GetSharedData(ticksKey); err == nil {
		if n, _ := strconv.Atoi(string(value)); n >= 1 {
			ticked = "yes"
		}
	}
	warnOn("add", proxywasm.AddHttpRequestHeader("x-ticked", ticked))
}

func status(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, types.ErrorStatusNotFound):
		return "not-found"
	case errors.Is(err, types.ErrorStatusCasMismatch):
		return "cas-mismatch"
	case errors.Is(err, types.ErrorStatusBadArgument):
		return "bad-argument"
	default:
		return "error"
	}
}

// sharedData: read the key, write value+1 with the CAS read, write again with the stale CAS
// (a mismatch), read it back, write with CAS 0 (unconditional). Reported in `x-shared`.
func sharedData() {
	var steps []string
	value, cas, err := proxywasm.GetSharedData(sharedKey)
	n := 0
	if err == nil {
		n, _ = strconv.Atoi(string(value))
		steps = append(steps, "get="+string(value))
	} else {
		steps = append(steps, "get="+status(err))
	}
	steps = append(steps, "set="+status(proxywasm.SetSharedData(sharedKey, []byte(strconv.Itoa(n+1)), cas)))
	steps = append(steps, "stale="+status(proxywasm.SetSharedData(sharedKey, []byte("stale"), cas)))
	value, after, err := proxywasm.GetSharedData(sharedKey)
	steps = append(steps, "after="+string(value)+"/"+status(err))
	changed := "cas-changed"
	if after == cas {
		changed = "cas-same"
	}
	steps = append(steps, changed)
	steps = append(steps, "unconditional="+status(proxywasm.SetSharedData(sharedKey+".free", []byte("x"), 0)))
	warnOn("add", proxywasm.AddHttpRequestHeader("x-shared", strings.Join(steps, " ")))
}
