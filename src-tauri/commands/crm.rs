//! Contacts, deals and members: reads from the replica, writes as mutations (applied at once,
//! queued for the server, pushed right away when online).

use crate::error::{AppError, AppResult};
use crate::state::AppState;
use serde::Serialize;
use strive_domain::entities::{Deal, Member};
use strive_domain::mutations::contacts::{BulkAssignContacts, ContactChanges, CreateContact};
use strive_domain::mutations::deals::CreateDeal;
use strive_domain::mutations::{Mutation, Update};
use strive_domain::{ContactId, UserId};
use strive_replica::read::{ContactQuery, ContactRow, DealQuery, Page};
use tauri::State;

/// Applies a mutation on the replica and asks the sync task to push it.
pub async fn mutate(state: &AppState, m: Mutation) -> AppResult<()> {
    state
        .with_replica(move |r| r.mutate(m).map(|_| ()).map_err(Into::into))
        .await?;
    state.nudge();
    Ok(())
}

#[tauri::command]
pub async fn contacts(
    state: State<'_, AppState>,
    query: ContactQuery,
) -> AppResult<Page<ContactRow>> {
    state.with_replica(move |r| Ok(r.contacts(&query)?)).await
}

#[tauri::command]
pub async fn contact(state: State<'_, AppState>, id: ContactId) -> AppResult<ContactRow> {
    state
        .with_replica(move |r| {
            r.contact(id)?
                .ok_or_else(|| AppError::new("not_found", "That contact is not on this device"))
        })
        .await
}

#[derive(Serialize)]
pub struct Created {
    pub id: String,
}

#[tauri::command]
pub async fn create_contact(
    state: State<'_, AppState>,
    input: CreateContact,
) -> AppResult<Created> {
    let id = input.id.unwrap_or_default();
    mutate(
        &state,
        Mutation::CreateContact(CreateContact {
            id: Some(id),
            ..input
        }),
    )
    .await?;
    Ok(Created { id: id.to_string() })
}

#[tauri::command]
pub async fn update_contact(
    state: State<'_, AppState>,
    id: ContactId,
    changes: ContactChanges,
) -> AppResult<()> {
    if changes == ContactChanges::default() {
        return Ok(());
    }
    let m = Mutation::UpdateContact(Update {
        id,
        changes,
        base_seq: None,
    });
    mutate(&state, m).await
}

#[derive(Serialize)]
pub struct Assigned {
    pub count: usize,
    pub assignee: String,
}

#[tauri::command]
pub async fn bulk_assign(
    state: State<'_, AppState>,
    contact_ids: Vec<ContactId>,
    assigned_to_id: UserId,
) -> AppResult<Assigned> {
    let count = contact_ids.len();
    let members = state.with_replica(|r| Ok(r.members()?)).await?;
    let assignee = members
        .into_iter()
        .find(|m| m.user_id == assigned_to_id)
        .map(|m| if m.name.is_empty() { m.email } else { m.name })
        .ok_or_else(|| AppError::field("assigned_to_id", "is not a member of this organization"))?;
    let m = Mutation::BulkAssignContacts(BulkAssignContacts {
        contact_ids,
        assigned_to_id,
    });
    mutate(&state, m).await?;
    Ok(Assigned { count, assignee })
}

#[tauri::command]
pub async fn members(state: State<'_, AppState>) -> AppResult<Vec<Member>> {
    state.with_replica(|r| Ok(r.members()?)).await
}

#[tauri::command]
pub async fn deals(state: State<'_, AppState>, query: DealQuery) -> AppResult<Page<Deal>> {
    state.with_replica(move |r| Ok(r.deals(&query)?)).await
}

#[tauri::command]
pub async fn create_deal(state: State<'_, AppState>, input: CreateDeal) -> AppResult<Created> {
    let id = input.id.unwrap_or_default();
    mutate(
        &state,
        Mutation::CreateDeal(CreateDeal {
            id: Some(id),
            ..input
        }),
    )
    .await?;
    Ok(Created { id: id.to_string() })
}
