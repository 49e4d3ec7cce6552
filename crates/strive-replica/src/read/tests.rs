//! Query plans and timings on a large replica (no server needed).

use super::*;
use crate::keys::Keychain;
use std::time::{Duration, Instant};
use strive_domain::OrgId;

fn replica() -> (tempfile::TempDir, Replica) {
    let dir = tempfile::tempdir().unwrap();
    let r = Replica::create(
        dir.path(),
        OrgId::new(),
        "a long password",
        Keychain::Disabled,
    );
    (dir, r.unwrap())
}

/// `n` contacts with varied names, instants, statuses, follow-ups (one in five) and assignees
/// (five members), in canonical form, through one statement each.
fn fill(r: &Replica, n: i64) {
    let org = r.org();
    let user = "printf('0190a5d2-0000-7000-8000-%012d', ";
    r.conn
        .execute_batch(&format!(
            "WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < 5)
             INSERT INTO organization_members
                    (organization_id, user_id, role, name, email, joined_at)
             SELECT '{org}', {user}i), 'MEMBER', 'Member ' || i, 'm' || i || '@example.com',
                    '2026-01-01T00:00:00.000000Z'
               FROM g;
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {n})
             INSERT INTO contacts (id, organization_id, name, email, phone, company, contact_type,
                                   status, tags, assigned_to_id, next_follow_up_at, created_by,
                                   created_at, updated_at)
             SELECT printf('0190a5d2-7c3e-7000-8000-%012d', i), '{org}',
                    'Contact ' || (i * 7919 % {n}), 'c' || i || '@example.com',
                    '+1 555 ' || (i % 10000), 'Company ' || (i % 977), 'PROSPECT',
                    CASE i % 3 WHEN 0 THEN 'ACTIVE' WHEN 1 THEN 'INACTIVE'
                               ELSE 'DO_NOT_CONTACT' END,
                    '[]',
                    CASE WHEN i % 2 = 0 THEN {user}1 + i % 5) END,
                    CASE WHEN i % 5 = 0
                         THEN printf('2026-12-%02dT10:00:00.%06dZ', 1 + i % 28, i % 999999) END,
                    {user}1),
                    printf('2026-%02d-%02dT%02d:%02d:00.%06dZ',
                           1 + i % 11, 1 + i % 28, i % 24, i % 60, i),
                    printf('2026-11-%02dT%02d:00:00.%06dZ', 1 + i % 28, i % 24, i % 999999)
               FROM n;"
        ))
        .unwrap();
}

/// The plan of `sql`, every parameter bound to 50.
fn plan(r: &Replica, sql: &str) -> String {
    plan_with(r, sql, vec![Sql::Integer(50); sql.matches('?').count()])
}

fn plan_with(r: &Replica, sql: &str, args: Vec<Sql>) -> String {
    let sql = format!("EXPLAIN QUERY PLAN {sql}");
    let mut stmt = r.conn.prepare(&sql).unwrap();
    let rows = stmt
        .query_map(params_from_iter(args), |row| row.get::<_, String>(3))
        .unwrap();
    rows.map(Result::unwrap).collect::<Vec<_>>().join("; ")
}

const SORTS: [ContactSort; 4] = [
    ContactSort::Name,
    ContactSort::CreatedAt,
    ContactSort::UpdatedAt,
    ContactSort::NextFollowUpAt,
];

#[test]
fn every_contact_order_is_read_from_an_index_not_sorted() {
    let (_dir, r) = replica();
    fill(&r, 2_000);
    for sort in SORTS {
        for descending in [false, true] {
            let q = ContactQuery {
                sort,
                descending,
                ..Default::default()
            };
            let plan = plan(&r, &contact_sql(&q).ids);
            assert!(
                !plan.contains("TEMP B-TREE"),
                "{sort:?} {descending}: {plan}"
            );
        }
    }
}

#[test]
fn a_large_pull_measures_the_tables_so_a_filter_keeps_the_order_index() {
    let (_dir, r) = replica();
    fill(&r, 3_000);
    let measured = || r.conn.prepare("SELECT 1 FROM sqlite_stat1").is_ok();
    r.remeasure(0).unwrap();
    assert!(!measured(), "nothing pulled, nothing to measure");
    r.remeasure(3_000).unwrap();
    assert!(measured(), "a first pull measures");
    let q = ContactQuery {
        status: Some(ContactStatus::Active),
        ..Default::default()
    };
    let sql = contact_sql(&q);
    let plan = plan_with(&r, &sql.ids, page_args(sql.args, 50, 0));
    assert!(
        !plan.contains("TEMP B-TREE"),
        "a third of the rows match: {plan}"
    );
}

/// Best of five runs.
fn time<T>(mut f: impl FnMut() -> T) -> Duration {
    (0..5)
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(f());
            t.elapsed()
        })
        .min()
        .unwrap_or_default()
}

/// `cargo test -p strive-replica --lib -- --ignored --nocapture read::tests::timings`
#[test]
#[ignore = "a measurement, not a check"]
fn timings_at_100k_contacts() {
    let (_dir, r) = replica();
    fill(&r, 100_000);
    let list = |q: ContactQuery| time(|| r.contacts(&q).unwrap());
    let report = |what: &str, d: Duration| println!("{what:<48} {:>8.2} ms", d.as_secs_f64() * 1e3);
    for sort in SORTS {
        for descending in [false, true] {
            let q = ContactQuery {
                sort,
                descending,
                limit: 100,
                ..Default::default()
            };
            report(&format!("first page, {sort:?} desc={descending}"), list(q));
        }
    }
    let deep = ContactQuery {
        sort: ContactSort::Name,
        descending: false,
        limit: 100,
        offset: 99_000,
        ..Default::default()
    };
    report("page at offset 99,000, Name", list(deep));
    let search = |s: &str| ContactQuery {
        search: Some(s.into()),
        ..Default::default()
    };
    report("search 'company 12' (ASCII)", list(search("company 12")));
    report("search 'émile' (Unicode fold)", list(search("émile")));
    let status = ContactQuery {
        status: Some(ContactStatus::Active),
        ..Default::default()
    };
    report("status = ACTIVE, never measured", list(status.clone()));
    let t = Instant::now();
    r.remeasure(100_000).unwrap();
    report("ANALYZE (as after a large pull)", t.elapsed());
    report("status = ACTIVE", list(status));
    let member = ContactQuery {
        assigned_to: "0190a5d2-0000-7000-8000-000000000002".parse().ok(),
        ..Default::default()
    };
    report("assigned to one of five members", list(member));
    let now = "2026-11-28T00:00:00Z".parse().unwrap();
    report("dashboard", time(|| r.dashboard(now).unwrap()));
}
