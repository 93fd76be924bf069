//! The VM's global state: the plugin's identity, the context the host acts on, and the
//! request id of each live request (for log lines).
//!
//! A plugin VM is single-threaded, so this is thread-local state. No borrow of it is ever
//! held while plugin code runs: accessors copy or clone what they return. The live requests
//! themselves are kept by `context`, which builds on this module.

use std::cell::{Cell, RefCell};

use crate::error::Result;
use crate::raw;

#[derive(Default)]
struct Globals {
    plugin_name: RefCell<String>,
    plugin_id: RefCell<Option<String>>,
    root_id: Cell<u32>,
    current: Cell<u32>,
    // A few live requests: a list is smaller code than a map, and fast enough.
    request_ids: RefCell<Vec<(u32, String)>>,
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
pub(crate) fn switch_to(id: u32) -> Result<()> {
    if current() != id {
        raw::set_effective_context(id)?;
        entered(id);
    }
    Ok(())
}

/// The `x-request-id` of the request `id`, if it had one.
pub(crate) fn request_id(id: u32) -> Option<String> {
    GLOBALS.with(|g| find(&g.request_ids.borrow(), id))
}

/// The request id of the current context, without anything that could fail while a panic
/// is being reported (no borrow that may already be held).
pub(crate) fn current_request_id_for_panic() -> Option<String> {
    GLOBALS.with(|g| find(&g.request_ids.try_borrow().ok()?, current()))
}

/// Records (or, with `None`, forgets) the request id of the request `id`.
pub(crate) fn set_request_id(id: u32, request_id: Option<String>) {
    GLOBALS.with(|g| {
        let mut ids = g.request_ids.borrow_mut();
        ids.retain(|(owner, _)| *owner != id);
        if let Some(rid) = request_id {
            ids.push((id, rid));
        }
    });
}

fn find(ids: &[(u32, String)], id: u32) -> Option<String> {
    ids.iter()
        .find(|(owner, _)| *owner == id)
        .map(|(_, rid)| rid.clone())
}
