//! A large document through the whole product on loopback: encrypt into the vault (with its
//! checksum), upload in 8 MiB requests streamed both ways (the server writes, hashes, fsyncs and
//! verifies), record the version, then fetch through a signed URL (verified) and decrypt to a
//! file in the same pass (`strive docs get`). Compared with raw
//! AES-256-GCM on 64 KiB buffers in the same run; the peak memory of the process (client and
//! server both live in it) shows whether it stays flat.

use crate::setup::{self, PASSWORD};
use anyhow::{anyhow, Context};
use serde_json::json;
use std::io::Write;
use std::time::{Duration, Instant};
use strive_domain::{DeviceId, DocumentType, GlobalRole, LoopId, OrgId, UserId, VersionId};
use strive_replica::vault::{self, NewDocument, Source};
use strive_replica::{transfer, Keychain, Replica, Session};

/// Peak resident memory (VmHWM) of this process, in MiB.
fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

/// Resets VmHWM to the current RSS (Linux: `5` to clear_refs), so the next reading is the peak
/// of what follows.
fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Raw AES-256-GCM over `total` bytes in 64 KiB buffers, one core: the limit.
fn raw_aes_mb_s(total: usize) -> f64 {
    let start = Instant::now();
    crate::work_floor::aes_pass(total);
    mb(total as u64) / start.elapsed().as_secs_f64()
}

/// Raw durable writes on the same disk: `total` bytes in 1 MiB writes, then one fsync. The round
/// trip writes the ciphertext durably three times (the vault, the server's part file, the fetched
/// copy), so three of these are its floor from the disk alone.
fn raw_disk_mb_s(dir: &std::path::Path, total: u64) -> anyhow::Result<f64> {
    let path = dir.join("raw-disk.bin");
    let block = vec![0xA5u8; 1 << 20];
    let start = Instant::now();
    let mut f = std::fs::File::create(&path)?;
    let mut done = 0u64;
    while done < total {
        f.write_all(&block)?;
        done += block.len() as u64;
    }
    f.sync_all()?;
    let rate = mb(done) / start.elapsed().as_secs_f64();
    std::fs::remove_file(&path)?;
    Ok(rate)
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1_000_000.0
}

/// A PDF-looking file of `size` bytes (pseudo-random after the header), written in 1 MiB steps.
fn make_file(path: &std::path::Path, size: u64) -> anyhow::Result<()> {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    f.write_all(b"%PDF-1.7\n")?;
    let mut block = vec![0u8; 1 << 20];
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let mut written = 9u64;
    while written < size {
        for b in block.chunks_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            b.copy_from_slice(&x.to_le_bytes()[..b.len()]);
        }
        let n = (size - written).min(block.len() as u64) as usize;
        f.write_all(&block[..n])?;
        written += n as u64;
    }
    f.flush()?;
    Ok(())
}

/// Removes a version's ciphertext from the vault, so the next leg has to download it.
fn drop_vault_copy(replica: &Replica, v: VersionId) -> anyhow::Result<()> {
    let entry = replica
        .vault_entry(v)?
        .ok_or_else(|| anyhow!("the vault lost the file"))?;
    Ok(std::fs::remove_file(&entry.file)?)
}

fn same_size(decrypted: u64, size: u64) -> anyhow::Result<()> {
    if decrypted != size {
        return Err(anyhow!("decrypted {decrypted} bytes, expected {size}"));
    }
    Ok(())
}

