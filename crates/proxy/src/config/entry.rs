//! What every plugin entry shares, written in `wasmgate.yaml` or in a `WasmPlugin`
//! resource: its place in Higress's order (phase, priority), the check that its file is a
//! wasm module, and its configuration as a JSON object.

use std::path::Path;

use serde_json::{Map, Value};

use super::error::{ConfigError, Locator};
use super::spec::{FailPolicy, Phase, PluginSpec};

/// Higress's plugin order: by phase, then higher priority first; ties keep the given order.
pub(crate) fn in_higress_order(mut plugins: Vec<PluginSpec>) -> Vec<PluginSpec> {
    plugins.sort_by(|a, b| a.phase.cmp(&b.phase).then(b.priority.cmp(&a.priority)));
    plugins
}

/// A Higress phase name.
pub(crate) fn phase(at: &Locator<'_>, phase: Option<&str>) -> Result<Phase, ConfigError> {
    match phase.unwrap_or("UNSPECIFIED_PHASE") {
        "AUTHN" => Ok(Phase::Authn),
        "AUTHZ" => Ok(Phase::Authz),
        "STATS" => Ok(Phase::Stats),
        "UNSPECIFIED" | "UNSPECIFIED_PHASE" => Ok(Phase::Unspecified),
        other => Err(at.error(
            other,
            &format!("phase {other:?} is not AUTHN, AUTHZ, STATS or UNSPECIFIED_PHASE"),
        )),
    }
}

/// A `wasmgate.yaml` plugin's `fail_policy` (`reload`, `closed`, `open`); `fail_open: true`
/// is `open`.
pub(crate) fn fail_policy(
    at: &Locator<'_>,
    written: Option<&str>,
    fail_open: bool,
) -> Result<FailPolicy, ConfigError> {
    let policy = match written {
        None if fail_open => FailPolicy::Open,
        None | Some("reload") => FailPolicy::Reload,
        Some("closed") => FailPolicy::Closed,
        Some("open") => FailPolicy::Open,
        Some(other) => {
            return Err(at.error(
                other,
                &format!("fail_policy {other:?} is not reload, closed or open"),
            ))
        }
    };
    if fail_open && policy != FailPolicy::Open {
        return Err(at.error(
            "fail_open",
            "fail_open: true contradicts the fail_policy; keep one of them",
        ));
    }
    Ok(policy)
}

/// A `WasmPlugin`'s `failStrategy` (Higress and Istio: `FAIL_CLOSE`, `FAIL_OPEN`; Envoy's
/// `FAIL_RELOAD` too). Without one, wasmgate's default: [`FailPolicy::Reload`].
pub(crate) fn fail_strategy(
    at: &Locator<'_>,
    written: Option<&str>,
) -> Result<FailPolicy, ConfigError> {
    match written {
        None | Some("FAIL_RELOAD") => Ok(FailPolicy::Reload),
        Some("FAIL_CLOSE") => Ok(FailPolicy::Closed),
        Some("FAIL_OPEN") => Ok(FailPolicy::Open),
        Some(other) => Err(at.error(
            other,
            &format!("failStrategy {other:?} is not FAIL_CLOSE, FAIL_OPEN or FAIL_RELOAD"),
        )),
    }
}

/// Checks that `path` (written as `written`) is a wasm module.
pub(crate) fn check_wasm(at: &Locator<'_>, written: &str, path: &Path) -> Result<(), ConfigError> {
    let mut magic = [0u8; 4];
    let read =
        std::fs::File::open(path).and_then(|mut f| std::io::Read::read_exact(&mut f, &mut magic));
    match read {
        Err(e) => Err(at.error(written, &format!("plugin file {}: {e}", path.display()))),
        Ok(()) if &magic != b"\0asm" => {
            Err(at.error(written, &format!("{} is not a wasm module", path.display())))
        }
        Ok(()) => Ok(()),
    }
}

/// A plugin's default name: its file's stem.
pub(crate) fn file_stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "plugin".into())
}

/// A plugin's YAML configuration as a JSON object (none is `{}`).
pub(crate) fn yaml_object(
    at: &Locator<'_>,
    plugin: &str,
    value: Option<serde_yaml::Value>,
) -> Result<Map<String, Value>, ConfigError> {
    let Some(value) = value else {
        return Ok(Map::new());
    };
    let json: Value = serde_json::to_value(&value).map_err(|e| {
        at.error(
            "config",
            &format!("config of plugin {plugin} cannot become JSON: {e}"),
        )
    })?;
    match json {
        Value::Object(map) => Ok(map),
        Value::Null => Ok(Map::new()),
        _ => Err(at.error(
            "config",
            &format!("config of plugin {plugin} must be a mapping"),
        )),
    }
}
