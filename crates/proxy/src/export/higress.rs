//! Higress `WasmPlugin` resources (`extensions.higress.io/v1alpha1`) for the plugin chain,
//! as Higress's controller reads them: `url` (where the plugin came from, else a `file://`
//! URL of its wasm) with the wasm's `sha256`, `phase` and `priority` that give the same
//! order, `failStrategy`, `defaultConfig`, and `matchRules` taken back from the `_rules_` of
//! the plugin's configuration. Read back by wasmgate's own `WasmPlugin` loader, they give the
//! same configuration and the same chain. The routes and clusters become `Ingress` and
//! `McpBridge` resources (see `ingress`).

use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use super::error::ExportError;
use super::ingress::{kube_name, routes, HIGRESS_NAMESPACE};
use crate::config::{FailPolicy, GatewayConfig, PluginSpec};

/// A Higress export.
#[derive(Debug, Clone)]
pub struct HigressExport {
    /// The resources, each with a file name for it: the `WasmPlugin`s in chain order, then
    /// the `McpBridge` (when clusters need one) and the `Ingress`es in route order.
    pub resources: Vec<(String, Value)>,
    /// What Higress does differently or has no form for.
    pub notes: Vec<String>,
}

/// The Higress export of `config`.
pub fn higress(config: &GatewayConfig) -> Result<HigressExport, ExportError> {
    let mut notes = Vec::new();
    let mut resources = Vec::new();
    let priorities = distinct_priorities(&config.plugins, &mut notes);
    for (plugin, priority) in config.plugins.iter().zip(priorities) {
        let resource = wasmplugin(plugin, priority, &mut notes)?;
        resources.push((format!("wasmplugin-{}.yaml", plugin.name), resource));
    }
    resources.extend(routes(config, &mut notes)?);
    if config.listeners.iter().any(|l| l.tls.is_some()) {
        notes.push(
            "listeners with TLS: give Higress the certificates as Secrets and name them in the \
             Ingresses' spec.tls"
                .to_string(),
        );
    }
    Ok(HigressExport { resources, notes })
}

/// The priorities to write: the plugins' own, lowered where two in a phase tie (Higress
/// orders ties by creation time, not by the order written).
fn distinct_priorities(plugins: &[PluginSpec], notes: &mut Vec<String>) -> Vec<i64> {
    let mut out: Vec<i64> = Vec::new();
    for (i, plugin) in plugins.iter().enumerate() {
        let before = i
            .checked_sub(1)
            .filter(|&j| plugins[j].phase == plugin.phase)
            .map(|j| out[j]);
        let priority = match before {
            Some(previous) if plugin.priority >= previous => {
                notes.push(format!(
                    "plugin {}: priority {} written as {} so that Higress keeps the chain's order",
                    plugin.name,
                    plugin.priority,
                    previous - 1
                ));
                previous - 1
            }
            _ => plugin.priority,
        };
        out.push(priority);
    }
    out
}

