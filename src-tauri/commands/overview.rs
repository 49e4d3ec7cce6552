//! The dashboard, the activity feed, and what the permissions matrix allows the user here.

use crate::error::{AppError, AppResult};
use crate::state::AppState;
use serde::Serialize;
use strive_domain::entities::{ActivityItem, Dashboard};
use strive_domain::permissions::{check, Action, Decision};
use strive_domain::{AuditId, GlobalRole, OrgRole, Tier};
use tauri::State;

#[tauri::command]
pub async fn dashboard(state: State<'_, AppState>) -> AppResult<Dashboard> {
    state
        .with_replica(|r| Ok(r.dashboard(chrono::Utc::now())?))
        .await
}

#[tauri::command]
pub async fn activity(
    state: State<'_, AppState>,
    limit: u32,
    before: Option<AuditId>,
) -> AppResult<Vec<ActivityItem>> {
    state
        .with_replica(move |r| Ok(r.activity(limit, before)?))
        .await
}

/// One action of the matrix for the current user and organization.
#[derive(Serialize)]
pub struct Permission {
    pub action: String,
    pub allowed: bool,
    /// Why not, in the matrix's own words (shown as the disabled control's tooltip).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Serialize)]
pub struct Permissions {
    pub global_role: GlobalRole,
    pub role: OrgRole,
    pub tier: Tier,
    pub actions: Vec<Permission>,
}

/// Every action of strive-domain's matrix, decided for this user in this organization: role
/// and tier as last synced, or as the server listed them at sign-in before the first sync.
#[tauri::command]
pub async fn permissions(state: State<'_, AppState>) -> AppResult<Permissions> {
    let (org, user, global, listed) = {
        let s = state.session();
        let a = s.as_ref().ok_or_else(AppError::no_session)?;
        let org =
            a.org.as_ref().map(|o| o.id).ok_or_else(|| {
                AppError::new("no_organization", "Create or join an organization")
            })?;
        let listed = a.profile.membership(org).map(|m| (m.role, m.tier));
        (org, a.profile.user_id, a.profile.global_role, listed)
    };
    let synced = state.with_replica(move |r| Ok(r.standing(user)?)).await?;
    let (role, tier) = match (synced, listed) {
        ((Some(role), tier), _) => (role, tier),
        ((None, _), Some(listed)) => listed,
        ((None, _), None) => {
            return Err(AppError::new(
                "not_found",
                format!("You are not a member of organization {org}"),
            ))
        }
    };
    Ok(Permissions {
        global_role: global,
        role,
        tier,
        actions: decide(global, role, tier),
    })
}

pub fn decide(global: GlobalRole, role: OrgRole, tier: Tier) -> Vec<Permission> {
    Action::ALL
        .iter()
        .map(|a| match check(global, role, tier, *a) {
            Decision::Allow => Permission {
                action: a.name(),
                allowed: true,
                reason: None,
            },
            Decision::Deny(d) => Permission {
                action: a.name(),
                allowed: false,
                reason: Some(d.message),
            },
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find<'a>(p: &'a [Permission], name: &str) -> &'a Permission {
        p.iter().find(|x| x.action == name).expect("action listed")
    }

    #[test]
    fn every_action_of_the_matrix_is_decided_with_its_reason() {
        let viewer = decide(GlobalRole::User, OrgRole::Viewer, Tier::Growth);
        assert_eq!(viewer.len(), Action::ALL.len());
        assert!(find(&viewer, "viewCrm").allowed);
        let create = find(&viewer, "createContact");
        assert!(!create.allowed);
        assert!(create.reason.as_deref().unwrap_or("").contains("VIEWER"));

        let free = decide(GlobalRole::User, OrgRole::Owner, Tier::Free);
        let crm = find(&free, "createContact");
        assert!(!crm.allowed);
        assert!(crm.reason.as_deref().unwrap_or("").contains("Upgrade"));
        assert!(find(&free, "viewMembers").allowed);
    }
}
