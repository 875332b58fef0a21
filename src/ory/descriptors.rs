//! Running out of file descriptors is orysim's own limit, not the target failing: a connect
//! that fails with EMFILE (this process) or ENFILE (the whole system) is its own error class.

use crate::ground::ErrorClass;
use std::error::Error;

/// Whether `err` is the kernel refusing a new descriptor.
pub fn is_exhaustion(err: &std::io::Error) -> bool {
    matches!(err.raw_os_error(), Some(libc::EMFILE | libc::ENFILE))
}

/// `Descriptors` when any error in `err`'s source chain is descriptor exhaustion, else `other`.
pub fn class_of(err: &(dyn Error + 'static), other: ErrorClass) -> ErrorClass {
    let mut source = Some(err);
    while let Some(e) = source {
        source = e.source();
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if is_exhaustion(io) {
                return ErrorClass::Descriptors;
            }
            // An `io::Error` wrapping another error is not its `source`, but its `get_ref`.
            if let Some(inner) = io.get_ref() {
                source = Some(inner);
            }
        }
    }
    other
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emfile_and_enfile_are_descriptor_exhaustion_wherever_they_are_wrapped() {
        for errno in [libc::EMFILE, libc::ENFILE] {
            let io = std::io::Error::from_raw_os_error(errno);
            assert_eq!(class_of(&io, ErrorClass::Connect), ErrorClass::Descriptors);
            let wrapped = std::io::Error::other(io);
            assert_eq!(
                class_of(&wrapped, ErrorClass::Connect),
                ErrorClass::Descriptors
            );
        }
        let refused = std::io::Error::from_raw_os_error(libc::ECONNREFUSED);
        assert_eq!(class_of(&refused, ErrorClass::Connect), ErrorClass::Connect);
    }
}
