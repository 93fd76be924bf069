//! One instance of a plugin: start-up (WASI `_initialize`, root context, `on_vm_start`,
//! `on_configure`), HTTP streams through their phases (`streams`), callout answers
//! (`answers`), ticks and queues.
//!
//! Every guest call runs on a fiber under the call time limit and yields to the embedder's
//! executor at each epoch tick when the VM has a [`Yielder`], so the calls that take guest
//! code are async; a trap marks the VM unusable
//! ([`HostError::Poisoned`]) so the embedder fails only that request and builds a new VM.
//! Actions a plugin asks for during a callback (continue, local reply, close) take effect
//! when the callback returns, as in Envoy.

use std::collections::HashMap;
use std::sync::Arc;

use wasmgate_abi::{AbiVersion, LogLevel};
use wasmtime::{Instance, Store, StoreLimitsBuilder, Trap};
use wasmtime_wasi::I32Exit;

use crate::callout::CalloutHandler;
use crate::clock::{block_on, CallClock, Yielder};
use crate::error::HostError;
use crate::exports::{bind, Exports};
use crate::module::{one_line, PluginModule};
pub use crate::outcome::{PhaseOutcome, StreamSignal};
use crate::runtime::{ticks, VmLimits};
use crate::shared::{QueueInbox, QueueWaker, Shared};
use crate::state::{CallBuffers, ForeignFunction, GuestLimits, HostState, LogSink, TracingLogSink};

mod answers;
mod streams;

/// How a VM is set up.
#[derive(Clone)]
pub struct VmConfig {
    /// The plugin's name (log lines, `plugin_name`).
    pub plugin_name: String,
    /// The VM id: plugins with the same id share data and queues.
    pub vm_id: String,
    /// The root id (`plugin_root_id`), which SDKs with several root contexts (the
    /// proxy-wasm C++ SDK) pick theirs by: Envoy's `root_id`, Istio's `pluginName`.
    pub root_id: String,
    /// The bytes of `VM_CONFIGURATION`.
    pub vm_config: Vec<u8>,
    /// The bytes of `PLUGIN_CONFIGURATION` (JSON for Higress plugins).
    pub plugin_config: Vec<u8>,
    /// The level `proxy_get_log_level` reports; lower lines are dropped.
    pub log_level: LogLevel,
    /// Where log lines go.
    pub log_sink: Arc<dyn LogSink>,
    /// Foreign functions beyond the built-in `get_log_level`.
    pub foreign: HashMap<String, ForeignFunction>,
    /// Memory and time limits.
    pub limits: VmLimits,
    /// The shared data, queues and metrics this VM joins (one per gateway or test).
    pub shared: Shared,
    /// Where a long guest call yields at each epoch tick (`None`: it runs on; drive the VM's
    /// calls with [`block_on`] then).
    pub yielder: Option<Yielder>,
}

impl VmConfig {
    /// A configuration with a name and plugin configuration, logging through `tracing`.
    pub fn new(plugin_name: impl Into<String>, plugin_config: impl Into<Vec<u8>>) -> Self {
        VmConfig {
            plugin_name: plugin_name.into(),
            vm_id: String::new(),
            root_id: String::new(),
            vm_config: Vec::new(),
            plugin_config: plugin_config.into(),
            log_level: LogLevel::Info,
            log_sink: Arc::new(TracingLogSink),
            foreign: HashMap::new(),
            limits: VmLimits::default(),
            shared: Shared::default(),
            yielder: None,
        }
    }
}

/// One running instance of a plugin.
pub struct PluginVm {
    store: Store<HostState>,
    exports: Arc<Exports>,
    module: PluginModule,
    poisoned: bool,
    next_context_id: u32,
    /// The time limit of the next guest call (the start limit while the plugin starts), in
    /// epoch ticks and as a duration for its error message.
    call_ticks: u64,
    call_limit: std::time::Duration,
    limits: VmLimits,
}

const ROOT_ID: u32 = 1;

