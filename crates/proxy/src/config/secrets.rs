//! Secret references in plugin configurations, filled as Higress's controller fills them in
//! a `WasmPlugin`: `${secret.NAME.KEY}` (a Secret of the gateway's own namespace) or
//! `${secret.NAMESPACE/NAME.KEY}` anywhere in a string of the configuration becomes the
//! Secret's value. The `secrets:` part of a `wasmgate.yaml` is the local stand-in for the
//! cluster's Secrets: a directory with a file per key (as a Secret mounted as a volume),
//! `DIR/NAME/KEY` or `DIR/NAMESPACE/NAME/KEY`, and keys taken from environment variables.
//! References of other kinds (`${other.…}`) are left as they are, as Higress leaves them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

/// The `secrets:` section of a `wasmgate.yaml`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileSecrets {
    dir: Option<PathBuf>,
    #[serde(default)]
    env: BTreeMap<String, String>,
}

/// Where this configuration's secrets are.
#[derive(Clone, Default)]
pub(crate) struct Secrets {
    /// `DIR/[NAMESPACE/]NAME/KEY`.
    dir: Option<PathBuf>,
    /// `[NAMESPACE/]NAME.KEY` → the environment variable holding it.
    env: BTreeMap<String, String>,
}

/// A `${secret.…}` reference, as written.
#[derive(Debug, PartialEq, Eq)]
struct Reference<'a> {
    written: &'a str,
    namespace: Option<&'a str>,
    name: &'a str,
    key: &'a str,
}

/// A reference that could not be filled: the reference as written (to find its line) and
/// what to fix.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Unfilled {
    pub(crate) reference: String,
    pub(crate) reason: String,
}

impl Secrets {
    /// The store a file's `secrets:` section describes (the directory relative to `base`).
    pub(crate) fn new(base: &Path, file: Option<FileSecrets>) -> Secrets {
        let file = file.unwrap_or_default();
        Secrets {
            dir: file.dir.map(|dir| base.join(dir)),
            env: file.env,
        }
    }

