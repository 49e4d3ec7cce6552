//! Every write is a named mutation. The server runs it from its REST routes and from a pushed
//! sync batch; the replica applies it locally. Both call the same `validate` here.
//!
//! Wire form: `{"type": "createContact", "args": {...}}`. Unknown fields are refused.

mod changes;
pub mod contacts;
pub mod deals;
pub mod loops;
pub mod members;

pub use changes::{nullable, Change, Changes, FieldValue};

use crate::ids::*;
use crate::permissions::Action;
use crate::validation::{Valid, ValidationError};
use serde::{Deserialize, Serialize};

/// A delete names only what it deletes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Delete<Id> {
    pub id: Id,
}

/// An update carries only the fields it changes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Update<Id, C> {
    pub id: Id,
    pub changes: C,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(
    tag = "type",
    content = "args",
    rename_all = "camelCase",
    deny_unknown_fields
)]
pub enum Mutation {
    CreateContact(contacts::CreateContact),
    UpdateContact(Update<ContactId, contacts::ContactChanges>),
    DeleteContact(Delete<ContactId>),
    BulkAssignContacts(contacts::BulkAssignContacts),
    CreateDeal(deals::CreateDeal),
    UpdateDeal(Update<DealId, deals::DealChanges>),
    DeleteDeal(Delete<DealId>),
    CreateLoop(loops::CreateLoop),
    UpdateLoop(Update<LoopId, loops::LoopChanges>),
    DeleteLoop(Delete<LoopId>),
    CreateTask(loops::CreateTask),
    UpdateTask(Update<TaskId, loops::TaskChanges>),
    CompleteTask(Delete<TaskId>),
    DeleteTask(Delete<TaskId>),
}

/// A mutation that passed its rules, ready to execute.
#[derive(Clone, Debug, PartialEq)]
pub enum ValidMutation {
    CreateContact(contacts::NewContact),
    UpdateContact(ContactId, Changes),
    DeleteContact(ContactId),
    BulkAssignContacts(contacts::BulkAssign),
    CreateDeal(deals::NewDeal),
    UpdateDeal(DealId, Changes),
    DeleteDeal(DealId),
    CreateLoop(loops::NewLoop),
    UpdateLoop(LoopId, Changes),
    DeleteLoop(LoopId),
    CreateTask(loops::NewTask),
    UpdateTask(TaskId, Changes),
    CompleteTask(TaskId),
    DeleteTask(TaskId),
}

impl Mutation {
    /// The permission this mutation needs.
    pub fn action(&self) -> Action {
        match self {
            Mutation::CreateContact(_) => Action::CreateContact,
            Mutation::UpdateContact(_) => Action::UpdateContact,
            Mutation::DeleteContact(_) => Action::DeleteContact,
            Mutation::BulkAssignContacts(_) => Action::BulkAssignContacts,
            Mutation::CreateDeal(_) => Action::CreateDeal,
            Mutation::UpdateDeal(_) => Action::UpdateDeal,
            Mutation::DeleteDeal(_) => Action::DeleteDeal,
            Mutation::CreateLoop(_) => Action::CreateLoop,
            Mutation::UpdateLoop(_) => Action::UpdateLoop,
            Mutation::DeleteLoop(_) => Action::DeleteLoop,
            Mutation::CreateTask(_) => Action::CreateTask,
            Mutation::UpdateTask(_) => Action::UpdateTask,
            Mutation::CompleteTask(_) => Action::CompleteTask,
            Mutation::DeleteTask(_) => Action::DeleteTask,
        }
    }

    /// Checks every rule of the mutation and reports every broken one.
    pub fn validate(self) -> Result<Valid<ValidMutation>, ValidationError> {
        use ValidMutation as V;
        let valid = match self {
            Mutation::CreateContact(m) => V::CreateContact(m.validate()?),
            Mutation::UpdateContact(u) => V::UpdateContact(u.id, u.changes.validate()?),
            Mutation::DeleteContact(d) => V::DeleteContact(d.id),
            Mutation::BulkAssignContacts(m) => V::BulkAssignContacts(m.validate()?),
            Mutation::CreateDeal(m) => V::CreateDeal(m.validate()?),
            Mutation::UpdateDeal(u) => V::UpdateDeal(u.id, u.changes.validate()?),
            Mutation::DeleteDeal(d) => V::DeleteDeal(d.id),
            Mutation::CreateLoop(m) => V::CreateLoop(m.validate()?),
            Mutation::UpdateLoop(u) => V::UpdateLoop(u.id, u.changes.validate()?),
            Mutation::DeleteLoop(d) => V::DeleteLoop(d.id),
            Mutation::CreateTask(m) => V::CreateTask(m.validate()?),
            Mutation::UpdateTask(u) => V::UpdateTask(u.id, u.changes.validate()?),
            Mutation::CompleteTask(d) => V::CompleteTask(d.id),
            Mutation::DeleteTask(d) => V::DeleteTask(d.id),
        };
        Ok(Valid::new(valid))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_form_is_adjacently_tagged_and_strict() {
        let json =
            r#"{"type":"deleteContact","args":{"id":"0190a5d2-7c3e-7000-8000-000000000001"}}"#;
        let m: Mutation = serde_json::from_str(json).unwrap();
        assert_eq!(m.action(), Action::DeleteContact);
        let extra = r#"{"type":"deleteContact","args":{"id":"0190a5d2-7c3e-7000-8000-000000000001","x":1}}"#;
        assert!(serde_json::from_str::<Mutation>(extra).is_err());
        let unknown = r#"{"type":"dropTables","args":{}}"#;
        assert!(serde_json::from_str::<Mutation>(unknown).is_err());
    }
}
