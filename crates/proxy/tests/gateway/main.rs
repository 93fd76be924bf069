//! The gateway's behaviour, started in-process: routes and rules, bodies, configuration
//! errors, Redis, reloads, shared queues, the move to optimized code, TLS and HTTP/2
//! upstreams, gRPC and trailers, WebSocket, MCP servers, secret references, C plugins,
//! hostile plugins and clients, the upstream connection pool. One test binary (each file a module), so the suite links
//! once.

mod common;

mod bodies;
mod c_plugins;
mod computing_plugins;
mod config_errors;
mod edge_limits;
mod grpc;
mod grpc_callouts;
mod h2_upstream;
mod hostile_clients;
mod hostile_plugins;
mod http2;
mod mcp;
mod mcp_streams;
mod redis;
mod reload;
mod routes;
mod secrets;
mod shared_queues;
mod tier_up;
mod tls;
mod tls_listeners;
mod upstream_pool;
mod websocket;
