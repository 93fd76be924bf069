//! Async work run to completion from synchronous code, wherever it is called from (inside
//! a tokio runtime or not): on a thread of its own with a current-thread runtime.

use crate::error::ImageError;

/// Runs `work` to completion on a thread of its own with a current-thread runtime.
pub(crate) fn blocking<T: Send>(
    work: impl std::future::Future<Output = Result<T, ImageError>> + Send,
) -> Result<T, ImageError> {
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| ImageError::io("a runtime for fetching", e))?;
                runtime.block_on(work)
            })
            .join()
            .unwrap_or_else(|_| {
                Err(ImageError::io(
                    "fetching",
                    std::io::Error::other("the fetch thread failed"),
                ))
            })
    })
}
