//! Business rules that depend on data, not just on the caller's roles.

use crate::enums::{GlobalRole, OrgRole, TaskCategory, TaskStatus};
use crate::ids::UserId;
use crate::permissions::{Action, Decision, Denied, DenyKind};

/// The largest bulk assignment one request may make (the platform's limit).
pub const BULK_ASSIGN_LIMIT: usize = 100;

/// The tasks every new transaction loop starts with, in order (the platform's Pattern 2).
pub const DEFAULT_LOOP_TASKS: [(&str, TaskCategory); 4] = [
    ("Initial Consultation", TaskCategory::PreListing),
    ("Property Inspection", TaskCategory::Listing),
    ("Offer Review", TaskCategory::UnderContract),
    ("Final Walkthrough", TaskCategory::Closing),
];

/// The ids of a loop's default tasks, derived from the loop's id (UUIDv5), so the device that
/// creates a loop offline and the server that applies it later make the very same tasks.
pub fn default_task_ids(loop_id: crate::LoopId) -> [crate::TaskId; 4] {
    [1u8, 2, 3, 4].map(|i| {
        crate::TaskId(uuid::Uuid::new_v5(
            &loop_id.0,
            format!("default-task-{i}").as_bytes(),
        ))
    })
}

/// Loop progress in percent: the share of its live (not cancelled) tasks that are done.
/// A loop with no live tasks has made no measurable progress.
pub fn loop_progress(statuses: impl IntoIterator<Item = TaskStatus>) -> i32 {
    let (mut done, mut live) = (0u32, 0u32);
    for s in statuses {
        match s {
            TaskStatus::Cancelled => {}
            TaskStatus::Done => {
                done += 1;
                live += 1;
            }
            _ => live += 1,
        }
    }
    if live == 0 {
        0
    } else {
        ((done as f64 * 100.0) / live as f64).round() as i32
    }
}

/// The platform's `canModifyLoop`: its creator, or anyone who may delete loops.
pub fn can_modify_loop(
    caller: UserId,
    global: GlobalRole,
    org_role: OrgRole,
    creator: UserId,
) -> Result<(), Denied> {
    if caller == creator {
        return Ok(());
    }
    let tier_is_irrelevant = crate::Tier::Enterprise;
    match crate::permissions::check(global, org_role, tier_is_irrelevant, Action::DeleteLoop) {
        Decision::Allow => Ok(()),
        Decision::Deny(_) => Err(Denied {
            kind: DenyKind::OrgRole,
            message: "Only the loop's creator or an owner or admin can edit this loop".into(),
        }),
    }
}

/// Who may give, change or take away which organization role.
///
/// - nobody grants a role above their own, nor touches a member ranked above them;
/// - the last owner cannot be demoted or removed (an organization always has an owner);
/// - SUPER_ADMIN is judged by its global role alone.
pub fn check_role_change(
    actor_global: GlobalRole,
    actor_role: OrgRole,
    target_current: Option<OrgRole>,
    target_new: Option<OrgRole>,
    owners_left_after: usize,
) -> Result<(), Denied> {
    let deny = |message: &str| {
        Err(Denied {
            kind: DenyKind::OrgRole,
            message: message.into(),
        })
    };
    if owners_left_after == 0 && target_current == Some(OrgRole::Owner) {
        return deny("An organization needs at least one owner; make someone else owner first");
    }
    if actor_global == GlobalRole::SuperAdmin {
        return Ok(());
    }
    if let Some(current) = target_current {
        if current.rank() > actor_role.rank() {
            return deny("You cannot change a member whose role is above yours");
        }
    }
    if let Some(new) = target_new {
        if new.rank() > actor_role.rank() {
            return deny("You cannot give a role above your own");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use TaskStatus::*;

    #[test]
    fn progress_counts_done_among_live_tasks() {
        assert_eq!(loop_progress([Pending, Pending, Pending, Pending]), 0);
        assert_eq!(loop_progress([Done, Pending, Pending, Pending]), 25);
        assert_eq!(loop_progress([Done, Done, Cancelled]), 100);
        assert_eq!(loop_progress([Done, Pending, Pending]), 33);
        assert_eq!(loop_progress([]), 0);
    }

    #[test]
    fn default_task_ids_are_stable_and_distinct() {
        let l = crate::LoopId::new();
        let a = default_task_ids(l);
        assert_eq!(a, default_task_ids(l));
        let mut all: Vec<_> = a
            .iter()
            .chain(default_task_ids(crate::LoopId::new()).iter())
            .copied()
            .collect();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 8);
    }

    #[test]
    fn loop_modification() {
        let (me, other) = (UserId::new(), UserId::new());
        assert!(can_modify_loop(me, GlobalRole::User, OrgRole::Member, me).is_ok());
        assert!(can_modify_loop(me, GlobalRole::User, OrgRole::Member, other).is_err());
        assert!(can_modify_loop(me, GlobalRole::User, OrgRole::Admin, other).is_ok());
    }

    #[test]
    fn role_changes() {
        use OrgRole::*;
        let g = GlobalRole::User;
        assert!(check_role_change(g, Member, None, Some(Member), 1).is_ok());
        assert!(check_role_change(g, Member, None, Some(Admin), 1).is_err());
        assert!(check_role_change(g, Admin, Some(Owner), Some(Member), 1).is_err());
        assert!(check_role_change(g, Owner, Some(Owner), Some(Admin), 0).is_err());
        assert!(check_role_change(g, Owner, Some(Owner), Some(Admin), 1).is_ok());
        assert!(check_role_change(g, Owner, Some(Owner), None, 0).is_err());
    }
}
