//! Fallible reservations, so an impossible size is an error rather than an abort.

use hoard_core::{Error, ErrorKind, Result};

/// Makes room for exactly `additional` more bytes in `out`.
pub(crate) fn reserve_exact(out: &mut Vec<u8>, additional: usize, what: &str) -> Result<()> {
    out.try_reserve_exact(additional).map_err(|e| {
        Error::new(
            ErrorKind::TooLarge,
            format!("cannot allocate {additional} bytes to {what}"),
        )
        .with_source(e)
    })
}
