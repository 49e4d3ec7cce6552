//! Pushing a device's offline work: `mutations` queued in its replica through `Replica::mutate`
//! (checked and applied locally, queued in the outbox), then sent by `push_pending`, each
//! validated, permission-checked, applied, audited and recorded for replay by the server. The
//! limit: the same rows written by the database owner directly, one multi-row statement per
//! kind, in one transaction.

use sqlx::Connection;
use std::time::Instant;
use strive_domain::mutations::contacts::{ContactChanges, CreateContact};
use strive_domain::mutations::deals::CreateDeal;
use strive_domain::mutations::loops::CreateLoop;
use strive_domain::mutations::{Delete, Mutation, Update};
use strive_domain::rules::default_task_ids;
use strive_domain::{ContactId, DealId, GlobalRole, LoopId, OrgId, TransactionType};
use strive_replica::{pull, push, Keychain, Replica, Session};

/// One round of the mix: 20 mutations.
const ROUND: usize = 20;

/// The mix a device queues offline, per round of 20: 10 new contacts, 5 edits of contacts made
/// earlier, 2 deals, 2 transaction loops (each with its 4 default tasks), 1 completed task.
fn mutations(n: usize) -> Vec<Mutation> {
    let mut out = Vec::with_capacity(n);
    let mut contacts: Vec<ContactId> = Vec::new();
    let mut loops: Vec<LoopId> = Vec::new();
    let mut i = 0usize;
    while out.len() < n {
        let k = i % ROUND;
        let m = match k {
            0..=9 => {
                let id = ContactId::new();
                contacts.push(id);
                Mutation::CreateContact(CreateContact {
                    id: Some(id),
                    name: format!("Contact {i}"),
                    email: Some(format!("c{i}@example.com")),
                    phone: Some("+1 555 0100".into()),
                    company: Some(format!("Company {}", i % 97)),
                    notes: Some("Met at the open house on Elm Street.".into()),
                    tags: vec!["lead".into(), "2026".into()],
                    ..Default::default()
                })
            }
            10..=14 => Mutation::UpdateContact(Update {
                id: contacts[contacts.len() - 1 - (k - 10) * 2],
                base_seq: None,
                changes: ContactChanges {
                    company: Some(Some(format!("Holdings {i}"))),
                    ..Default::default()
                },
            }),
            15 | 16 => Mutation::CreateDeal(CreateDeal {
                id: Some(DealId::new()),
                title: format!("Deal {i}"),
                value_cents: 100_000 + i as i64,
                contact_id: contacts.last().copied(),
                ..Default::default()
            }),
            17 | 18 => {
                let id = LoopId::new();
                loops.push(id);
                Mutation::CreateLoop(CreateLoop {
                    id: Some(id),
                    property_address: format!("{i} Elm Street"),
                    transaction_type: TransactionType::PurchaseAgreement,
                    listing_price_cents: 45_000_000,
                    expected_closing: None,
                })
            }
            _ => Mutation::CompleteTask(Delete {
                id: default_task_ids(*loops.last().expect("a loop was made"))[0],
            }),
        };
        out.push(m);
        i += 1;
    }
    out
}