impl PluginVm {
    /// Instantiates the plugin and starts it: `_initialize` (or `_start`), the root context,
    /// `on_vm_start` and `on_configure`. A plugin that rejects its configuration, traps or
    /// runs past the start time limit is an error.
    pub fn new(
        module: &PluginModule,
        config: VmConfig,
        callouts: Box<dyn CalloutHandler + Send>,
    ) -> Result<Self, HostError> {
        let runtime = module.runtime().clone();
        let settings = config.limits;
        let state = HostState {
            wasi: wasmtime_wasi::WasiCtxBuilder::new().build_p1(),
            limits: GuestLimits {
                inner: StoreLimitsBuilder::new()
                    .memory_size(settings.memory)
                    .build(),
                refused_memory: false,
            },
            plugin_name: config.plugin_name.clone(),
            vm_id: config.vm_id,
            root_context_id: ROOT_ID,
            root_id: config.root_id,
            abi: module.abi(),
            vm_config: config.vm_config,
            plugin_config: config.plugin_config,
            log_level: config.log_level,
            log_sink: config.log_sink,
            shared: config.shared,
            callouts,
            foreign: config.foreign,
            streams: Default::default(),
            current_context: ROOT_ID,
            in_phase_of: None,
            signaled: Vec::new(),
            buffers: CallBuffers::default(),
            tick_period_ms: 0,
            last_tokens: [0; 4],
            grpc: Default::default(),
            queue_inbox: QueueInbox::default(),
            rebuild_requested: false,
            reported_out_of_reach: false,
            reported_header_limit: false,
            reported_body_limit: false,
            upstream_hosts: Vec::new(),
            unused_callbacks: Vec::new(),
            memory: None,
            clock: CallClock::new(runtime.inner.epochs.clone(), None),
            alloc: None,
        };
        let compiler = runtime
            .compiler(module.tier())
            .ok_or_else(|| HostError::Engine("the module's compiler is gone".into()))?;
        let mut store = Store::new(&compiler.engine, state);
        store.limiter(|s| &mut s.limits);
        CallClock::install(&mut store, clock_of);
        CallClock::start(&mut store, clock_of, ticks(settings.start_timeout));
        let name = config.plugin_name;
        let instance = block_on(
            compiler
                .linker
                .instantiate_async(&mut store, &module.module),
        )
        .map_err(|e| HostError::Instantiate {
            name: name.clone(),
            reason: one_line(&format!("{e:#}")),
        })?;
        let exports = Arc::new(bind(&instance, &mut store, module.abi()));
        let memory = instance.get_memory(&mut store, "memory");
        let alloc = instance
            .get_typed_func::<u32, u32>(&mut store, "malloc")
            .or_else(|_| {
                instance.get_typed_func::<u32, u32>(&mut store, "proxy_on_memory_allocate")
            })
            .map_err(|_| HostError::NoAllocator { name: name.clone() })?;
        store.data_mut().memory = memory;
        store.data_mut().alloc = Some(Arc::new(alloc));
        let mut vm = PluginVm {
            store,
            exports,
            module: module.clone(),
            poisoned: false,
            next_context_id: ROOT_ID + 1,
            call_ticks: ticks(settings.call_timeout),
            call_limit: settings.call_timeout,
            limits: settings,
        };
        block_on(vm.start(&instance))?;
        vm.store.data_mut().clock.swap_yielder(config.yielder);
        let unused = std::mem::take(&mut vm.store.data_mut().unused_callbacks);
        Arc::make_mut(&mut vm.exports).forget(&unused);
        Ok(vm)
    }

