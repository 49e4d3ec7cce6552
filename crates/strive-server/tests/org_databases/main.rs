//! A central PostgreSQL per organization: organizations on two private clusters, routing,
//! isolation, realtime, the membership index, and online moves (issue 7).

#[path = "../common/mod.rs"]
mod common;
mod support;

mod crash;
mod moves;
mod placement;