pub async fn run(n: usize) -> anyhow::Result<()> {
    let bench = crate::setup::start().await?;
    let org: OrgId = bench.org_id.parse()?;
    let dir = tempfile::tempdir()?;
    let mut replica = Replica::create(dir.path(), org, crate::setup::PASSWORD, Keychain::Disabled)?;
    replica.set_session(Session {
        user: bench.user_id.parse()?,
        device: bench.device,
        global: GlobalRole::User,
    })?;
    // The device knows its role and tier before working offline.
    pull::pull_all(&mut replica, &bench.http, &bench.base, &bench.token, |_| {}).await?;

    // The limit first: it also leaves another organization's rows of the same size, with their
    // history, so the push meets tables and statistics like those of a server in use (autovacuum
    // analyzes a busy table within a minute), not empty ones.
    let mut owner = sqlx::PgConnection::connect(&bench.admin_url).await?;
    let raw_secs = raw_limit(&mut owner, &bench.org_id, n).await?;
    sqlx::raw_sql(&history_like(n)).execute(&mut owner).await?;

    let work = mutations(n);
    let t = Instant::now();
    for m in work {
        replica.mutate(m)?;
    }
    let queue_secs = t.elapsed().as_secs_f64();
    anyhow::ensure!(replica.pending()? == n as i64, "every mutation is queued");

    if let Ok(sql) = std::env::var("BENCH_SQL_BEFORE_PUSH") {
        sqlx::raw_sql(&sql).execute(&mut owner).await?;
    }
    if std::env::var_os("BENCH_STATEMENTS").is_some() {
        for q in [
            "CREATE EXTENSION IF NOT EXISTS pg_stat_statements",
            "ALTER SYSTEM SET pg_stat_statements.track = 'all'",
            "ALTER SYSTEM SET pg_stat_statements.track_planning = on",
            "SELECT pg_reload_conf()",
            "SELECT pg_stat_statements_reset()",
        ] {
            sqlx::raw_sql(q).execute(&mut owner).await?;
        }
    }
    let t = Instant::now();
    let pushed = push::push_pending(&mut replica, &bench.http, &bench.base, &bench.token).await?;
    let push_secs = t.elapsed().as_secs_f64();
    anyhow::ensure!(
        (pushed.applied, pushed.rejected) == (n as u64, 0),
        "pushed {pushed:?}, expected {n} applied"
    );

    let applied: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM applied_mutations WHERE organization_id = $1::uuid",
    )
    .bind(&bench.org_id)
    .fetch_one(&mut owner)
    .await?;
    anyhow::ensure!(
        applied == n as i64,
        "the server recorded {applied} mutations"
    );

    // The device pulls what it pushed back: its replica then holds exactly the server's rows.
    pull::pull_all(&mut replica, &bench.http, &bench.base, &bench.token, |_| {}).await?;
    anyhow::ensure!(
        replica.pending()? == 0,
        "the outbox is empty after the push"
    );
    for table in [
        "contacts",
        "deals",
        "transaction_loops",
        "transaction_tasks",
    ] {
        let server: i64 = sqlx::query_scalar(&format!(
            "SELECT count(*) FROM {table} WHERE organization_id = $1::uuid"
        ))
        .bind(&bench.org_id)
        .fetch_one(&mut owner)
        .await?;
        let local = replica.count(table)?;
        anyhow::ensure!(local == server, "{table}: replica {local}, server {server}");
    }

    if std::env::var_os("BENCH_STATEMENTS").is_some() {
        print_statements(&mut owner).await?;
    }
    let push_rate = n as f64 / push_secs;
    let raw_rate = n as f64 / raw_secs;
    println!(
        "queued offline (Replica::mutate):  {:>10.0} mutations/s ({n} in {queue_secs:.2} s)",
        n as f64 / queue_secs
    );
    println!("raw multi-row writes (owner, 1 tx): {raw_rate:>10.0} mutations/s ({raw_secs:.2} s)");
    println!(
        "push_pending, validated by server:  {push_rate:>10.0} mutations/s ({push_secs:.2} s)"
    );
    println!(
        "ratio to the raw limit:             {:>10.2}",
        push_rate / raw_rate
    );
    Ok(())
}

