//! Small HTTP pieces shared by every promshard server and client: the accept
//! loop with graceful shutdown, size-capped body reads, and plain responses.

mod body;
pub(crate) mod respond;
pub mod serve;

pub(crate) use body::{BodyTooLarge, read_body_limited};
pub use serve::Shutdown;
pub(crate) use serve::serve;

/// An error and its causes on one line: hyper's top-level message alone
/// ("client error (Connect)") does not say what happened. A cause whose text
/// is already in the line is not repeated.
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
