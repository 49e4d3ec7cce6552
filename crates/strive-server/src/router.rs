//! Every route in one place.

use crate::error::ApiError;
use crate::routes::{
    activity, auth, blobs, contacts, deals, documents, health, loops, me, orgs, uploads,
};
use crate::sync;
use crate::AppState;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, patch, post, put};
use axum::Router;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;

/// A push carries up to 1,000 mutations.
const PUSH_BODY_LIMIT: usize = 8 * 1024 * 1024;

pub fn router(state: AppState) -> Router {
    let body_limit = state.config().body_limit;
    let chunk_limit = state.config().documents.chunk_limit;
    let org = Router::new()
        .route("/members", get(orgs::members).post(orgs::add_member))
        .route(
            "/members/{user_id}",
            patch(orgs::change_role).delete(orgs::remove_member),
        )
        .route("/contacts", get(contacts::list).post(contacts::create))
        .route("/contacts/bulk-assign", post(contacts::bulk_assign))
        .route(
            "/contacts/{id}",
            get(contacts::get)
                .patch(contacts::update)
                .delete(contacts::delete),
        )
        .route("/dashboard", get(contacts::dashboard))
        .route("/deals", get(deals::list).post(deals::create))
        .route(
            "/deals/{id}",
            get(deals::get).patch(deals::update).delete(deals::delete),
        )
        .route("/loops", get(loops::list).post(loops::create))
        .route(
            "/loops/{id}",
            get(loops::get).patch(loops::update).delete(loops::delete),
        )
        .route("/loops/{id}/tasks", post(loops::create_task))
        .route(
            "/tasks/{id}",
            patch(loops::update_task).delete(loops::delete_task),
        )
        .route("/tasks/{id}/complete", post(loops::complete_task))
        .route("/documents", get(documents::list))
        .route("/documents/{id}", get(documents::get))
        .route("/documents/{id}/versions", get(documents::versions))
        .route("/documents/{id}/access", post(documents::access))
        .route("/documents/{id}/submit", post(documents::submit))
        .route("/documents/{id}/review", post(documents::review))
        .route("/review-queue", get(documents::queue))
        .route("/uploads", post(uploads::create))
        .route(
            "/uploads/{id}",
            get(uploads::status)
                .put(uploads::put_chunk)
                .layer(DefaultBodyLimit::max(chunk_limit)),
        )
        .route("/uploads/{id}/complete", post(uploads::complete))
        .route("/activity", get(activity::recent))
        .route("/sync/pull", get(sync::pull::pull))
        .route(
            "/sync/push",
            post(sync::push::push).layer(DefaultBodyLimit::max(PUSH_BODY_LIMIT)),
        )
        .route("/sync/request", post(sync::devices::request))
        .route("/events", get(sync::realtime::events))
        .route("/devices", get(sync::devices::list));

    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/openapi.json", get(crate::openapi::serve))
        .route("/v1/auth/signup", post(auth::signup))
        .route("/v1/auth/login", post(auth::login))
        .route("/v1/auth/refresh", post(auth::refresh))
        .route("/v1/auth/logout", post(auth::logout))
        .route("/v1/me", get(me::me))
        .route("/v1/orgs", get(orgs::list).post(orgs::create))
        .nest("/v1/orgs/{org_id}", org)
        .route("/v1/admin/orgs/{org_id}/tier", put(orgs::set_tier))
        .route("/v1/blobs/{org_id}/{version_id}", get(blobs::download))
        .fallback(|| async { ApiError::NotFound("No such endpoint; see /openapi.json".into()) })
        .method_not_allowed_fallback(|| async {
            ApiError::BadRequest(
                "This endpoint does not accept that method; see /openapi.json".into(),
            )
        })
        .layer(DefaultBodyLimit::max(body_limit))
        // Spans name the path, never the query: a signed URL's signature is a credential.
        .layer(TraceLayer::new_for_http().make_span_with(
            |req: &axum::http::Request<axum::body::Body>| {
                tracing::info_span!("request", method = %req.method(), path = %req.uri().path())
            },
        ))
        .layer(CatchPanicLayer::custom(|_| {
            axum::response::IntoResponse::into_response(ApiError::Internal(anyhow::anyhow!(
                "handler panicked"
            )))
        }))
        .with_state(state)
}
