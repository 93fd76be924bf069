//! The host-ABI driver: a guest module, generated from [`HOST_FUNCTIONS`], that imports
//! every host function and runs a program of calls it finds in its plugin configuration.
//!
//! The configuration is `[ops_offset u32][op_count u32][flags u32][data…][ops…]`; the guest
//! copies it to [`PROGRAM_AT`] in on_configure. Each op is [`OP_SIZE`] bytes: a function
//! index and 12 arguments (u32; an i64 parameter takes its argument zero-extended). Every
//! callback (configure, request and response headers and bodies, tick, log, done) runs the
//! whole program, so each host function is called in the root context and in a stream's;
//! the header and body callbacks return `flags` bits 0 and 1 (continue or stop).

/// Where the program is copied to in guest memory.
pub const PROGRAM_AT: u32 = 0x1000;
/// Where the guest's allocator hands out memory (a bump allocator that wraps around).
pub const HEAP: (u32, u32) = (0x40000, 0x80000);
/// The size of one op: the function index and 12 arguments.
pub const OP_SIZE: u32 = 52;
/// The bytes before the data.
pub const HEADER: u32 = 12;

/// The host functions and their parameter types (`i` i32, `I` i64); each returns an i32.
pub const HOST_FUNCTIONS: &[(&str, &str, &str)] = &[
    ("env", "proxy_log", "iii"),
    ("env", "proxy_get_log_level", "i"),
    ("env", "proxy_get_current_time_nanoseconds", "i"),
    ("env", "proxy_set_tick_period_milliseconds", "i"),
    ("env", "proxy_get_configuration", "ii"),
    ("env", "proxy_get_buffer_bytes", "iiiii"),
    ("env", "proxy_set_buffer_bytes", "iiiii"),
    ("env", "proxy_get_buffer_status", "iii"),
    ("env", "proxy_get_header_map_size", "ii"),
    ("env", "proxy_get_header_map_pairs", "iii"),
    ("env", "proxy_set_header_map_pairs", "iii"),
    ("env", "proxy_get_header_map_value", "iiiii"),
    ("env", "proxy_add_header_map_value", "iiiii"),
    ("env", "proxy_replace_header_map_value", "iiiii"),
    ("env", "proxy_remove_header_map_value", "iii"),
    ("env", "proxy_get_property", "iiii"),
    ("env", "proxy_set_property", "iiii"),
    ("env", "proxy_get_shared_data", "iiiii"),
    ("env", "proxy_set_shared_data", "iiiii"),
    ("env", "proxy_register_shared_queue", "iii"),
    ("env", "proxy_resolve_shared_queue", "iiiii"),
    ("env", "proxy_enqueue_shared_queue", "iii"),
    ("env", "proxy_dequeue_shared_queue", "iii"),
    ("env", "proxy_continue_stream", "i"),
    ("env", "proxy_close_stream", "i"),
    ("env", "proxy_continue_request", ""),
    ("env", "proxy_continue_response", ""),
    ("env", "proxy_clear_route_cache", ""),
    ("env", "proxy_send_local_response", "iiiiiiii"),
    ("env", "proxy_http_call", "iiiiiiiiii"),
    ("env", "proxy_grpc_call", "iiiiiiiiiiii"),
    ("env", "proxy_grpc_stream", "iiiiiiiii"),
    ("env", "proxy_grpc_send", "iiii"),
    ("env", "proxy_grpc_cancel", "i"),
    ("env", "proxy_grpc_close", "i"),
    ("env", "proxy_get_status", "iii"),
    ("env", "proxy_set_effective_context", "i"),
    ("env", "proxy_done", ""),
    ("env", "proxy_define_metric", "iiii"),
    ("env", "proxy_increment_metric", "iI"),
    ("env", "proxy_record_metric", "iI"),
    ("env", "proxy_get_metric", "ii"),
    ("env", "proxy_call_foreign_function", "iiiiii"),
    ("env", "proxy_redis_init", "iiiiiii"),
    ("env", "proxy_redis_call", "iiiii"),
    ("env", "proxy_inject_encoded_data_to_filter_chain", "iii"),
    ("env", "proxy_get_upstream_hosts", "ii"),
    ("env", "proxy_set_upstream_override_host", "ii"),
    ("wasi_snapshot_preview1", "fd_write", "iiii"),
    ("wasi_snapshot_preview1", "fd_read", "iiii"),
    ("wasi_snapshot_preview1", "fd_fdstat_get", "ii"),
    ("wasi_snapshot_preview1", "fd_filestat_get", "ii"),
    ("wasi_snapshot_preview1", "fd_prestat_get", "ii"),
    ("wasi_snapshot_preview1", "random_get", "ii"),
    ("wasi_snapshot_preview1", "environ_sizes_get", "ii"),
    ("wasi_snapshot_preview1", "environ_get", "ii"),
    ("wasi_snapshot_preview1", "args_get", "ii"),
    ("wasi_snapshot_preview1", "clock_time_get", "iIi"),
    ("wasi_snapshot_preview1", "path_open", "iiiiiIIii"),
    ("wasi_snapshot_preview1", "poll_oneoff", "iiii"),
    ("wasi_snapshot_preview1", "sock_accept", "iii"),
];

