//! Dashboard latency on a large organization.

use serde_json::json;
use sqlx::Connection;
use std::time::{Duration, Instant};

pub async fn run(contacts: i64, deals: i64, runs: usize) -> anyhow::Result<()> {
    let bench = crate::setup::start().await?;
    let (base, http, token, org_id, admin_url) = (
        bench.base.clone(),
        bench.http.clone(),
        bench.token.clone(),
        bench.org_id.clone(),
        bench.admin_url.clone(),
    );

    let mut owner = sqlx::PgConnection::connect(&admin_url).await?;
    let started = Instant::now();
    sqlx::query(
        "INSERT INTO contacts (organization_id, id, name, email, status, created_by, created_at,
                               next_follow_up_at, assigned_to_id)
         SELECT $1::uuid, gen_random_uuid(), 'Contact ' || g, 'c' || g || '@example.com',
                (ARRAY['ACTIVE','INACTIVE','DO_NOT_CONTACT'])[1 + g % 3],
                (SELECT user_id FROM organization_members WHERE organization_id = $1::uuid),
                now() - (g % 60) * interval '1 day',
                CASE WHEN g % 50 = 0 THEN now() + (g % 14) * interval '1 day' END,
                CASE WHEN g % 2 = 0 THEN (SELECT user_id FROM organization_members
                                           WHERE organization_id = $1::uuid) END
           FROM generate_series(1, $2) g",
    )
    .bind(&org_id)
    .bind(contacts)
    .execute(&mut owner)
    .await?;
    sqlx::query(
        "INSERT INTO deals (organization_id, id, title, value_cents, created_by)
         SELECT $1::uuid, gen_random_uuid(), 'Deal ' || g, 10000 + g * 37,
                (SELECT user_id FROM organization_members WHERE organization_id = $1::uuid)
           FROM generate_series(1, $2) g",
    )
    .bind(&org_id)
    .bind(deals)
    .execute(&mut owner)
    .await?;
    sqlx::query("VACUUM ANALYZE contacts")
        .execute(&mut owner)
        .await?;
    sqlx::query("VACUUM ANALYZE deals")
        .execute(&mut owner)
        .await?;
    println!(
        "loaded {contacts} contacts and {deals} deals in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    // The limit: the same five statements, run raw by the owner (no HTTP, no auth, no RLS),
    // one after the other on one connection.
    let raw_sql = [
        "SELECT count(*) FROM contacts WHERE organization_id = $1::uuid",
        "SELECT status, count(*) FROM contacts WHERE organization_id = $1::uuid GROUP BY status",
        "SELECT count(*) FROM contacts WHERE organization_id = $1::uuid AND created_at >= now() - interval '7 days'",
        "SELECT count(*), sum(value_cents), round(avg(value_cents)) FROM deals WHERE organization_id = $1::uuid",
        "SELECT c.id, c.name FROM contacts c LEFT JOIN users u ON u.id = c.assigned_to_id
          WHERE c.organization_id = $1::uuid AND c.next_follow_up_at BETWEEN now() AND now() + interval '7 days'
          ORDER BY c.next_follow_up_at, c.id LIMIT 10",
    ];
    let mut raw = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        for q in raw_sql {
            sqlx::query(q).bind(&org_id).fetch_all(&mut owner).await?;
        }
        raw.push(t.elapsed());
    }

    let mut api = Vec::with_capacity(runs);
    let url = format!("{base}/v1/orgs/{org_id}/dashboard");
    let mut last = serde_json::Value::Null;
    for _ in 0..runs {
        let t = Instant::now();
        last = http
            .get(&url)
            .bearer_auth(&token)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        api.push(t.elapsed());
    }
    anyhow::ensure!(
        last["total_contacts"] == json!(contacts),
        "dashboard counted {}",
        last["total_contacts"]
    );

    let (r50, r95) = percentiles(&mut raw);
    let (a50, a95) = percentiles(&mut api);
    println!(
        "dashboard over HTTP, {runs} runs:  p50 {:.2} ms  p95 {:.2} ms",
        ms(a50),
        ms(a95)
    );
    println!(
        "same SQL raw, sequential:         p50 {:.2} ms  p95 {:.2} ms",
        ms(r50),
        ms(r95)
    );
    println!("ratio raw/api at p50: {:.2}", ms(r50) / ms(a50));
    Ok(())
}

fn percentiles(samples: &mut [Duration]) -> (Duration, Duration) {
    samples.sort();
    let at = |p: f64| samples[((samples.len() as f64 - 1.0) * p).round() as usize];
    (at(0.5), at(0.95))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
