//! Transaction loops and their tasks.

use crate::db::column;
use crate::db::page::{time_value, Cursor, Page, SortKey};
use crate::error::{ApiError, ApiResult};
use serde::Deserialize;
use sqlx::{PgConnection, Postgres, QueryBuilder};
use strive_domain::entities::{LoopWithTasks, Task};
use strive_domain::mutations::loops::{NewLoop, NewTask};
use strive_domain::rules::{default_task_ids, loop_progress, DEFAULT_LOOP_TASKS};
use strive_domain::{LoopId, LoopStatus, OrgId, TaskId, TaskStatus, UserId};

/// A loop's columns plus its tasks in order, as JSON, from one statement.
const LOOP_WITH_TASKS: &str = "SELECT l.*, coalesce(
       (SELECT json_agg(t ORDER BY t.position, t.id) FROM transaction_tasks t
         WHERE t.organization_id = l.organization_id AND t.loop_id = l.id), '[]') AS tasks
  FROM transaction_loops l WHERE l.organization_id = ";

/// The loop, then its four default tasks (the platform's Pattern 2). The caller's transaction
/// makes the pair atomic.
pub async fn insert_with_default_tasks(
    conn: &mut PgConnection,
    org: OrgId,
    by: UserId,
    l: &NewLoop,
) -> ApiResult<LoopWithTasks> {
    let one = insert_many_with_default_tasks(conn, org, by, std::slice::from_ref(l)).await?;
    crate::db::the_one(one, "loop")
}

/// Several new loops in one INSERT, then all their default tasks in another; answers them in
/// the order given, each with its tasks in order.
pub async fn insert_many_with_default_tasks(
    conn: &mut PgConnection,
    org: OrgId,
    by: UserId,
    ls: &[NewLoop],
) -> ApiResult<Vec<LoopWithTasks>> {
    let (mut ids, mut loop_ids, mut titles, mut categories, mut positions) =
        (vec![], vec![], vec![], vec![], vec![]);
    for l in ls {
        for (task_id, (position, (title, category))) in default_task_ids(l.id)
            .iter()
            .zip((1i32..).zip(DEFAULT_LOOP_TASKS.iter()))
        {
            ids.push(task_id.0);
            loop_ids.push(l.id.0);
            titles.push(*title);
            categories.push(*category);
            positions.push(position);
        }
    }
    // One statement: the tasks' foreign keys are checked at its end, when the loops are there.
    let created: Vec<LoopWithTasks> = sqlx::query_as(
        "WITH l AS (
           INSERT INTO transaction_loops (organization_id, id, property_address, transaction_type,
                                          listing_price_cents, expected_closing, created_by)
           SELECT $1, x.id, x.address, x.kind, x.price, x.closing, $7
             FROM unnest($2::uuid[], $3::text[], $4::text[], $5::int8[], $6::date[])
                  WITH ORDINALITY AS x(id, address, kind, price, closing, n)
            ORDER BY x.n
           RETURNING *),
         t AS (
           INSERT INTO transaction_tasks (organization_id, id, loop_id, title, category, status,
                                          position, created_by)
           SELECT $1, t.id, t.loop_id, t.title, t.category, 'PENDING', t.position, $7
             FROM unnest($8::uuid[], $9::uuid[], $10::text[], $11::text[], $12::int4[])
                  AS t(id, loop_id, title, category, position)
           RETURNING *)
         SELECT l.*, coalesce((SELECT json_agg(t ORDER BY t.position, t.id) FROM t
                                WHERE t.loop_id = l.id), '[]') AS tasks
           FROM l",
    )
    .bind(org)
    .bind(column(ls, |l| l.id.0))
    .bind(column(ls, |l| l.property_address.clone()))
    .bind(column(ls, |l| l.transaction_type))
    .bind(column(ls, |l| l.listing_price.get()))
    .bind(column(ls, |l| l.expected_closing))
    .bind(by)
    .bind(&ids)
    .bind(&loop_ids)
    .bind(&titles)
    .bind(&categories)
    .bind(&positions)
    .fetch_all(&mut *conn)
    .await?;
    crate::db::in_given_order(created, ls, |c| c.transaction_loop.id, |l| l.id, "loop")
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

/// Marks a task done; answers it with the statuses of every task of its loop afterwards (one
/// statement: the loop's progress follows from them).
pub async fn complete_task(
    conn: &mut PgConnection,
    org: OrgId,
    id: TaskId,
) -> ApiResult<(Task, Vec<TaskStatus>)> {
    #[derive(sqlx::FromRow)]
    struct Done {
        #[sqlx(flatten)]
        task: Task,
        others: Vec<TaskStatus>,
    }
    // The sub-select reads the statement's snapshot, from before the update: the task itself
    // is left out there and counted as it is now.
    let done: Done = sqlx::query_as(
        "WITH done AS (
           UPDATE transaction_tasks
              SET status = 'DONE', completed_at = coalesce(completed_at, now()), updated_at = now()
            WHERE organization_id = $1 AND id = $2 RETURNING *)
         SELECT done.*, ARRAY(SELECT t.status FROM transaction_tasks t
                               WHERE t.organization_id = done.organization_id
                                 AND t.loop_id = done.loop_id AND t.id <> done.id) AS others
           FROM done",
    )
    .bind(org)
    .bind(id)
    .fetch_optional(conn)
    .await?
    .ok_or_else(|| ApiError::not_found("Task"))?;
    let mut statuses = done.others;
    statuses.push(done.task.status);
    Ok((done.task, statuses))
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
    store_progress(conn, org, id, statuses).await
}

/// Stores the progress the domain's rule gives for these task statuses; returns it.
pub async fn store_progress(
    conn: &mut PgConnection,
    org: OrgId,
    id: LoopId,
    statuses: Vec<TaskStatus>,
) -> ApiResult<i32> {
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
