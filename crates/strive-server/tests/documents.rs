mod common;

// Transaction documents against a real server and PostgreSQL: the server stores ciphertext only,
// at sanitized keys under the organization and loop; uploads resume and verify; every refusal
// has its own code and stores nothing; signed URLs are scoped and expire; the key service wraps
// and audits; the review workflow follows the permissions matrix.

use common::{TestApp, TestUser};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use strive_crypto::{encrypt, DataKey};

const MARKER: &[u8] = b"SECRET-OFFER-MARKER-91c2";

/// A PDF-looking plaintext of `len` bytes with the marker every 1,000 bytes.
fn pdf(len: usize) -> Vec<u8> {
    let mut v = b"%PDF-1.7\n".to_vec();
    while v.len() < len {
        v.extend_from_slice(MARKER);
        v.extend_from_slice(&[b' '; 976]);
    }
    v.truncate(len.max(9));
    v
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

struct Sealed {
    key: DataKey,
    bytes: Vec<u8>,
    sha: String,
    plain_len: usize,
}

fn seal(plain: &[u8]) -> Sealed {
    let key = DataKey::generate();
    let mut bytes = Vec::new();
    encrypt(&key, plain, &mut bytes).unwrap();
    let sha = hex::encode(Sha256::digest(&bytes));
    Sealed {
        key,
        bytes,
        sha,
        plain_len: plain.len(),
    }
}

struct Org {
    id: String,
    owner: TestUser,
    loop_id: String,
}

async fn org_with_loop(app: &TestApp, email: &str, name: &str) -> Org {
    let owner = app.user(email).await;
    let id = app.org(&owner, name).await;
    let (s, l) = app
        .post(
            &format!("/v1/orgs/{id}/loops"),
            &owner.token,
            json!({"property_address": format!("1 {name} Street"),
                   "transaction_type": "PURCHASE_AGREEMENT", "listing_price_cents": 45_000_000}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{l}");
    Org {
        id,
        owner,
        loop_id: l["id"].as_str().unwrap().to_string(),
    }
}

fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Declares an upload; answers the server's reply.
async fn declare(app: &TestApp, org: &str, token: &str, body: Value) -> (StatusCode, Value) {
    app.post(&format!("/v1/orgs/{org}/uploads"), token, body)
        .await
}

fn declaration(version: &str, doc: &str, loop_id: &str, name: &str, s: &Sealed) -> Value {
    json!({"id": version, "document_id": doc, "loop_id": loop_id, "name": name,
           "mime_type": "application/pdf", "document_type": "CONTRACT",
           "ciphertext_size": s.bytes.len(), "sha256": s.sha})
}

async fn put(
    app: &TestApp,
    org: &str,
    token: &str,
    version: &str,
    offset: usize,
    bytes: &[u8],
) -> (StatusCode, Value) {
    app.raw(
        Method::PUT,
        &format!("/v1/orgs/{org}/uploads/{version}?offset={offset}"),
        Some(token),
        "application/octet-stream",
        bytes.to_vec(),
    )
    .await
}

async fn complete(
    app: &TestApp,
    org: &str,
    token: &str,
    version: &str,
    s: &Sealed,
) -> (StatusCode, Value) {
    app.post(
        &format!("/v1/orgs/{org}/uploads/{version}/complete"),
        token,
        json!({"data_key": s.key.to_base64(), "size": s.plain_len}),
    )
    .await
}

/// The whole upload in chunks of `chunk` bytes; answers the document and the version id.
async fn upload(
    app: &TestApp,
    org: &str,
    token: &str,
    loop_id: &str,
    doc: &str,
    name: &str,
    s: &Sealed,
) -> (Value, String) {
    let version = new_id();
    let (st, b) = declare(
        app,
        org,
        token,
        declaration(&version, doc, loop_id, name, s),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "declare: {b}");
    let mut at = 0;
    for piece in s.bytes.chunks(100_000) {
        let (st, b) = put(app, org, token, &version, at, piece).await;
        assert_eq!(st, StatusCode::OK, "chunk at {at}: {b}");
        at += piece.len();
        assert_eq!(b["received"], at);
    }
    let (st, d) = complete(app, org, token, &version, s).await;
    assert_eq!(st, StatusCode::CREATED, "complete: {d}");
    (d, version)
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}

async fn access(app: &TestApp, org: &str, token: &str, doc: &str, body: Value) -> Value {
    let (s, a) = app
        .post(
            &format!("/v1/orgs/{org}/documents/{doc}/access"),
            token,
            body,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "access: {a}");
    a
}

async fn fetch(app: &TestApp, url: &str) -> (StatusCode, Vec<u8>) {
    let res = app.client.get(app.url(url)).send().await.unwrap();
    let status = res.status();
    (status, res.bytes().await.unwrap().to_vec())
}

#[tokio::test]
async fn documents_are_stored_as_ciphertext_with_versions_and_audited_key_access() {
    let app = TestApp::spawn().await;
    let o = org_with_loop(&app, "ann@example.com", "Acme").await;
    let t = &o.owner.token;
    let doc = new_id();
    let v1 = seal(&pdf(300_000));
    let (d, version1) = upload(&app, &o.id, t, &o.loop_id, &doc, "Offer.pdf", &v1).await;
    assert_eq!(
        (
            d["id"].as_str(),
            d["version"].as_i64(),
            d["status"].as_str()
        ),
        (Some(doc.as_str()), Some(1), Some("DRAFT"))
    );
    assert_eq!(d["file_size"], 300_000);
    assert_eq!(d["is_encrypted"], true);

    // The stored blob is exactly the ciphertext, at its key, with no plaintext in it; the
    // partial upload file is gone.
    let blobs = app.data.path().join("blobs");
    let stored = files_under(&blobs);
    assert_eq!(stored.len(), 1, "{stored:?}");
    let bytes = std::fs::read(&stored[0]).unwrap();
    assert!(bytes == v1.bytes, "the blob is the device's ciphertext");
    assert!(!contains(&bytes, MARKER), "plaintext in the blob store");
    assert!(files_under(&app.data.path().join("uploads")).is_empty());
    let key = app
        .scalar_text(&format!(
            "SELECT storage_key FROM document_versions WHERE id = '{version1}'"
        ))
        .await
        .unwrap();
    let prefix = format!("{}/transactions/{}/", o.id, o.loop_id);
    assert!(
        key.starts_with(&prefix) && key.ends_with("-Offer.pdf"),
        "{key}"
    );
    assert_eq!(stored[0], blobs.join(&key));

    // The database holds the data key only wrapped; the organization's key only wrapped too.
    let wrapped = app
        .scalar_text(&format!(
            "SELECT encode(wrapped_key, 'hex') FROM document_keys WHERE version_id = '{version1}'"
        ))
        .await
        .unwrap();
    assert_eq!(wrapped.len(), 2 * 61);
    assert!(!wrapped.contains(&hex::encode(v1.key.as_bytes())));
    assert_eq!(
        app.scalar_i64("SELECT count(*) FROM organization_keys")
            .await,
        1
    );
    let master = std::fs::read(app.data.path().join("master.key")).unwrap();
    assert_eq!(master.len(), 32);

    // A second upload of the same document is version 2; both stay.
    let v2 = seal(&pdf(70_000));
    let (d2, version2) = upload(&app, &o.id, t, &o.loop_id, &doc, "Offer v2.pdf", &v2).await;
    assert_eq!(
        (d2["version"].as_i64(), d2["file_size"].as_i64()),
        (Some(2), Some(70_000))
    );
    let (s, versions) = app
        .get(&format!("/v1/orgs/{}/documents/{doc}/versions", o.id), t)
        .await;
    assert_eq!(s, StatusCode::OK);
    let numbers: Vec<i64> = versions
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_i64().unwrap())
        .collect();
    assert_eq!(numbers, [1, 2]);
    assert_eq!(files_under(&blobs).len(), 2);

    // Reading: a signed URL streams the ciphertext; the unwrapped key opens it.
    let a = access(&app, &o.id, t, &doc, Value::Null).await;
    assert_eq!(
        (a["version"].as_i64(), a["version_id"].as_str()),
        (Some(2), Some(version2.as_str()))
    );
    let (s, got) = fetch(&app, a["url"].as_str().unwrap()).await;
    assert_eq!(s, StatusCode::OK);
    assert!(got == v2.bytes);
    let key2 = DataKey::from_base64(a["data_key"].as_str().unwrap()).unwrap();
    assert!(strive_crypto::decrypt_to_vec(&key2, &got).unwrap() == pdf(70_000));
    let a1 = access(&app, &o.id, t, &doc, json!({"version": 1})).await;
    let (_, got1) = fetch(&app, a1["url"].as_str().unwrap()).await;
    let key1 = DataKey::from_base64(a1["data_key"].as_str().unwrap()).unwrap();
    assert!(strive_crypto::decrypt_to_vec(&key1, &got1).unwrap() == pdf(300_000));

    // Every unwrap is audited; the feed shows uploads, not key accesses.
    let audited = app
        .scalar_i64("SELECT count(*) FROM audit_log WHERE action = 'accessed_document_key'")
        .await;
    assert_eq!(audited, 2);
    let (_, feed) = app.get(&format!("/v1/orgs/{}/activity", o.id), t).await;
    let actions: Vec<&str> = feed
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["action"].as_str())
        .collect();
    assert_eq!(
        actions
            .iter()
            .filter(|a| **a == "uploaded_document")
            .count(),
        2,
        "{actions:?}"
    );
    assert!(!actions.contains(&"accessed_document_key"), "{actions:?}");

    // The change feed carries documents and versions, never keys or uploads.
    let res = app
        .client
        .get(app.url(&format!("/v1/orgs/{}/sync/pull", o.id)))
        .bearer_auth(t)
        .send()
        .await
        .unwrap();
    let feed = res.text().await.unwrap();
    assert!(
        feed.contains("\"table\": \"document_versions\"")
            || feed.contains("\"table\":\"document_versions\"")
    );
    for never in [
        "document_keys",
        "organization_keys",
        "upload_sessions",
        "wrapped",
    ] {
        assert!(!feed.contains(never), "{never} in the change feed");
    }

    // No data key or URL signature was ever logged.
    let logs = common::logs();
    for secret in [v1.key.to_base64(), v2.key.to_base64()] {
        assert!(!logs.contains(&secret), "a data key in the logs");
    }
    let sig = a["url"].as_str().unwrap().rsplit("sig=").next().unwrap();
    assert!(!logs.contains(sig), "a URL signature in the logs");
}

#[tokio::test]
async fn uploads_resume_verify_and_refuse_each_mistake_with_its_own_code() {
    let app = TestApp::spawn_with(|c| {
        c.documents.chunk_limit = 64 * 1024;
        c.documents.max_document_bytes = 1024 * 1024;
    })
    .await;
    let o = org_with_loop(&app, "ann@example.com", "Acme").await;
    let (org, t) = (o.id.as_str(), o.owner.token.as_str());
    let s = seal(&pdf(150_000));
    let (doc, version) = (new_id(), new_id());
    let decl = declaration(&version, &doc, &o.loop_id, "Deed.pdf", &s);
    let (st, b) = declare(&app, org, t, decl.clone()).await;
    assert_eq!((st, b["received"].as_i64()), (StatusCode::CREATED, Some(0)));

    // A first chunk, the same chunk again (a retry), then a gap.
    let first = &s.bytes[..60_000];
    assert_eq!(
        put(&app, org, t, &version, 0, first).await.1["received"],
        60_000
    );
    assert_eq!(
        put(&app, org, t, &version, 0, first).await.1["received"],
        60_000
    );
    let (st, b) = put(&app, org, t, &version, 70_000, &s.bytes[70_000..80_000]).await;
    assert_eq!(
        (st, b["code"].as_str()),
        (StatusCode::CONFLICT, Some("upload_offset_mismatch"))
    );
    // A body over the chunk limit.
    let (st, b) = put(
        &app,
        org,
        t,
        &version,
        60_000,
        &s.bytes[60_000..60_000 + 70_000],
    )
    .await;
    assert_eq!(
        (st, b["code"].as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, Some("chunk_too_large"))
    );

    // Declaring again resumes where it stopped; completing early is refused and records nothing.
    let (_, b) = declare(&app, org, t, decl.clone()).await;
    assert_eq!(b["received"], 60_000);
    let (st, b) = complete(&app, org, t, &version, &s).await;
    assert_eq!(
        (st, b["code"].as_str()),
        (StatusCode::CONFLICT, Some("upload_incomplete"))
    );
    assert_eq!(app.scalar_i64("SELECT count(*) FROM documents").await, 0);
    let mut at = 60_000;
    while at < s.bytes.len() {
        let end = (at + 60_000).min(s.bytes.len());
        let (st, b) = put(&app, org, t, &version, at, &s.bytes[at..end]).await;
        assert_eq!(st, StatusCode::OK, "{b}");
        at = end;
    }
    let (_, b) = app
        .get(&format!("/v1/orgs/{org}/uploads/{version}"), t)
        .await;
    assert_eq!(b["state"], "VERIFIED");
    let (st, d) = complete(&app, org, t, &version, &s).await;
    assert_eq!(st, StatusCode::CREATED, "{d}");
    // Completing twice answers the same version and records nothing more.
    let (st, again) = complete(&app, org, t, &version, &s).await;
    assert_eq!(
        (st, again["version"].as_i64()),
        (StatusCode::CREATED, Some(1))
    );
    assert_eq!(
        app.scalar_i64("SELECT count(*) FROM document_versions")
            .await,
        1
    );
    assert_eq!(
        app.scalar_i64("SELECT count(*) FROM audit_log WHERE action = 'uploaded_document'")
            .await,
        1
    );

    // Every refusal below leaves the organization exactly as it is.
    let untouched = app.fingerprint(org).await;
    let blobs_before = files_under(&app.data.path().join("blobs")).len();
    let refuse = |body: Value| {
        let mut d = decl.clone();
        d["id"] = json!(new_id());
        d["document_id"] = json!(new_id());
        for (k, v) in body.as_object().unwrap() {
            d[k] = v.clone();
        }
        d
    };
    let cases = [
        (
            refuse(json!({"mime_type": "application/x-msdownload"})),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_document_type",
        ),
        (
            refuse(json!({"ciphertext_size": strive_crypto::ciphertext_len(2 << 20).unwrap()})),
            StatusCode::PAYLOAD_TOO_LARGE,
            "document_too_large",
        ),
        (
            refuse(json!({"ciphertext_size": 47})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            refuse(json!({"sha256": "not-a-hash"})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            refuse(json!({"loop_id": new_id()})),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            refuse(json!({"name": "  "})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
    ];
    for (body, status, code) in cases {
        let got = declare(&app, org, t, body.clone()).await;
        assert_eq!(
            (got.0, got.1["code"].as_str()),
            (status, Some(code)),
            "{body}: {}",
            got.1
        );
    }
    assert_eq!(app.fingerprint(org).await, untouched);

    // Plaintext is refused at its first chunk; a wrong checksum starts the upload over; bytes
    // past the declared size are refused.
    let plain = pdf(5_000);
    let fake = Sealed {
        key: DataKey::generate(),
        sha: hex::encode(Sha256::digest(&plain)),
        bytes: plain.clone(),
        plain_len: 0,
    };
    let v = new_id();
    let mut d = declaration(&v, &new_id(), &o.loop_id, "Plain.pdf", &fake);
    d["ciphertext_size"] = json!(strive_crypto::ciphertext_len(5_000).unwrap());
    assert_eq!(declare(&app, org, t, d).await.0, StatusCode::CREATED);
    let (st, b) = put(&app, org, t, &v, 0, &plain).await;
    assert_eq!(
        (st, b["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("not_encrypted"))
    );

    let other = seal(&pdf(20_000));
    let v = new_id();
    let mut d = declaration(&v, &new_id(), &o.loop_id, "Wrong.pdf", &other);
    d["sha256"] = json!("0".repeat(64));
    declare(&app, org, t, d).await;
    let (st, b) = put(&app, org, t, &v, 0, &other.bytes).await;
    assert_eq!(
        (st, b["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("checksum_mismatch"))
    );
    let (_, b) = app.get(&format!("/v1/orgs/{org}/uploads/{v}"), t).await;
    assert_eq!(
        (b["received"].as_i64(), b["state"].as_str()),
        (Some(0), Some("RECEIVING"))
    );
    let (st, b) = put(
        &app,
        org,
        t,
        &v,
        0,
        &[other.bytes.clone(), vec![0; 10]].concat(),
    )
    .await;
    assert_eq!(
        (st, b["code"].as_str()),
        (
            StatusCode::PAYLOAD_TOO_LARGE,
            Some("upload_exceeds_declared_size")
        )
    );
    let (st, b) = complete(&app, org, t, &v, &other).await;
    assert_eq!(
        (st, b["code"].as_str()),
        (StatusCode::CONFLICT, Some("upload_incomplete"))
    );

    // Someone else's upload is invisible.
    let bob = app.user("bob@example.com").await;
    app.add(org, &o.owner, &bob, "MEMBER").await;
    let (st, _) = put(&app, org, &bob.token, &v, 0, &other.bytes[..100]).await;
    assert_eq!(st, StatusCode::NOT_FOUND);

    assert_eq!(app.scalar_i64("SELECT count(*) FROM documents").await, 1);
    assert_eq!(
        files_under(&app.data.path().join("blobs")).len(),
        blobs_before
    );
}

#[tokio::test]
async fn an_upload_whose_loop_is_deleted_before_it_is_recorded_is_refused_for_that_reason() {
    let app = TestApp::spawn().await;
    let o = org_with_loop(&app, "ann@example.com", "Acme").await;
    let device = app.device_login("ann@example.com", "laptop").await;
    let (org, t) = (o.id.as_str(), device.user.token.as_str());
    let s = seal(&pdf(20_000));
    let (version, doc) = (new_id(), new_id());
    let decl = declaration(&version, &doc, &o.loop_id, "Deed.pdf", &s);
    assert_eq!(declare(&app, org, t, decl).await.0, StatusCode::CREATED);
    assert_eq!(
        put(&app, org, t, &version, 0, &s.bytes).await.0,
        StatusCode::OK
    );
    // Another device deletes the loop (and with it the upload) before this one pushes it.
    let (st, b) = app
        .delete(
            &format!("/v1/orgs/{org}/loops/{}", o.loop_id),
            &o.owner.token,
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    let m = json!({"type": "uploadDocument", "args": {
        "version_id": version, "document_id": doc, "loop_id": o.loop_id, "name": "Deed.pdf",
        "mime_type": "application/pdf", "size": s.plain_len, "ciphertext_size": s.bytes.len(),
        "sha256": s.sha, "data_key": s.key.to_base64()}});
    let (st, r) = app
        .post(
            &format!("/v1/orgs/{org}/sync/push"),
            t,
            json!({"mutations": [{"client_seq": 1, "mutation": m}]}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{r}");
    let result = &r["results"][0];
    assert_eq!(
        (&result["status"], &result["code"], &result["message"]),
        (
            &json!("rejected"),
            &json!("not_found"),
            &json!("Transaction loop not found")
        ),
        "{r}"
    );
    // The app's direct route knows the upload only, which went with the loop.
    let (st, b) = complete(&app, org, t, &version, &s).await;
    assert_eq!(
        (st, b["message"].as_str()),
        (StatusCode::NOT_FOUND, Some("Upload not found"))
    );
    for table in [
        "documents",
        "document_versions",
        "document_keys",
        "upload_sessions",
    ] {
        let n = app
            .scalar_i64(&format!("SELECT count(*) FROM {table}"))
            .await;
        assert_eq!(n, 0, "{table}");
    }
}

#[tokio::test]
async fn path_tricks_in_names_stay_under_the_loop_and_foreign_loops_store_nothing() {
    let app = TestApp::spawn().await;
    let a = org_with_loop(&app, "ann@example.com", "Acme").await;
    let b = org_with_loop(&app, "bob@example.com", "Beta").await;
    let t = &a.owner.token;
    let blobs = app.data.path().join("blobs");
    let long = format!("{}.pdf", "x".repeat(300));
    let names = [
        "../../etc/passwd",
        "a/b\\c.pdf",
        "nul\0byte.pdf",
        long.as_str(),
        "Contrat signé – 12 rue Élm.pdf",
        "..",
    ];
    let prefix = format!("{}/transactions/{}/", a.id, a.loop_id);
    for name in names {
        let s = seal(&pdf(1_000));
        let (d, version) = upload(&app, &a.id, t, &a.loop_id, &new_id(), name, &s).await;
        let key = app
            .scalar_text(&format!(
                "SELECT storage_key FROM document_versions WHERE id = '{version}'"
            ))
            .await
            .unwrap();
        let last = key
            .strip_prefix(&prefix)
            .unwrap_or_else(|| panic!("{name:?}: {key}"));
        assert!(
            last.bytes()
                .all(|c| c.is_ascii_alphanumeric() || b"._-".contains(&c)),
            "{name:?}: {key}"
        );
        assert!(!last.contains('/') && last.len() <= 140, "{name:?}: {key}");
        let file = blobs.join(&key).canonicalize().unwrap();
        assert!(file.starts_with(blobs.canonicalize().unwrap().join(&prefix)));
        // The display name keeps what people typed, minus control characters.
        assert!(!d["original_name"].as_str().unwrap().contains('\0'));
    }
    assert!(!app.data.path().join("etc").exists());

    // Ann names Beta's loop: 404, and neither organization nor the disk changes.
    let before = (app.fingerprint(&a.id).await, app.fingerprint(&b.id).await);
    let files = files_under(app.data.path()).len();
    let s = seal(&pdf(1_000));
    let version = new_id();
    let got = declare(
        &app,
        &a.id,
        t,
        declaration(&version, &new_id(), &b.loop_id, "x.pdf", &s),
    )
    .await;
    assert_eq!(
        (got.0, got.1["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
    let got = put(&app, &a.id, t, &version, 0, &s.bytes).await;
    assert_eq!(got.0, StatusCode::NOT_FOUND);
    // ... and through Beta's own path she is no member: 404 too.
    let got = declare(
        &app,
        &b.id,
        t,
        declaration(&version, &new_id(), &b.loop_id, "x.pdf", &s),
    )
    .await;
    assert_eq!(got.0, StatusCode::NOT_FOUND);
    assert_eq!(
        (app.fingerprint(&a.id).await, app.fingerprint(&b.id).await),
        before
    );
    assert_eq!(files_under(app.data.path()).len(), files);
}

#[tokio::test]
async fn signed_urls_work_until_they_expire_and_only_for_their_object() {
    let app =
        TestApp::spawn_with(|c| c.documents.signed_url_ttl = std::time::Duration::from_secs(2))
            .await;
    let a = org_with_loop(&app, "ann@example.com", "Acme").await;
    let b = org_with_loop(&app, "bob@example.com", "Beta").await;
    let (sa, sb) = (seal(&pdf(5_000)), seal(&pdf(6_000)));
    let doc_a = new_id();
    let doc_b = new_id();
    upload(
        &app,
        &a.id,
        &a.owner.token,
        &a.loop_id,
        &doc_a,
        "a.pdf",
        &sa,
    )
    .await;
    let (_, vb) = upload(
        &app,
        &b.id,
        &b.owner.token,
        &b.loop_id,
        &doc_b,
        "b.pdf",
        &sb,
    )
    .await;
    let grant = access(&app, &a.id, &a.owner.token, &doc_a, Value::Null).await;
    let url = grant["url"].as_str().unwrap().to_string();
    let (s, body) = fetch(&app, &url).await;
    assert_eq!(s, StatusCode::OK);
    assert!(body == sa.bytes);

    let refused = |code: &'static str| {
        move |(s, body): (StatusCode, Vec<u8>)| {
            let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            assert_eq!(
                (s, v["code"].as_str()),
                (StatusCode::FORBIDDEN, Some(code)),
                "{v}"
            );
        }
    };
    let invalid = refused("url_signature_invalid");
    // Tampered signature, user, expiry.
    let flip = |u: &str| {
        let last = u.chars().last().unwrap();
        format!(
            "{}{}",
            &u[..u.len() - 1],
            if last == '0' { '1' } else { '0' }
        )
    };
    invalid(fetch(&app, &flip(&url)).await);
    let other_user = url.replace(&a.owner.id, &b.owner.id);
    invalid(fetch(&app, &other_user).await);
    let later = grant["expires_at"].as_i64().unwrap() + 3600;
    let extended = url.replace(
        &format!("expires={}", grant["expires_at"]),
        &format!("expires={later}"),
    );
    invalid(fetch(&app, &extended).await);
    // Another organization's object through this signature: the org, or the version swapped.
    invalid(fetch(&app, &url.replace(&a.id, &b.id)).await);
    let va = grant["version_id"].as_str().unwrap();
    invalid(fetch(&app, &url.replace(va, &vb)).await);
    // No signature at all.
    invalid(fetch(&app, url.split('?').next().unwrap()).await);

    tokio::time::sleep(std::time::Duration::from_millis(3100)).await;
    refused("url_expired")(fetch(&app, &url).await);
}

async fn submit(app: &TestApp, org: &str, who: &TestUser, doc: &str) -> (StatusCode, Value) {
    app.post(
        &format!("/v1/orgs/{org}/documents/{doc}/submit"),
        &who.token,
        Value::Null,
    )
    .await
}

async fn review(
    app: &TestApp,
    org: &str,
    who: &TestUser,
    doc: &str,
    body: Value,
) -> (StatusCode, Value) {
    app.post(
        &format!("/v1/orgs/{org}/documents/{doc}/review"),
        &who.token,
        body,
    )
    .await
}

#[tokio::test]
async fn review_follows_the_matrix_and_the_workflow() {
    let app = TestApp::spawn().await;
    let o = org_with_loop(&app, "broker@example.com", "Acme").await;
    let broker = o.owner.clone();
    let agent = app.user("agent@example.com").await;
    let viewer = app.user("viewer@example.com").await;
    app.add(&o.id, &broker, &agent, "MEMBER").await;
    app.add(&o.id, &broker, &viewer, "VIEWER").await;
    let (s, l2) = app
        .post(
            &format!("/v1/orgs/{}/loops", o.id),
            &agent.token,
            json!({"property_address": "2 Second Avenue", "transaction_type": "LISTING_AGREEMENT",
                   "listing_price_cents": 30_000_000}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let loop2 = l2["id"].as_str().unwrap().to_string();

    let mut docs = Vec::new();
    for (i, l) in [&o.loop_id, &loop2, &o.loop_id].into_iter().enumerate() {
        let id = new_id();
        upload(
            &app,
            &o.id,
            &agent.token,
            l,
            &id,
            &format!("doc{i}.pdf"),
            &seal(&pdf(2_000)),
        )
        .await;
        docs.push(id);
    }
    // A viewer may not submit; the agent may. Submitting twice is refused.
    let (s, b) = submit(&app, &o.id, &viewer, &docs[0]).await;
    assert_eq!(
        (s, b["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("forbidden_org_role"))
    );
    for d in [&docs[1], &docs[0]] {
        let (s, b) = submit(&app, &o.id, &agent, d).await;
        assert_eq!(
            (s, b["status"].as_str()),
            (StatusCode::OK, Some("SUBMITTED")),
            "{b}"
        );
    }
    let (s, b) = submit(&app, &o.id, &agent, &docs[0]).await;
    assert_eq!(
        (s, b["code"].as_str()),
        (StatusCode::CONFLICT, Some("document_status"))
    );

    // The queue: submitted documents across loops, oldest submission first; reviewers only.
    let (s, q) = app
        .get(&format!("/v1/orgs/{}/review-queue", o.id), &broker.token)
        .await;
    assert_eq!(s, StatusCode::OK);
    let ids: Vec<&str> = q
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [docs[1].as_str(), docs[0].as_str()]);
    assert_eq!(q[0]["property_address"], "2 Second Avenue");
    assert_eq!(q[0]["submitted_by_name"], "agent");
    let (s, _) = app
        .get(&format!("/v1/orgs/{}/review-queue", o.id), &agent.token)
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // The agent cannot approve; the broker cannot return without a note. Neither changes it.
    let before = app.fingerprint(&o.id).await;
    let (s, b) = review(
        &app,
        &o.id,
        &agent,
        &docs[0],
        json!({"decision": "APPROVE"}),
    )
    .await;
    assert_eq!(
        (s, b["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("forbidden_org_role"))
    );
    let (s, b) = review(
        &app,
        &o.id,
        &broker,
        &docs[0],
        json!({"decision": "RETURN"}),
    )
    .await;
    assert_eq!(
        (s, b["fields"][0]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("note"))
    );
    let (s, _) = review(
        &app,
        &o.id,
        &broker,
        &docs[0],
        json!({"decision": "RETURN", "note": " "}),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let (s, _) = review(
        &app,
        &o.id,
        &broker,
        &docs[2],
        json!({"decision": "APPROVE"}),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT, "a draft cannot be reviewed");
    assert_eq!(app.fingerprint(&o.id).await, before);

    let (s, b) = review(
        &app,
        &o.id,
        &broker,
        &docs[0],
        json!({"decision": "RETURN", "note": "Initial every page"}),
    )
    .await;
    assert_eq!(
        (s, b["status"].as_str(), b["review_note"].as_str()),
        (StatusCode::OK, Some("RETURNED"), Some("Initial every page"))
    );
    let (s, b) = review(
        &app,
        &o.id,
        &broker,
        &docs[1],
        json!({"decision": "APPROVE"}),
    )
    .await;
    assert_eq!(
        (s, b["status"].as_str()),
        (StatusCode::OK, Some("APPROVED"))
    );
    let (_, q) = app
        .get(&format!("/v1/orgs/{}/review-queue", o.id), &broker.token)
        .await;
    assert_eq!(q, json!([]));

    // Returned: resubmitting the same version is refused; a corrected version is a draft that
    // can be submitted, and its review starts over.
    let (s, b) = submit(&app, &o.id, &agent, &docs[0]).await;
    assert_eq!(
        (s, b["code"].as_str()),
        (StatusCode::CONFLICT, Some("document_status"))
    );
    let (d, _) = upload(
        &app,
        &o.id,
        &agent.token,
        &o.loop_id,
        &docs[0],
        "doc0 v2.pdf",
        &seal(&pdf(2_500)),
    )
    .await;
    assert_eq!(
        (d["version"].as_i64(), d["status"].as_str()),
        (Some(2), Some("DRAFT"))
    );
    let (s, b) = submit(&app, &o.id, &agent, &docs[0]).await;
    assert_eq!(
        (s, b["status"].as_str()),
        (StatusCode::OK, Some("SUBMITTED"))
    );
    let (s, b) = review(
        &app,
        &o.id,
        &broker,
        &docs[0],
        json!({"decision": "APPROVE", "note": "Thanks"}),
    )
    .await;
    assert_eq!(
        (s, b["status"].as_str(), b["version"].as_i64()),
        (StatusCode::OK, Some("APPROVED"), Some(2))
    );

    // Each step is in the activity feed.
    let (_, feed) = app
        .get(
            &format!("/v1/orgs/{}/activity?limit=200", o.id),
            &viewer.token,
        )
        .await;
    let count = |a: &str| {
        feed.as_array()
            .unwrap()
            .iter()
            .filter(|i| i["action"] == a)
            .count()
    };
    assert_eq!(
        (
            count("uploaded_document"),
            count("submitted_document"),
            count("returned_document"),
            count("approved_document")
        ),
        (4, 3, 1, 2)
    );

    // Through a device's push the same rules hold: the agent's review is rejected, the broker's
    // device applies it.
    let (s, _) = submit(&app, &o.id, &agent, &docs[2]).await;
    assert_eq!(s, StatusCode::OK);
    let agent_device = app.device_login("agent@example.com", "laptop").await;
    let broker_device = app.device_login("broker@example.com", "desktop").await;
    let m = json!({"type": "reviewDocument", "args": {"id": docs[2], "decision": "APPROVE"}});
    let push = |token: String| {
        let m = m.clone();
        let app = &app;
        let org = o.id.clone();
        async move {
            app.post(
                &format!("/v1/orgs/{org}/sync/push"),
                &token,
                json!({"mutations": [{"client_seq": 1, "mutation": m}]}),
            )
            .await
        }
    };
    let (_, r) = push(agent_device.user.token.clone()).await;
    assert_eq!(r["results"][0]["status"], "rejected", "{r}");
    assert_eq!(r["results"][0]["code"], "forbidden_org_role");
    let (_, r) = push(broker_device.user.token.clone()).await;
    assert_eq!(r["results"][0]["status"], "applied", "{r}");
    let (_, d) = app
        .get(
            &format!("/v1/orgs/{}/documents/{}", o.id, docs[2]),
            &viewer.token,
        )
        .await;
    assert_eq!(d["status"], "APPROVED");
}
