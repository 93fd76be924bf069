//! [`IntoOutcome`]: handlers and callbacks may return a plain value or a `Result`.

use std::fmt::Display;

use wasmgate_abi::{DataAction, HeaderAction};

use crate::error::{Error, Result};

/// What a handler or callback may return: the value itself, or a `Result` whose error
/// (anything printable) fails the request with a 500 and is logged.
pub trait IntoOutcome<T> {
    /// The value, or the error as an [`Error`].
    fn into_outcome(self) -> Result<T>;
}

fn to_error<E: Display>(e: E) -> Error {
    Error::Other(e.to_string())
}

macro_rules! outcome {
    ($($t:ty),*) => {$(
        impl IntoOutcome<$t> for $t {
            fn into_outcome(self) -> Result<$t> {
                Ok(self)
            }
        }

        impl<E: Display> IntoOutcome<$t> for std::result::Result<$t, E> {
            fn into_outcome(self) -> Result<$t> {
                self.map_err(to_error)
            }
        }
    )*};
}

outcome!(HeaderAction, DataAction, Vec<u8>, ());
