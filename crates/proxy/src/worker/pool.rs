//! The VMs of one plugin on one worker ([`SlotPool`]). The first one serves every request, as
//! Envoy's one VM per worker does. A guest call that runs long yields at each epoch tick
//! but keeps its VM; a request that then needs the plugin takes another VM of the pool, and
//! when every one is in a call, a spare is built off the request path (at most
//! [`MOST_VMS`]), so one computing plugin does not hold up the other requests of its
//! worker. A stream stays on the VM it opened on. A plugin already sees one VM per worker,
//! so a second one on the same worker changes nothing it can rely on.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use wasmgate_host::HostError;

use super::cell::Released;
use super::health::Backoff;
use super::slot::{Slot, SlotRef};
use crate::control::plugins::LoadedPlugin;
use crate::upstream::client::Client;
use crate::upstream::Clusters;

/// The most VMs of one plugin on one worker.
pub(crate) const MOST_VMS: usize = 4;

/// Whether a spare VM is being built.
#[derive(Clone, Copy)]
enum Spare {
    None,
    Building,
    /// The last build failed then; the next waits out [`Backoff::BASE`].
    Failed(Instant),
}

/// One plugin's VMs on one worker.
pub(crate) struct SlotPool {
    plugin: Arc<LoadedPlugin>,
    clusters: Arc<Clusters>,
    client: Client,
    released: Rc<Released>,
    slots: RefCell<Vec<SlotRef>>,
    spare: Cell<Spare>,
}

impl SlotPool {
    /// Builds the plugin's first VM on this worker.
    pub(crate) fn start(
        plugin: Arc<LoadedPlugin>,
        clusters: Arc<Clusters>,
        client: Client,
    ) -> Result<Rc<SlotPool>, HostError> {
        let released = Rc::new(Released::default());
        let built = Slot::build(&plugin, &clusters)?;
        let first = Slot::serve(
            plugin.clone(),
            clusters.clone(),
            client.clone(),
            released.clone(),
            built,
        );
        Ok(Rc::new(SlotPool {
            plugin,
            clusters,
            client,
            released,
            slots: RefCell::new(vec![first]),
            spare: Cell::new(Spare::None),
        }))
    }

    /// The plugin.
    pub(crate) fn plugin(&self) -> &LoadedPlugin {
        &self.plugin
    }

    /// The VM to open a stream on, once one is free (no guest call holds it): the first free
    /// one that serves, else the first free one (which is being rebuilt or is down).
    pub(crate) async fn pick(self: &Rc<Self>) -> SlotRef {
        self.released
            .wait_for(|| {
                let free = self.free();
                if free.is_none() {
                    self.add_spare();
                }
                free
            })
            .await
    }

    fn free(&self) -> Option<SlotRef> {
        let slots = self.slots.borrow();
        let mut first_free = None;
        for slot in slots.iter() {
            match slot.peek(Slot::serving) {
                Some(true) => return Some(slot.clone()),
                Some(false) => {
                    first_free.get_or_insert_with(|| slot.clone());
                }
                None => {}
            }
        }
        first_free
    }

    /// Builds one more VM, on a blocking thread, unless the pool is full, one is being
    /// built, or the last build failed a moment ago.
    fn add_spare(self: &Rc<Self>) {
        if self.slots.borrow().len() >= MOST_VMS {
            return;
        }
        match self.spare.get() {
            Spare::Building => return,
            Spare::Failed(at) if at.elapsed() < Backoff::BASE => return,
            _ => {}
        }
        self.spare.set(Spare::Building);
        let pool = Rc::downgrade(self);
        let (plugin, clusters) = (self.plugin.clone(), self.clusters.clone());
        tokio::task::spawn_local(async move {
            let built = tokio::task::spawn_blocking(move || Slot::build(&plugin, &clusters))
                .await
                .unwrap_or_else(|e| Err(HostError::Engine(format!("the build stopped: {e}"))));
            let Some(pool) = pool.upgrade() else { return };
            match built {
                Ok(built) => {
                    let slot = Slot::serve(
                        pool.plugin.clone(),
                        pool.clusters.clone(),
                        pool.client.clone(),
                        pool.released.clone(),
                        built,
                    );
                    let count = {
                        let mut slots = pool.slots.borrow_mut();
                        slots.push(slot);
                        slots.len()
                    };
                    pool.spare.set(Spare::None);
                    tracing::info!(
                        plugin = %pool.plugin.spec.name,
                        "every VM of the plugin on this worker is in a long call: built VM {count} of at most {MOST_VMS}"
                    );
                    pool.released.wake();
                }
                Err(e) => {
                    pool.spare.set(Spare::Failed(Instant::now()));
                    tracing::warn!(plugin = %pool.plugin.spec.name, "cannot build a spare VM: {e}");
                }
            }
        });
    }
}
