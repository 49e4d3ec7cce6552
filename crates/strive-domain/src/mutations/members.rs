//! Organization and membership inputs. These are online-only (no sync mutation): they change
//! who may see what, so the server must decide them at once.

use crate::enums::{OrgRole, Tier};
use crate::ids::OrgId;
use crate::validation::{Checker, ValidationError};
use crate::values::{Email, Text};
use serde::{Deserialize, Serialize};

pub type OrgName = Text<2, 100>;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreateOrganization {
    #[serde(default)]
    pub id: Option<OrgId>,
    #[cfg_attr(feature = "openapi", schema(min_length = 2, max_length = 100))]
    pub name: String,
    /// Lower-case letters, digits and dashes; derived from the name when absent.
    #[serde(default)]
    pub slug: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct NewOrganization {
    pub id: OrgId,
    pub name: String,
    pub slug: String,
}

/// `"Acme Realty, LLC"` -> `"acme-realty-llc"`.
pub fn slugify(name: &str) -> String {
    let mut out = String::new();
    for ch in name.trim().chars().flat_map(|c| c.to_lowercase()) {
        if ch.is_ascii_alphanumeric() {
            out.push(ch);
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    out.trim_end_matches('-').chars().take(60).collect()
}

fn slug(raw: &str) -> Result<String, crate::values::Invalid> {
    let ok = (3..=60).contains(&raw.len())
        && raw
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !raw.starts_with('-')
        && !raw.ends_with('-');
    if ok {
        Ok(raw.to_string())
    } else {
        Err(crate::values::Invalid(
            "3 to 60 lower-case letters, digits and dashes, not starting or ending with a dash"
                .into(),
        ))
    }
}

impl CreateOrganization {
    pub fn validate(self) -> Result<NewOrganization, ValidationError> {
        let mut c = Checker::new();
        let name = c.check("name", OrgName::parse(&self.name));
        let wanted = self.slug.unwrap_or_else(|| slugify(&self.name));
        let slug = c.check("slug", slug(&wanted));
        c.finish(|| {
            Some(NewOrganization {
                id: self.id.unwrap_or_default(),
                name: name?.into_string(),
                slug: slug?,
            })
        })
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AddMember {
    #[cfg_attr(feature = "openapi", schema(format = Email, max_length = 254))]
    pub email: String,
    #[serde(default)]
    pub role: Option<OrgRole>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct NewMember {
    pub email: Email,
    pub role: OrgRole,
}

impl AddMember {
    pub fn validate(self) -> Result<NewMember, ValidationError> {
        let mut c = Checker::new();
        let email = c.check("email", Email::parse(&self.email));
        c.finish(|| {
            Some(NewMember {
                email: email?,
                role: self.role.unwrap_or(OrgRole::Member),
            })
        })
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChangeRole {
    pub role: OrgRole,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SetTier {
    pub tier: Tier,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        assert_eq!(slugify("  Acme Realty, LLC "), "acme-realty-llc");
        let org = CreateOrganization {
            id: None,
            name: "Élan Homes".into(),
            slug: None,
        }
        .validate()
        .unwrap();
        assert_eq!(org.slug, "lan-homes");
        let bad = CreateOrganization {
            id: None,
            name: "Good".into(),
            slug: Some("../etc".into()),
        };
        assert!(bad.validate().is_err());
    }
}
