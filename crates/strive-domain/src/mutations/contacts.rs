//! Contact mutations and their rules (the platform's createContactSchema and friends).

use super::changes::{nullable, Changes, FieldValue};
use crate::enums::{ContactStatus, ContactType};
use crate::ids::{ContactId, UserId};
use crate::rules::BULK_ASSIGN_LIMIT;
use crate::validation::{Checker, ValidationError};
use crate::values::{optional_text, tags, Email, Phone, Text};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub type ContactName = Text<2, 100>;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreateContact {
    /// Made by the device that creates the contact; the server makes one if absent.
    #[serde(default)]
    pub id: Option<ContactId>,
    pub name: String,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub company: Option<String>,
    #[serde(default)]
    pub position: Option<String>,
    #[serde(default)]
    pub contact_type: Option<ContactType>,
    #[serde(default)]
    pub status: Option<ContactStatus>,
    #[serde(default)]
    pub notes: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub assigned_to_id: Option<UserId>,
    #[serde(default)]
    pub next_follow_up_at: Option<DateTime<Utc>>,
}

/// A contact that passed every rule.
#[derive(Clone, Debug, PartialEq)]
pub struct NewContact {
    pub id: ContactId,
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub company: Option<String>,
    pub position: Option<String>,
    pub contact_type: ContactType,
    pub status: ContactStatus,
    pub notes: Option<String>,
    pub tags: Vec<String>,
    pub assigned_to_id: Option<UserId>,
    pub next_follow_up_at: Option<DateTime<Utc>>,
}

fn email(raw: &str) -> Result<Option<String>, crate::values::Invalid> {
    if raw.trim().is_empty() {
        Ok(None)
    } else {
        Email::parse(raw).map(|e| Some(e.as_str().to_string()))
    }
}

fn phone(raw: &str) -> Result<Option<String>, crate::values::Invalid> {
    if raw.trim().is_empty() {
        Ok(None)
    } else {
        Phone::parse(raw).map(|p| Some(p.as_str().to_string()))
    }
}

fn short(raw: &str) -> Result<Option<String>, crate::values::Invalid> {
    optional_text::<100>(raw).map(|t| t.map(|t| t.into_string()))
}

fn notes(raw: &str) -> Result<Option<String>, crate::values::Invalid> {
    optional_text::<5000>(raw).map(|t| t.map(|t| t.into_string()))
}

impl CreateContact {
    pub fn validate(self) -> Result<NewContact, ValidationError> {
        let mut c = Checker::new();
        let name = c.check("name", ContactName::parse(&self.name));
        let email = c.check_opt("email", self.email.as_deref().map(email));
        let phone = c.check_opt("phone", self.phone.as_deref().map(phone));
        let company = c.check_opt("company", self.company.as_deref().map(short));
        let position = c.check_opt("position", self.position.as_deref().map(short));
        let notes = c.check_opt("notes", self.notes.as_deref().map(notes));
        let tags = c.check("tags", tags(&self.tags));
        c.finish(|| {
            Some(NewContact {
                id: self.id.unwrap_or_default(),
                name: name?.into_string(),
                email: email.flatten(),
                phone: phone.flatten(),
                company: company.flatten(),
                position: position.flatten(),
                contact_type: self.contact_type.unwrap_or(ContactType::Prospect),
                status: self.status.unwrap_or(ContactStatus::Active),
                notes: notes.flatten(),
                tags: tags?,
                assigned_to_id: self.assigned_to_id,
                next_follow_up_at: self.next_follow_up_at,
            })
        })
    }
}

/// The fields an update may change; absent fields stay as they are, `null` clears.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ContactChanges {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    pub email: Option<Option<String>>,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    pub phone: Option<Option<String>>,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    pub company: Option<Option<String>>,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    pub position: Option<Option<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_type: Option<ContactType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<ContactStatus>,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    pub notes: Option<Option<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    pub assigned_to_id: Option<Option<UserId>>,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    pub next_follow_up_at: Option<Option<DateTime<Utc>>>,
}

/// Validates an optional-and-nullable text field and records it as a change.
pub(crate) fn text_change(
    c: &mut Checker,
    out: &mut Changes,
    column: &'static str,
    value: Option<Option<String>>,
    rule: fn(&str) -> Result<Option<String>, crate::values::Invalid>,
) {
    if let Some(v) = value {
        let parsed = match v {
            None => Some(None),
            Some(s) => c.check(column, rule(&s)),
        };
        if let Some(p) = parsed {
            out.set(column, FieldValue::Text(p));
        }
    }
}

/// An update must name at least one field (a field that fails its rule is reported on its own).
pub(crate) fn require_some(c: &mut Checker, nothing_sent: bool) {
    if nothing_sent {
        c.fail("changes", "nothing to change: name at least one field");
    }
}

