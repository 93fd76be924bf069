//! [`PluginContext`]: the plugin (root) context given to the start hook: the plugin's
//! identity, its properties, tick registration and a plugin-wide store.

use std::any::{Any, TypeId};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use crate::error::Result;
use crate::tick::{self, Tick};
use crate::{raw, state};

/// The plugin (root) context: identity, configuration and plugin-wide storage. Given to
/// the start hook; `PluginContext::default()` reaches the same plugin from anywhere else
/// (a parse function, a tick).
#[derive(Debug, Default)]
pub struct PluginContext {
    _private: (),
}

thread_local! {
    static PLUGIN_STORE: RefCell<HashMap<TypeId, Box<dyn Any>>> = RefCell::new(HashMap::new());
}

impl PluginContext {
    /// The plugin's registered name.
    pub fn plugin_name(&self) -> String {
        state::plugin_name()
    }

    /// The configuration's `_plugin_id_`, once the configuration is read.
    pub fn plugin_id(&self) -> Option<String> {
        state::plugin_id()
    }

    /// A plugin-level property (`["plugin_name"]`, `["plugin_vm_memory"]`, …).
    pub fn property(&self, path: &[&str]) -> Result<Option<Vec<u8>>> {
        let _ = state::switch_to(state::root_id());
        raw::get_property(path)
    }

    /// The plugin's fingerprint: the host's `plugin_name` property (wasm-go's
    /// `GetPluginFingerPrint`), else the registered name.
    pub fn fingerprint(&self) -> String {
        self.property(&["plugin_name"])
            .ok()
            .flatten()
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_else(state::plugin_name)
    }

    /// Runs `f` at each `tick` from the host's 100 ms tick (wasm-go's `RegisterTickFunc`).
    /// `Tick::every_ms(1000)` adds a function on every call; `Tick::every_ms(1000).named("x")`
    /// registers one once per name and period, which matters in a parse function (it runs
    /// for the global config and again for each rule). Call it from the start hook or a
    /// parse function; the list starts over at each (re)configuration. See [`tick`].
    pub fn register_tick(&self, tick: Tick, f: impl Fn() + 'static) {
        tick::register(tick, Rc::new(f));
    }

    /// Stores a plugin-wide value, one per type (as [`HttpContext::insert`](crate::HttpContext::insert)
    /// for a request).
    pub fn insert<T: 'static>(&self, value: T) {
        PLUGIN_STORE.with(|s| s.borrow_mut().insert(TypeId::of::<T>(), Box::new(value)));
    }

    /// A copy of the plugin-wide value stored for type `T`.
    pub fn get<T: Clone + 'static>(&self) -> Option<T> {
        PLUGIN_STORE.with(|s| {
            s.borrow()
                .get(&TypeId::of::<T>())
                .and_then(|b| b.downcast_ref::<T>())
                .cloned()
        })
    }
}
