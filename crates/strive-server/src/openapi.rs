//! The OpenAPI description, generated from the handlers' annotations.

use crate::routes::{
    activity, auth, blobs, contacts, deals, documents, health, loops, me, orgs, uploads,
};
use crate::sync;
use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(title = "Strive central service", description = "Auth, tenancy, CRM and transaction loops for Strive Desktop."),
    paths(
        health::healthz,
        auth::signup, auth::login, auth::refresh, auth::logout,
        me::me,
        orgs::list, orgs::create, orgs::members, orgs::add_member, orgs::change_role,
        orgs::remove_member, orgs::set_tier,
        contacts::list, contacts::get, contacts::create, contacts::update, contacts::delete,
        contacts::bulk_assign, contacts::dashboard,
        deals::list, deals::get, deals::create, deals::update, deals::delete,
        loops::list, loops::get, loops::create, loops::update, loops::delete,
        loops::create_task, loops::update_task, loops::complete_task, loops::delete_task,
        documents::list, documents::get, documents::versions, documents::access, documents::submit,
        documents::review, documents::queue,
        uploads::create, uploads::status, uploads::put_chunk, uploads::complete, blobs::download,
        activity::recent,
        sync::pull::pull, sync::push::push, sync::realtime::events, sync::devices::list,
        sync::devices::request,
    ),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

pub async fn serve() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
