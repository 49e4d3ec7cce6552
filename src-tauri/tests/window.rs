//! The built app in a real window (Xvfb), driven through tauri-driver and WebKitWebDriver,
//! against the real strive-server on a real (private) PostgreSQL. scripts/test.sh runs it:
//! `xvfb-run -a dbus-run-session -- cargo test --test window -- --ignored`.

#[path = "window/bench.rs"]
mod bench;
#[path = "window/harness.rs"]
mod harness;

use harness::{binary, Driver, Server};

const PASSWORD: &str = "correct horse battery";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the built app, a display and tauri-driver: scripts/test.sh runs it"]
async fn sign_up_work_offline_and_sync_in_the_real_window() {
    // Both of rustls' providers are in the build (fantoccini's and reqwest's choices): pick one.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut server = Server::start().await;
    let home = tempfile::tempdir().expect("temp dir");
    let app = binary("STRIVE_APP_BIN", "strive-desktop");
    let home_s = home.path().to_string_lossy().to_string();
    let base = server.base.clone();
    let env = [
        ("STRIVE_HOME", home_s.as_str()),
        ("STRIVE_SERVER", base.as_str()),
    ];
    let d = Driver::start(&app, &env).await;

    // First run: sign up with an organization.
    d.text("Create account").await;
    d.shot("welcome").await;
    d.fill("input[name=name]", "Ann Lee").await;
    d.fill("input[name=email]", "ann@harborpine.example").await;
    d.fill("input[name=password]", PASSWORD).await;
    d.fill("input[name=organization]", "Harbor Test Realty")
        .await;
    d.click("form button[type=submit]").await;
    d.el("h1").await;
    d.text("Dashboard").await;
    d.text("Harbor Test Realty").await;

    // A contact, in the table at once, and on the server right after (the app is online).
    d.click("a[href='#/contacts']").await;
    d.click(".page-head .btn-primary").await;
    d.fill("input[name=name]", "Carol Client").await;
    d.fill("input[name=email]", "carol@example.com").await;
    d.click(".modal-foot .btn-primary").await;
    d.text("1 contact").await;
    // The row in the table, not the toast.
    let row = d.el(".tbody .tr .cell-strong").await;
    assert_eq!(row.text().await.expect("the row's name"), "Carol Client");
    d.shot("contacts").await;
    server
        .eventually(
            "SELECT count(*) FROM contacts WHERE name = 'Carol Client'",
            1,
        )
        .await;

    // A loop comes with its four tasks.
    d.click("a[href='#/loops']").await;
    d.click(".page-head .btn-primary").await;
    d.fill("input[name=address]", "12 Elm Street, Portland, OR")
        .await;
    d.fill("input[name=price]", "450,000").await;
    d.click(".modal-foot .btn-primary").await;
    for task in [
        "Initial Consultation",
        "Property Inspection",
        "Offer Review",
        "Final Walkthrough",
    ] {
        d.text(task).await;
    }
    d.text("No documents yet").await;
    d.shot("loop").await;

    // A document through the file picker: staged encrypted as it arrives, sealed into the
    // vault, uploaded by the sync task and recorded on the server.
    let report = home.path().join("inspection-report.pdf");
    std::fs::write(
        &report,
        b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n\
          2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\n\
          trailer << /Root 1 0 R >>\n%%EOF\n",
    )
    .expect("a PDF to add");
    d.pick_file("[data-testid=document-picker]", &report).await;
    d.text("Added inspection-report.pdf").await;
    server
        .eventually(
            "SELECT count(*) FROM documents WHERE original_name = 'inspection-report.pdf'",
            1,
        )
        .await;
    server
        .eventually(
            "SELECT count(*) FROM transaction_tasks t JOIN transaction_loops l
               ON l.organization_id = t.organization_id AND l.id = t.loop_id
              WHERE l.property_address = '12 Elm Street, Portland, OR'",
            4,
        )
        .await;

    // Offline: the server goes away; work goes on and waits in the outbox.
    server.stop();
    d.click("a[href='#/contacts']").await;
    d.click(".page-head .btn-primary").await;
    d.fill("input[name=name]", "Dana Offline").await;
    d.click(".modal-foot .btn-primary").await;
    d.text("Offline · 1 waiting").await;
    d.text("2 contacts").await;
    d.shot("offline").await;
    assert_eq!(
        server
            .count("SELECT count(*) FROM contacts WHERE name = 'Dana Offline'")
            .await,
        0
    );

    // Back online: Sync now sends it.
    server.resume().await;
    d.click("a[href='#/sync']").await;
    d.click("[data-testid=sync-now]").await;
    server
        .eventually(
            "SELECT count(*) FROM contacts WHERE name = 'Dana Offline'",
            1,
        )
        .await;
    d.text("Up to date").await;
    d.shot("sync").await;
    d.click("a[href='#/documents']").await;
    d.text("Waiting for review").await; // the owner reviews
    d.text("Watched folder").await;
    d.shot("documents").await;
    d.click("a[href='#/dashboard']").await;
    d.text("Dana Offline").await; // in the activity feed
    d.shot("dashboard").await;
    let _ = d.client.close().await;

    // The same device started again: cold start to a usable dashboard, and idle memory.
    bench::cold_start(&app, &env).await;
}
