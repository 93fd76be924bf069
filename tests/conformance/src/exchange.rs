//! One request's answers from both hosts and their differences.

use std::fmt;

use crate::{ignore, logs, Request, Response, PLUGIN_LOGS};

/// One request's answers from both hosts, normalized.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// The request.
    pub request: Request,
    /// Envoy's answer.
    pub envoy: Response,
    /// wasmgate's answer.
    pub wasmgate: Response,
    /// The plugins' log lines in Envoy while it answered ([`logs`]).
    pub envoy_logs: Vec<logs::Line>,
    /// The plugins' log lines in wasmgate while it answered.
    pub wasmgate_logs: Vec<logs::Line>,
}

impl Exchange {
    /// The differences, one line each (empty when the answers agree).
    pub fn differences(&self) -> Vec<String> {
        self.differences_besides(&[])
    }

    /// The differences, leaving out the upstream headers `also_ignored`.
    pub fn differences_besides(&self, also_ignored: &[&str]) -> Vec<String> {
        let mut out = ignore::compare(
            self.request.method == "HEAD",
            &self.envoy,
            &self.wasmgate,
            also_ignored,
        );
        if !also_ignored.contains(&PLUGIN_LOGS) && self.envoy_logs != self.wasmgate_logs {
            out.push(format!(
                "plugin log lines: Envoy {:?}, wasmgate {:?}",
                self.envoy_logs, self.wasmgate_logs
            ));
        }
        out
    }
}

impl fmt::Display for Exchange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "request: {}", self.request)?;
        for line in self.differences() {
            writeln!(f, "  differs: {line}")?;
        }
        writeln!(f, "  envoy:    {}", self.envoy)?;
        writeln!(f, "  wasmgate: {}", self.wasmgate)?;
        writeln!(f, "  envoy logs:    {:?}", self.envoy_logs)?;
        writeln!(f, "  wasmgate logs: {:?}", self.wasmgate_logs)
    }
}