pub async fn run(megabytes: u64) -> anyhow::Result<()> {
    let size = megabytes * 1_000_000;
    let b = setup::start_with(|c| c.documents.max_document_bytes = size + (1 << 20)).await?;
    let org: OrgId = b.org_id.parse()?;
    let l: serde_json::Value = b
        .http
        .post(format!("{}/v1/orgs/{org}/loops", b.base))
        .bearer_auth(&b.token)
        .json(
            &json!({"property_address": "1 Benchmark Way", "transaction_type": "PURCHASE_AGREEMENT",
                      "listing_price_cents": 100_000}),
        )
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let loop_id: LoopId = l["id"]
        .as_str()
        .ok_or_else(|| anyhow!("no loop id"))?
        .parse()?;
    let user: UserId = b
        .http
        .get(format!("{}/v1/me", b.base))
        .bearer_auth(&b.token)
        .send()
        .await?
        .json::<serde_json::Value>()
        .await?["user"]["id"]
        .as_str()
        .ok_or_else(|| anyhow!("no user id"))?
        .parse()?;
    let dir = tempfile::tempdir()?;
    let mut replica = Replica::create(dir.path(), org, PASSWORD, Keychain::Disabled)?;
    replica.set_session(Session {
        user,
        device: DeviceId::new(),
        global: GlobalRole::User,
    })?;
    strive_replica::push::sync_once(&mut replica, &b.http, &b.base, &b.token, |_| {}).await?;
    let src = dir.path().join("big.pdf");
    make_file(&src, size)?;

    let raw = raw_aes_mb_s(size as usize);
    println!("documents: {megabytes} MB through encrypt + upload + download + decrypt on loopback");
    println!("  raw AES-256-GCM (64 KiB buffers, one core): {raw:.0} MB/s");
    let disk = raw_disk_mb_s(dir.path(), size)?;
    println!(
        "  raw durable write (1 MiB writes + fsync): {disk:.0} MB/s; three of them, the disk's floor for the round trip: {:.0} MB/s",
        disk / 3.0
    );
    let floor = crate::work_floor::Floor::measure(dir.path(), size as usize)?;
    println!(
        "  the least work of a round trip, pass by pass (CPU seconds, one pass over the file):"
    );
    for (what, times, secs) in &floor.passes {
        println!("    {times} × {secs:.3} s  {what}");
    }
    let cores = crate::work_floor::cores();
    let best = floor.cpu_seconds() / cores as f64;
    println!(
        "    = {:.3} CPU seconds; spread perfectly over {cores} cores, {best:.3} s: at most {:.0} MB/s, {:.2} of raw AES-GCM",
        floor.cpu_seconds(),
        mb(size) / best,
        mb(size) / best / raw
    );
    let rss_before = peak_rss_mib();
    reset_peak();

    let cpu = crate::work_floor::cpu_seconds;
    let c0 = cpu();
    let t0 = Instant::now();
    let added = replica.add_document(NewDocument {
        loop_id,
        source: Source::File(&src),
        name: None,
        document_type: DocumentType::Inspection,
        document_id: None,
        max_bytes: size + (1 << 20),
    })?;
    let t_encrypt = t0.elapsed();
    let c1 = cpu();
    let t1 = Instant::now();
    transfer::upload_pending(&mut replica, &b.http, &b.base, &b.token, |_| {}).await?;
    let t_sent = t1.elapsed();
    strive_replica::push::sync_once(&mut replica, &b.http, &b.base, &b.token, |_| {}).await?;
    let t_upload = t1.elapsed();
    let c2 = cpu();
    // Read it back as another device would (`strive docs get`): drop this copy, then fetch and
    // decrypt to a file, in one pass.
    drop_vault_copy(&replica, added.version_id)?;
    let out = dir.path().join("back.pdf");
    let t2 = Instant::now();
    let (v, n) = transfer::fetch_to(
        &mut replica,
        &b.http,
        &b.base,
        &b.token,
        added.document_id,
        None,
        &out,
    )
    .await
    .context("fetching")?;
    let t_back = t2.elapsed();
    let total = t0.elapsed();
    let c3 = cpu();
    same_size(n, size)?;
    if vault::file_sha256(&out)? != vault::file_sha256(&src)? {
        return Err(anyhow!("the document came back different"));
    }
    // Not part of the round trip: the two legs of the way back apart, as a device that only
    // fetches (a pinned document) and one that opens a document already in its vault run them.
    let t3 = Instant::now();
    let n = replica.export_document(v, &dir.path().join("again.pdf"))?;
    let t_decrypt = t3.elapsed();
    same_size(n, size)?;
    std::fs::remove_file(dir.path().join("again.pdf"))?;
    drop_vault_copy(&replica, v)?;
    let t4 = Instant::now();
    transfer::fetch(
        &mut replica,
        &b.http,
        &b.base,
        &b.token,
        added.document_id,
        None,
    )
    .await
    .context("fetching again")?;
    let t_download = t4.elapsed();
    let peak = peak_rss_mib();

    let rate = |d: Duration| mb(size) / d.as_secs_f64();
    // CPU seconds of this process (client and server; not PostgreSQL, not kernel writeback)
    // per second of the leg: how much of the two cores each leg keeps busy.
    let busy = |c: f64, d: Duration| c / d.as_secs_f64();
    println!(
        "  cores busy (this process, per leg): encrypt {:.2}, upload {:.2}, way back {:.2}; {:.2} CPU s in all",
        busy(c1 - c0, t_encrypt),
        busy(c2 - c1, t_upload),
        busy(c3 - c2, t_back),
        c3 - c0
    );
    println!(
        "  encrypt into vault:  {:>7.0} MB/s ({:.2} s)",
        rate(t_encrypt),
        t_encrypt.as_secs_f64()
    );
    println!(
        "  upload + record:     {:>7.0} MB/s ({:.2} s: sent and verified in {:.2} s, recorded in {:.2} s)",
        rate(t_upload),
        t_upload.as_secs_f64(),
        t_sent.as_secs_f64(),
        (t_upload - t_sent).as_secs_f64()
    );
    println!(
        "  download + decrypt:  {:>7.0} MB/s ({:.2} s, one pass: verified into the vault and decrypted to a file)",
        rate(t_back),
        t_back.as_secs_f64()
    );
    println!(
        "    apart (not in the round trip): download {:.0} MB/s ({:.2} s), decrypt {:.0} MB/s ({:.2} s)",
        rate(t_download),
        t_download.as_secs_f64(),
        rate(t_decrypt),
        t_decrypt.as_secs_f64()
    );
    let whole = rate(total);
    println!(
        "  whole round trip:    {whole:>7.0} MB/s ({:.2} s); ratio to raw AES-GCM {:.2}, to the disk's floor {:.2}",
        total.as_secs_f64(),
        whole / raw,
        whole / (disk / 3.0)
    );
    println!(
        "  peak RSS of client + server: {peak:.0} MiB during the run ({rss_before:.0} MiB before; file {megabytes} MB)"
    );
    Ok(())
}
