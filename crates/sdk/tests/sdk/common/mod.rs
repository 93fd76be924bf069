//! Helpers the SDK's tests share: where a plugin is, a plugin started in the testkit, the
//! local reply of a stream state, and the log lines of a start on the bare host runtime.

// Each test crate uses some of these.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use wasmgate_host::callout::NoCallouts;
use wasmgate_host::{LogRecord, LogSink, PluginModule, PluginVm, Runtime, RuntimeConfig, VmConfig};
use wasmgate_testkit::examples::{example, fixture, Lang};
use wasmgate_testkit::{HostError, LocalReply, StreamState, TestHost};

/// The plugin `name`: the fixture `sdk-probe` (tests/plugins) or a Rust example.
pub fn plugin(name: &str) -> PathBuf {
    match name {
        "sdk-probe" => fixture(name),
        _ => example(Lang::Rust, name),
    }
}

/// The plugin `name`, started in the testkit under its own name with `config`.
pub fn start(name: &str, config: &str) -> TestHost {
    TestHost::builder(plugin(name))
        .plugin_name(name)
        .config_json(config)
        .start()
        .unwrap_or_else(|e| panic!("{name} starts with {config}: {e}"))
}

/// The local reply a phase ended in.
pub fn replied(state: &StreamState) -> &LocalReply {
    match state {
        StreamState::Replied(reply) => reply,
        other => panic!("expected a local reply, got {other:?}"),
    }
}

/// Starts the plugin `name` on the bare host runtime: whether it started, and its log lines
/// (to see the one line of a failed start).
pub fn start_logs(name: &str, config: &str) -> (Result<(), HostError>, Vec<String>) {
    #[derive(Default, Clone)]
    struct Lines(Arc<Mutex<Vec<String>>>);
    impl LogSink for Lines {
        fn log(&self, record: &LogRecord) {
            let mut lines = self.0.lock().unwrap_or_else(|p| p.into_inner());
            lines.push(record.message.clone());
        }
    }
    let runtime = Runtime::new(RuntimeConfig::default()).expect("a runtime");
    let module = PluginModule::from_file(&runtime, &plugin(name)).expect("the plugin compiles");
    let lines = Lines::default();
    let mut vm = VmConfig::new(name, config.as_bytes().to_vec());
    vm.log_sink = Arc::new(lines.clone());
    let result = PluginVm::new(&module, vm, Box::new(NoCallouts)).map(drop);
    let logged = lines.0.lock().unwrap_or_else(|p| p.into_inner()).clone();
    (result, logged)
}
