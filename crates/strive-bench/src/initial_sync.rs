//! Initial sync of a large organization into a fresh replica, against the two raw limits on the
//! same machine in the same run: `COPY` out of PostgreSQL, and a prepared-statement insert into
//! SQLCipher. The client runs in its own process so its peak memory is measured alone.

use serde_json::json;
use sqlx::Connection;
use std::path::Path;
use std::time::Instant;
use strive_domain::OrgId;
use strive_replica::{pull, Keychain, Replica};

pub async fn run(rows: i64) -> anyhow::Result<()> {
    let bench = crate::setup::start().await?;
    let (base, http, token, org_id, admin_url) = (
        bench.base.clone(),
        bench.http.clone(),
        bench.token.clone(),
        bench.org_id.clone(),
        bench.admin_url.clone(),
    );
    println!("load average at start: {}", loadavg());

    let mut owner = sqlx::PgConnection::connect(&admin_url).await?;
    load(&mut owner, &org_id, rows).await?;

    // Limit 1: raw COPY of the same rows out of PostgreSQL, text and binary; the faster counts.
    let copy_text = copy_rate(
        &mut owner,
        &format!("COPY (SELECT * FROM contacts WHERE organization_id = '{org_id}') TO STDOUT"),
        rows,
    )
    .await?;
    let copy_binary = copy_rate(
        &mut owner,
        &format!(
        "COPY (SELECT * FROM contacts WHERE organization_id = '{org_id}') TO STDOUT (FORMAT binary)"
    ),
        rows,
    )
    .await?;
    let copy = copy_text.max(copy_binary);

    // Limit 2: raw prepared-statement insert of as many rows into a SQLCipher replica: the same
    // schema and indexes, the same columns, the same upsert and transaction size as a pull.
    let raw_dir = tempfile::tempdir()?;
    let insert_rate = raw_sqlcipher_insert(raw_dir.path(), rows)?;

    // The server's half alone: the feed read over HTTP and thrown away, in both formats.
    let ndjson = feed_rate(&http, &base, &token, &org_id, "limit=100000").await?;
    let bulk = feed_rate(&http, &base, &token, &org_id, "limit=100000&format=bulk").await?;

    // The product: a fresh replica pulls everything over HTTP, in a child process.
    let client_dir = tempfile::tempdir()?;
    let exe = std::env::current_exe()?;
    let t = Instant::now();
    let mut child = std::process::Command::new(exe);
    child
        .args([
            "pull-child",
            "--base",
            &base,
            "--token",
            &token,
            "--org",
            &org_id,
            "--dir",
        ])
        .arg(client_dir.path());
    // Wait off the runtime: the server in this process needs every worker thread.
    child.stderr(std::process::Stdio::inherit());
    let out = tokio::task::spawn_blocking(move || child.output()).await??;
    let secs = t.elapsed().as_secs_f64();
    anyhow::ensure!(out.status.success(), "the pulling client failed");
    // The child's own peak RSS and CPU time (the parent's other children, such as initdb,
    // would count in RUSAGE_CHILDREN).
    let reported = String::from_utf8_lossy(&out.stdout);
    let mut fields = reported.split_whitespace();
    let peak_kib: i64 = fields.next().unwrap_or("-1").parse()?;
    let client_cpu: f64 = fields.next().unwrap_or("0").parse()?;
    let replica = Replica::open(
        client_dir.path(),
        org_id.parse()?,
        Some(crate::setup::PASSWORD),
        Keychain::Disabled,
    )?;
    let pulled = replica.count("contacts")?;
    anyhow::ensure!(
        pulled == rows,
        "replica has {pulled} contacts, expected {rows}"
    );
    let compared = same_as_server(&mut owner, &replica, &org_id).await?;
    println!("replica equals the server: {compared} contacts compared column by column");
    let sync_rate = rows as f64 / secs;
    let slower_limit = copy.min(insert_rate);
    println!("raw COPY out of PostgreSQL, text:   {copy_text:>10.0} rows/s");
    println!("raw COPY out of PostgreSQL, binary: {copy_binary:>10.0} rows/s");
    println!("raw SQLCipher prepared upsert:      {insert_rate:>10.0} rows/s");
    println!("feed over HTTP, dropped, NDJSON:    {ndjson:>10.0} rows/s");
    println!("feed over HTTP, dropped, bulk:      {bulk:>10.0} rows/s");
    println!(
        "initial sync into a fresh replica:  {sync_rate:>10.0} rows/s ({rows} rows in {secs:.1} s, client CPU {client_cpu:.1} s)"
    );
    println!(
        "ratio to the slower raw limit:      {:>10.2}",
        sync_rate / slower_limit
    );
    println!(
        "client peak memory (max RSS):       {:>10.1} MiB",
        peak_kib as f64 / 1024.0
    );
    println!("load average at end: {}", loadavg());
    Ok(())
}

