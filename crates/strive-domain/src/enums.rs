//! The platform's enums, spelled as the platform spells them (SCREAMING_SNAKE_CASE on the wire
//! and in both databases, stored as text with CHECK constraints).

use serde::{Deserialize, Serialize};

/// Error for a string that names no variant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{value}' is not a valid {kind}; expected one of {expected}")]
pub struct UnknownVariant {
    pub kind: &'static str,
    pub value: String,
    pub expected: String,
}

macro_rules! text_enum {
    ($(#[$doc:meta])* $name:ident, $kind:literal { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum $name {
            $(#[serde(rename = $text)] $variant),+
        }

        impl $name {
            /// Every variant, in declared order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(&self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        // Written by hand: the derive does not see serde's renames through this macro and would
        // describe the Rust variant names instead of the wire spelling.
        #[cfg(feature = "openapi")]
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::schema::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .enum_values(Some([$($text),+]))
                    .into()
            }
        }

        #[cfg(feature = "openapi")]
        impl utoipa::ToSchema for $name {
            fn name() -> std::borrow::Cow<'static, str> {
                std::borrow::Cow::Borrowed(stringify!($name))
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = UnknownVariant;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err(UnknownVariant {
                        kind: $kind,
                        value: s.to_string(),
                        expected: [$($text),+].join(", "),
                    }),
                }
            }
        }

        #[cfg(feature = "sqlx")]
        impl sqlx::Type<sqlx::Postgres> for $name {
            fn type_info() -> sqlx::postgres::PgTypeInfo {
                <String as sqlx::Type<sqlx::Postgres>>::type_info()
            }
            fn compatible(ty: &sqlx::postgres::PgTypeInfo) -> bool {
                <String as sqlx::Type<sqlx::Postgres>>::compatible(ty)
            }
        }

        #[cfg(feature = "sqlx")]
        impl sqlx::Encode<'_, sqlx::Postgres> for $name {
            fn encode_by_ref(
                &self,
                buf: &mut sqlx::postgres::PgArgumentBuffer,
            ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
                <&str as sqlx::Encode<sqlx::Postgres>>::encode(self.as_str(), buf)
            }
        }

        #[cfg(feature = "sqlx")]
        impl sqlx::Decode<'_, sqlx::Postgres> for $name {
            fn decode(value: sqlx::postgres::PgValueRef<'_>) -> Result<Self, sqlx::error::BoxDynError> {
                let s = <&str as sqlx::Decode<sqlx::Postgres>>::decode(value)?;
                Ok(s.parse()?)
            }
        }

        #[cfg(feature = "sqlx")]
        impl sqlx::postgres::PgHasArrayType for $name {
            fn array_type_info() -> sqlx::postgres::PgTypeInfo {
                <String as sqlx::postgres::PgHasArrayType>::array_type_info()
            }
        }
    };
}

