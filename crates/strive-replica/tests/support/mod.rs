//! The shared test server and devices (strive-testkit).
#![allow(dead_code, unused_imports)]

pub use strive_testkit::{Device, TestServer, PASSWORD};