/// The contacts compared, every column the benchmark fills, in id order: the server's values
/// (instants spelled as the replica stores them, lists as JSON text) against the replica's.
/// Fails at the first difference.
async fn same_as_server(
    owner: &mut sqlx::PgConnection,
    replica: &Replica,
    org_id: &str,
) -> anyhow::Result<usize> {
    use futures_util::TryStreamExt;
    use std::hash::{DefaultHasher, Hash, Hasher};
    const COLUMNS: &[&str] = &[
        "id",
        "name",
        "email",
        "phone",
        "company",
        "status",
        "tags",
        "notes",
        "created_by",
        "created_at",
        "updated_at",
        "sync_seq",
    ];
    let instant =
        |c: &str| format!("to_char({c} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')");
    let sql = format!(
        "SELECT ARRAY[id::text, name, email, phone, company, status, to_json(tags)::text, notes,
                      created_by::text, {}, {}, sync_seq::text]
           FROM contacts WHERE organization_id = $1::uuid ORDER BY id",
        instant("created_at"),
        instant("updated_at")
    );
    let hash = |values: &[Option<String>]| {
        let mut h = DefaultHasher::new();
        values.hash(&mut h);
        h.finish()
    };
    let mut server: Vec<(u64, String)> = Vec::new();
    let mut rows = sqlx::query_scalar::<_, Vec<Option<String>>>(&sql)
        .bind(org_id)
        .fetch(&mut *owner);
    while let Some(values) = rows.try_next().await? {
        server.push((hash(&values), values[0].clone().unwrap_or_default()));
    }
    drop(rows);
    let mut at = 0usize;
    let mut first_difference: Option<String> = None;
    replica.visit_rows("contacts", COLUMNS, |values| {
        if first_difference.is_none() {
            match server.get(at) {
                Some((h, _)) if *h == hash(values) => {}
                Some((_, id)) => {
                    first_difference = Some(format!("server row {at} ({id}) vs replica {values:?}"))
                }
                None => first_difference = Some(format!("an extra replica row {values:?}")),
            }
        }
        at += 1;
    })?;
    if let Some(d) = first_difference {
        anyhow::bail!("the replica differs from the server: {d}");
    }
    anyhow::ensure!(
        at == server.len(),
        "replica {at} contacts, server {}",
        server.len()
    );
    Ok(at)
}

/// The machine's load average (other work on the same cores shows in every figure).
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// Rows per second of a `COPY ... TO STDOUT`, read and dropped.
async fn copy_rate(owner: &mut sqlx::PgConnection, sql: &str, rows: i64) -> anyhow::Result<f64> {
    use futures_util::TryStreamExt;
    let t = Instant::now();
    let mut out = owner.copy_out_raw(sql).await?;
    let mut messages = 0i64;
    while out.try_next().await?.is_some() {
        messages += 1;
    }
    let secs = t.elapsed().as_secs_f64();
    // Text: a message per row; binary: the header and the trailer come with the first and last.
    anyhow::ensure!(
        messages >= rows,
        "COPY sent {messages} messages for {rows} rows"
    );
    Ok(rows as f64 / secs)
}

