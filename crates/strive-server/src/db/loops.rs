//! Transaction loops and their tasks.

use crate::db::page::{time_value, Cursor, Page, SortKey};
use crate::error::{ApiError, ApiResult};
use serde::Deserialize;
use sqlx::{PgConnection, Postgres, QueryBuilder};
use strive_domain::entities::{LoopWithTasks, Task, TransactionLoop};
use strive_domain::mutations::loops::{NewLoop, NewTask};
use strive_domain::rules::{default_task_ids, loop_progress, DEFAULT_LOOP_TASKS};
use strive_domain::{LoopId, LoopStatus, OrgId, TaskCategory, TaskId, TaskStatus, UserId};

/// A loop's columns plus its tasks in order, as JSON, from one statement.
const LOOP_WITH_TASKS: &str = "SELECT l.*, coalesce(
       (SELECT json_agg(t ORDER BY t.position, t.id) FROM transaction_tasks t
         WHERE t.organization_id = l.organization_id AND t.loop_id = l.id), '[]') AS tasks
  FROM transaction_loops l WHERE l.organization_id = ";

/// The loop, then its four default tasks in one INSERT (the platform's Pattern 2). The caller's
/// transaction makes the pair atomic.
pub async fn insert_with_default_tasks(
    conn: &mut PgConnection,
    org: OrgId,
    by: UserId,
    l: &NewLoop,
) -> ApiResult<LoopWithTasks> {
    let created: TransactionLoop = sqlx::query_as(
        "INSERT INTO transaction_loops (organization_id, id, property_address, transaction_type,
                                        listing_price_cents, expected_closing, created_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *",
    )
    .bind(org)
    .bind(l.id)
    .bind(&l.property_address)
    .bind(l.transaction_type)
    .bind(l.listing_price.get())
    .bind(l.expected_closing)
    .bind(by)
    .fetch_one(&mut *conn)
    .await?;
    let ids: Vec<uuid::Uuid> = default_task_ids(l.id).iter().map(|t| t.0).collect();
    let titles: Vec<&str> = DEFAULT_LOOP_TASKS.iter().map(|(t, _)| *t).collect();
    let categories: Vec<TaskCategory> = DEFAULT_LOOP_TASKS.iter().map(|(_, c)| *c).collect();
    let tasks: Vec<Task> = sqlx::query_as(
        "INSERT INTO transaction_tasks (organization_id, id, loop_id, title, category, status,
                                        position, created_by)
         SELECT $1, t.id, $2, t.title, t.category, 'PENDING', t.position, $3
           FROM unnest($4::uuid[], $5::text[], $6::text[]) WITH ORDINALITY
                AS t(id, title, category, position)
         RETURNING *",
    )
    .bind(org)
    .bind(l.id)
    .bind(by)
    .bind(&ids)
    .bind(&titles)
    .bind(&categories)
    .fetch_all(&mut *conn)
    .await?;
    let mut tasks = tasks;
    tasks.sort_by_key(|t| t.position);
    Ok(LoopWithTasks {
        transaction_loop: created,
        tasks,
    })
}