fn wasmplugin(
    plugin: &PluginSpec,
    priority: i64,
    notes: &mut Vec<String>,
) -> Result<Value, ExportError> {
    let name = kube_name(&plugin.name).ok_or_else(|| {
        ExportError::NoForm(format!(
            "plugin name {:?} is not a Kubernetes name (lower-case letters, digits, '-' and \
             '.'): rename the plugin to export it as a WasmPlugin",
            plugin.name
        ))
    })?;
    let Split { global, rules } = split_config(plugin, notes)?;
    let mut spec = json!({});
    match &plugin.url {
        Some(url) => {
            spec["url"] = json!(url);
            if !url.starts_with("oci://") {
                spec["sha256"] = json!(wasm_sha256(plugin)?);
            }
        }
        None => {
            let path = std::path::absolute(&plugin.wasm).unwrap_or_else(|_| plugin.wasm.clone());
            spec["url"] = json!(format!("file://{}", path.display()));
            spec["sha256"] = json!(wasm_sha256(plugin)?);
            notes.push(format!(
                "plugin {}: url is a file on this machine; push it (wasmgate push) and put the \
                 image's oci:// URL there for the fleet",
                plugin.name
            ));
        }
    }
    spec["phase"] = json!(plugin.phase.as_str());
    spec["priority"] = json!(priority);
    // Without a failStrategy, wasmgate reads a WasmPlugin back as its default (reload).
    match plugin.fail_policy {
        FailPolicy::Reload => {}
        FailPolicy::Closed => spec["failStrategy"] = json!("FAIL_CLOSE"),
        FailPolicy::Open => spec["failStrategy"] = json!("FAIL_OPEN"),
    }
    if !plugin.root_id.is_empty() {
        spec["pluginName"] = json!(plugin.root_id);
    }
    if let Some(global) = global {
        if !global.is_empty() || rules.is_empty() {
            spec["defaultConfig"] = Value::Object(global);
        }
    }
    if !rules.is_empty() {
        spec["matchRules"] = Value::Array(rules);
    }
    Ok(json!({
        "apiVersion": "extensions.higress.io/v1alpha1",
        "kind": "WasmPlugin",
        "metadata": {"name": name, "namespace": HIGRESS_NAMESPACE},
        "spec": spec
    }))
}

fn wasm_sha256(plugin: &PluginSpec) -> Result<String, ExportError> {
    let bytes = std::fs::read(&plugin.wasm).map_err(|source| ExportError::ReadWasm {
        plugin: plugin.name.clone(),
        path: plugin.wasm.clone(),
        source,
    })?;
    Ok(format!("{:x}", Sha256::digest(bytes)))
}

/// A plugin's configuration as a `WasmPlugin` has it.
struct Split {
    /// The global part (`None`: no configuration at all).
    global: Option<Map<String, Value>>,
    /// `_rules_` as `matchRules` entries.
    rules: Vec<Value>,
}

fn split_config(plugin: &PluginSpec, notes: &mut Vec<String>) -> Result<Split, ExportError> {
    if plugin.config.iter().all(u8::is_ascii_whitespace) {
        return Ok(Split {
            global: None,
            rules: Vec::new(),
        });
    }
    let not_object = || {
        ExportError::NoForm(format!(
            "the configuration of plugin {} is not a JSON object, which a WasmPlugin's \
             defaultConfig must be: give it a mapping",
            plugin.name
        ))
    };
    let Ok(Value::Object(mut global)) = serde_json::from_slice::<Value>(&plugin.config) else {
        return Err(not_object());
    };
    let rules = match global.remove("_rules_") {
        None => Vec::new(),
        Some(Value::Array(rules)) => rules
            .into_iter()
            .map(|rule| match_rule(&plugin.name, rule, notes))
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(not_object()),
    };
    Ok(Split {
        global: Some(global),
        rules,
    })
}

/// A `_rules_` entry as a `matchRules` entry: `_match_route_` → `ingress`, `_match_domain_`
/// → `domain`, `_match_service_` → `service`, the rest → `config`.
fn match_rule(plugin: &str, rule: Value, notes: &mut Vec<String>) -> Result<Value, ExportError> {
    let Value::Object(mut config) = rule else {
        return Err(ExportError::NoForm(format!(
            "a _rules_ entry of plugin {plugin} is not a JSON object: give each rule a mapping"
        )));
    };
    let mut out = Map::new();
    if config.contains_key("_match_route_")
        && (config.contains_key("_match_domain_") || config.contains_key("_match_service_"))
    {
        notes.push(format!(
            "plugin {plugin}: a rule names routes and domains or services; Higress's \
             controller keeps only its routes"
        ));
    }
    for (key, field) in [
        ("_match_route_", "ingress"),
        ("_match_domain_", "domain"),
        ("_match_service_", "service"),
    ] {
        if let Some(list) = config.remove(key) {
            out.insert(field.to_string(), list);
        }
    }
    // Higress's controller refuses a rule without `config`.
    out.insert("config".to_string(), Value::Object(config));
    Ok(Value::Object(out))
}