/// Changes per second of the feed (every page) read over HTTP and dropped.
async fn feed_rate(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    org_id: &str,
    query: &str,
) -> anyhow::Result<f64> {
    let t = Instant::now();
    let (mut after, mut pages) = (0i64, 0);
    loop {
        let body = http
            .get(format!(
                "{base}/v1/orgs/{org_id}/sync/pull?after={after}&{query}"
            ))
            .bearer_auth(token)
            .send()
            .await?
            .error_for_status()?
            .bytes()
            .await?;
        pages += 1;
        // The end line closes the body in both formats (after binary data in bulk).
        let marker = br#"{"end":"#;
        let at = body
            .windows(marker.len())
            .rposition(|w| w == marker)
            .ok_or_else(|| anyhow::anyhow!("a page without its end line"))?;
        let text = &body[at..];
        let end: serde_json::Value = serde_json::from_slice(text)?;
        let last = end["last_seq"].as_i64().unwrap_or(after);
        if end["more"] != json!(true) {
            let secs = t.elapsed().as_secs_f64();
            // Every change number up to the last one is a live row here (one insert each).
            let _ = pages;
            return Ok(last as f64 / secs);
        }
        after = last;
    }
}

/// `rows` contacts in the benchmark's organization, through the change-feed triggers.
async fn load(owner: &mut sqlx::PgConnection, org_id: &str, rows: i64) -> anyhow::Result<()> {
    let t = Instant::now();
    // Ids as the product makes them: UUIDv7, whose first 48 bits are the creation time in
    // milliseconds, so rows created later sort later (random v4 ids would scatter every insert
    // over the replica's primary-key index). One contact every 20 seconds, oldest first.
    sqlx::query(
        "CREATE FUNCTION pg_temp.uuid_v7(t timestamptz) RETURNS uuid LANGUAGE sql VOLATILE AS $$
           SELECT encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid())
                    PLACING substring(int8send((extract(epoch FROM t) * 1000)::bigint) FROM 3)
                    FROM 1 FOR 6), 52, 1), 53, 1), 'hex')::uuid $$",
    )
    .execute(&mut *owner)
    .await?;
    sqlx::query(
        "INSERT INTO contacts (organization_id, id, name, email, phone, company, status, tags, created_by,
                               notes, created_at, updated_at)
         SELECT $1::uuid, pg_temp.uuid_v7(t), 'Contact ' || g, 'c' || g || '@example.com', '+1 555 01' || (g % 100),
                'Company ' || (g % 977), (ARRAY['ACTIVE','INACTIVE','DO_NOT_CONTACT'])[1 + g % 3], '{lead,2026}',
                (SELECT user_id FROM organization_members WHERE organization_id = $1::uuid),
                'Met at the open house on Elm Street; wants three bedrooms and a garden.', t, t
           FROM generate_series(1, $2) g,
                LATERAL (SELECT timestamptz '2025-06-01' + g * interval '20 seconds' AS t) ts",
    )
    .bind(org_id)
    .bind(rows)
    .execute(&mut *owner)
    .await?;
    sqlx::query("VACUUM ANALYZE").execute(&mut *owner).await?;
    println!(
        "loaded {rows} contacts (through the change-feed triggers) in {:.1} s",
        t.elapsed().as_secs_f64()
    );

    Ok(())
}

/// (internal) Loads an organization and serves it until killed, printing the client's command
/// line: for profiling the client alone.
pub async fn serve(rows: i64) -> anyhow::Result<()> {
    let bench = crate::setup::start().await?;
    let mut owner = sqlx::PgConnection::connect(&bench.admin_url).await?;
    load(&mut owner, &bench.org_id, rows).await?;
    println!(
        "pull-child --base {} --token {} --org {} --dir <empty dir>",
        bench.base, bench.token, bench.org_id
    );
    std::future::pending::<()>().await;
    Ok(())
}