text_enum!(
    /// A person's role on the whole platform.
    GlobalRole, "global role" {
        SuperAdmin => "SUPER_ADMIN", Admin => "ADMIN", Moderator => "MODERATOR", User => "USER",
    }
);
text_enum!(
    /// A person's role inside one organization.
    OrgRole, "organization role" {
        Owner => "OWNER", Admin => "ADMIN", Member => "MEMBER", Viewer => "VIEWER",
    }
);
text_enum!(
    /// Subscription tiers, lowest to highest.
    Tier, "tier" {
        Free => "FREE", Custom => "CUSTOM", Starter => "STARTER", Growth => "GROWTH",
        Elite => "ELITE", Enterprise => "ENTERPRISE",
    }
);
text_enum!(
    SubscriptionStatus, "subscription status" {
        Active => "ACTIVE", Inactive => "INACTIVE", Trial => "TRIAL", PastDue => "PAST_DUE",
        Cancelled => "CANCELLED",
    }
);
text_enum!(
    ContactType, "contact type" {
        Prospect => "PROSPECT", Client => "CLIENT", PastClient => "PAST_CLIENT",
        Partner => "PARTNER", Vendor => "VENDOR",
    }
);
text_enum!(
    ContactStatus, "contact status" {
        Active => "ACTIVE", Inactive => "INACTIVE", DoNotContact => "DO_NOT_CONTACT",
    }
);
text_enum!(
    DealStage, "deal stage" {
        Lead => "LEAD", Qualified => "QUALIFIED", Proposal => "PROPOSAL",
        Negotiation => "NEGOTIATION", Closing => "CLOSING", ClosedWon => "CLOSED_WON",
        ClosedLost => "CLOSED_LOST",
    }
);
text_enum!(
    DealStatus, "deal status" {
        Active => "ACTIVE", Won => "WON", Lost => "LOST", Abandoned => "ABANDONED",
    }
);
text_enum!(
    TransactionType, "transaction type" {
        PurchaseAgreement => "PURCHASE_AGREEMENT", ListingAgreement => "LISTING_AGREEMENT",
        LeaseAgreement => "LEASE_AGREEMENT", CommercialPurchase => "COMMERCIAL_PURCHASE",
        CommercialLease => "COMMERCIAL_LEASE",
    }
);
text_enum!(
    LoopStatus, "loop status" {
        Draft => "DRAFT", Active => "ACTIVE", UnderContract => "UNDER_CONTRACT",
        Closing => "CLOSING", Closed => "CLOSED", Cancelled => "CANCELLED", Archived => "ARCHIVED",
    }
);
text_enum!(
    /// Task states. The platform's loop creation writes PENDING where its enum has another name;
    /// we keep PENDING as the one name for "not started" (docs/decisions.md).
    TaskStatus, "task status" {
        Pending => "PENDING", InProgress => "IN_PROGRESS", Review => "REVIEW", Done => "DONE",
        Cancelled => "CANCELLED",
    }
);
text_enum!(
    /// The phase of a transaction a task belongs to.
    TaskCategory, "task category" {
        PreListing => "PRE_LISTING", Listing => "LISTING", UnderContract => "UNDER_CONTRACT",
        Closing => "CLOSING", Other => "OTHER",
    }
);
text_enum!(
    TaskPriority, "task priority" {
        Low => "LOW", Medium => "MEDIUM", High => "HIGH", Urgent => "URGENT",
    }
);
text_enum!(
    /// What a transaction document is.
    DocumentType, "document type" {
        Contract => "CONTRACT", Disclosure => "DISCLOSURE", Inspection => "INSPECTION",
        Appraisal => "APPRAISAL", Title => "TITLE", Other => "OTHER",
    }
);
text_enum!(
    /// Where a document is in its review (dotloop/SkySlope-style compliance review): an agent
    /// submits a draft, a reviewer approves it or returns it with a note, a returned document
    /// comes back as a new version and is submitted again.
    DocumentStatus, "document status" {
        Draft => "DRAFT", Submitted => "SUBMITTED", Approved => "APPROVED", Returned => "RETURNED",
        Archived => "ARCHIVED",
    }
);

impl OrgRole {
    /// Higher is more powerful; used to stop anyone granting or touching a role above their own.
    pub fn rank(&self) -> u8 {
        match self {
            OrgRole::Owner => 3,
            OrgRole::Admin => 2,
            OrgRole::Member => 1,
            OrgRole::Viewer => 0,
        }
    }
}

impl Tier {
    pub fn rank(&self) -> u8 {
        *self as u8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_round_trips_for_every_variant() {
        for t in Tier::ALL {
            assert_eq!(t.as_str().parse::<Tier>().unwrap(), *t);
            assert_eq!(
                serde_json::to_string(t).unwrap(),
                format!("\"{}\"", t.as_str())
            );
        }
        let err = "GOLD".parse::<Tier>().unwrap_err();
        assert!(err.to_string().contains("STARTER"), "{err}");
    }

    #[test]
    fn tiers_are_ordered_lowest_to_highest() {
        assert!(Tier::Free < Tier::Starter && Tier::Starter < Tier::Enterprise);
    }
}
