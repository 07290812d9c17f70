//! Helpers the tests of every promshard crate share, so that each exists
//! once: encoders for building test bodies and the tools that render what
//! the tests check. A dev-dependency only; nothing that ships links it.
//!
//! - [`varint`]: protobuf varints, for building protobuf bodies.
//! - [`gzip`], [`gzip_at`]: gzip bodies.
//! - [`kustomizations`], [`kustomize`]: the Kustomize manifests under
//!   `deploy/`, rendered by `kubectl kustomize`.
//!
//! ```
//! use promshard_test_support::varint;
//!
//! let mut field = Vec::new();
//! varint(&mut field, 1 << 3); // field 1, wire type 0
//! varint(&mut field, 300);
//! assert_eq!(field, [0x08, 0xac, 0x02]);
//! ```

mod gzip;
mod kustomize;
mod protobuf;

pub use gzip::{Compression, gzip, gzip_at};
pub use kustomize::{kustomizations, kustomize};
pub use protobuf::varint;
