// root-probe: a C plugin written against the proxy-wasm ABI (Higress's 0_2_100), built in the
// test run with clang for wasm32-wasi. It finds its root context as the proxy-wasm C++ SDK
// does: the root context registered under ROOT_ID serves only when the host's
// `plugin_root_id` property is that id ("" unless the configuration names one); otherwise
// the plugin stays inert, as Higress's C++ plugins do on a host that answers another id.
//
// When it serves:
// - on_configure: keeps the plugin configuration; one containing "reject" is refused.
// - request headers: `/deny...` paths get a local reply 403 "denied by root-probe" with
//   `x-c-denied: 1`; a request with `x-c-hold-headers` holds its headers with StopIteration
//   (under 0_2_100 its body still comes, Higress's rule); otherwise Continue.
// - request body: buffered to its end (StopIterationAndBuffer); when the headers were held
//   and the body has "model":"NAME", the request header `x-model: NAME` is set.
// - response headers: `x-c-config: <configuration>` and `x-c-root-id: <plugin_root_id>`;
//   content-length removed (the body changes size).
// - response body: buffered to its end, then "[root-probe]\n" appended.
// - each request logs "root-probe saw <path>" at info.

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define IMPORT(name) __attribute__((import_module("env"), import_name(#name)))
#define EXPORT(name) __attribute__((export_name(#name)))

IMPORT(proxy_log) int32_t proxy_log(int32_t level, const char *msg, size_t len);
IMPORT(proxy_get_property)
int32_t proxy_get_property(const char *path, size_t path_len, char **value, size_t *value_len);
IMPORT(proxy_get_buffer_bytes)
int32_t proxy_get_buffer_bytes(int32_t type, size_t start, size_t len, char **data, size_t *size);
IMPORT(proxy_set_buffer_bytes)
int32_t proxy_set_buffer_bytes(int32_t type, size_t start, size_t len, const char *data,
                               size_t size);
IMPORT(proxy_get_header_map_value)
int32_t proxy_get_header_map_value(int32_t map, const char *key, size_t key_len, char **value,
                                   size_t *value_len);
IMPORT(proxy_add_header_map_value)
int32_t proxy_add_header_map_value(int32_t map, const char *key, size_t key_len,
                                   const char *value, size_t value_len);
IMPORT(proxy_replace_header_map_value)
int32_t proxy_replace_header_map_value(int32_t map, const char *key, size_t key_len,
                                       const char *value, size_t value_len);
IMPORT(proxy_remove_header_map_value)
int32_t proxy_remove_header_map_value(int32_t map, const char *key, size_t key_len);
IMPORT(proxy_send_local_response)
int32_t proxy_send_local_response(uint32_t status, const char *details, size_t details_len,
                                  const char *body, size_t body_len, const char *headers,
                                  size_t headers_len, int32_t grpc_status);

enum { LOG_INFO = 2 };
enum { REQUEST_HEADERS = 0, RESPONSE_HEADERS = 2 };
enum { REQUEST_BODY = 0, RESPONSE_BODY = 1, PLUGIN_CONFIGURATION = 7 };
enum { CONTINUE = 0, STOP_ITERATION = 1 };

static const char ROOT_ID[] = "";

#define MAX_STREAMS 1024
static uint32_t root_context = 0;
static char *configuration = NULL;
static size_t configuration_len = 0;
static uint32_t stream_ids[MAX_STREAMS];
static uint8_t headers_held[MAX_STREAMS];

static void log_info(const char *prefix, const char *text, size_t len) {
  size_t prefix_len = strlen(prefix);
  char *line = malloc(prefix_len + len);
  memcpy(line, prefix, prefix_len);
  memcpy(line + prefix_len, text, len);
  proxy_log(LOG_INFO, line, prefix_len + len);
  free(line);
}

static int serves(uint32_t context) {
  return root_context != 0 && stream_ids[context % MAX_STREAMS] == context;
}

static int header(int32_t map, const char *name, char **value, size_t *len) {
  *value = NULL;
  *len = 0;
  return proxy_get_header_map_value(map, name, strlen(name), value, len) == 0;
}

static void set_header(int32_t map, const char *name, const char *value, size_t len) {
  proxy_replace_header_map_value(map, name, strlen(name), value, len);
}

static const char *find(const char *haystack, size_t len, const char *needle) {
  size_t n = strlen(needle);
  for (size_t i = 0; i + n <= len; i++) {
    if (memcmp(haystack + i, needle, n) == 0) return haystack + i;
  }
  return NULL;
}

EXPORT(proxy_abi_version_0_2_100) void proxy_abi_version_0_2_100(void) {}

EXPORT(proxy_on_memory_allocate) void *proxy_on_memory_allocate(size_t size) {
  return malloc(size);
}

EXPORT(proxy_on_context_create) void proxy_on_context_create(uint32_t context, uint32_t parent) {
  if (parent == 0) {
    char *id = NULL;
    size_t id_len = 0;
    static const char path[] = "plugin_root_id";
    if (proxy_get_property(path, sizeof(path) - 1, &id, &id_len) == 0 &&
        id_len == strlen(ROOT_ID) && memcmp(id, ROOT_ID, id_len) == 0) {
      root_context = context;
    }
    free(id);
    return;
  }
  if (parent == root_context && root_context != 0) {
    stream_ids[context % MAX_STREAMS] = context;
    headers_held[context % MAX_STREAMS] = 0;
  }
}

EXPORT(proxy_on_vm_start) uint32_t proxy_on_vm_start(uint32_t root, size_t size) { return 1; }

EXPORT(proxy_on_configure) uint32_t proxy_on_configure(uint32_t root, size_t size) {
  if (root != root_context) return 1;
  free(configuration);
  configuration = NULL;
  configuration_len = 0;
  if (size > 0) {
    proxy_get_buffer_bytes(PLUGIN_CONFIGURATION, 0, size, &configuration, &configuration_len);
  }
  log_info("root-probe configured: ", configuration ? configuration : "", configuration_len);
  return find(configuration, configuration_len, "reject") == NULL;
}

EXPORT(proxy_on_request_headers)
uint32_t proxy_on_request_headers(uint32_t context, uint32_t headers, uint32_t end_of_stream) {
  if (!serves(context)) return CONTINUE;
  char *path;
  size_t path_len;
  header(REQUEST_HEADERS, ":path", &path, &path_len);
  log_info("root-probe saw ", path ? path : "", path_len);
  int deny = path_len >= 5 && memcmp(path, "/deny", 5) == 0;
  free(path);
  if (deny) {
    // One header pair, as the ABI encodes maps: count, sizes, then NUL-ended name and value.
    static const char name[] = "x-c-denied", value[] = "1";
    uint32_t sizes[3] = {1, sizeof(name) - 1, sizeof(value) - 1};
    char pairs[sizeof(sizes) + sizeof(name) + sizeof(value)];
    memcpy(pairs, sizes, sizeof(sizes));
    memcpy(pairs + sizeof(sizes), name, sizeof(name));
    memcpy(pairs + sizeof(sizes) + sizeof(name), value, sizeof(value));
    static const char body[] = "denied by root-probe\n";
    proxy_send_local_response(403, "root_probe_denied", 17, body, sizeof(body) - 1, pairs,
                              sizeof(pairs), -1);
    return STOP_ITERATION;
  }
  char *hold;
  size_t hold_len;
  if (header(REQUEST_HEADERS, "x-c-hold-headers", &hold, &hold_len)) {
    free(hold);
    headers_held[context % MAX_STREAMS] = 1;
    return STOP_ITERATION;
  }
  return CONTINUE;
}

EXPORT(proxy_on_request_body)
uint32_t proxy_on_request_body(uint32_t context, size_t size, uint32_t end_of_stream) {
  if (!serves(context)) return CONTINUE;
  if (!end_of_stream) return STOP_ITERATION;  // StopIterationAndBuffer
  char *body = NULL;
  size_t body_len = 0;
  proxy_get_buffer_bytes(REQUEST_BODY, 0, size, &body, &body_len);
  const char *model = find(body, body_len, "\"model\":\"");
  if (model && headers_held[context % MAX_STREAMS]) {
    const char *start = model + 9;
    const char *end = start;
    while (end < body + body_len && *end != '"') end++;
    set_header(REQUEST_HEADERS, "x-model", start, (size_t)(end - start));
  }
  free(body);
  return CONTINUE;
}

EXPORT(proxy_on_response_headers)
uint32_t proxy_on_response_headers(uint32_t context, uint32_t headers, uint32_t end_of_stream) {
  if (!serves(context)) return CONTINUE;
  set_header(RESPONSE_HEADERS, "x-c-config", configuration ? configuration : "",
             configuration_len);
  set_header(RESPONSE_HEADERS, "x-c-root-id", ROOT_ID, strlen(ROOT_ID));
  proxy_remove_header_map_value(RESPONSE_HEADERS, "content-length", 14);
  return CONTINUE;
}

EXPORT(proxy_on_response_body)
uint32_t proxy_on_response_body(uint32_t context, size_t size, uint32_t end_of_stream) {
  if (!serves(context)) return CONTINUE;
  if (!end_of_stream) return STOP_ITERATION;  // StopIterationAndBuffer
  static const char tail[] = "[root-probe]\n";
  proxy_set_buffer_bytes(RESPONSE_BODY, size, 0, tail, sizeof(tail) - 1);
  return CONTINUE;
}

EXPORT(proxy_on_done) uint32_t proxy_on_done(uint32_t context) { return 1; }

EXPORT(proxy_on_log) void proxy_on_log(uint32_t context) {}

EXPORT(proxy_on_delete) void proxy_on_delete(uint32_t context) {
  if (stream_ids[context % MAX_STREAMS] == context) stream_ids[context % MAX_STREAMS] = 0;
}
