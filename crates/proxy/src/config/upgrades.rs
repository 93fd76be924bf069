//! Which HTTP upgrades (WebSocket, …) the gateway lets through, as Envoy's `upgrade_configs`:
//! a gateway-wide list (Envoy's connection manager's; WebSocket alone by default, as Higress
//! enables it) and a route's overrides (Envoy's `RouteAction.upgrade_configs`). A route's
//! entry for a type decides for it; otherwise the gateway's list does. The YAML of both
//! lists is read here.

use std::collections::HashSet;

use serde::Deserialize;

use super::error::{ConfigError, Locator};

/// One upgrade type and whether it is let through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpgradeSpec {
    /// The `Upgrade` header's value it is for, lower-cased (`websocket`); matched
    /// case-insensitively.
    pub upgrade_type: String,
    /// Whether such an upgrade is let through (default true).
    pub enabled: bool,
}

impl UpgradeSpec {
    /// `upgrade_type`, let through.
    pub fn enabled(upgrade_type: &str) -> UpgradeSpec {
        UpgradeSpec {
            upgrade_type: upgrade_type.to_ascii_lowercase(),
            enabled: true,
        }
    }
}

/// The gateway's list when the file gives none: WebSocket.
pub fn default_upgrades() -> Vec<UpgradeSpec> {
    vec![UpgradeSpec::enabled("websocket")]
}

/// Whether an upgrade to `upgrade_type` (lower-cased) is let through on a route with
/// `route` overrides under the gateway's list `gateway`, as Envoy decides: the route's entry
/// if it has one, else the gateway's; a type neither lists is refused.
pub fn upgrade_allowed(gateway: &[UpgradeSpec], route: &[UpgradeSpec], upgrade_type: &str) -> bool {
    let entry = |list: &[UpgradeSpec]| {
        list.iter()
            .find(|u| u.upgrade_type.eq_ignore_ascii_case(upgrade_type))
            .map(|u| u.enabled)
    };
    entry(route).or_else(|| entry(gateway)).unwrap_or(false)
}

/// An `upgrade_configs` entry as written.
#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "an upgrade: {upgrade_type: websocket, enabled: true}"
)]
pub(super) struct FileUpgrade {
    upgrade_type: String,
    enabled: Option<bool>,
}

/// The checked list `list`; `owner` says whose it is in errors (`the gateway`, `route r`).
/// `anchors` lead to the list's lines, as [`Locator::error_within`] takes them.
pub(super) fn upgrades(
    at: &Locator<'_>,
    anchors: &[&str],
    owner: &str,
    list: Vec<FileUpgrade>,
) -> Result<Vec<UpgradeSpec>, ConfigError> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for (index, entry) in list.into_iter().enumerate() {
        let error = |reason: String| {
            at.error_within(
                anchors,
                "upgrade_type",
                index,
                &format!("upgrade_configs entry {} of {owner}: {reason}", index + 1),
            )
        };
        let upgrade_type = entry.upgrade_type.trim().to_ascii_lowercase();
        if upgrade_type.is_empty() || !upgrade_type.bytes().all(is_token_byte) {
            return Err(error(format!(
                "upgrade_type {:?} is not an Upgrade header token; write the protocol a client asks for (websocket)",
                entry.upgrade_type
            )));
        }
        if upgrade_type == "connect" {
            return Err(error(
                "CONNECT is not supported (only upgrades such as websocket are); remove the entry"
                    .into(),
            ));
        }
        if upgrade_type == "h2c" {
            return Err(error(
                "h2c upgrades are not proxied (as in Envoy, which drops them); clients reach HTTP/2 by prior knowledge or ALPN"
                    .into(),
            ));
        }
        if !seen.insert(upgrade_type.clone()) {
            return Err(error(format!(
                "upgrade_type {upgrade_type} is listed twice; keep one entry"
            )));
        }
        out.push(UpgradeSpec {
            upgrade_type,
            enabled: entry.enabled.unwrap_or(true),
        });
    }
    Ok(out)
}

/// A byte of an HTTP token (RFC 9110's `tchar`; `/` too, for `name/version` protocols).
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~/".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn off(upgrade_type: &str) -> UpgradeSpec {
        UpgradeSpec {
            upgrade_type: upgrade_type.into(),
            enabled: false,
        }
    }

    #[test]
    fn a_route_entry_decides_over_the_gateways_as_envoys_table_says() {
        let on = [UpgradeSpec::enabled("websocket")];
        let disabled = [off("websocket")];
        assert!(upgrade_allowed(&on, &[], "websocket"));
        assert!(!upgrade_allowed(&on, &disabled, "websocket"));
        assert!(upgrade_allowed(&disabled, &on, "websocket"));
        assert!(!upgrade_allowed(&disabled, &[], "websocket"));
        assert!(!upgrade_allowed(&disabled, &disabled, "websocket"));
    }

    #[test]
    fn a_type_nobody_lists_is_refused_and_types_match_without_case() {
        let on = [UpgradeSpec::enabled("WebSocket")];
        assert!(upgrade_allowed(&on, &[], "websocket"));
        assert!(!upgrade_allowed(&on, &[], "foo"));
        assert!(upgrade_allowed(&on, &[UpgradeSpec::enabled("foo")], "foo"));
    }
}
