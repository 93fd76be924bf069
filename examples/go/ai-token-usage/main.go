// ai-token-usage: token statistics for OpenAI-style LLM traffic, in the manner
// of Higress's ai-statistics, on wasm-go's tokenusage package. It passes
// every response chunk on as it comes (a streamed answer is not held back)
// and writes what it learned into Higress's `ai_log` access-log attribute.
//
// Config: {} (none read).
//
// Request body: the request's `model` and `stream` (a JSON body).
// Response body: Server-Sent Events are read as they arrive; an event split
// across chunks is joined before it is read. The last `usage` seen (a
// streamed answer's final event, or a plain JSON answer's body) gives the
// token counts. At the end of the stream, `ai_log` gets `model`,
// `request_model`, `input_token`, `output_token`, `total_token`,
// `response_type` (`stream` or `normal`) and `chunks` (body calls seen).
package main

import (
	"bytes"
	"strings"

	"github.com/higress-group/proxy-wasm-go-sdk/proxywasm"
	"github.com/higress-group/proxy-wasm-go-sdk/proxywasm/types"
	"github.com/higress-group/wasm-go/pkg/tokenusage"
	"github.com/higress-group/wasm-go/pkg/wrapper"
	"github.com/tidwall/gjson"
)

func main() {}

func init() {
	wrapper.SetCtx(
		"ai-token-usage",
		wrapper.ParseConfig(func(gjson.Result, *Config) error { return nil }),
		wrapper.ProcessRequestBody(onRequestBody),
		wrapper.ProcessResponseHeaders(onResponseHeaders),
		wrapper.ProcessStreamingResponseBody(onResponseBody),
	)
}

// Config is empty: the plugin reads none.
type Config struct{}

func onRequestBody(ctx wrapper.HttpContext, _ Config, body []byte) types.Action {
	ctx.SetUserAttribute("request_model", gjson.GetBytes(body, "model").String())
	return types.ActionContinue
}

func onResponseHeaders(ctx wrapper.HttpContext, _ Config) types.Action {
	contentType, _ := proxywasm.GetHttpResponseHeader("content-type")
	if strings.HasPrefix(contentType, "text/event-stream") {
		ctx.SetContext("response_type", "stream")
	} else {
		ctx.SetContext("response_type", "normal")
	}
	return types.ActionContinue
}

func onResponseBody(ctx wrapper.HttpContext, _ Config, chunk []byte, end bool) []byte {
	ctx.SetContext("chunks", chunkCount(ctx)+1)
	pending := append(ctx.GetByteSliceContext("pending", nil), chunk...)
	complete := pending
	if !end {
		// Read only whole events; the rest waits for the next chunk.
		cut := bytes.LastIndex(wrapper.UnifySSEChunk(pending), []byte("\n\n"))
		if cut < 0 {
			complete = nil
		} else {
			complete = pending[:cut+2]
		}
	}
	if len(complete) > 0 {
		if usage := tokenusage.GetTokenUsage(ctx, complete); usage.TotalToken > 0 || usage.InputToken > 0 {
			ctx.SetContext("usage", usage)
		}
	}
	ctx.SetContext("pending", append([]byte(nil), pending[len(complete):]...))
	if end {
		writeLog(ctx)
	}
	return chunk
}

func writeLog(ctx wrapper.HttpContext) {
	usage, _ := ctx.GetContext("usage").(tokenusage.TokenUsage)
	ctx.SetUserAttribute("model", usage.Model)
	ctx.SetUserAttribute("input_token", usage.InputToken)
	ctx.SetUserAttribute("output_token", usage.OutputToken)
	ctx.SetUserAttribute("total_token", usage.TotalToken)
	ctx.SetUserAttribute("response_type", ctx.GetStringContext("response_type", "normal"))
	ctx.SetUserAttribute("chunks", chunkCount(ctx))
	if err := ctx.WriteUserAttributeToLogWithKey(wrapper.AILogKey); err != nil {
		proxywasm.LogErrorf("failed to write ai_log: %v", err)
	}
}

func chunkCount(ctx wrapper.HttpContext) int {
	count, _ := ctx.GetContext("chunks").(int)
	return count
}
