//! Contacts: insert, read, list with filters and keyset pagination, bulk assign.

use crate::db::column;
use crate::db::page::{time_value, Cursor, Page, SortKey};
use crate::error::{ApiError, ApiResult};
use serde::Deserialize;
use sqlx::{PgConnection, Postgres, QueryBuilder};
use strive_domain::entities::Contact;
use strive_domain::mutations::contacts::{BulkAssign, NewContact};
use strive_domain::{ContactId, ContactStatus, OrgId, UserId};

pub async fn insert(
    conn: &mut PgConnection,
    org: OrgId,
    by: UserId,
    c: &NewContact,
) -> ApiResult<Contact> {
    let one = insert_many(conn, org, by, std::slice::from_ref(c)).await?;
    crate::db::the_one(one, "contact")
}

/// Several new contacts in one INSERT; answers them in the order given.
pub async fn insert_many(
    conn: &mut PgConnection,
    org: OrgId,
    by: UserId,
    cs: &[NewContact],
) -> ApiResult<Vec<Contact>> {
    let rows: Vec<Contact> = sqlx::query_as(
        "INSERT INTO contacts (organization_id, id, name, email, phone, company, position,
                               contact_type, status, notes, tags, assigned_to_id,
                               next_follow_up_at, created_by)
         SELECT $1, x.id, x.name, x.email, x.phone, x.company, x.position, x.contact_type,
                x.status, x.notes, ARRAY(SELECT jsonb_array_elements_text(x.tags)),
                x.assigned_to_id, x.next_follow_up_at, $14
           FROM unnest($2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                       $8::text[], $9::text[], $10::text[], $11::jsonb[], $12::uuid[],
                       $13::timestamptz[])
                WITH ORDINALITY AS x(id, name, email, phone, company, position, contact_type,
                                     status, notes, tags, assigned_to_id, next_follow_up_at, n)
          ORDER BY x.n
         RETURNING *",
    )
    .bind(org)
    .bind(column(cs, |c| c.id.0))
    .bind(column(cs, |c| c.name.clone()))
    .bind(column(cs, |c| c.email.clone()))
    .bind(column(cs, |c| c.phone.clone()))
    .bind(column(cs, |c| c.company.clone()))
    .bind(column(cs, |c| c.position.clone()))
    .bind(column(cs, |c| c.contact_type.as_str()))
    .bind(column(cs, |c| c.status.as_str()))
    .bind(column(cs, |c| c.notes.clone()))
    .bind(column(cs, |c| serde_json::json!(c.tags)))
    .bind(column(cs, |c| c.assigned_to_id.map(|u| u.0)))
    .bind(column(cs, |c| c.next_follow_up_at))
    .bind(by)
    .fetch_all(conn)
    .await?;
    crate::db::in_given_order(rows, cs, |c| c.id, |c| c.id, "contact")
}

pub async fn get(conn: &mut PgConnection, org: OrgId, id: ContactId) -> ApiResult<Contact> {
    sqlx::query_as("SELECT * FROM contacts WHERE organization_id = $1 AND id = $2")
        .bind(org)
        .bind(id)
        .fetch_optional(conn)
        .await?
        .ok_or_else(|| ApiError::not_found("Contact"))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContactFilter {
    pub status: Option<ContactStatus>,
    pub assignee: Option<UserId>,
    /// Matches any part of name, email, phone or company, ignoring case.
    pub q: Option<String>,
    /// `created_at`, `updated_at` or `name`; a leading `-` sorts descending. Default `-created_at`.
    pub sort: Option<String>,
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

pub async fn list(
    conn: &mut PgConnection,
    org: OrgId,
    f: ContactFilter,
) -> ApiResult<Page<Contact>> {
    let sort = SortKey::parse(
        f.sort.as_deref(),
        &["created_at", "updated_at", "name"],
        "-created_at",
    )?;
    let limit = Page::<Contact>::limit(f.limit)?;
    let cursor = f.cursor.as_deref().map(Cursor::decode).transpose()?;

    let mut qb: QueryBuilder<Postgres> =
        QueryBuilder::new("SELECT * FROM contacts WHERE organization_id = ");
    qb.push_bind(org);
    if let Some(status) = f.status {
        qb.push(" AND status = ").push_bind(status);
    }
    if let Some(assignee) = f.assignee {
        qb.push(" AND assigned_to_id = ").push_bind(assignee);
    }
    if let Some(q) = f.q.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
        // Same expression as the trigram index contacts_search.
        qb.push(
            " AND lower(name || ' ' || coalesce(email, '') || ' ' || coalesce(phone, '') || ' ' \
             || coalesce(company, '')) LIKE ",
        )
        .push_bind(format!("%{}%", escape_like(&q.to_lowercase())));
    }
    sort.push_keyset(&mut qb, cursor.as_ref());
    sort.push_order(&mut qb, limit + 1);
    let rows: Vec<Contact> = qb.build_query_as().fetch_all(conn).await?;
    Ok(Page::from_rows(rows, limit, |c| {
        let value = match sort.column {
            "name" => c.name.clone(),
            "updated_at" => time_value(c.updated_at),
            _ => time_value(c.created_at),
        };
        Cursor::new(value, c.id.0)
    }))
}

fn escape_like(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// The platform's Pattern 6: every contact must be in the organization and the assignee a
/// member, checked first; then one UPDATE. Returns how many contacts were assigned.
pub async fn bulk_assign(conn: &mut PgConnection, org: OrgId, b: &BulkAssign) -> ApiResult<usize> {
    let ids: Vec<uuid::Uuid> = b.contact_ids.iter().map(|c| c.0).collect();
    let (found, assignee_is_member): (i64, bool) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM contacts WHERE organization_id = $1 AND id = ANY($2)),
                EXISTS (SELECT 1 FROM organization_members WHERE organization_id = $1 AND user_id = $3)",
    )
    .bind(org)
    .bind(&ids)
    .bind(b.assigned_to_id)
    .fetch_one(&mut *conn)
    .await?;
    if found as usize != ids.len() {
        return Err(ApiError::NotFound(format!(
            "{} of the {} contacts were not found in this organization; nothing was assigned",
            ids.len() - found as usize,
            ids.len()
        )));
    }
    if !assignee_is_member {
        return Err(ApiError::Invalid(strive_domain::ValidationError::single(
            "assigned_to_id",
            "is not a member of this organization",
        )));
    }
    let done = sqlx::query(
        "UPDATE contacts SET assigned_to_id = $3, updated_at = now()
          WHERE organization_id = $1 AND id = ANY($2)",
    )
    .bind(org)
    .bind(&ids)
    .bind(b.assigned_to_id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() as usize)
}

#[cfg(test)]
mod tests {
    #[test]
    fn like_wildcards_are_escaped() {
        assert_eq!(super::escape_like("50%_off\\"), "50\\%\\_off\\\\");
    }
}