    async fn start(&mut self, instance: &Instance) -> Result<(), HostError> {
        self.call_ticks = ticks(self.limits.start_timeout);
        self.call_limit = self.limits.start_timeout;
        let initialize = instance.get_typed_func::<(), ()>(&mut self.store, "_initialize");
        if let Ok(init) = initialize {
            self.guest("_initialize", ROOT_ID, async |s| {
                init.call_async(s, ()).await
            })
            .await?;
            if let Ok(main) = instance.get_typed_func::<(u32, u32), u32>(&mut self.store, "main") {
                self.guest("main", ROOT_ID, async |s| {
                    main.call_async(s, (0, 0)).await.map(drop)
                })
                .await?;
            }
        } else if let Ok(start) = instance.get_typed_func::<(), ()>(&mut self.store, "_start") {
            self.guest("_start", ROOT_ID, async |s| {
                match start.call_async(&mut *s, ()).await {
                    Err(e) if e.downcast_ref::<I32Exit>().is_some_and(|exit| exit.0 == 0) => Ok(()),
                    other => other,
                }
            })
            .await?;
        }
        let exports = self.exports.clone();
        if let Some(f) = exports.context_create.as_ref() {
            self.guest("proxy_on_context_create", ROOT_ID, async |s| {
                f.call_async(s, (ROOT_ID, 0)).await
            })
            .await?;
        }
        let name = self.store.data().plugin_name.clone();
        let exports = self.exports.clone();
        if let Some(f) = exports.vm_start.as_ref() {
            let size = self.store.data().vm_config.len() as u32;
            let started = self
                .guest("proxy_on_vm_start", ROOT_ID, async |s| {
                    f.call_async(s, (ROOT_ID, size)).await
                })
                .await?;
            if started == 0 {
                return Err(HostError::Rejected {
                    name,
                    what: "VM configuration",
                });
            }
        }
        let exports = self.exports.clone();
        if let Some(f) = exports.configure.as_ref() {
            let size = self.store.data().plugin_config.len() as u32;
            let configured = self
                .guest("proxy_on_configure", ROOT_ID, async |s| {
                    f.call_async(s, (ROOT_ID, size)).await
                })
                .await?;
            if configured == 0 {
                return Err(HostError::Rejected {
                    name,
                    what: "configuration",
                });
            }
        }
        self.call_ticks = ticks(self.limits.call_timeout);
        self.call_limit = self.limits.call_timeout;
        Ok(())
    }

    /// Runs one guest call as `context`, under the time limit; a trap poisons the VM.
    async fn guest<R>(
        &mut self,
        during: &'static str,
        context: u32,
        call: impl AsyncFnOnce(&mut Store<HostState>) -> wasmtime::Result<R>,
    ) -> Result<R, HostError> {
        if self.poisoned {
            return Err(HostError::Poisoned {
                name: self.store.data().plugin_name.clone(),
            });
        }
        self.store.data_mut().current_context = context;
        self.store.data_mut().limits.refused_memory = false;
        CallClock::start(&mut self.store, clock_of, self.call_ticks);
        // A call whose future is dropped before it ends leaves the guest halfway: poisoned.
        self.poisoned = true;
        let result = call(&mut self.store).await;
        self.poisoned = false;
        self.store.data_mut().buffers = CallBuffers::default();
        result.map_err(|e| {
            self.poisoned = true;
            let name = self.store.data().plugin_name.clone();
            // The embedder reports the error (it is not one of the plugin's own log lines).
            let memory = self
                .store
                .data()
                .memory
                .map_or(0, |m| m.data_size(&self.store));
            // A guest that trapped after it was refused memory ran out of it.
            let out_of_memory = self.store.data().limits.refused_memory;
            let reason = trap_reason(&e, self.call_limit, out_of_memory.then_some(memory));
            HostError::Trap {
                name,
                during,
                reason,
            }
        })
    }

    /// Delivers `proxy_on_queue_ready`, once per item enqueued, for the queues this VM
    /// registered last. The VM does it after each of its callbacks; an embedder whose other
    /// VMs enqueue calls it when the [`Self::set_queue_waker`] waker fires.
    pub async fn deliver_queue_ready(&mut self) -> Result<(), HostError> {
        loop {
            let ready = self.store.data().queue_inbox.take();
            if ready.is_empty() {
                return Ok(());
            }
            let exports = self.exports.clone();
            let Some(f) = exports.queue_ready.as_ref() else {
                continue;
            };
            for id in ready {
                self.guest("proxy_on_queue_ready", ROOT_ID, async |s| {
                    f.call_async(s, (ROOT_ID, id)).await
                })
                .await?;
            }
        }
    }

    /// Sets what wakes the embedder when another VM (maybe on another thread) enqueues
    /// to a queue this VM registered; the embedder then calls [`Self::deliver_queue_ready`].
    pub fn set_queue_waker(&self, waker: QueueWaker) {
        self.store.data().queue_inbox.set_waker(waker);
    }

    /// The plugin's name.
    pub fn name(&self) -> &str {
        &self.store.data().plugin_name
    }

    /// The ABI version of the module.
    pub fn abi(&self) -> AbiVersion {
        self.module.abi()
    }

