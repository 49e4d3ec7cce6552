//! Strive's client engine, shared by the `strive` CLI and the desktop app.
//!
//! One encrypted SQLite (SQLCipher) replica per organization on this device. Its key is 256
//! random bits, kept in the OS keychain and also wrapped by a key derived from the user's
//! password, so the replica opens offline even where no keychain works, and a stolen disk
//! without the password reveals nothing.

pub mod account;
pub mod api;
pub mod apply;
mod bulk;
pub mod engine;
pub mod error;
pub mod keys;
pub mod mutate;
pub mod open;
pub mod pull;
pub mod push;
pub mod read;
mod schema;
pub mod signin;
pub mod staging;
pub mod status;
pub mod time;
pub mod transfer;
pub mod vault;
pub mod watch;

pub use error::{ReplicaError, SyncError};
pub use keys::Keychain;
pub use mutate::{MutateError, Session};
pub use open::Replica;
