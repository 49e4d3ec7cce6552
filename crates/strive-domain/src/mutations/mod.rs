//! Every write is a named mutation. The server runs it from its REST routes and from a pushed
//! sync batch; the replica applies it locally. Both call the same `validate` here.
//!
//! Wire form: `{"type": "createContact", "args": {...}}`. Unknown fields are refused.

mod changes;
pub mod contacts;
pub mod deals;
pub mod documents;
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
    /// The row's `sync_seq` as the device last saw it when the edit was made. With it the server
    /// detects that another device changed one of these fields meanwhile and records a conflict
    /// for that device; `None` (REST) detects nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_seq: Option<i64>,
}

/// A valid `base_seq`: a change-feed number, so never negative.
fn base_seq(base: Option<i64>) -> Result<Option<i64>, ValidationError> {
    match base {
        Some(b) if b < 0 => Err(ValidationError::single(
            "base_seq",
            "must be a change-feed number (0 or more)",
        )),
        b => Ok(b),
    }
}

/// Validates an update's changes and its `base_seq`, reporting both when both are wrong.
fn update<Id>(
    id: Id,
    changes: Result<Changes, ValidationError>,
    base: Option<i64>,
) -> Result<(Id, Changes, Option<i64>), ValidationError> {
    match (changes, base_seq(base)) {
        (Ok(c), Ok(b)) => Ok((id, c, b)),
        (Err(e), Ok(_)) | (Ok(_), Err(e)) => Err(e),
        (Err(mut e), Err(b)) => {
            e.fields.extend(b.fields);
            Err(e)
        }
    }
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
    UploadDocument(documents::UploadDocument),
    SubmitDocument(Delete<DocumentId>),
    ReviewDocument(documents::ReviewDocument),
}

/// A mutation that passed its rules, ready to execute. An update's third field is its
/// `base_seq` (see [`Update`]).
#[derive(Clone, Debug, PartialEq)]
pub enum ValidMutation {
    CreateContact(contacts::NewContact),
    UpdateContact(ContactId, Changes, Option<i64>),
    DeleteContact(ContactId),
    BulkAssignContacts(contacts::BulkAssign),
    CreateDeal(deals::NewDeal),
    UpdateDeal(DealId, Changes, Option<i64>),
    DeleteDeal(DealId),
    CreateLoop(loops::NewLoop),
    UpdateLoop(LoopId, Changes, Option<i64>),
    DeleteLoop(LoopId),
    CreateTask(loops::NewTask),
    UpdateTask(TaskId, Changes, Option<i64>),
    CompleteTask(TaskId),
    DeleteTask(TaskId),
    UploadDocument(documents::NewVersion),
    SubmitDocument(DocumentId),
    ReviewDocument(documents::Review),
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
            Mutation::UploadDocument(_) => Action::UploadDocument,
            Mutation::SubmitDocument(_) => Action::SubmitDocument,
            Mutation::ReviewDocument(_) => Action::ReviewDocument,
        }
    }

    /// Checks every rule of the mutation and reports every broken one.
    pub fn validate(self) -> Result<Valid<ValidMutation>, ValidationError> {
        use ValidMutation as V;
        let valid = match self {
            Mutation::CreateContact(m) => V::CreateContact(m.validate()?),
            Mutation::UpdateContact(u) => {
                let (id, changes, base) = update(u.id, u.changes.validate(), u.base_seq)?;
                V::UpdateContact(id, changes, base)
            }
            Mutation::DeleteContact(d) => V::DeleteContact(d.id),
            Mutation::BulkAssignContacts(m) => V::BulkAssignContacts(m.validate()?),
            Mutation::CreateDeal(m) => V::CreateDeal(m.validate()?),
            Mutation::UpdateDeal(u) => {
                let (id, changes, base) = update(u.id, u.changes.validate(), u.base_seq)?;
                V::UpdateDeal(id, changes, base)
            }
            Mutation::DeleteDeal(d) => V::DeleteDeal(d.id),
            Mutation::CreateLoop(m) => V::CreateLoop(m.validate()?),
            Mutation::UpdateLoop(u) => {
                let (id, changes, base) = update(u.id, u.changes.validate(), u.base_seq)?;
                V::UpdateLoop(id, changes, base)
            }
            Mutation::DeleteLoop(d) => V::DeleteLoop(d.id),
            Mutation::CreateTask(m) => V::CreateTask(m.validate()?),
            Mutation::UpdateTask(u) => {
                let (id, changes, base) = update(u.id, u.changes.validate(), u.base_seq)?;
                V::UpdateTask(id, changes, base)
            }
            Mutation::CompleteTask(d) => V::CompleteTask(d.id),
            Mutation::DeleteTask(d) => V::DeleteTask(d.id),
            Mutation::UploadDocument(m) => V::UploadDocument(m.validate()?),
            Mutation::SubmitDocument(d) => V::SubmitDocument(d.id),
            Mutation::ReviewDocument(m) => V::ReviewDocument(m.validate()?),
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

    #[test]
    fn updates_carry_an_optional_base_seq() {
        let id = "0190a5d2-7c3e-7000-8000-000000000001";
        let plain = format!(
            r#"{{"type":"updateContact","args":{{"id":"{id}","changes":{{"name":"Ann Lee"}}}}}}"#
        );
        let m: Mutation = serde_json::from_str(&plain).unwrap();
        let Mutation::UpdateContact(u) = &m else {
            panic!("{m:?}")
        };
        assert_eq!(u.base_seq, None);
        assert_eq!(
            serde_json::to_string(&m).unwrap(),
            plain,
            "no base_seq key when there is none"
        );
        let ValidMutation::UpdateContact(_, _, None) = m.validate().unwrap().into_inner() else {
            panic!("no base_seq")
        };

        let based = format!(
            r#"{{"type":"updateTask","args":{{"id":"{id}","changes":{{"title":"Call the bank"}},"base_seq":42}}}}"#
        );
        let m: Mutation = serde_json::from_str(&based).unwrap();
        assert_eq!(serde_json::to_string(&m).unwrap(), based, "round trip");
        let ValidMutation::UpdateTask(_, _, Some(42)) = m.validate().unwrap().into_inner() else {
            panic!("base_seq 42")
        };

        let negative = format!(
            r#"{{"type":"updateDeal","args":{{"id":"{id}","changes":{{}},"base_seq":-1}}}}"#
        );
        let err = serde_json::from_str::<Mutation>(&negative)
            .unwrap()
            .validate()
            .unwrap_err();
        let fields: Vec<_> = err.fields.iter().map(|f| f.field.as_str()).collect();
        assert!(fields.contains(&"base_seq"), "{err:?}");
        assert!(
            fields.len() >= 2,
            "the empty update is reported too: {err:?}"
        );
    }
}
