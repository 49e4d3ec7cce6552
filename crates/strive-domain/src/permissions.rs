//! The one permissions matrix: `(global role, org role, tier, action) -> Allow | Deny(reason)`.
//!
//! Checks run in the platform's order: subscription tier, then global role, then organization
//! role. `docs/permissions.md` writes the matrix out as a table and a test checks every cell of
//! it against [`check`].

use crate::enums::{GlobalRole, OrgRole, Tier};
use serde::{Deserialize, Serialize};

/// A feature a subscription tier unlocks (the platform's `canAccessFeature`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Feature {
    /// Members, profile, settings: every tier.
    Settings,
    Crm,
    Transactions,
}

impl Feature {
    pub fn name(&self) -> &'static str {
        match self {
            Feature::Settings => "settings",
            Feature::Crm => "CRM",
            Feature::Transactions => "transaction",
        }
    }

    /// The tiers that include this feature.
    pub fn allowed_for(&self, tier: Tier) -> bool {
        match self {
            Feature::Settings => true,
            // subscription.ts: STARTER, GROWTH, ELITE, ENTERPRISE (FREE and CUSTOM excluded).
            Feature::Crm | Feature::Transactions => tier >= Tier::Starter,
        }
    }

    /// The lowest tier that includes this feature, named in the upgrade message.
    pub fn min_tier(&self) -> Tier {
        match self {
            Feature::Settings => Tier::Free,
            Feature::Crm | Feature::Transactions => Tier::Starter,
        }
    }
}

/// Which global roles may attempt an action at all.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GlobalRule {
    /// Every global role (canManageContacts, canAccessTransactions, ...).
    Any,
    /// SUPER_ADMIN, ADMIN, MODERATOR (canDeleteContacts, canDeleteDeals).
    NotPlainUser,
    /// SUPER_ADMIN and ADMIN: platform administration.
    PlatformAdmin,
}

impl GlobalRule {
    pub fn allows(&self, role: GlobalRole) -> bool {
        match self {
            GlobalRule::Any => true,
            GlobalRule::NotPlainUser => role != GlobalRole::User,
            GlobalRule::PlatformAdmin => matches!(role, GlobalRole::SuperAdmin | GlobalRole::Admin),
        }
    }
}

/// Which organization roles may perform an action (the platform's `X:read/write/manage`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OrgRule {
    /// Not about one organization's data (platform administration).
    NotRequired,
    /// OWNER, ADMIN, MEMBER, VIEWER.
    Read,
    /// OWNER, ADMIN, MEMBER.
    Write,
    /// OWNER, ADMIN.
    Manage,
}

impl OrgRule {
    pub fn allows(&self, role: OrgRole) -> bool {
        match self {
            OrgRule::NotRequired | OrgRule::Read => true,
            OrgRule::Write => role != OrgRole::Viewer,
            OrgRule::Manage => matches!(role, OrgRole::Owner | OrgRole::Admin),
        }
    }
}

macro_rules! actions {
    ($($variant:ident => ($feature:ident, $global:ident, $org:ident, $verb:literal)),+ $(,)?) => {
        /// Everything a caller can ask the service (or a device) to do.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "camelCase")]
        pub enum Action { $($variant),+ }

        impl Action {
            pub const ALL: &'static [Action] = &[$(Action::$variant),+];

            pub fn rule(&self) -> (Feature, GlobalRule, OrgRule) {
                match self { $(Action::$variant => (Feature::$feature, GlobalRule::$global, OrgRule::$org)),+ }
            }

            /// Words for messages: "cannot {verb}".
            pub fn verb(&self) -> &'static str {
                match self { $(Action::$variant => $verb),+ }
            }
        }
    };
}

impl Action {
    /// The name used in docs and on the wire: `CreateContact` -> `createContact`.
    pub fn name(&self) -> String {
        let debug = format!("{self:?}");
        let mut chars = debug.chars();
        chars
            .next()
            .map(|c| c.to_ascii_lowercase().to_string() + chars.as_str())
            .unwrap_or_default()
    }
}

