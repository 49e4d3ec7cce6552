//! Moving an organization of N contacts to a database on another cluster while a client keeps
//! writing to it: the move's time and its write pause, against the raw limit of the same machine
//! (binary COPY of the same rows from one cluster to the other, no checks, no triggers).

use serde_json::json;
use sqlx::{Connection, PgConnection};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use strive_server::moving::{self, MoveOptions};

/// One write of the client: when it started, how long it took until accepted (503 "moving"
/// answers retried every 50 ms, as the sync engine retries them with backoff), and how many
/// 503s it met.
struct Write {
    started: Instant,
    took: Duration,
    refused: u32,
}

pub async fn run(contacts: i64) -> anyhow::Result<()> {
    let bench = crate::setup::start().await?;
    let second = strive_pg::PrivateCluster::throwaway()?;
    let b_url = second.create_database("tenant").await?;
    second.create_database("scratch").await?;
    strive_server::tenants::registry::add(&bench.admin_url, &b_url, Some("b"), None).await?;

    let mut owner = PgConnection::connect(&bench.admin_url).await?;
    let t = Instant::now();
    sqlx::query(
        "INSERT INTO contacts (organization_id, id, name, email, phone, company, status, tags, created_by, notes)
         SELECT $1::uuid, gen_random_uuid(), 'Contact ' || g, 'c' || g || '@example.com', '+1 555 01' || (g % 100),
                'Company ' || (g % 977), (ARRAY['ACTIVE','INACTIVE','DO_NOT_CONTACT'])[1 + g % 3], '{lead,2026}',
                (SELECT user_id FROM organization_members WHERE organization_id = $1::uuid),
                'Met at the open house on Elm Street; wants three bedrooms and a garden.'
           FROM generate_series(1, $2) g",
    )
    .bind(&bench.org_id)
    .bind(contacts)
    .execute(&mut owner)
    .await?;
    sqlx::query("VACUUM ANALYZE").execute(&mut owner).await?;
    println!(
        "loaded {contacts} contacts in {:.1} s",
        t.elapsed().as_secs_f64()
    );

    let raw = raw_copy(&mut owner, &second, &bench.org_id).await?;

    // The client: one contact at a time, for as long as the move runs.
    let stop = Arc::new(AtomicBool::new(false));
    let writer = tokio::spawn(write_until(
        bench.http.clone(),
        format!("{}/v1/orgs/{}/contacts", bench.base, bench.org_id),
        bench.token.clone(),
        stop.clone(),
    ));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let report = moving::move_org(
        &bench.admin_url,
        &bench.org_id,
        "b",
        MoveOptions::default(),
        |_| async {},
    )
    .await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::SeqCst);
    let writes = writer.await??;

    // Every accepted write is in the new database, none in the old one.
    let mut b = PgConnection::connect(&b_url).await?;
    let in_b: i64 =
        sqlx::query_scalar("SELECT count(*) FROM contacts WHERE organization_id = $1::uuid")
            .bind(&bench.org_id)
            .fetch_one(&mut b)
            .await?;
    let in_a: i64 =
        sqlx::query_scalar("SELECT count(*) FROM contacts WHERE organization_id = $1::uuid")
            .bind(&bench.org_id)
            .fetch_one(&mut owner)
            .await?;
    anyhow::ensure!(
        in_b == contacts + writes.len() as i64 && in_a == 0,
        "after the move: {in_b} contacts in b (expected {}), {in_a} left behind",
        contacts + writes.len() as i64
    );

    let refused: u32 = writes.iter().map(|w| w.refused).sum();
    let worst = writes.iter().map(|w| w.took).max().unwrap_or_default();
    let mut lat: Vec<Duration> = writes.iter().map(|w| w.took).collect();
    lat.sort();
    let p50 = lat.get(lat.len() / 2).copied().unwrap_or_default();
    let span = writes
        .first()
        .zip(writes.last())
        .map(|(a, z)| (z.started + z.took) - a.started)
        .unwrap_or_default();
    println!(
        "raw COPY of the contacts, cluster to cluster: {:.2} s ({:.0} rows/s)",
        raw.as_secs_f64(),
        contacts as f64 / raw.as_secs_f64()
    );
    println!(
        "move: {:.2} s in all ({} rows copied in {:.2} s, {} caught up in {} passes), feed at {}",
        report.total.as_secs_f64(),
        report.copied,
        report.copy_time.as_secs_f64(),
        report.caught_up,
        report.passes,
        report.last_seq
    );
    println!(
        "write pause: {} ms (last catch-up {} ms, verifying {} ms); full check before it {} ms; old rows removed: {}",
        report.pause.as_millis(),
        report.last_pass.as_millis(),
        report.verify_time.as_millis(),
        report.check_time.as_millis(),
        report.removed
    );
    println!(
        "client: {} writes over {:.1} s, {} answered 503 org_moving; write latency p50 {:.1} ms, worst {:.0} ms",
        writes.len(),
        span.as_secs_f64(),
        refused,
        p50.as_secs_f64() * 1000.0,
        worst.as_secs_f64() * 1000.0
    );
    println!(
        "| {} | {} | {:.2} s | {:.2} s | {} ms | {} ms | {:.0} ms | {} | {:.2} s |",
        chrono::Utc::now().format("%Y-%m-%d"),
        contacts,
        report.total.as_secs_f64(),
        report.copy_time.as_secs_f64(),
        report.pause.as_millis(),
        report.verify_time.as_millis(),
        worst.as_secs_f64() * 1000.0,
        writes.len(),
        raw.as_secs_f64()
    );
    drop(second);
    Ok(())
}