    /// Fills every `${secret.…}` reference in the strings (and keys) of `config`.
    pub(crate) fn fill(&self, config: &mut Value) -> Result<(), Unfilled> {
        match config {
            Value::String(text) => {
                if let Some(filled) = self.fill_text(text)? {
                    *text = filled;
                }
            }
            Value::Array(items) => {
                for item in items {
                    self.fill(item)?;
                }
            }
            Value::Object(map) => {
                let entries = std::mem::take(map);
                for (key, mut value) in entries {
                    self.fill(&mut value)?;
                    let key = self.fill_text(&key)?.unwrap_or(key);
                    map.insert(key, value);
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// `text` with its references filled, or `None` when it has none.
    fn fill_text(&self, text: &str) -> Result<Option<String>, Unfilled> {
        let mut out = String::new();
        let mut rest = text;
        let mut found = false;
        while let Some(start) = rest.find("${secret.") {
            let Some(reference) = parse(&rest[start..]) else {
                out.push_str(&rest[..start + 2]);
                rest = &rest[start + 2..];
                continue;
            };
            found = true;
            out.push_str(&rest[..start]);
            out.push_str(&self.value(&reference)?);
            rest = &rest[start + reference.written.len()..];
        }
        if !found {
            return Ok(None);
        }
        out.push_str(rest);
        Ok(Some(out))
    }

    /// The value of one Secret key: its environment variable, or else its file (one final
    /// newline, as an editor leaves it, dropped).
    pub(crate) fn get(
        &self,
        namespace: Option<&str>,
        name: &str,
        key: &str,
    ) -> Result<Vec<u8>, String> {
        let qualified = match namespace {
            Some(ns) => format!("{ns}/{name}.{key}"),
            None => format!("{name}.{key}"),
        };
        if let Some(variable) = self.env.get(&qualified) {
            return std::env::var(variable).map(String::into_bytes).map_err(|_| {
                format!("the environment variable {variable} (secrets.env of {qualified}) is not set")
            });
        }
        let Some(dir) = &self.dir else {
            return Err(format!("no secrets.env entry {qualified} and no secrets.dir to look in; add one to wasmgate.yaml"));
        };
        let mut path = dir.clone();
        if let Some(ns) = namespace {
            path.push(ns);
        }
        path.push(name);
        path.push(key);
        let mut value = std::fs::read(&path).map_err(|e| {
            format!(
                "no secrets.env entry {qualified} and {}: {e}",
                path.display()
            )
        })?;
        if value.ends_with(b"\n") {
            value.pop();
            if value.ends_with(b"\r") {
                value.pop();
            }
        }
        Ok(value)
    }

    fn value(&self, reference: &Reference<'_>) -> Result<String, Unfilled> {
        let unfilled = |reason: String| Unfilled {
            reference: reference.written.to_string(),
            reason: format!("secret reference {}: {reason}", reference.written),
        };
        let bytes = self
            .get(reference.namespace, reference.name, reference.key)
            .map_err(unfilled)?;
        String::from_utf8(bytes).map_err(|_| unfilled("the value is not UTF-8 text".to_string()))
    }
}

/// The reference at the start of `text` (`${secret.[NS/]NAME.KEY}`), in Higress's grammar:
/// the namespace has no `/` or `}`, the name no `.`, `/` or `}`, the key no `}`.
fn parse(text: &str) -> Option<Reference<'_>> {
    let end = text.find('}')?;
    let written = &text[..=end];
    let body = written.strip_prefix("${secret.")?.strip_suffix('}')?;
    let (namespace, rest) = match body.split_once('/') {
        Some((ns, rest)) if !ns.is_empty() => (Some(ns), rest),
        Some(_) => return None,
        None => (None, body),
    };
    let (name, key) = rest.split_once('.')?;
    if name.is_empty() || key.is_empty() || name.contains('/') {
        return None;
    }
    Some(Reference {
        written,
        namespace,
        name,
        key,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn store(dir: &Path) -> Secrets {
        std::fs::create_dir_all(dir.join("auth-keys")).unwrap();
        std::fs::create_dir_all(dir.join("prod/llm")).unwrap();
        std::fs::write(dir.join("auth-keys/alice"), "alice-key\n").unwrap();
        std::fs::write(dir.join("prod/llm/token"), "sk-1").unwrap();
        let mut env = BTreeMap::new();
        env.insert(
            "auth-keys.bob".to_string(),
            "WASMGATE_TEST_BOB_KEY".to_string(),
        );
        env.insert(
            "auth-keys.carol".to_string(),
            "WASMGATE_TEST_UNSET".to_string(),
        );
        Secrets {
            dir: Some(dir.to_path_buf()),
            env,
        }
    }

    #[test]
    fn references_follow_higress_grammar() {
        let r = parse("${secret.prod/llm.token} tail").unwrap();
        assert_eq!(
            (r.written, r.namespace, r.name, r.key),
            ("${secret.prod/llm.token}", Some("prod"), "llm", "token")
        );
        let r = parse("${secret.llm.api.key}").unwrap();
        assert_eq!((r.namespace, r.name, r.key), (None, "llm", "api.key"));
        assert!(parse("${secret.nokey}").is_none());
        assert!(parse("${secret./llm.token}").is_none());
    }

    #[test]
    fn references_are_filled_from_files_and_the_environment() {
        let dir = std::env::temp_dir().join(format!("wasmgate-secrets-{}", std::process::id()));
        let secrets = store(&dir);
        std::env::set_var("WASMGATE_TEST_BOB_KEY", "bob-key");
        let mut config = json!({
            "consumers": [
                {"name": "alice", "credential": "${secret.auth-keys.alice}"},
                {"name": "bob", "credential": "${secret.auth-keys.bob}"},
            ],
            "header": "Bearer ${secret.prod/llm.token}!",
            "template": "${other.x.y} and $${secret",
            "_rules_": [{"_match_route_": ["r"], "n": 1}],
        });
        secrets.fill(&mut config).unwrap();
        assert_eq!(
            config,
            json!({
                "consumers": [
                    {"name": "alice", "credential": "alice-key"},
                    {"name": "bob", "credential": "bob-key"},
                ],
                "header": "Bearer sk-1!",
                "template": "${other.x.y} and $${secret",
                "_rules_": [{"_match_route_": ["r"], "n": 1}],
            })
        );
        let mut missing = json!({"k": "${secret.prod/llm.nope}"});
        let err = secrets.fill(&mut missing).unwrap_err();
        assert_eq!(err.reference, "${secret.prod/llm.nope}");
        assert!(
            err.reason.starts_with(
                "secret reference ${secret.prod/llm.nope}: no secrets.env entry prod/llm.nope and "
            ) && err.reason.contains("prod/llm/nope"),
            "{}",
            err.reason
        );
        let err = secrets
            .fill(&mut json!(["${secret.auth-keys.carol}"]))
            .unwrap_err();
        assert!(err.reason.contains("WASMGATE_TEST_UNSET"), "{}", err.reason);
        let err = Secrets::default()
            .fill(&mut json!("${secret.a.b}"))
            .unwrap_err();
        assert!(err.reason.contains("no secrets.dir"), "{}", err.reason);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
