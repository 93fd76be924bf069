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

# Builds the Rust and Go example plugins into target/plugins/{rust,go}.
build_plugins() {
    bash scripts/build-rust-plugins.sh target/plugins/rust
    bash scripts/build-go-plugins.sh target/plugins/go
}

# Installs redis-server (Debian's package) when it is missing: the gateway tests run a real one.
ensure_redis() {
    if command -v redis-server >/dev/null 2>&1; then
        return
    fi
    echo "==> installing redis-server"
    local sudo=""
    [[ $(id -u) -ne 0 ]] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq redis-server
}