/// The driver module's text.
pub fn module_text() -> String {
    let mut wat = String::from("(module\n");
    for (i, (module, name, params)) in HOST_FUNCTIONS.iter().enumerate() {
        let types: Vec<&str> = params
            .chars()
            .map(|c| if c == 'I' { "i64" } else { "i32" })
            .collect();
        wat += &format!(
            "  (import \"{module}\" \"{name}\" (func $f{i} (param {}) (result i32)))\n",
            types.join(" ")
        );
    }
    let (heap_start, heap_end) = HEAP;
    wat += &format!(
        r#"  (memory (export "memory") 8 8)
  (global $heap (mut i32) (i32.const {heap_start}))
  (func (export "proxy_abi_version_0_2_100"))
  (func (export "proxy_on_memory_allocate") (param $size i32) (result i32)
    (local $at i32)
    (if (i32.gt_u (local.get $size) (i32.const {room})) (then (return (i32.const 0))))
    (if (i32.gt_u (i32.add (global.get $heap) (local.get $size)) (i32.const {heap_end}))
      (then (global.set $heap (i32.const {heap_start}))))
    (local.set $at (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (local.get $size)))
    (local.get $at))
  (func (export "proxy_on_context_create") (param i32 i32))
  (func (export "proxy_on_vm_start") (param i32 i32) (result i32) i32.const 1)
  (func (export "proxy_on_configure") (param i32 i32) (result i32)
    (local $size i32)
    (if (i32.eqz (call $f5 (i32.const 7) (i32.const 0) (local.get 1) (i32.const 0) (i32.const 4)))
      (then
        (local.set $size (i32.load (i32.const 4)))
        (if (i32.gt_u (local.get $size) (i32.const {program_room}))
          (then (local.set $size (i32.const {program_room}))))
        (memory.copy (i32.const {PROGRAM_AT}) (i32.load (i32.const 0)) (local.get $size))
        (call $run)))
    i32.const 1)
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32) (call $run) (call $flag (i32.const 1)))
  (func (export "proxy_on_request_body") (param i32 i32 i32) (result i32) (call $run) (call $flag (i32.const 2)))
  (func (export "proxy_on_response_headers") (param i32 i32 i32) (result i32) (call $run) (call $flag (i32.const 1)))
  (func (export "proxy_on_response_body") (param i32 i32 i32) (result i32) (call $run) (call $flag (i32.const 2)))
  (func (export "proxy_on_tick") (param i32) (call $run))
  (func (export "proxy_on_log") (param i32) (call $run))
  (func (export "proxy_on_done") (param i32) (result i32) (call $run) i32.const 1)
  (func $flag (param $bit i32) (result i32)
    (i32.ne (i32.and (i32.load (i32.const {flags_at})) (local.get $bit)) (i32.const 0)))
  (func $run
    (local $p i32) (local $end i32)
    (local.set $p (i32.add (i32.const {PROGRAM_AT}) (i32.and (i32.load (i32.const {PROGRAM_AT})) (i32.const 0x3ffff))))
    (local.set $end (i32.add (local.get $p) (i32.mul (i32.and (i32.load (i32.const {count_at})) (i32.const 0xfff)) (i32.const {OP_SIZE}))))
    (if (i32.gt_u (local.get $end) (i32.const {program_end})) (then (local.set $end (i32.const {program_end}))))
    (block $done (loop $next
      (br_if $done (i32.gt_u (i32.add (local.get $p) (i32.const {OP_SIZE})) (local.get $end)))
      (call $op (local.get $p))
      (local.set $p (i32.add (local.get $p) (i32.const {OP_SIZE})))
      (br $next))))
"#,
        room = heap_end - heap_start,
        program_room = heap_start - PROGRAM_AT,
        program_end = heap_start,
        flags_at = PROGRAM_AT + 8,
        count_at = PROGRAM_AT + 4,
    );
    wat += &op_function();
    wat += ")\n";
    wat
}

/// `$op`: calls the function the op names with its arguments.
fn op_function() -> String {
    let n = HOST_FUNCTIONS.len();
    let mut body = String::from("  (func $op (param $p i32)\n    (block $end\n");
    for i in (0..n).rev() {
        body += &format!("    (block $b{i}\n");
    }
    let labels: Vec<String> = (0..n).map(|i| format!("$b{i}")).collect();
    body += &format!(
        "      (br_table {} $end (i32.rem_u (i32.load (local.get $p)) (i32.const {n}))))\n",
        labels.join(" ")
    );
    for (i, (_, _, params)) in HOST_FUNCTIONS.iter().enumerate() {
        let args: Vec<String> = params
            .chars()
            .enumerate()
            .map(|(k, c)| {
                let load = format!("(i32.load offset={} (local.get $p))", 4 + 4 * k);
                if c == 'I' {
                    format!("(i64.extend_i32_u {load})")
                } else {
                    load
                }
            })
            .collect();
        let close = if i + 1 == n { "" } else { ")" };
        body += &format!(
            "    (drop (call $f{i} {})) (br $end){close}\n",
            args.join(" ")
        );
    }
    body += "    ))\n";
    body
}
