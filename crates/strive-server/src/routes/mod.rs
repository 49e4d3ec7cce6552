//! HTTP handlers, one file per resource. Thin: they parse, call the guard or a mutation, answer.

pub mod activity;
pub mod auth;
pub mod blobs;
pub mod contacts;
pub mod deals;
pub mod documents;
pub mod health;
pub mod loops;
pub mod me;
pub mod orgs;
pub mod uploads;
