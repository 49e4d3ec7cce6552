//! Transaction loops and their task checklists.

use super::crm::{mutate, Created};
use crate::error::{AppError, AppResult};
use crate::state::AppState;
use strive_domain::entities::LoopWithTasks;
use strive_domain::mutations::loops::{CreateLoop, TaskChanges};
use strive_domain::mutations::{Delete, Mutation, Update};
use strive_domain::{LoopId, TaskId, TaskStatus};
use strive_replica::read::{LoopQuery, LoopSummary, Page};
use tauri::State;

#[tauri::command]
pub async fn loops(state: State<'_, AppState>, query: LoopQuery) -> AppResult<Page<LoopSummary>> {
    state.with_replica(move |r| Ok(r.loops(&query)?)).await
}

#[tauri::command]
pub async fn loop_detail(state: State<'_, AppState>, id: LoopId) -> AppResult<LoopWithTasks> {
    state
        .with_replica(move |r| {
            r.loop_with_tasks(id)?
                .ok_or_else(|| AppError::new("not_found", "That loop is not on this device"))
        })
        .await
}

/// Creates the loop with its four standard tasks (one mutation, one transaction).
#[tauri::command]
pub async fn create_loop(state: State<'_, AppState>, input: CreateLoop) -> AppResult<Created> {
    let id = input.id.unwrap_or_default();
    let m = Mutation::CreateLoop(CreateLoop {
        id: Some(id),
        ..input
    });
    mutate(&state, m).await?;
    Ok(Created { id: id.to_string() })
}

/// Ticks a task off (the platform's completeTask) or moves it to another state.
#[tauri::command]
pub async fn set_task_status(
    state: State<'_, AppState>,
    id: TaskId,
    status: TaskStatus,
) -> AppResult<()> {
    let m = if status == TaskStatus::Done {
        Mutation::CompleteTask(Delete { id })
    } else {
        Mutation::UpdateTask(Update {
            id,
            changes: TaskChanges {
                status: Some(status),
                ..Default::default()
            },
            base_seq: None,
        })
    };
    mutate(&state, m).await
}
