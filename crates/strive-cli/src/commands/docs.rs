//! docs upload | list | get | versions | submit | approve | return | queue | pin, and watch.
//!
//! Everything but `get` of a document not on this device works offline: files are encrypted into
//! the device's vault at once and uploaded by the next `strive sync`.

use super::contacts::{queue as queue_mutation, resolve};
use crate::context::{Ctx, Local};
use crate::output::{self, opt, short};
use anyhow::{anyhow, Context, Result};
use clap::{Args, Subcommand};
use serde_json::json;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use strive_domain::documents::{sanitize_name, ReviewDecision, DEFAULT_MAX_DOCUMENT_BYTES};
use strive_domain::mutations::documents::ReviewDocument;
use strive_domain::mutations::{Delete, Mutation};
use strive_domain::{DocumentId, DocumentStatus, DocumentType, LoopId};
use strive_replica::engine::{self, EngineOptions, SyncEvent};
use strive_replica::vault::{NewDocument, Source};
use strive_replica::watch::{watch as watch_folder, WatchEvent, WatchOptions};

#[derive(Subcommand)]
pub enum Docs {
    /// Add a file to a transaction loop: checked and encrypted here at once, uploaded by the
    /// next `strive sync`.
    Upload {
        file: PathBuf,
        /// The loop (its id or first characters).
        #[arg(long = "loop")]
        loop_id: String,
        /// CONTRACT, DISCLOSURE, INSPECTION, APPRAISAL, TITLE or OTHER.
        #[arg(long = "type", default_value = "OTHER")]
        document_type: DocumentType,
        /// Make the file a new version of this document.
        #[arg(long)]
        version_of: Option<String>,
        /// The name people see (the file's own name by default).
        #[arg(long)]
        name: Option<String>,
    },
    /// Documents of one loop or all, with their review status.
    List {
        #[arg(long = "loop")]
        loop_id: Option<String>,
        /// DRAFT, SUBMITTED, APPROVED, RETURNED or ARCHIVED.
        #[arg(long)]
        status: Option<DocumentStatus>,
    },
    /// Decrypt a document to a file (fetching it first when it is not on this device).
    Get {
        id: String,
        /// A version number (the current version by default).
        #[arg(long)]
        version: Option<i32>,
        /// Where to write it (default: its name, in the current directory).
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Every version of a document.
    Versions { id: String },
    /// Ask for review (a draft).
    Submit { id: String },
    /// Approve a submitted document (owners and admins).
    Approve {
        id: String,
        #[arg(long)]
        note: Option<String>,
    },
    /// Return a submitted document with what to fix (owners and admins).
    Return {
        id: String,
        #[arg(long)]
        note: String,
    },
    /// Submitted documents waiting for review, oldest first.
    Queue,
    /// Keep a document readable offline (`--off` to stop).
    Pin {
        id: String,
        #[arg(long)]
        off: bool,
    },
}

#[derive(Args)]
pub struct Watch {
    /// The folder to watch; imported files move to its `imported/`, refused ones to `rejected/`.
    dir: PathBuf,
    /// The loop new files go to.
    #[arg(long = "loop")]
    loop_id: String,
    #[arg(long = "type", default_value = "OTHER")]
    document_type: DocumentType,
    /// Only import (encrypt and queue); do not sync.
    #[arg(long)]
    offline: bool,
}

/// The largest document accepted on this device (`STRIVE_MAX_DOCUMENT_MB`, else 100 MB).
fn max_bytes() -> u64 {
    std::env::var("STRIVE_MAX_DOCUMENT_MB")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .map(|mb| mb * 1024 * 1024)
        .unwrap_or(DEFAULT_MAX_DOCUMENT_BYTES)
}

fn doc_id(local: &Local, id: &str) -> Result<DocumentId> {
    Ok(resolve(local, "documents", "document", id)?.parse()?)
}

fn loop_id(local: &Local, id: &str) -> Result<LoopId> {
    Ok(resolve(local, "transaction_loops", "loop", id)?.parse()?)
}

pub async fn run(ctx: &Ctx, c: Docs) -> Result<()> {
    let mut local = ctx.local()?;
    match c {
        Docs::Upload {
            file,
            loop_id: l,
            document_type,
            version_of,
            name,
        } => {
            let loop_id = loop_id(&local, &l)?;
            let document_id = version_of.map(|v| doc_id(&local, &v)).transpose()?;
            let added = local.replica.add_document(NewDocument {
                loop_id,
                source: Source::File(&file),
                name,
                document_type,
                document_id,
                max_bytes: max_bytes(),
            })?;
            if ctx.json {
                return output::json(&json!({
                    "document_id": added.document_id, "version_id": added.version_id,
                    "mime_type": added.kind.mime(), "size": added.size,
                }));
            }
            println!(
                "Encrypted {} ({}, {} bytes) as document {}; `strive sync` uploads it.",
                file.display(),
                added.kind.mime(),
                added.size,
                short(added.document_id)
            );
            Ok(())
        }
        Docs::List { loop_id: l, status } => {
            let l = l.map(|l| loop_id(&local, &l)).transpose()?;
            let rows = local.replica.documents(l, status)?;
            if ctx.json {
                return output::json(&rows);
            }
            let table: Vec<Vec<String>> = rows
                .iter()
                .map(|r| {
                    let d = &r.document;
                    let here = match (r.pending_upload, r.on_device, r.pinned) {
                        (true, _, _) => "to upload",
                        (_, true, true) => "pinned",
                        (_, true, false) => "on device",
                        _ => "",
                    };
                    vec![
                        short(d.id),
                        d.original_name.clone(),
                        d.document_type.to_string(),
                        format!("v{}", d.version),
                        d.status.to_string(),
                        here.to_string(),
                    ]
                })
                .collect();
            output::table(&["ID", "NAME", "TYPE", "VER", "STATUS", "HERE"], &table);
            Ok(())
        }
        Docs::Versions { id } => {
            let id = doc_id(&local, &id)?;
            let versions = local.replica.document_versions(id)?;
            if ctx.json {
                return output::json(&versions);
            }
            let rows: Vec<Vec<String>> = versions
                .iter()
                .map(|v| {
                    vec![
                        format!("v{}", v.version),
                        v.original_name.clone(),
                        v.file_size.to_string(),
                        v.created_at.format("%Y-%m-%d %H:%M").to_string(),
                    ]
                })
                .collect();
            output::table(&["VER", "NAME", "BYTES", "ADDED"], &rows);
            Ok(())
        }
        Docs::Get {
            id,
            version,
            output: out,
        } => get(ctx, &mut local, &id, version, out).await,
        Docs::Submit { id } => {
            let id = doc_id(&local, &id)?;
            let m = Mutation::SubmitDocument(Delete { id });
            queue_mutation(ctx, &mut local, m, "Submitted for review;")
        }
        Docs::Approve { id, note } => review(ctx, &mut local, &id, ReviewDecision::Approve, note),
        Docs::Return { id, note } => {
            review(ctx, &mut local, &id, ReviewDecision::Return, Some(note))
        }
        Docs::Queue => {
            let q = local.replica.review_queue()?;
            if ctx.json {
                return output::json(&q);
            }
            let rows: Vec<Vec<String>> = q
                .iter()
                .map(|i| {
                    vec![
                        short(i.id),
                        i.original_name.clone(),
                        i.property_address.clone(),
                        opt(i.submitted_by_name.as_ref()),
                        opt(i.submitted_at.map(|t| t.format("%Y-%m-%d %H:%M"))),
                    ]
                })
                .collect();
            output::table(&["ID", "NAME", "LOOP", "BY", "SUBMITTED"], &rows);
            Ok(())
        }
        Docs::Pin { id, off } => {
            let id = doc_id(&local, &id)?;
            local.replica.pin(id, !off)?;
            if !ctx.json {
                println!(
                    "{}",
                    if off {
                        "Unpinned."
                    } else {
                        "Pinned: the next `strive sync` keeps it on this device."
                    }
                );
            }
            Ok(())
        }
    }
}

fn review(
    ctx: &Ctx,
    local: &mut Local,
    id: &str,
    decision: ReviewDecision,
    note: Option<String>,
) -> Result<()> {
    let id = doc_id(local, id)?;
    let m = Mutation::ReviewDocument(ReviewDocument { id, decision, note });
    let done = match decision {
        ReviewDecision::Approve => "Approved;",
        ReviewDecision::Return => "Returned;",
    };
    queue_mutation(ctx, local, m, done)
}

async fn get(
    ctx: &Ctx,
    local: &mut Local,
    id: &str,
    version: Option<i32>,
    out: Option<PathBuf>,
) -> Result<()> {
    let id = doc_id(local, id)?;
    let name_of = |local: &Local, v| {
        local
            .replica
            .document_versions(id)
            .ok()?
            .into_iter()
            .find(|x| x.id == v)
            .map(|x| (x.original_name, x.version))
    };
    // A name from elsewhere never becomes a path as it is.
    let dest_for = |name: &str| {
        out.clone()
            .unwrap_or_else(|| PathBuf::from(sanitize_name(name)))
    };
    let known = local.replica.version_id(id, version).ok();
    let here = known.filter(|v| matches!(local.replica.vault_entry(*v), Ok(Some(_))));
    let (dest, n) = match (here, known.and_then(|v| name_of(local, v))) {
        (Some(v), Some((name, _))) => {
            let dest = dest_for(&name);
            let n = local.replica.export_document(v, &dest)?;
            (dest, n)
        }
        (Some(_), None) => return Err(anyhow!("document version not found")),
        // Not on this device: fetched and decrypted in one pass when the version is known here
        // (its name gives the file's), else fetched first.
        (None, name) => {
            let account = ctx.account()?;
            let auth = ctx.auth(account)?;
            let token = auth.token().await?;
            let api = auth.api();
            match name {
                // The version this device knows (by number, so the file's name is its name).
                Some((name, number)) => {
                    let dest = dest_for(&name);
                    let (_, n) = strive_replica::transfer::fetch_to(
                        &mut local.replica,
                        api.http(),
                        api.base(),
                        &token,
                        id,
                        Some(number),
                        &dest,
                    )
                    .await
                    .context("fetching the document")?;
                    (dest, n)
                }
                None => {
                    let v = strive_replica::transfer::fetch(
                        &mut local.replica,
                        api.http(),
                        api.base(),
                        &token,
                        id,
                        version,
                    )
                    .await
                    .context("fetching the document")?;
                    let (name, _) =
                        name_of(local, v).ok_or_else(|| anyhow!("document version not found"))?;
                    let dest = dest_for(&name);
                    let n = local.replica.export_document(v, &dest)?;
                    (dest, n)
                }
            }
        }
    };
    if ctx.json {
        return output::json(&json!({ "path": dest, "bytes": n }));
    }
    println!("Wrote {} ({n} bytes).", dest.display());
    Ok(())
}

/// `strive watch DIR --loop ID`: imports every file dropped into DIR and syncs, until Ctrl-C.
pub async fn watch(ctx: &Ctx, a: Watch) -> Result<()> {
    let local = ctx.local()?;
    let loop_id = loop_id(&local, &a.loop_id)?;
    let engine = if a.offline {
        None
    } else {
        let account = ctx.account()?;
        let auth = ctx.auth(account)?;
        Some(Arc::new(engine::spawn(
            local.replica.reopen()?,
            auth,
            EngineOptions::default(),
        )))
    };
    if let Some(e) = &engine {
        let mut events = e.subscribe();
        let json = ctx.json;
        tokio::spawn(async move {
            while let Ok(ev) = events.recv().await {
                match &ev {
                    SyncEvent::Upload { progress } if progress.sent == progress.total => {
                        if json {
                            let _ = output::json(&ev);
                        } else {
                            println!("Uploaded {} ({} bytes).", progress.name, progress.total);
                        }
                    }
                    SyncEvent::Offline { error, .. } => eprintln!("offline: {error}"),
                    _ => {}
                }
            }
        });
    }
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let mut conn = local.replica.reopen()?;
    let options = WatchOptions {
        document_type: a.document_type,
        max_bytes: max_bytes(),
        ..Default::default()
    };
    let dir = a.dir.clone();
    let json = ctx.json;
    let waker = engine.clone();
    if !json {
        println!(
            "Watching {} (Ctrl-C to stop); files go to loop {}.",
            dir.display(),
            short(loop_id)
        );
    }
    let task = tokio::task::spawn_blocking(move || {
        watch_folder(&mut conn, &dir, loop_id, &options, &flag, |e| {
            print_event(e, json);
            if let (WatchEvent::Imported { .. }, Some(engine)) = (e, &waker) {
                engine.sync_now();
            }
        })
    });
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        r = task => {
            r.context("the watcher stopped")??;
            return Ok(());
        }
    }
    stop.store(true, Ordering::SeqCst);
    if let Some(e) = engine.and_then(|e| Arc::try_unwrap(e).ok()) {
        e.stop();
    }
    Ok(())
}

fn print_event(e: &WatchEvent, json: bool) {
    if json {
        let _ = output::json(e);
        return;
    }
    match e {
        WatchEvent::Imported { name, .. } => println!("Imported {name}."),
        WatchEvent::AlreadyImported { name } => println!("{name} was imported before; moved."),
        WatchEvent::Rejected { name, reason } => println!("Rejected {name}: {reason}"),
        WatchEvent::Failed { name, error } => eprintln!("Could not import {name} yet: {error}"),
    }
}