pub async fn pull_child(base: &str, token: &str, org: &str, dir: &Path) -> anyhow::Result<()> {
    let org: OrgId = org.parse()?;
    let mut replica = Replica::create(dir, org, crate::setup::PASSWORD, Keychain::Disabled)?;
    let http = reqwest::Client::new();
    let t = Instant::now();
    let stats = pull::pull_all(&mut replica, &http, base, token, |_| {}).await?;
    eprintln!(
        "client: {} rows, {} pages, {:.1} s total, applying thread busy {:.1} s, network side \
         waiting for it {:.1} s",
        stats.upserts,
        stats.pages,
        t.elapsed().as_secs_f64(),
        stats.apply_time.as_secs_f64(),
        stats.wait_time.as_secs_f64(),
    );
    let (peak_kib, cpu) = usage(libc::RUSAGE_SELF);
    println!("{peak_kib} {cpu}");
    Ok(())
}

pub fn raw_only(rows: i64) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let rate = raw_sqlcipher_insert(dir.path(), rows)?;
    println!("raw SQLCipher upsert: {rate:.0} rows/s ({})", loadavg());
    Ok(())
}

/// A fresh replica of a made-up organization, for the raw writes.
fn scratch_replica(dir: &Path) -> anyhow::Result<Replica> {
    Ok(Replica::create(
        dir,
        OrgId::new(),
        crate::setup::PASSWORD,
        Keychain::Disabled,
    )?)
}

fn raw_sqlcipher_insert(dir: &Path, rows: i64) -> anyhow::Result<f64> {
    let mut replica = scratch_replica(dir)?;
    let t = Instant::now();
    let cpu = usage(libc::RUSAGE_THREAD).1;
    replica.raw_insert_contacts(rows)?;
    let secs = t.elapsed().as_secs_f64();
    println!(
        "raw SQLCipher upsert: {secs:.1} s, thread CPU {:.1} s",
        usage(libc::RUSAGE_THREAD).1 - cpu
    );
    if std::env::var_os("BENCH_INDEXES_AFTER").is_some() {
        let dir = tempfile::tempdir()?;
        let mut bare = scratch_replica(dir.path())?;
        let (insert, build) = bare.raw_insert_contacts_indexes_after(rows)?;
        println!(
            "raw SQLCipher upsert, secondary indexes built after: insert {insert:.1} s \
             ({:.0} rows/s), build {build:.1} s; {:.0} rows/s in all",
            rows as f64 / insert,
            rows as f64 / (insert + build)
        );
    }
    Ok(rows as f64 / secs)
}

/// Peak RSS (KiB) and CPU time (user + system, seconds) of this process or thread.
fn usage(who: libc::c_int) -> (i64, f64) {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage fills the struct we own.
    let ok = unsafe { libc::getrusage(who, usage.as_mut_ptr()) } == 0;
    if !ok {
        return (-1, 0.0);
    }
    let u = unsafe { usage.assume_init() };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    (u.ru_maxrss, secs(u.ru_utime) + secs(u.ru_stime))
}

/// The client's half alone: `rows` feed lines made in memory, applied in 10k-line batches.
pub fn apply_only(rows: i64) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut replica = scratch_replica(dir.path())?;
    let lines: Vec<String> = (1..=rows)
        .map(|g| {
            json!({"seq": g, "table": "contacts", "row": {
                "id": format!("0190a5d2-7c3e-7000-8000-{g:012}"), "organization_id": "o",
                "name": format!("Contact {g}"), "email": format!("c{g}@example.com"),
                "phone": "+1 555 0101", "company": "Company 7", "position": null,
                "contact_type": "PROSPECT", "status": "ACTIVE",
                "notes": "Met at the open house on Elm Street; wants three bedrooms and a garden.",
                "tags": ["lead", "2026"], "assigned_to_id": null, "next_follow_up_at": null,
                "last_contact_at": null, "created_by": "u", "created_at": "2026-11-25T00:00:00Z",
                "updated_at": "2026-11-25T00:00:00Z"}})
            .to_string()
        })
        .collect();
    let t = Instant::now();
    for chunk in lines.chunks(10_000) {
        replica.apply_lines(chunk.iter().map(|l| l.as_bytes()))?;
    }
    println!(
        "apply only: {:.0} rows/s",
        rows as f64 / t.elapsed().as_secs_f64()
    );
    Ok(())
}
