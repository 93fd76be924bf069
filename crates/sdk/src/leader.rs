//! Leader election among the VMs of one plugin (wasm-go's `DoLeaderElection` / `IsLeader`),
//! for work that only one worker should do (a periodic refresh, a health check).
//!
//! The lease is a shared-data entry `higress_wasm_vm_lease:<plugin_name>` holding
//! `{"vmID":"<this VM's id>","timestamp":<unix seconds>}`. [`do_leader_election`] takes it
//! when it is absent, expired (older than [`LEASE_SECONDS`]) or already this VM's, with a
//! compare-and-swap on the entry's CAS, and renews it (a new timestamp) when it is ours.
//! [`is_leader`] returns the result of the last election without touching the lease, so a
//! leader must renew: call `do_leader_election` from a tick function (period well under 60
//! s).
//!
//! Difference from wasm-go: wasm-go keys the lease by a fingerprint that is never assigned,
//! so every plugin of a gateway shares the key `higress_wasm_vm_lease:` and only one plugin
//! of all of them can lead. Here the key ends with the host's `plugin_name` property (else
//! the registered name), so each plugin elects its own leader. After taking an absent lease
//! (a write with CAS 0, which the ABI makes unconditional) the entry is read back and the
//! VM leads only if it still names this VM.

use std::cell::{Cell, RefCell};

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::{raw, state};

/// The prefix of the lease key; the plugin name follows.
pub const LEASE_KEY_PREFIX: &str = "higress_wasm_vm_lease:";
/// How long a lease holds without renewal, in seconds.
pub const LEASE_SECONDS: u64 = 60;

thread_local! {
    static LEADER: Cell<bool> = const { Cell::new(false) };
    static VM_ID: RefCell<Option<String>> = const { RefCell::new(None) };
}

#[derive(Serialize, Deserialize)]
struct Lease {
    #[serde(rename = "vmID")]
    vm_id: String,
    timestamp: u64,
}

/// This VM's id in the lease: random (WASI `random_get` through std's hasher keys) and
/// fixed for the VM's life, in UUID form.
pub fn vm_id() -> String {
    VM_ID.with(|id| id.borrow_mut().get_or_insert_with(random_uuid).clone())
}

/// A new random id in UUID form (WASI `random_get` through std's hasher keys).
pub(crate) fn random_uuid() -> String {
    use std::hash::{BuildHasher, Hasher};
    let now = raw::get_current_time_nanos().unwrap_or(0);
    let mut words = [0u64; 2];
    for (i, w) in words.iter_mut().enumerate() {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(now);
        h.write_usize(i);
        *w = h.finish();
    }
    let hex = format!("{:016x}{:016x}", words[0], words[1]);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// The shared-data key of this plugin's lease: `higress_wasm_vm_lease:<plugin_name>`.
pub fn lease_key() -> String {
    let name = raw::get_property(&["plugin_name"])
        .ok()
        .flatten()
        .filter(|b| !b.is_empty())
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_else(state::plugin_name);
    format!("{LEASE_KEY_PREFIX}{name}")
}

fn now_seconds() -> u64 {
    raw::get_current_time_nanos().unwrap_or(0) / 1_000_000_000
}

/// Takes or renews the lease if it is free, expired or ours; returns (and remembers for
/// [`is_leader`]) whether this VM leads. A host error counts as not leading and is logged
/// at debug level.
pub fn do_leader_election() -> bool {
    let leader = match try_election() {
        Ok(leader) => leader,
        Err(e) => {
            crate::debug!("leader election failed: {e}");
            false
        }
    };
    LEADER.with(|l| l.set(leader));
    leader
}

fn try_election() -> Result<bool> {
    let key = lease_key();
    let me = vm_id();
    let now = now_seconds();
    let ours = serde_json::to_vec(&Lease {
        vm_id: me.clone(),
        timestamp: now,
    })?;
    let cas = match raw::get_shared_data(&key)? {
        None => 0,
        Some((value, cas)) => match serde_json::from_slice::<Lease>(&value) {
            Ok(lease)
                if lease.vm_id != me && now.saturating_sub(lease.timestamp) <= LEASE_SECONDS =>
            {
                return Ok(false);
            }
            // Ours, expired, or unreadable: take it over.
            _ => cas,
        },
    };
    match raw::set_shared_data(&key, &ours, cas) {
        Ok(()) => {}
        Err(e) if e.status() == Some(wasmgate_abi::Status::CasMismatch) => return Ok(false),
        Err(e) => return Err(e),
    }
    if cas != 0 {
        return Ok(true);
    }
    // An absent key was written unconditionally: lead only if the write is still there.
    let held = raw::get_shared_data(&key)?
        .and_then(|(value, _)| serde_json::from_slice::<Lease>(&value).ok())
        .is_some_and(|lease| lease.vm_id == me);
    Ok(held)
}

/// Whether the last [`do_leader_election`] made this VM the leader (false before any).
pub fn is_leader() -> bool {
    LEADER.with(Cell::get)
}
