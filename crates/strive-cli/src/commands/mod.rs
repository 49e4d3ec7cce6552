pub mod admin;
pub mod auth;
pub mod contacts;
pub mod feed;
pub mod import;
pub mod loops;
pub mod orgs;
pub mod sync;