/// The same rows the mix makes, written by the owner with one multi-row statement per kind in
/// one transaction (through the same triggers and indexes, without the service's checks, audit
/// rows or replay records).
async fn raw_limit(owner: &mut sqlx::PgConnection, org: &str, n: usize) -> anyhow::Result<f64> {
    let rounds = n.div_ceil(ROUND) as i64;
    let mut tx = owner.begin().await?;
    // A second organization, so the rows do not collide with the pushed ones.
    let org2: String = sqlx::query_scalar(
        "INSERT INTO organizations (id, name, slug) VALUES (gen_random_uuid(), 'Raw', 'raw-' || gen_random_uuid())
         RETURNING id::text",
    )
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO organization_members (organization_id, user_id, role)
         SELECT $1::uuid, user_id, 'OWNER' FROM organization_members WHERE organization_id = $2::uuid",
    )
    .bind(&org2)
    .bind(org)
    .execute(&mut *tx)
    .await?;
    let t = Instant::now();
    sqlx::raw_sql(&format!(
        "INSERT INTO contacts (organization_id, id, name, email, phone, company, notes, tags, created_by)
         SELECT '{org2}', gen_random_uuid(), 'Contact ' || g, 'c' || g || '@example.com', '+1 555 0100',
                'Company ' || (g % 97), 'Met at the open house on Elm Street.', '{{lead,2026}}', m.user_id
           FROM generate_series(1, {c}) g, organization_members m WHERE m.organization_id = '{org2}';
         UPDATE contacts SET company = 'Holdings ' || name
          WHERE organization_id = '{org2}' AND ctid IN (SELECT ctid FROM contacts
                WHERE organization_id = '{org2}' LIMIT {u});
         INSERT INTO deals (organization_id, id, title, value_cents, created_by)
         SELECT '{org2}', gen_random_uuid(), 'Deal ' || g, 100000 + g, m.user_id
           FROM generate_series(1, {d}) g, organization_members m WHERE m.organization_id = '{org2}';
         INSERT INTO transaction_loops (organization_id, id, property_address, transaction_type,
                                        listing_price_cents, created_by)
         SELECT '{org2}', gen_random_uuid(), g || ' Elm Street', 'PURCHASE_AGREEMENT', 45000000, m.user_id
           FROM generate_series(1, {l}) g, organization_members m WHERE m.organization_id = '{org2}';
         INSERT INTO transaction_tasks (organization_id, id, loop_id, title, category, position, created_by)
         SELECT '{org2}', gen_random_uuid(), l.id, 'Task ' || p, 'OTHER', p, l.created_by
           FROM transaction_loops l, generate_series(1, 4) p WHERE l.organization_id = '{org2}';
         UPDATE transaction_tasks SET status = 'DONE', completed_at = now()
          WHERE organization_id = '{org2}' AND position = 1 AND ctid IN (SELECT ctid FROM transaction_tasks
                WHERE organization_id = '{org2}' AND position = 1 LIMIT {t});",
        c = rounds * 10,
        u = rounds * 5,
        d = rounds * 2,
        l = rounds * 2,
        t = rounds,
    ))
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(t.elapsed().as_secs_f64())
}

/// The history a server in use holds beside the raw limit's rows (an audit row per row and a
/// replay record per write, from another device), then `ANALYZE`.
fn history_like(n: usize) -> String {
    format!(
        "INSERT INTO audit_log (organization_id, id, user_id, action, entity_type, entity_id, new_values)
         SELECT c.organization_id, gen_random_uuid(), c.created_by, 'created', 'contact', c.id, '{{}}'
           FROM contacts c JOIN organizations o ON o.id = c.organization_id WHERE o.name = 'Raw';
         INSERT INTO applied_mutations (organization_id, device_id, client_seq, mutation_type, outcome)
         SELECT o.id, '00000000-0000-4000-8000-000000000001', g, 'createContact', '{{}}'
           FROM organizations o, generate_series(1, {n}) g WHERE o.name = 'Raw';
         ANALYZE;"
    )
}

/// (BENCH_STATEMENTS=1) Where the database's time went during the push, statement by statement.
async fn print_statements(owner: &mut sqlx::PgConnection) -> anyhow::Result<()> {
    // Top-level statements only: a trigger's statements count inside the one that fired it.
    let rows: Vec<(i64, i64, f64, f64, String)> = sqlx::query_as(
        "SELECT calls, plans, total_plan_time, total_exec_time,
                left(regexp_replace(query, '\\s+', ' ', 'g'), 100)
           FROM pg_stat_statements WHERE toplevel
          ORDER BY total_plan_time + total_exec_time DESC LIMIT 25",
    )
    .fetch_all(&mut *owner)
    .await?;
    let (plan, exec): (f64, f64) = sqlx::query_as(
        "SELECT sum(total_plan_time), sum(total_exec_time) FROM pg_stat_statements WHERE toplevel",
    )
    .fetch_one(&mut *owner)
    .await?;
    println!("statements during the push: {plan:.0} ms planning, {exec:.0} ms executing");
    for (calls, plans, plan_ms, exec_ms, q) in rows {
        println!("{calls:>7} calls {plans:>6} plans {plan_ms:>7.1} + {exec_ms:>7.1} ms  {q}");
    }
    Ok(())
}