/// The raw limit: the same contacts, binary COPY from one cluster into a bare table on the other.
async fn raw_copy(
    owner: &mut PgConnection,
    second: &strive_pg::PrivateCluster,
    org: &str,
) -> anyhow::Result<Duration> {
    use futures_util::TryStreamExt;
    let mut scratch = PgConnection::connect(&second.url(strive_pg::SUPERUSER, "scratch")).await?;
    let mut def = PgConnection::connect(&second.url(strive_pg::SUPERUSER, "tenant")).await?;
    // The same columns as contacts (the tenant database is migrated), without keys or triggers.
    let cols: String = sqlx::query_scalar(
        "SELECT string_agg(quote_ident(attname) || ' ' || format_type(atttypid, atttypmod), ', ' ORDER BY attnum)
           FROM pg_attribute WHERE attrelid = 'contacts'::regclass AND attnum > 0 AND NOT attisdropped",
    )
    .fetch_one(&mut def)
    .await?;
    sqlx::query(&format!("CREATE TABLE contacts ({cols})"))
        .execute(&mut scratch)
        .await?;
    let t = Instant::now();
    let mut out = owner
        .copy_out_raw(&format!(
            "COPY (SELECT * FROM contacts WHERE organization_id = '{org}' ORDER BY organization_id, id) TO STDOUT (FORMAT binary)"
        ))
        .await?;
    let mut sink = scratch
        .copy_in_raw("COPY contacts FROM STDIN (FORMAT binary)")
        .await?;
    while let Some(chunk) = out.try_next().await? {
        sink.send(chunk).await?;
    }
    drop(out);
    sink.finish().await?;
    Ok(t.elapsed())
}

async fn write_until(
    http: reqwest::Client,
    url: String,
    token: String,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<Vec<Write>> {
    let mut writes = Vec::new();
    let mut i = 0u64;
    while !stop.load(Ordering::SeqCst) {
        i += 1;
        let started = Instant::now();
        let mut refused = 0;
        loop {
            let res = http
                .post(&url)
                .bearer_auth(&token)
                .json(&json!({"name": format!("Written during the move {i}")}))
                .send()
                .await?;
            match res.status().as_u16() {
                201 => break,
                503 => {
                    refused += 1;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                s => anyhow::bail!(
                    "write {i} answered {s}: {}",
                    res.text().await.unwrap_or_default()
                ),
            }
        }
        writes.push(Write {
            started,
            took: started.elapsed(),
            refused,
        });
    }
    Ok(writes)
}
