//! The log lines of a test binary that reads what the gateway logs (the access log, target
//! `access`): a subscriber, installed on first use, keeps them as the `wasmgate` binary
//! prints them.

use std::io::Write;
use std::sync::OnceLock;

use super::Output;

/// Where the subscriber writes.
#[derive(Clone)]
struct Capture(Output);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        // A test that failed holding the lock must not fail the others.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push_str(&String::from_utf8_lossy(buf));
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The lines this test binary's subscriber kept (installed on first use).
pub fn captured() -> &'static Output {
    static LOG: OnceLock<Output> = OnceLock::new();
    LOG.get_or_init(|| {
        let log = Output::default();
        let capture = Capture(log.clone());
        tracing::subscriber::set_global_default(
            tracing_subscriber::fmt()
                .with_ansi(false)
                .with_writer(move || capture.clone())
                .finish(),
        )
        .expect("the only subscriber of this test binary");
        log
    })
}
