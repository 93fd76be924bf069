// mcp-server: an MCP server on the gateway, on wasm-go's pkg/mcp, as
// Higress's MCP servers are built. It registers one server with a tool
// written in Go (`add`); the same plugin serves REST APIs as MCP tools from
// configuration alone (wasm-go's REST-to-MCP: `server.name` of a server not
// registered in code, and `tools` with request and response templates).
//
// Config, one of:
//
//	{"server": {"name": "wasmgate-demo"}}                  // the Go tool
//	{"server": {"name": "catalogue"}, "tools": [...]}     // REST tools
//
// Clients speak MCP's streamable HTTP transport (POST of JSON-RPC, JSON
// answers). A REST tool's call goes to the route's upstream with wasm-go's
// RouteCall; its answer comes back through the response phases, where the
// plugin holds the headers (StopIteration under Higress's ABI 0_2_100),
// reads the body and answers the tool call with the response template.
package main

import (
	"encoding/json"
	"fmt"

	"github.com/higress-group/wasm-go/pkg/mcp"
	"github.com/higress-group/wasm-go/pkg/mcp/server"
	"github.com/higress-group/wasm-go/pkg/mcp/utils"
)

func main() {}

func init() {
	demo := mcp.NewMCPServer().AddMCPTool("add", &Add{})
	mcp.LoadMCPServer(mcp.AddMCPServer("wasmgate-demo", demo))
	mcp.InitMCPServer()
}

// Add adds two integers.
type Add struct {
	A int `json:"a" jsonschema:"required" jsonschema_description:"The first addend"`
	B int `json:"b" jsonschema:"required" jsonschema_description:"The second addend"`
}

// Create reads the call's arguments.
func (t Add) Create(params []byte) server.Tool {
	add := &Add{}
	_ = json.Unmarshal(params, add)
	return add
}

// Call answers with the sum as text.
func (t Add) Call(ctx server.HttpContext, _ server.Server) error {
	utils.SendMCPToolTextResult(ctx, fmt.Sprintf("%d", t.A+t.B))
	return nil
}

// Description says what the tool does.
func (t Add) Description() string { return "Adds two integers." }

// InputSchema is the JSON Schema of the arguments, derived from the type.
func (t Add) InputSchema() map[string]any { return server.ToInputSchema(&Add{}) }