actions! {
    ViewCrm => (Crm, Any, Read, "view contacts and deals"),
    CreateContact => (Crm, Any, Write, "create contacts"),
    UpdateContact => (Crm, Any, Write, "edit contacts"),
    DeleteContact => (Crm, NotPlainUser, Manage, "delete contacts"),
    BulkAssignContacts => (Crm, Any, Manage, "bulk-assign contacts"),
    CreateDeal => (Crm, Any, Write, "create deals"),
    UpdateDeal => (Crm, Any, Write, "edit deals"),
    DeleteDeal => (Crm, NotPlainUser, Manage, "delete deals"),
    ViewDashboard => (Crm, Any, Read, "view the dashboard"),
    ViewLoops => (Transactions, Any, Read, "view transaction loops"),
    CreateLoop => (Transactions, Any, Write, "create transaction loops"),
    UpdateLoop => (Transactions, Any, Write, "edit transaction loops"),
    DeleteLoop => (Transactions, Any, Manage, "delete transaction loops"),
    CreateTask => (Transactions, Any, Write, "create tasks"),
    UpdateTask => (Transactions, Any, Write, "edit tasks"),
    CompleteTask => (Transactions, Any, Write, "complete tasks"),
    DeleteTask => (Transactions, Any, Write, "delete tasks"),
    ViewActivity => (Transactions, Any, Read, "view activity"),
    ViewDocuments => (Transactions, Any, Read, "view transaction documents"),
    UploadDocument => (Transactions, Any, Write, "upload transaction documents"),
    SubmitDocument => (Transactions, Any, Write, "submit documents for review"),
    ReviewDocument => (Transactions, Any, Manage, "review documents"),
    ViewMembers => (Settings, Any, Read, "view members"),
    InviteMember => (Settings, Any, Write, "add members"),
    ChangeMemberRole => (Settings, Any, Manage, "change members' roles"),
    RemoveMember => (Settings, Any, Manage, "remove members"),
    SetTier => (Settings, PlatformAdmin, NotRequired, "change subscription tiers"),
    CreateOrganization => (Settings, Any, NotRequired, "create organizations"),
    Sync => (Crm, Any, Read, "sync this organization"),
    ViewDevices => (Settings, Any, Manage, "see devices' sync state"),
    RequestSync => (Settings, Any, Manage, "ask devices to sync"),
}

/// Which check refused an action.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DenyKind {
    Tier,
    GlobalRole,
    OrgRole,
}

/// A refusal with its user-facing reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Denied {
    pub kind: DenyKind,
    pub message: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    Allow,
    Deny(Denied),
}

impl Decision {
    pub fn into_result(self) -> Result<(), Denied> {
        match self {
            Decision::Allow => Ok(()),
            Decision::Deny(d) => Err(d),
        }
    }
}

/// The matrix. `org_role` is the caller's role in the organization the request names.
pub fn check(global: GlobalRole, org_role: OrgRole, tier: Tier, action: Action) -> Decision {
    let (feature, global_rule, org_rule) = action.rule();
    if !feature.allowed_for(tier) {
        return Decision::Deny(Denied {
            kind: DenyKind::Tier,
            message: format!(
                "Upgrade to {} tier to access {} features",
                feature.min_tier(),
                feature.name()
            ),
        });
    }
    if !global_rule.allows(global) {
        return Decision::Deny(Denied {
            kind: DenyKind::GlobalRole,
            message: format!(
                "Your account role ({global}) cannot {}; ask a platform administrator",
                action.verb()
            ),
        });
    }
    // SUPER_ADMIN is judged by its global role alone (the platform's hasOrgPermission).
    if global != GlobalRole::SuperAdmin && !org_rule.allows(org_role) {
        return Decision::Deny(Denied {
            kind: DenyKind::OrgRole,
            message: format!(
                "Your role in this organization ({org_role}) cannot {}; ask an owner or admin",
                action.verb()
            ),
        });
    }
    Decision::Allow
}
