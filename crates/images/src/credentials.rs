//! Registry credentials, as Docker keeps them: a docker config (`{"auths": {"registry":
//! {"auth": base64("user:password")}}}`, or `username`/`password`) from a pull secret a
//! plugin names, else `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
//! Credential helpers (`credsStore`, `credHelpers`) are not run.

use std::path::PathBuf;

use base64::Engine;
use serde_json::Value;

/// A user and password for one registry, and where they came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Credential {
    pub(crate) username: String,
    pub(crate) password: String,
    pub(crate) from: String,
}

/// The credential for `registry` (`host[:port]`) and where it was looked for. `secret` is
/// a pull secret's docker config text and the name it goes by.
pub(crate) fn lookup(
    registry: &str,
    secret: Option<(&str, &str)>,
) -> (Option<Credential>, Vec<String>) {
    let mut looked = Vec::new();
    if let Some((name, text)) = secret {
        looked.push(name.to_string());
        if let Some(found) = find(registry, text, name) {
            return (Some(found), looked);
        }
    }
    for path in config_files() {
        looked.push(path.display().to_string());
        if let Ok(text) = std::fs::read_to_string(&path) {
            if let Some(found) = find(registry, &text, &path.display().to_string()) {
                return (Some(found), looked);
            }
        }
    }
    (None, looked)
}

fn config_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG") {
        files.push(PathBuf::from(dir).join("config.json"));
    }
    if let Some(home) = std::env::var_os("HOME") {
        files.push(PathBuf::from(home).join(".docker/config.json"));
    }
    files
}

/// The registry an `auths` key names (`https://host:port/v1/` → `host:port`).
fn key_host(key: &str) -> &str {
    let key = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    key.split('/').next().unwrap_or(key)
}

fn find(registry: &str, text: &str, from: &str) -> Option<Credential> {
    let config: Value = serde_json::from_str(text).ok()?;
    let auths = config.get("auths")?.as_object()?;
    let entry = auths
        .iter()
        .find(|(key, _)| key_host(key) == registry)
        .map(|(_, entry)| entry)?;
    let (username, password) = match entry.get("auth").and_then(Value::as_str) {
        Some(encoded) => {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(encoded.trim())
                .ok()?;
            let text = String::from_utf8(decoded).ok()?;
            let (user, password) = text.split_once(':')?;
            (user.to_string(), password.to_string())
        }
        None => (
            entry.get("username")?.as_str()?.to_string(),
            entry.get("password")?.as_str()?.to_string(),
        ),
    };
    Some(Credential {
        username,
        password,
        from: from.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auths_are_read_by_host() {
        let text = r#"{"auths": {"https://127.0.0.1:5000/v1/": {"auth": "YWxpY2U6czNjcmV0"},
                                 "other.test": {"username": "bob", "password": "pw"}}}"#;
        let alice = find("127.0.0.1:5000", text, "secret").unwrap();
        assert_eq!(
            (alice.username.as_str(), alice.password.as_str()),
            ("alice", "s3cret")
        );
        assert_eq!(find("other.test", text, "s").unwrap().username, "bob");
        assert_eq!(find("missing.test", text, "s"), None);
    }
}