pub async fn get(conn: &mut PgConnection, org: OrgId, id: LoopId) -> ApiResult<LoopWithTasks> {
    let sql = format!("{LOOP_WITH_TASKS}$1 AND l.id = $2");
    sqlx::query_as(&sql)
        .bind(org)
        .bind(id)
        .fetch_optional(conn)
        .await?
        .ok_or_else(|| ApiError::not_found("Transaction loop"))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoopFilter {
    pub status: Option<LoopStatus>,
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

/// Loops with their tasks: one query, however many loops (never one per loop).
pub async fn list(
    conn: &mut PgConnection,
    org: OrgId,
    f: LoopFilter,
) -> ApiResult<Page<LoopWithTasks>> {
    let sort = SortKey::parse(None, &["created_at"], "-created_at")?;
    let limit = Page::<LoopWithTasks>::limit(f.limit)?;
    let cursor = f.cursor.as_deref().map(Cursor::decode).transpose()?;
    let mut qb: QueryBuilder<Postgres> = QueryBuilder::new(LOOP_WITH_TASKS);
    qb.push_bind(org);
    if let Some(status) = f.status {
        qb.push(" AND l.status = ").push_bind(status);
    }
    sort.push_keyset(&mut qb, cursor.as_ref());
    sort.push_order(&mut qb, limit + 1);
    let rows: Vec<LoopWithTasks> = qb.build_query_as().fetch_all(conn).await?;
    Ok(Page::from_rows(rows, limit, |l| {
        Cursor::new(
            time_value(l.transaction_loop.created_at),
            l.transaction_loop.id.0,
        )
    }))
}

/// Locks the loop row (so concurrent task changes recompute progress one at a time) and
/// returns its creator.
pub async fn lock(conn: &mut PgConnection, org: OrgId, id: LoopId) -> ApiResult<UserId> {
    sqlx::query_scalar(
        "SELECT created_by FROM transaction_loops WHERE organization_id = $1 AND id = $2 FOR UPDATE",
    )
    .bind(org)
    .bind(id)
    .fetch_optional(conn)
    .await?
    .ok_or_else(|| ApiError::not_found("Transaction loop"))
}

/// The loop a task belongs to, locked.
pub async fn lock_loop_of_task(
    conn: &mut PgConnection,
    org: OrgId,
    task: TaskId,
) -> ApiResult<LoopId> {
    sqlx::query_scalar(
        "SELECT l.id FROM transaction_loops l
           JOIN transaction_tasks t ON t.organization_id = l.organization_id AND t.loop_id = l.id
          WHERE t.organization_id = $1 AND t.id = $2
          FOR UPDATE OF l",
    )
    .bind(org)
    .bind(task)
    .fetch_optional(conn)
    .await?
    .ok_or_else(|| ApiError::not_found("Task"))
}

pub async fn insert_task(
    conn: &mut PgConnection,
    org: OrgId,
    by: UserId,
    t: &NewTask,
) -> ApiResult<Task> {
    Ok(sqlx::query_as(
        "INSERT INTO transaction_tasks (organization_id, id, loop_id, title, description, category,
                                        priority, due_date, position, created_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8,
                 (SELECT coalesce(max(position), 0) + 1 FROM transaction_tasks
                   WHERE organization_id = $1 AND loop_id = $3),
                 $9)
         RETURNING *",
    )
    .bind(org)
    .bind(t.id)
    .bind(t.loop_id)
    .bind(&t.title)
    .bind(&t.description)
    .bind(t.category)
    .bind(t.priority)
    .bind(t.due_date)
    .bind(by)
    .fetch_one(conn)
    .await?)
}

pub async fn complete_task(conn: &mut PgConnection, org: OrgId, id: TaskId) -> ApiResult<Task> {
    sqlx::query_as(
        "UPDATE transaction_tasks
            SET status = 'DONE', completed_at = coalesce(completed_at, now()), updated_at = now()
          WHERE organization_id = $1 AND id = $2 RETURNING *",
    )
    .bind(org)
    .bind(id)
    .fetch_optional(conn)
    .await?
    .ok_or_else(|| ApiError::not_found("Task"))
}

/// Recomputes a loop's progress from its tasks with the domain's rule; returns the new value.
pub async fn refresh_progress(conn: &mut PgConnection, org: OrgId, id: LoopId) -> ApiResult<i32> {
    let statuses: Vec<TaskStatus> = sqlx::query_scalar(
        "SELECT status FROM transaction_tasks WHERE organization_id = $1 AND loop_id = $2",
    )
    .bind(org)
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    let progress = loop_progress(statuses);
    sqlx::query(
        "UPDATE transaction_loops SET progress = $3, updated_at = now()
          WHERE organization_id = $1 AND id = $2 AND progress <> $3",
    )
    .bind(org)
    .bind(id)
    .bind(progress)
    .execute(conn)
    .await?;
    Ok(progress)
}

/// Keeps `completed_at` in step with a task's status after an update that changed it.
pub async fn sync_completed_at(conn: &mut PgConnection, org: OrgId, id: TaskId) -> ApiResult<Task> {
    sqlx::query_as(
        "UPDATE transaction_tasks
            SET completed_at = CASE WHEN status = 'DONE' THEN coalesce(completed_at, now()) END
          WHERE organization_id = $1 AND id = $2 RETURNING *",
    )
    .bind(org)
    .bind(id)
    .fetch_optional(conn)
    .await?
    .ok_or_else(|| ApiError::not_found("Task"))
}
