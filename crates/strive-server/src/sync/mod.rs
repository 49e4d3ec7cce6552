//! Sync: the change feed (pull), pushed mutations (push), the realtime fan-out (SSE) and the
//! devices' sync state.

pub mod devices;
pub mod pull;
pub mod push;
pub mod realtime;
