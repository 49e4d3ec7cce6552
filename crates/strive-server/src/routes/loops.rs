//! Transaction loops and their tasks.

use crate::db::loops::{self, LoopFilter};
use crate::db::page::Page;
use crate::error::ApiResult;
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::guard::{self, Caller};
use crate::mutations::{apply, Outcome};
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use strive_domain::entities::{LoopWithTasks, Task, TransactionLoop};
use strive_domain::mutations::loops::{CreateLoop, CreateTask, LoopChanges, TaskChanges};
use strive_domain::mutations::{Delete, Mutation, Update};
use strive_domain::permissions::Action;
use strive_domain::{LoopId, OrgId, TaskCategory, TaskId, TaskPriority};

#[utoipa::path(get, path = "/v1/orgs/{org_id}/loops", tag = "loops", security(("bearer" = [])),
    params(("org_id" = OrgId, Path), ("status" = Option<String>, Query), ("limit" = Option<i64>, Query),
           ("cursor" = Option<String>, Query)),
    responses((status = 200, body = Page<LoopWithTasks>)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(org): ApiPath<OrgId>,
    ApiQuery(filter): ApiQuery<LoopFilter>,
) -> ApiResult<Json<Page<LoopWithTasks>>> {
    let page = guard::read(&state, &caller, org, Action::ViewLoops, |tx, ctx| {
        Box::pin(loops::list(tx, ctx.org, filter))
    })
    .await?;
    Ok(Json(page))
}

#[utoipa::path(get, path = "/v1/orgs/{org_id}/loops/{id}", tag = "loops", security(("bearer" = [])),
    params(("org_id" = OrgId, Path), ("id" = LoopId, Path)), responses((status = 200, body = LoopWithTasks)))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((org, id)): ApiPath<(OrgId, LoopId)>,
) -> ApiResult<Json<LoopWithTasks>> {
    let l = guard::read(&state, &caller, org, Action::ViewLoops, move |tx, ctx| {
        Box::pin(loops::get(tx, ctx.org, id))
    })
    .await?;
    Ok(Json(l))
}

/// Creates the loop with its four default tasks and the audit row, atomically.
#[utoipa::path(post, path = "/v1/orgs/{org_id}/loops", tag = "loops", security(("bearer" = [])),
    params(("org_id" = OrgId, Path)), request_body = CreateLoop, responses((status = 201, body = LoopWithTasks)))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(org): ApiPath<OrgId>,
    ApiJson(body): ApiJson<CreateLoop>,
) -> ApiResult<(StatusCode, Json<Outcome>)> {
    let out = apply(&state, &caller, org, Mutation::CreateLoop(body)).await?;
    Ok((StatusCode::CREATED, Json(out)))
}

#[utoipa::path(patch, path = "/v1/orgs/{org_id}/loops/{id}", tag = "loops", security(("bearer" = [])),
    params(("org_id" = OrgId, Path), ("id" = LoopId, Path)), request_body = LoopChanges,
    responses((status = 200, body = TransactionLoop)))]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((org, id)): ApiPath<(OrgId, LoopId)>,
    ApiJson(changes): ApiJson<LoopChanges>,
) -> ApiResult<Json<Outcome>> {
    Ok(Json(
        apply(
            &state,
            &caller,
            org,
            Mutation::UpdateLoop(Update {
                id,
                changes,
                base_seq: None,
            }),
        )
        .await?,
    ))
}

#[utoipa::path(delete, path = "/v1/orgs/{org_id}/loops/{id}", tag = "loops", security(("bearer" = [])),
    params(("org_id" = OrgId, Path), ("id" = LoopId, Path)), responses((status = 200)))]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((org, id)): ApiPath<(OrgId, LoopId)>,
) -> ApiResult<Json<Outcome>> {
    Ok(Json(
        apply(&state, &caller, org, Mutation::DeleteLoop(Delete { id })).await?,
    ))
}

/// A task body on the loop's own route (the loop id comes from the path).
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTaskBody {
    #[serde(default)]
    pub id: Option<TaskId>,
    pub title: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub category: Option<TaskCategory>,
    #[serde(default)]
    pub priority: Option<TaskPriority>,
    #[serde(default)]
    pub due_date: Option<chrono::NaiveDate>,
}

#[utoipa::path(post, path = "/v1/orgs/{org_id}/loops/{id}/tasks", tag = "loops", security(("bearer" = [])),
    params(("org_id" = OrgId, Path), ("id" = LoopId, Path)), request_body = NewTaskBody,
    responses((status = 201, body = Task)))]
pub async fn create_task(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((org, loop_id)): ApiPath<(OrgId, LoopId)>,
    ApiJson(b): ApiJson<NewTaskBody>,
) -> ApiResult<(StatusCode, Json<Outcome>)> {
    let m = Mutation::CreateTask(CreateTask {
        id: b.id,
        loop_id,
        title: b.title,
        description: b.description,
        category: b.category,
        priority: b.priority,
        due_date: b.due_date,
    });
    Ok((
        StatusCode::CREATED,
        Json(apply(&state, &caller, org, m).await?),
    ))
}

#[utoipa::path(patch, path = "/v1/orgs/{org_id}/tasks/{id}", tag = "loops", security(("bearer" = [])),
    params(("org_id" = OrgId, Path), ("id" = TaskId, Path)), request_body = TaskChanges,
    responses((status = 200, body = Task)))]
pub async fn update_task(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((org, id)): ApiPath<(OrgId, TaskId)>,
    ApiJson(changes): ApiJson<TaskChanges>,
) -> ApiResult<Json<Outcome>> {
    Ok(Json(
        apply(
            &state,
            &caller,
            org,
            Mutation::UpdateTask(Update {
                id,
                changes,
                base_seq: None,
            }),
        )
        .await?,
    ))
}

/// Marks the task done and updates its loop's progress.
#[utoipa::path(post, path = "/v1/orgs/{org_id}/tasks/{id}/complete", tag = "loops", security(("bearer" = [])),
    params(("org_id" = OrgId, Path), ("id" = TaskId, Path)), responses((status = 200, body = Task)))]
pub async fn complete_task(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((org, id)): ApiPath<(OrgId, TaskId)>,
) -> ApiResult<Json<Outcome>> {
    Ok(Json(
        apply(&state, &caller, org, Mutation::CompleteTask(Delete { id })).await?,
    ))
}

#[utoipa::path(delete, path = "/v1/orgs/{org_id}/tasks/{id}", tag = "loops", security(("bearer" = [])),
    params(("org_id" = OrgId, Path), ("id" = TaskId, Path)), responses((status = 200)))]
pub async fn delete_task(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((org, id)): ApiPath<(OrgId, TaskId)>,
) -> ApiResult<Json<Outcome>> {
    Ok(Json(
        apply(&state, &caller, org, Mutation::DeleteTask(Delete { id })).await?,
    ))
}
