//! The organization at a glance: the CRM dashboard, the activity feed, the members.

use super::rows::{json, parse};
use crate::error::ReplicaError;
use crate::open::Replica;
use crate::time::canonical;
use chrono::{DateTime, Duration, Utc};
use rusqlite::types::Value as Sql;
use rusqlite::{params, params_from_iter};
use strive_domain::entities::{ActivityItem, Dashboard, FollowUp, Member, StatusCount};
use strive_domain::AuditId;

/// The mean of `n` values summing to `sum`, rounded half away from zero as PostgreSQL's
/// `round(avg(...))` rounds the exact numeric mean; `None` when there are no values. Integer
/// arithmetic, so no float ever rounds the mean first.
pub fn rounded_mean(sum: i64, n: i64) -> Option<i64> {
    if n <= 0 {
        return None;
    }
    let (s, n) = (i128::from(sum), i128::from(n));
    let q = (2 * s.abs() + n) / (2 * n);
    i64::try_from(if s < 0 { -q } else { q }).ok()
}

impl Replica {
    /// What the server's `GET /v1/orgs/{org}/dashboard` computes (strive-server
    /// `db/dashboard.rs`), from the replica, with `now` in place of the server's `now()`.
    /// The replica holds one organization, so no statement filters by it.
    pub fn dashboard(&self, now: DateTime<Utc>) -> Result<Dashboard, ReplicaError> {
        let week = Duration::days(7);
        let (week_ago, now_s, horizon) =
            (canonical(now - week), canonical(now), canonical(now + week));
        let tx = self.conn.unchecked_transaction()?;
        let total_contacts = tx.query_row("SELECT count(*) FROM contacts", [], |r| r.get(0))?;
        let contacts_by_status = tx
            .prepare_cached(
                "SELECT status, count(*) FROM contacts GROUP BY status ORDER BY status",
            )?
            .query_map([], |r| {
                Ok(StatusCount {
                    status: parse(r, 0)?,
                    count: r.get(1)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        let contacts_created_last_7_days = tx.query_row(
            "SELECT count(*) FROM contacts WHERE created_at >= ?1",
            [&week_ago],
            |r| r.get(0),
        )?;
        let (deal_count, deal_value_sum_cents): (i64, i64) = tx.query_row(
            "SELECT count(*), coalesce(sum(value_cents), 0) FROM deals",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        // The `IS NULL` term is redundant but lets the follow-up sort's index
        // (contacts_follow_up_order) answer the range in order.
        let upcoming_follow_ups = tx
            .prepare_cached(
                "SELECT c.id, c.name, c.next_follow_up_at, m.name
                   FROM contacts c LEFT JOIN organization_members m ON m.user_id = c.assigned_to_id
                  WHERE (c.next_follow_up_at IS NULL) = 0
                    AND c.next_follow_up_at BETWEEN ?1 AND ?2
                  ORDER BY c.next_follow_up_at, c.id
                  LIMIT 10",
            )?
            .query_map(params![now_s, horizon], |r| {
                Ok(FollowUp {
                    contact_id: parse(r, 0)?,
                    name: r.get(1)?,
                    next_follow_up_at: parse(r, 2)?,
                    assignee_name: r.get(3)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(Dashboard {
            total_contacts,
            contacts_by_status,
            contacts_created_last_7_days,
            deal_count,
            deal_value_sum_cents,
            deal_value_avg_cents: rounded_mean(deal_value_sum_cents, deal_count),
            upcoming_follow_ups,
        })
    }

    /// The activity feed, newest first: up to `limit` entries, older than the entry `before`
    /// when given (the last one shown; an id this replica does not have gives nothing).
    /// Names come from the members list; an author no longer a member shows an empty name.
    pub fn activity(
        &self,
        limit: u32,
        before: Option<AuditId>,
    ) -> Result<Vec<ActivityItem>, ReplicaError> {
        let mut args = vec![Sql::Integer(limit.min(super::MAX_LIMIT).into())];
        // Key accesses are audited but are not activity (server: db/activity.rs).
        let older = match before {
            Some(id) => {
                args.push(Sql::Text(id.to_string()));
                "WHERE a.action <> 'accessed_document_key'
                   AND (a.created_at, a.id) < (SELECT created_at, id FROM audit_log WHERE id = ?2)"
            }
            None => "WHERE a.action <> 'accessed_document_key'",
        };
        let sql = format!(
            "SELECT a.id, a.organization_id, a.user_id, coalesce(m.name, ''), a.action,
                    a.entity_type, a.entity_id, a.new_values, a.created_at
               FROM audit_log a LEFT JOIN organization_members m ON m.user_id = a.user_id
              {older} ORDER BY a.created_at DESC, a.id DESC LIMIT ?1"
        );
        let items = self
            .conn
            .prepare_cached(&sql)?
            .query_map(params_from_iter(args), |r| {
                Ok(ActivityItem {
                    id: parse(r, 0)?,
                    organization_id: parse(r, 1)?,
                    user_id: parse(r, 2)?,
                    user_name: r.get(3)?,
                    action: r.get(4)?,
                    entity_type: r.get(5)?,
                    entity_id: parse(r, 6)?,
                    new_values: json(r, 7)?,
                    created_at: parse(r, 8)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(items)
    }

    /// The organization's members by name, as last synced.
    pub fn members(&self) -> Result<Vec<Member>, ReplicaError> {
        let members = self
            .conn
            .prepare_cached(
                "SELECT user_id, coalesce(email, ''), coalesce(name, ''), role, joined_at
                   FROM organization_members ORDER BY name COLLATE NOCASE, user_id",
            )?
            .query_map([], |r| {
                Ok(Member {
                    user_id: parse(r, 0)?,
                    email: r.get(1)?,
                    name: r.get(2)?,
                    role: parse(r, 3)?,
                    joined_at: parse(r, 4)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(members)
    }
}

#[cfg(test)]
mod tests {
    use super::rounded_mean;

    #[test]
    fn means_round_half_away_from_zero_like_postgresql() {
        assert_eq!(rounded_mean(0, 0), None);
        assert_eq!(rounded_mean(5, 2), Some(3)); // 2.5
        assert_eq!(rounded_mean(7, 2), Some(4)); // 3.5: not to even
        assert_eq!(rounded_mean(4, 3), Some(1)); // 1.33
        assert_eq!(rounded_mean(5, 3), Some(2)); // 1.67
        assert_eq!(rounded_mean(-5, 2), Some(-3));
        assert_eq!(rounded_mean(i64::MAX, 1), Some(i64::MAX));
        assert_eq!(rounded_mean(i64::MAX, 2), Some(i64::MAX / 2 + 1));
    }
}
