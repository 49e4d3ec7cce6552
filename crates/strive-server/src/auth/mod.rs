//! Authentication: password hashing, tokens, login throttling.

pub mod password;
pub mod ratelimit;
pub mod tokens;
