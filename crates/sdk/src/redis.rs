//! The Redis client (Higress extension): placeholder until the client lands.

/// `proxy_on_redis_call_response`.
pub(crate) fn on_response(_token: u32, _status: i32, _size: usize) {}
