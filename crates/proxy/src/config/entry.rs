//! What every plugin entry shares, written in `wasmgate.yaml` or in a `WasmPlugin`
//! resource: its place in Higress's order (phase, priority), the check that its file is a
//! wasm module, and its configuration as a JSON object.

use std::path::Path;

use serde_json::{Map, Value};

use super::error::{ConfigError, Locator};
use super::spec::{Phase, PluginSpec};

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
