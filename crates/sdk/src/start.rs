//! The start sequence (`proxy_on_configure`): the start hook runs; the configuration is read
//! (an empty one is taken as `{}` with a warning; anything but a JSON object fails the
//! start); `_plugin_id_` is removed and used in log lines; the global config and each
//! `_rules_` entry are parsed and checked (see [`rules`](crate::rules)). Any failure is a
//! [`StartError`], logged as one line that says what is wrong.

use std::fmt;

use serde_json::{Map, Value};
use wasmgate_abi::BufferType;

use crate::definition::Definition;
use crate::error::Error;
use crate::plugin_context::PluginContext;
use crate::rules::{ConfigError, RuleSet, PLUGIN_ID_KEY};
use crate::{raw, state};

/// Why a plugin did not start.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum StartError {
    /// The start hook returned an error.
    Hook(Error),
    /// The host did not hand over the configuration.
    ReadConfig(Error),
    /// The configuration is not JSON (the parser's message).
    NotJson(String),
    /// The configuration is JSON but not an object.
    NotAnObject,
    /// The config type has no serde `Deserialize` and the plugin gave no parse function.
    NoParser,
    /// The global config or a rule was refused.
    Config(ConfigError),
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::Hook(e) => write!(f, "start hook failed: {e}"),
            StartError::ReadConfig(e) => write!(f, "cannot read the configuration: {e}"),
            StartError::NotJson(e) => write!(f, "the configuration is not valid JSON: {e}"),
            StartError::NotAnObject => f.write_str("the configuration must be a JSON object"),
            StartError::NoParser => {
                f.write_str("the config type has no serde Deserialize impl and no parse function")
            }
            StartError::Config(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for StartError {}

impl From<ConfigError> for StartError {
    fn from(e: ConfigError) -> Self {
        StartError::Config(e)
    }
}

/// Starts `plugin` with the configuration of `size` bytes the host holds: its parsed rules.
pub(crate) fn start<C>(plugin: &Definition<C>, size: usize) -> Result<RuleSet<C>, StartError> {
    if let Some(hook) = &plugin.on_plugin_start {
        hook(&PluginContext::default()).map_err(StartError::Hook)?;
    }
    if plugin.max_requests_per_io_cycle > 0 {
        let arg = plugin.max_requests_per_io_cycle.to_le_bytes();
        if let Err(e) = raw::call_foreign_function("set_global_max_requests_per_io_cycle", &arg) {
            crate::warn!("cannot set max requests per io cycle: {e}");
        }
    }
    let bytes = raw::get_buffer(BufferType::PluginConfiguration, 0, size)
        .map_err(StartError::ReadConfig)?
        .unwrap_or_default();
    let value = if bytes.iter().all(u8::is_ascii_whitespace) {
        crate::warn!("the configuration is empty; using {{}}");
        Value::Object(Map::new())
    } else {
        serde_json::from_slice(&bytes).map_err(|e| StartError::NotJson(e.to_string()))?
    };
    let Value::Object(mut map) = value else {
        return Err(StartError::NotAnObject);
    };
    let plugin_id = map.remove(PLUGIN_ID_KEY).map(|v| match v {
        Value::String(s) => s,
        other => other.to_string(),
    });
    state::set_plugin_id(plugin_id);
    let Some(parse) = &plugin.parse else {
        return Err(StartError::NoParser);
    };
    let validate = |c: C| -> Result<C, ConfigError> {
        if let Some(v) = &plugin.validate {
            v(&c)?;
        }
        Ok(c)
    };
    let parse_global = |json: &Map<String, Value>| validate(parse(json)?);
    let parse_rule = |rule: &Map<String, Value>,
                      global_json: &Map<String, Value>,
                      global: Option<&C>|
     -> Result<C, ConfigError> {
        if plugin.merge {
            let mut merged = global_json.clone();
            for (k, v) in rule {
                merged.insert(k.clone(), v.clone());
            }
            return validate(parse(&merged)?);
        }
        match &plugin.parse_rule {
            Some(f) => validate(f(rule, global_json, global)?),
            None => validate(parse(rule)?),
        }
    };
    let rules = RuleSet::parse(&map, &parse_global, &parse_rule)?;
    for warning in &rules.warnings {
        crate::warn!("{warning}");
    }
    Ok(rules)
}
