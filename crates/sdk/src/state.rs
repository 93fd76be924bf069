//! The VM's global state: plugin identity, the current context and the live streams.
//!
//! A plugin VM is single-threaded, so this is thread-local state. No borrow of it is ever
//! held while plugin code runs: accessors copy or clone what they return.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;

use crate::context::HttpContext;
use crate::hostcalls;

#[derive(Default)]
struct Globals {
    plugin_name: RefCell<String>,
    plugin_id: RefCell<Option<String>>,
    root_id: Cell<u32>,
    current: Cell<u32>,
    // A B-tree: a few live ids, no hashing on every callback.
    streams: RefCell<BTreeMap<u32, HttpContext>>,
}

thread_local! {
    static GLOBALS: Globals = Globals::default();
}

/// The plugin's registered name.
pub(crate) fn plugin_name() -> String {
    GLOBALS.with(|g| g.plugin_name.borrow().clone())
}

pub(crate) fn set_plugin_name(name: &str) {
    GLOBALS.with(|g| *g.plugin_name.borrow_mut() = name.to_string());
}

/// The `_plugin_id_` of the configuration, if any.
pub(crate) fn plugin_id() -> Option<String> {
    GLOBALS.with(|g| g.plugin_id.borrow().clone())
}

pub(crate) fn set_plugin_id(id: Option<String>) {
    GLOBALS.with(|g| *g.plugin_id.borrow_mut() = id);
}

/// The root (plugin) context id.
pub(crate) fn root_id() -> u32 {
    GLOBALS.with(|g| g.root_id.get())
}

pub(crate) fn set_root_id(id: u32) {
    GLOBALS.with(|g| g.root_id.set(id));
}

/// The context the host currently acts on.
pub(crate) fn current() -> u32 {
    GLOBALS.with(|g| g.current.get())
}

/// Records that the host entered a callback of `id` (the host made it current).
pub(crate) fn entered(id: u32) {
    GLOBALS.with(|g| g.current.set(id));
}

/// Makes `id` the host's current context if it is not already.
pub(crate) fn switch_to(id: u32) -> crate::Result<()> {
    if current() != id {
        hostcalls::set_effective_context(id)?;
        entered(id);
    }
    Ok(())
}

/// A live stream by id.
pub(crate) fn stream(id: u32) -> Option<HttpContext> {
    GLOBALS.with(|g| g.streams.borrow().get(&id).cloned())
}

/// The stream of the current context, if the current context is a stream.
pub(crate) fn current_stream() -> Option<HttpContext> {
    stream(current())
}

pub(crate) fn insert_stream(ctx: HttpContext) {
    GLOBALS.with(|g| g.streams.borrow_mut().insert(ctx.id(), ctx));
}

pub(crate) fn remove_stream(id: u32) -> Option<HttpContext> {
    GLOBALS.with(|g| g.streams.borrow_mut().remove(&id))
}
