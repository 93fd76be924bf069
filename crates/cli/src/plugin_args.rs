//! Turns `--plugin A --config a.yaml --plugin B --name b --config-json '{..}'` into the
//! plugin chain: each configuration and each `--name` belongs to the `--plugin` before it.
//! A plugin without `--name` is named after its file, or after its directory for a
//! `main.wasm`/`plugin.wasm`; in Higress's layout `NAME/VERSION/plugin.wasm` it is NAME.
//! YAML configurations are turned into JSON, as Higress does.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::ArgMatches;
use wasmgate_proxy::{FailPolicy, PluginSpec};

/// The plugin chain from the `run` arguments.
pub fn plugin_chain(matches: &ArgMatches, fail_open: bool) -> Result<Vec<PluginSpec>> {
    let plugins = indexed::<PathBuf>(matches, "plugin");
    let files = indexed::<PathBuf>(matches, "config");
    let inline = indexed::<String>(matches, "config_json");
    let names = indexed::<String>(matches, "name");
    let mut chain: Vec<(usize, PluginSpec)> = Vec::new();
    for (index, written) in plugins {
        let (wasm, url) = fetched(&written)?;
        let name = url
            .as_deref()
            .map_or_else(|| plugin_name(&wasm), image_name);
        let mut spec = PluginSpec::new(name, wasm, Vec::new());
        spec.url = url;
        if fail_open {
            spec.fail_policy = FailPolicy::Open;
        }
        chain.push((index, spec));
    }
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
    let mut named = vec![false; chain.len()];
    for (index, name) in names {
        let Some(owner) = chain.iter().rposition(|(at, _)| *at < index) else {
            bail!("a --name comes before any --plugin; put it after the plugin it names");
        };
        if named[owner] {
            bail!(
                "plugin {} has two names; give each --plugin one --name",
                chain[owner].1.name
            );
        }
        if let Some(other) = chain
            .iter()
            .zip(&named)
            .position(|((_, s), n)| *n && s.name == name)
        {
            bail!(
                "--name {name} names two plugins (the {} and the {})",
                ordinal(other),
                ordinal(owner)
            );
        }
        named[owner] = true;
        chain[owner].1.name = name;
    }
    dedupe_names(&mut chain, &named);
    Ok(chain.into_iter().map(|(_, spec)| spec).collect())
}

fn indexed<T: Clone + Send + Sync + 'static>(matches: &ArgMatches, id: &str) -> Vec<(usize, T)> {
    match (matches.indices_of(id), matches.get_many::<T>(id)) {
        (Some(indices), Some(values)) => indices.zip(values.cloned()).collect(),
        _ => Vec::new(),
    }
}

/// The file stem, or the directory's name for a `main.wasm`/`plugin.wasm`: the name above
/// the version directory in Higress's `NAME/VERSION/plugin.wasm`.
/// A `--plugin` that is an `oci://` image or an `http(s)://` URL, fetched into the cache
/// (wasmgate-images: docker config credentials, the default pull policy); a path as it is.
fn fetched(written: &Path) -> Result<(PathBuf, Option<String>)> {
    let text = written.to_string_lossy();
    let url = wasmgate_images::PluginUrl::parse(&text, Path::new(""))?;
    if !url.is_remote() {
        return Ok((written.to_path_buf(), None));
    }
    let settings = wasmgate_proxy::default_fetch_settings();
    let source = wasmgate_images::PluginSource {
        url: text.to_string(),
        ..Default::default()
    };
    let path = wasmgate_images::Fetcher::new(settings).fetch(&source)?;
    Ok((path, Some(text.into_owned())))
}

/// A fetched plugin's name: its image's repository or URL's file name, without tag or
/// extension (`oci://r/plugins/key-auth:1.0.0` → `key-auth`).
fn image_name(url: &str) -> String {
    let last = url.rsplit('/').next().unwrap_or(url);
    let last = last.split(['@', ':']).next().unwrap_or(last);
    last.strip_suffix(".wasm").unwrap_or(last).to_string()
}

fn plugin_name(wasm: &Path) -> String {
    let stem = wasm
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    if matches!(stem.as_str(), "main" | "plugin" | "") {
        let path = wasm.canonicalize().unwrap_or_else(|_| wasm.to_path_buf());
        let mut dirs = path
            .ancestors()
            .skip(1)
            .filter_map(|d| d.file_name())
            .map(|d| d.to_string_lossy().into_owned());
        match (dirs.next(), dirs.next()) {
            (Some(version), Some(name)) if is_version(&version) => return name,
            (Some(dir), _) => return dir,
            _ => {}
        }
    }
    stem
}

/// A version directory of Higress's plugin layout: `1.0.0`, `v2`, `2.1.0-rc1`.
fn is_version(dir: &str) -> bool {
    let digits = dir.strip_prefix('v').unwrap_or(dir);
    digits.starts_with(|c: char| c.is_ascii_digit())
        && digits
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+' | '_'))
}

/// "1st", "2nd", … for a plugin's position in the chain.
fn ordinal(index: usize) -> String {
    let n = index + 1;
    let suffix = match (n % 10, n % 100) {
        (1, 11) | (2, 12) | (3, 13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

/// Gives each plugin not named with `--name` a name no other plugin has: `NAME-2`, ….
fn dedupe_names(chain: &mut [(usize, PluginSpec)], named: &[bool]) {
    for i in 0..chain.len() {
        if named[i] {
            continue;
        }
        let base = chain[i].1.name.clone();
        let taken = |name: &str, chain: &[(usize, PluginSpec)]| {
            chain
                .iter()
                .enumerate()
                .any(|(j, (_, s))| j != i && (j < i || named[j]) && s.name == name)
        };
        let mut n = 1;
        while taken(&chain[i].1.name, chain) {
            n += 1;
            chain[i].1.name = format!("{base}-{n}");
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
    fn a_plugin_is_named_after_its_file_or_its_directory() {
        let dir = std::env::temp_dir().join(format!("wasmgate-names-{}", std::process::id()));
        let higress = dir.join("key-auth/1.0.0");
        std::fs::create_dir_all(&higress).unwrap();
        std::fs::create_dir_all(dir.join("my-plugin")).unwrap();
        for (wasm, name) in [
            (higress.join("plugin.wasm"), "key-auth"),
            (dir.join("key-auth/v2/main.wasm"), "key-auth"),
            (dir.join("my-plugin/main.wasm"), "my-plugin"),
            (dir.join("auth.wasm"), "auth"),
            (dir.join("key-auth/1.0.0/other.wasm"), "other"),
        ] {
            assert_eq!(plugin_name(&wasm), name, "{}", wasm.display());
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

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
