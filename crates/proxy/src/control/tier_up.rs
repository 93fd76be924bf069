//! Moving plugins that started on baseline code (the quick start of a large plugin missing
//! from the cache) onto optimized code once the background compile has cached it: a new
//! generation with the optimized modules goes to the workers as a reload does, so requests
//! in flight finish on the old VMs and new ones get the faster code.

use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use wasmgate_host::Tier;

use super::generation::Generation;
use super::plugins::LoadedPlugin;
use super::rollout::Control;

/// How often the cache is looked at.
const POLL: Duration = Duration::from_millis(250);
/// After this long the optimized compile is taken to have failed (it logged why).
const GIVE_UP: Duration = Duration::from_secs(30 * 60);

/// Watches `generation` on a thread of its own while any of its plugins runs baseline code.
/// The watch ends when the move is made, when a reload replaces the generation (that reload
/// watches its own) or when the gateway is gone.
pub(crate) fn watch(control: &Arc<Control>, generation: Arc<Generation>) {
    if !generation
        .plugins
        .iter()
        .any(|p| p.module.tier() == Tier::Baseline)
    {
        return;
    }
    let control = Arc::downgrade(control);
    let spawned = std::thread::Builder::new()
        .name("wasmgate-tier-up".into())
        .spawn(move || run(control, generation));
    if let Err(e) = spawned {
        tracing::warn!("plugins stay on baseline code until the next reload: {e}");
    }
}

fn run(control: Weak<Control>, generation: Arc<Generation>) {
    let started = Instant::now();
    while started.elapsed() < GIVE_UP {
        std::thread::sleep(POLL);
        let Some(control) = control.upgrade() else {
            return;
        };
        let _one_at_a_time = control.lock.lock().unwrap_or_else(|p| p.into_inner());
        if !Arc::ptr_eq(&control.current(), &generation) {
            return;
        }
        let Some(plugins) = optimized(&generation.plugins) else {
            continue;
        };
        let upgraded = Arc::new(generation.with_plugins(plugins));
        match control.install(upgraded) {
            Ok(()) => tracing::info!("the plugins now run optimized code"),
            Err(e) => tracing::warn!("plugins stay on baseline code: {e}"),
        }
        return;
    }
    tracing::warn!(
        "plugins stay on baseline code: no optimized code was cached within {} minutes",
        GIVE_UP.as_secs() / 60
    );
}

/// The plugins with every baseline module replaced by its optimized one, or `None` while one
/// is not cached yet.
fn optimized(plugins: &[Arc<LoadedPlugin>]) -> Option<Vec<Arc<LoadedPlugin>>> {
    plugins
        .iter()
        .map(|plugin| match plugin.module.tier() {
            Tier::Baseline => Some(Arc::new(LoadedPlugin {
                spec: plugin.spec.clone(),
                module: plugin.module.optimized()?,
                vm_config: plugin.vm_config.clone(),
            })),
            Tier::Optimized => Some(plugin.clone()),
        })
        .collect()
}