impl ContactChanges {
    pub fn validate(self) -> Result<Changes, ValidationError> {
        let nothing_sent = self == Self::default();
        let mut c = Checker::new();
        let mut out = Changes::default();
        if let Some(name) = self.name {
            if let Some(n) = c.check("name", ContactName::parse(&name)) {
                out.set("name", FieldValue::Text(Some(n.into_string())));
            }
        }
        text_change(&mut c, &mut out, "email", self.email, email);
        text_change(&mut c, &mut out, "phone", self.phone, phone);
        text_change(&mut c, &mut out, "company", self.company, short);
        text_change(&mut c, &mut out, "position", self.position, short);
        if let Some(t) = self.contact_type {
            out.set("contact_type", FieldValue::Text(Some(t.as_str().into())));
        }
        if let Some(s) = self.status {
            out.set("status", FieldValue::Text(Some(s.as_str().into())));
        }
        text_change(&mut c, &mut out, "notes", self.notes, notes);
        if let Some(raw) = self.tags {
            if let Some(t) = c.check("tags", tags(&raw)) {
                out.set("tags", FieldValue::TextList(t));
            }
        }
        if let Some(a) = self.assigned_to_id {
            out.set("assigned_to_id", FieldValue::Id(a.map(|u| u.0)));
        }
        if let Some(f) = self.next_follow_up_at {
            out.set("next_follow_up_at", FieldValue::Time(f));
        }
        require_some(&mut c, nothing_sent);
        c.finish(|| Some(out))
    }
}

/// Assign many contacts to one member at once (the platform's Pattern 6).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BulkAssignContacts {
    #[cfg_attr(feature = "openapi", schema(min_items = 1, max_items = 100))]
    pub contact_ids: Vec<ContactId>,
    pub assigned_to_id: UserId,
}

#[derive(Clone, Debug, PartialEq)]
pub struct BulkAssign {
    /// Distinct, in the order given.
    pub contact_ids: Vec<ContactId>,
    pub assigned_to_id: UserId,
}

impl BulkAssignContacts {
    pub fn validate(self) -> Result<BulkAssign, ValidationError> {
        let mut c = Checker::new();
        let mut ids: Vec<ContactId> = Vec::with_capacity(self.contact_ids.len());
        for id in self.contact_ids {
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        if ids.is_empty() {
            c.fail("contact_ids", "choose at least one contact");
        } else if ids.len() > BULK_ASSIGN_LIMIT {
            c.fail(
                "contact_ids",
                format!(
                    "at most {BULK_ASSIGN_LIMIT} contacts per bulk assignment ({} given); split the selection",
                    ids.len()
                ),
            );
        }
        c.finish(|| {
            Some(BulkAssign {
                contact_ids: ids,
                assigned_to_id: self.assigned_to_id,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn create(name: &str) -> CreateContact {
        CreateContact {
            name: name.into(),
            ..Default::default()
        }
    }

    #[test]
    fn create_applies_defaults_and_normalises() {
        let mut input = create("  Ann Lee ");
        input.email = Some("ANN@example.com".into());
        input.phone = Some("".into());
        let c = input.validate().unwrap();
        assert_eq!(c.name, "Ann Lee");
        assert_eq!(c.email.as_deref(), Some("ann@example.com"));
        assert_eq!(c.phone, None, "blank phone means none");
        assert_eq!(c.contact_type, ContactType::Prospect);
        assert_eq!(c.status, ContactStatus::Active);
    }

    #[test]
    fn create_reports_every_broken_rule() {
        let mut input = create("A");
        input.email = Some("not-an-email".into());
        input.notes = Some("x".repeat(5001));
        let err = input.validate().unwrap_err();
        let fields: Vec<_> = err.fields.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, vec!["name", "email", "notes"]);
    }

    #[test]
    fn changes_keep_only_named_fields_and_distinguish_null() {
        let changes: ContactChanges =
            serde_json::from_str(r#"{"company": null, "status": "INACTIVE"}"#).unwrap();
        let c = changes.validate().unwrap();
        assert_eq!(c.get("company"), Some(&FieldValue::Text(None)));
        assert_eq!(
            c.get("status"),
            Some(&FieldValue::Text(Some("INACTIVE".into())))
        );
        assert_eq!(c.get("name"), None);
        assert!(
            ContactChanges::default().validate().is_err(),
            "empty update refused"
        );
    }

    #[test]
    fn bulk_assign_limits() {
        let user = UserId::new();
        let many = BulkAssignContacts {
            contact_ids: (0..101).map(|_| ContactId::new()).collect(),
            assigned_to_id: user,
        };
        assert!(many
            .validate()
            .unwrap_err()
            .to_string()
            .contains("at most 100"));
        let none = BulkAssignContacts {
            contact_ids: vec![],
            assigned_to_id: user,
        };
        assert!(none.validate().is_err());
        let id = ContactId::new();
        let dup = BulkAssignContacts {
            contact_ids: vec![id, id],
            assigned_to_id: user,
        };
        assert_eq!(dup.validate().unwrap().contact_ids, vec![id]);
    }
}
