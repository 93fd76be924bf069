//! The seam between the host's callbacks and the plugin: the [`Dispatch`] trait the
//! runtime of each config type implements, the VM's one registered plugin, and the raw
//! action values for the ABI marker this build exports. The exports call the plugin only
//! through here, so they do not depend on the builder or the runtime.

use std::cell::RefCell;
use std::rc::Rc;

use wasmgate_abi::{DataAction, HeaderAction};

use crate::context::HttpContext;
use crate::{panic, state};

/// What the exports call; implemented by the runtime of each config type.
pub(crate) trait Dispatch {
    fn configure(&self, size: usize) -> bool;
    fn request_headers(&self, ctx: &HttpContext, end_of_stream: bool) -> u32;
    fn request_body(&self, ctx: &HttpContext, size: usize, end_of_stream: bool) -> u32;
    fn response_headers(&self, ctx: &HttpContext, end_of_stream: bool) -> u32;
    fn response_body(&self, ctx: &HttpContext, size: usize, end_of_stream: bool) -> u32;
    fn request_trailers(&self, ctx: &HttpContext) -> u32;
    fn response_trailers(&self, ctx: &HttpContext) -> u32;
    fn stream_done(&self, ctx: &HttpContext);
}

thread_local! {
    static PLUGIN: RefCell<Option<Rc<dyn Dispatch>>> = const { RefCell::new(None) };
}

/// Makes `plugin` the VM's plugin, under `name`, and installs the panic hook.
pub(crate) fn register(name: &str, plugin: Rc<dyn Dispatch>) {
    state::set_plugin_name(name);
    PLUGIN.with(|p| *p.borrow_mut() = Some(plugin));
    panic::install_hook();
}

/// The registered plugin, if any.
pub(crate) fn plugin() -> Option<Rc<dyn Dispatch>> {
    PLUGIN.with(|p| p.borrow().clone())
}

/// The raw value of a header action for the marker this build exports.
pub(crate) fn header_raw(action: HeaderAction) -> u32 {
    if cfg!(feature = "standard-abi") {
        action.is_stop() as u32
    } else {
        action.raw()
    }
}

/// The raw value of a data action for the marker this build exports.
pub(crate) fn data_raw(action: DataAction) -> u32 {
    if cfg!(feature = "standard-abi") {
        action.is_stop() as u32
    } else {
        action.raw()
    }
}