    /// Whether a trap made the VM unusable.
    pub fn is_poisoned(&self) -> bool {
        self.poisoned
    }

    /// Whether the module has a callback for a request phase (headers, body or trailers).
    pub fn handles_requests(&self) -> bool {
        let e = &self.exports;
        e.request_headers.is_some() || e.request_body.is_some() || e.request_trailers.is_some()
    }

    /// Whether the module has a callback for a response phase (headers, body or trailers).
    pub fn handles_responses(&self) -> bool {
        let e = &self.exports;
        e.response_headers.is_some() || e.response_body.is_some() || e.response_trailers.is_some()
    }

    /// Whether the plugin asked to be rebuilt (Higress's `wasm_need_rebuild`).
    pub fn rebuild_requested(&self) -> bool {
        self.store.data().rebuild_requested
    }

    /// The tick period the plugin set, in milliseconds (0: no ticks).
    pub fn tick_period_ms(&self) -> u32 {
        self.store.data().tick_period_ms
    }

    /// The size of the VM's linear memory in bytes.
    pub fn memory_size(&self) -> usize {
        self.store
            .data()
            .memory
            .map(|m| m.data_size(&self.store))
            .unwrap_or(0)
    }

    /// Sets what `proxy_get_upstream_hosts` answers (address → metrics text).
    pub fn set_upstream_hosts(&mut self, hosts: Vec<(String, String)>) {
        self.store.data_mut().upstream_hosts = hosts;
    }

    /// Runs `proxy_on_tick`.
    pub async fn on_tick(&mut self) -> Result<(), HostError> {
        let exports = self.exports.clone();
        if let Some(f) = exports.tick.as_ref() {
            self.guest("proxy_on_tick", ROOT_ID, async |s| {
                f.call_async(s, ROOT_ID).await
            })
            .await?;
        }
        self.deliver_queue_ready().await
    }

    /// Streams that got an action from a callback outside their own phase, since the last
    /// call. The embedder then takes each one's [`StreamSignal`]s.
    pub fn take_signaled(&mut self) -> Vec<u32> {
        std::mem::take(&mut self.store.data_mut().signaled)
    }

    /// The next pending action of a held stream, if any. A local reply or close wins over
    /// resumes.
    pub fn take_signal(&mut self, id: u32) -> Option<StreamSignal> {
        let deferred = &mut self.stream_mut(id)?.deferred;
        if let Some(reply) = deferred.local_reply.take() {
            return Some(StreamSignal::LocalReply(reply));
        }
        if std::mem::take(&mut deferred.close) {
            return Some(StreamSignal::Close);
        }
        if std::mem::take(&mut deferred.resume_request) {
            return Some(StreamSignal::ResumeRequest);
        }
        if std::mem::take(&mut deferred.resume_response) {
            return Some(StreamSignal::ResumeResponse);
        }
        if std::mem::take(&mut deferred.open_response_data) {
            return Some(StreamSignal::OpenResponseData);
        }
        None
    }
}

fn clock_of(state: &mut HostState) -> &mut CallClock {
    &mut state.clock
}

/// A one-line reason for a trap, naming the limit when one was hit: the trap's own reason
/// first (a long backtrace after it is cut), `memory` when the guest had used up its memory.
fn trap_reason(
    error: &wasmtime::Error,
    call_timeout: std::time::Duration,
    memory: Option<usize>,
) -> String {
    if let Some(exit) = error.downcast_ref::<I32Exit>() {
        return format!("the plugin exited with proc_exit({})", exit.0);
    }
    let trap = error.downcast_ref::<Trap>();
    if trap == Some(&Trap::Interrupt) {
        return format!(
            "ran longer than the {} ms time limit and was interrupted",
            call_timeout.as_millis()
        );
    }
    let detail = one_line(&format!("{error:#}"));
    let mut text = match (trap, memory) {
        (_, Some(used)) => format!(
            "exceeded the VM memory limit ({} MiB in use): {detail}",
            used >> 20
        ),
        (Some(trap), None) => format!("{trap}: {detail}"),
        (None, None) => detail,
    };
    if text.len() > 400 {
        let mut cut = 400;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push('…');
    }
    text
}
