//! Higress `WasmPlugin` resources (`extensions.higress.io/v1alpha1`) as they are: `url`,
//! `defaultConfig`, `matchRules`, `phase`, `priority`, `failStrategy`.

use std::path::Path;

use serde::Deserialize;

use super::entry::{fail_strategy, file_stem, phase, yaml_object};
use super::error::{ConfigError, Locator};
use super::rules::{plugin_json, MatchRule};
use super::source::{SourceOptions, Sources};
use super::spec::PluginSpec;

/// A Higress `WasmPlugin` resource (`extensions.higress.io/v1alpha1`).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WasmPlugin {
    api_version: Option<String>,
    kind: Option<String>,
    metadata: Option<Metadata>,
    spec: WasmPluginSpec,
}

#[derive(Deserialize)]
struct Metadata {
    name: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WasmPluginSpec {
    url: Option<String>,
    sha256: Option<String>,
    image_pull_policy: Option<String>,
    image_pull_secret: Option<String>,
    default_config: Option<serde_yaml::Value>,
    #[serde(default)]
    default_config_disable: bool,
    #[serde(default)]
    match_rules: Vec<WasmPluginRule>,
    phase: Option<String>,
    priority: Option<i64>,
    fail_strategy: Option<String>,
    plugin_name: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WasmPluginRule {
    #[serde(default)]
    ingress: Vec<String>,
    #[serde(default)]
    domain: Vec<String>,
    #[serde(default)]
    service: Vec<String>,
    config: Option<serde_yaml::Value>,
    #[serde(default)]
    config_disable: bool,
}

/// Reads the resource at `path`; `outer` locates errors in the file that names it.
pub(crate) fn wasmplugin(
    outer: &Locator<'_>,
    path: &Path,
    name: Option<String>,
    sources: &Sources,
) -> Result<PluginSpec, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        outer.error(
            &path.display().to_string(),
            &format!(
                "cannot read the WasmPlugin resource {}: {e}",
                path.display()
            ),
        )
    })?;
    let at = Locator {
        file: path,
        text: &text,
    };
    let resource: WasmPlugin = serde_yaml::from_str(&text).map_err(|e| at.yaml(e))?;
    if resource.kind.as_deref().is_some_and(|k| k != "WasmPlugin") {
        return Err(at.error("kind:", "kind must be WasmPlugin"));
    }
    if let Some(version) = &resource.api_version {
        if !version.starts_with("extensions.higress.io/")
            && !version.starts_with("extensions.istio.io/")
        {
            return Err(at.error(
                "apiVersion:",
                &format!("apiVersion {version} is not extensions.higress.io/v1alpha1"),
            ));
        }
    }
    let spec = resource.spec;
    let url = spec.url.as_deref().ok_or_else(|| {
        at.error(
            "spec:",
            "spec.url is missing: give file:///path/to/plugin.wasm or a path",
        )
    })?;
    let options = SourceOptions {
        sha256: spec.sha256.as_deref(),
        pull_policy: spec.image_pull_policy.as_deref(),
        pull_secret: spec.image_pull_secret.as_deref(),
    };
    let base = path.parent().unwrap_or(Path::new("."));
    let (wasm_path, fetched) = sources.resolve(&at, base, url, options)?;
    let name = name
        .or(resource.metadata.and_then(|m| m.name))
        .unwrap_or_else(|| file_stem(&wasm_path));
    let global = yaml_object(&at, &name, spec.default_config)?;
    let mut rules = Vec::new();
    for rule in spec.match_rules {
        let parsed = MatchRule {
            routes: rule.ingress,
            domains: rule.domain,
            services: rule.service,
            config: yaml_object(&at, &name, rule.config)?,
            disabled: rule.config_disable,
        };
        if !parsed.has_matcher() {
            return Err(at.error(
                "matchRules:",
                "a matchRules entry has no ingress, domain or service",
            ));
        }
        rules.push(parsed);
    }
    let json = plugin_json(global, spec.default_config_disable, &rules);
    Ok(PluginSpec {
        name,
        wasm: wasm_path,
        config: sources.plugin_config(&at, json)?,
        fail_policy: fail_strategy(&at, spec.fail_strategy.as_deref())?,
        root_id: spec.plugin_name.unwrap_or_default(),
        url: fetched,
        phase: phase(&at, spec.phase.as_deref())?,
        priority: spec.priority.unwrap_or(0),
    })
}
