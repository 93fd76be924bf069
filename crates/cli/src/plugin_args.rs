//! Turns `--plugin A --config a.yaml --plugin B --config-json '{..}'` into the plugin chain:
//! each configuration belongs to the `--plugin` before it. YAML configurations are turned
//! into JSON, as Higress does.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::ArgMatches;
use wasmgate_proxy::PluginSpec;

/// The plugin chain from the `run` arguments.
pub fn plugin_chain(matches: &ArgMatches, fail_open: bool) -> Result<Vec<PluginSpec>> {
    let plugins = indexed::<PathBuf>(matches, "plugin");
    let files = indexed::<PathBuf>(matches, "config");
    let inline = indexed::<String>(matches, "config_json");
    let mut chain: Vec<(usize, PluginSpec)> = plugins
        .into_iter()
        .map(|(index, wasm)| {
            let spec = PluginSpec {
                name: plugin_name(&wasm),
                wasm,
                config: Vec::new(),
                fail_open,
            };
            (index, spec)
        })
        .collect();
    let mut configs: Vec<(usize, Vec<u8>)> = Vec::new();
    for (index, file) in files {
        configs.push((index, config_file(&file)?));
    }
    for (index, text) in inline {
        configs.push((
            index,
            to_json(&text).context("--config-json is not JSON or YAML")?,
        ));
    }
    for (index, config) in configs {
        let Some((_, owner)) = chain.iter_mut().rev().find(|(at, _)| *at < index) else {
            bail!("a --config or --config-json comes before any --plugin; put it after the plugin it configures");
        };
        if !owner.config.is_empty() {
            bail!("plugin {} has two configurations; give each --plugin one --config or --config-json", owner.name);
        }
        owner.config = config;
    }
    dedupe_names(&mut chain);
    Ok(chain.into_iter().map(|(_, spec)| spec).collect())
}

fn indexed<T: Clone + Send + Sync + 'static>(matches: &ArgMatches, id: &str) -> Vec<(usize, T)> {
    match (matches.indices_of(id), matches.get_many::<T>(id)) {
        (Some(indices), Some(values)) => indices.zip(values.cloned()).collect(),
        _ => Vec::new(),
    }
}

/// The file stem, or the directory's name for a `main.wasm`/`plugin.wasm`.
fn plugin_name(wasm: &Path) -> String {
    let stem = wasm
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    if matches!(stem.as_str(), "main" | "plugin" | "") {
        if let Some(dir) = wasm.canonicalize().ok().and_then(|p| {
            p.parent()
                .and_then(|d| d.file_name())
                .map(|d| d.to_string_lossy().into_owned())
        }) {
            return dir;
        }
    }
    stem
}

fn dedupe_names(chain: &mut [(usize, PluginSpec)]) {
    for i in 1..chain.len() {
        let taken = chain[..i]
            .iter()
            .filter(|(_, s)| s.name == chain[i].1.name)
            .count();
        if taken > 0 {
            chain[i].1.name = format!("{}-{}", chain[i].1.name, taken + 1);
        }
    }
}

/// Reads a configuration file as JSON or YAML and returns its JSON text.
pub fn config_file(path: &Path) -> Result<Vec<u8>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the plugin configuration {}", path.display()))?;
    to_json(&text).with_context(|| format!("{} is not JSON or YAML", path.display()))
}

/// JSON text for a JSON or YAML document (an empty document is an empty configuration).
pub fn to_json(text: &str) -> Result<Vec<u8>> {
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    if let Ok(value) = serde_json::from_str::<serde_json::Value>(text) {
        return Ok(serde_json::to_vec(&value)?);
    }
    let value: serde_json::Value =
        serde_yaml::from_str(text).map_err(|e| anyhow::anyhow!("{e}"))?;
    if !value.is_object() {
        bail!(
            "a plugin configuration must be a mapping, not {}",
            kind(&value)
        );
    }
    Ok(serde_json::to_vec(&value)?)
}

fn kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "a list",
        serde_json::Value::Object(_) => "a mapping",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_becomes_json() {
        let json = to_json("mockEnable: true\nlist: [1, 2]\n").unwrap();
        let value: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(
            value,
            serde_json::json!({"mockEnable": true, "list": [1, 2]})
        );
    }

    #[test]
    fn json_stays_json_and_empty_is_empty() {
        assert_eq!(to_json(r#"{"a":1}"#).unwrap(), br#"{"a":1}"#);
        assert!(to_json("  \n").unwrap().is_empty());
    }

    #[test]
    fn text_that_is_neither_is_an_error() {
        let err = to_json("a: [unclosed").unwrap_err().to_string();
        assert!(err.contains("line 1"), "{err}");
        assert!(to_json("just a string")
            .unwrap_err()
            .to_string()
            .contains("must be a mapping"));
    }
}
