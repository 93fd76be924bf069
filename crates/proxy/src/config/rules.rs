//! The plugin configuration Higress's controller builds: the global configuration at the top
//! level and the match rules under `_rules_`, each with its `_match_route_`,
//! `_match_domain_` and `_match_service_` lists, in the order written. Disabled rules are
//! left out, and a disabled global configuration leaves only the rules.

use serde_json::{Map, Value};

/// One match rule.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MatchRule {
    /// Route names (`_match_route_`; Higress writes `namespace/ingress`).
    pub routes: Vec<String>,
    /// Host patterns (`_match_domain_`).
    pub domains: Vec<String>,
    /// Services, `fqdn` or `fqdn:port` (`_match_service_`).
    pub services: Vec<String>,
    /// The rule's configuration (a JSON object).
    pub config: Map<String, Value>,
    /// `configDisable`: the rule is dropped.
    pub disabled: bool,
}

impl MatchRule {
    /// Whether the rule names anything to match.
    pub fn has_matcher(&self) -> bool {
        !(self.routes.is_empty() && self.domains.is_empty() && self.services.is_empty())
    }
}

/// The JSON a plugin receives: `global` (unless disabled) plus `_rules_`.
pub fn plugin_json(
    global: Map<String, Value>,
    global_disabled: bool,
    rules: &[MatchRule],
) -> Value {
    let mut out = if global_disabled { Map::new() } else { global };
    let rules: Vec<Value> = rules
        .iter()
        .filter(|r| !r.disabled)
        .map(rule_json)
        .collect();
    if !rules.is_empty() {
        out.insert("_rules_".into(), Value::Array(rules));
    }
    Value::Object(out)
}

fn rule_json(rule: &MatchRule) -> Value {
    let mut out = Map::new();
    for (key, list) in [
        ("_match_route_", &rule.routes),
        ("_match_domain_", &rule.domains),
        ("_match_service_", &rule.services),
    ] {
        if !list.is_empty() {
            out.insert(
                key.into(),
                Value::Array(list.iter().cloned().map(Value::String).collect()),
            );
        }
    }
    for (key, value) in &rule.config {
        out.insert(key.clone(), value.clone());
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap()
    }

    #[test]
    fn global_and_rules_as_higress_builds_them() {
        let rules = vec![
            MatchRule {
                routes: vec!["default/api".into()],
                config: object(json!({"allow": ["a"]})),
                ..Default::default()
            },
            MatchRule {
                domains: vec!["*.example.com".into()],
                services: vec!["svc.dns:80".into()],
                config: object(json!({"allow": ["b"]})),
                ..Default::default()
            },
            MatchRule {
                routes: vec!["off".into()],
                disabled: true,
                ..Default::default()
            },
        ];
        let json = plugin_json(object(json!({"keys": ["k"]})), false, &rules);
        assert_eq!(
            json,
            json!({
                "keys": ["k"],
                "_rules_": [
                    {"_match_route_": ["default/api"], "allow": ["a"]},
                    {"_match_domain_": ["*.example.com"], "_match_service_": ["svc.dns:80"], "allow": ["b"]}
                ]
            })
        );
        let json = plugin_json(object(json!({"keys": ["k"]})), true, &rules[..1]);
        assert_eq!(
            json,
            json!({"_rules_": [{"_match_route_": ["default/api"], "allow": ["a"]}]})
        );
        assert_eq!(plugin_json(Map::new(), false, &[]), json!({}));
    }
}
