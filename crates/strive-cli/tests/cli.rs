//! The `strive` walkthrough as a user types it, against a real server: sign in, work offline,
//! sync, see it on another device; a refused change is undone and explained by `strive status`.

mod common;

use common::{text, Strive, TestServer};
use serde_json::{json, Value};

async fn org_id(strive: &Strive) -> String {
    let orgs = strive.json(&["orgs"]).await;
    orgs[0]["organization_id"]
        .as_str()
        .expect("an org")
        .to_string()
}

#[tokio::test]
async fn walkthrough_offline_work_syncs_to_another_device() {
    let server = TestServer::start().await;
    server.signup("ann@example.com").await;
    server.signup("bob@example.com").await;
    let ann = Strive::new(&server);
    let out = ann.ok(&["login", "--email", "ann@example.com"]).await;
    assert!(out.contains("Signed in as ann@example.com"), "{out}");
    let out = ann.ok(&["orgs", "create", "Acme Realty"]).await;
    assert!(out.contains("Created Acme Realty"), "{out}");
    let org = org_id(&ann).await;

    // No server involved from here to the sync: the replica takes the writes.
    let added = ann
        .json(&[
            "contacts",
            "add",
            "--name",
            "Carol Client",
            "--email",
            "carol@example.com",
            "--company",
            "Elm Holdings",
            "--follow-up",
            "2099-01-01T09:00:00Z",
        ])
        .await;
    let carol = added["id"].as_str().unwrap().to_string();
    ann.ok(&["contacts", "edit", &carol[..8], "--phone", "+1 555 0100"])
        .await;
    ann.ok(&[
        "loops",
        "create",
        "--address",
        "12 Elm Street",
        "--type",
        "LISTING_AGREEMENT",
        "--price",
        "450,000",
    ])
    .await;
    let loops = ann.json(&["loops", "list"]).await;
    assert_eq!(loops["total"], 1);
    assert_eq!(
        loops["items"][0]["task_count"], 4,
        "the four standard tasks, offline"
    );
    let status = ann.json(&["status", "--offline"]).await;
    assert_eq!(status["sync"]["pending"], 3);

    let out = ann.ok(&["sync"]).await;
    assert!(out.contains("Sent 3 change(s)"), "{out}");
    assert_eq!(ann.json(&["status"]).await["sync"]["pending"], 0);
    assert_eq!(ann.json(&["status"]).await["online"], true);
    assert_eq!(
        server
            .scalar(&format!(
                "SELECT count(*) FROM transaction_tasks WHERE organization_id = '{org}'"
            ))
            .await,
        4
    );
    assert_eq!(
        server.scalar("SELECT count(*) FROM contacts WHERE phone = '+1 555 0100' AND company = 'Elm Holdings'").await,
        1
    );

    // The dashboard from the replica is the server's.
    let token = server.token("ann@example.com").await;
    let (s, remote) = server
        .call(
            reqwest::Method::GET,
            &format!("/v1/orgs/{org}/dashboard"),
            Some(&token),
            Value::Null,
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(ann.json(&["dashboard"]).await, remote);

    // Bob joins and sees Ann's work.
    let (s, _) = server
        .call(
            reqwest::Method::POST,
            &format!("/v1/orgs/{org}/members"),
            Some(&token),
            json!({"email": "bob@example.com", "role": "MEMBER"}),
        )
        .await;
    assert_eq!(s, 201);
    let bob = Strive::new(&server);
    bob.ok(&["login", "--email", "bob@example.com"]).await;
    bob.ok(&["sync"]).await;
    let list = bob.json(&["contacts", "list", "--search", "carol"]).await;
    assert_eq!(list["total"], 1);
    assert_eq!(list["items"][0]["phone"], "+1 555 0100");
    let listed = bob.ok(&["contacts", "list"]).await;
    assert!(
        listed.contains("Carol Client") && listed.contains("1 of 1 contact(s)"),
        "{listed}"
    );

    // Bob marks the first task done; Ann sees the progress.
    let loop_id = loops["items"][0]["id"].as_str().unwrap().to_string();
    let shown = bob.json(&["loops", "show", &loop_id]).await;
    let task = shown["tasks"][0]["id"].as_str().unwrap().to_string();
    bob.ok(&["loops", "task", "done", &task]).await;
    bob.ok(&["sync"]).await;
    ann.ok(&["sync"]).await;
    let loops = ann.json(&["loops", "list"]).await;
    assert_eq!(loops["items"][0]["tasks_done"], 1);
    assert_eq!(loops["items"][0]["progress"], 25);

    // Ann assigns Carol to Bob.
    ann.ok(&["contacts", "assign", "--to", "bob@example.com", &carol])
        .await;
    ann.ok(&["sync"]).await;
    bob.ok(&["sync"]).await;
    let mine = bob
        .json(&["contacts", "list", "--assignee", "bob@example.com"])
        .await;
    assert_eq!(mine["total"], 1);
}

#[tokio::test]
async fn an_unreachable_server_keeps_changes_queued_and_a_refusal_is_undone_and_explained() {
    let server = TestServer::start().await;
    server.signup("ann@example.com").await;
    server.signup("vic@example.com").await;
    let ann = Strive::new(&server);
    ann.ok(&["login", "--email", "ann@example.com"]).await;
    ann.ok(&["orgs", "create", "Acme Realty"]).await;
    let org = org_id(&ann).await;
    let token = server.token("ann@example.com").await;
    server
        .call(
            reqwest::Method::POST,
            &format!("/v1/orgs/{org}/members"),
            Some(&token),
            json!({"email": "vic@example.com", "role": "MEMBER"}),
        )
        .await;
    let vic = Strive::new(&server);
    vic.ok(&["login", "--email", "vic@example.com"]).await;
    vic.ok(&["sync"]).await;

    // The server goes away (the profile points at a closed port): the change stays queued.
    vic.ok(&["contacts", "add", "--name", "Offline Olga"]).await;
    let profile_path = vic.home.path().join("profile.json");
    let profile = std::fs::read_to_string(&profile_path).unwrap();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    std::fs::write(&profile_path, profile.replace(&server.base, &dead)).unwrap();
    let out = vic.run(&["sync"]).await;
    let (_, err) = text(&out);
    assert!(!out.status.success());
    assert!(err.contains("1 local change(s) stay queued"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(vic.json(&["status"]).await["online"], false);
    std::fs::write(&profile_path, &profile).unwrap();
    vic.ok(&["sync"]).await;
    assert_eq!(
        server
            .scalar("SELECT count(*) FROM contacts WHERE name = 'Offline Olga'")
            .await,
        1
    );

    // Vic becomes a VIEWER; his device does not know yet and lets him add a contact.
    let (s, b) = server
        .call(
            reqwest::Method::GET,
            &format!("/v1/orgs/{org}/members"),
            Some(&token),
            Value::Null,
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let vic_user = b
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["email"] == "vic@example.com")
        .unwrap()["user_id"]
        .as_str()
        .unwrap()
        .to_string();
    let (s, b) = server
        .call(
            reqwest::Method::PATCH,
            &format!("/v1/orgs/{org}/members/{vic_user}"),
            Some(&token),
            json!({"role": "VIEWER"}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    vic.ok(&["contacts", "add", "--name", "Never Saved"]).await;
    assert_eq!(
        vic.json(&["contacts", "list", "--search", "never"]).await["total"],
        1
    );
    let out = vic.ok(&["sync"]).await;
    assert!(out.contains("(1 refused)"), "{out}");
    assert_eq!(
        vic.json(&["contacts", "list", "--search", "never"]).await["total"],
        0,
        "undone"
    );
    assert_eq!(
        server
            .scalar("SELECT count(*) FROM contacts WHERE name = 'Never Saved'")
            .await,
        0
    );
    let status = vic.ok(&["status"]).await;
    assert!(status.contains("Refused       1"), "{status}");
    assert!(
        status.contains("createContact") && status.contains("VIEWER"),
        "{status}"
    );
    // Now the device knows: the next attempt is refused at once, with the reason.
    let out = vic
        .run(&["contacts", "add", "--name", "Also Refused"])
        .await;
    let (_, err) = text(&out);
    assert!(!out.status.success());
    assert!(err.contains("VIEWER"), "{err}");
}

#[tokio::test]
async fn bad_input_gets_a_clear_error_and_changes_nothing() {
    let server = TestServer::start().await;
    let ann = Strive::new(&server);
    let out = ann.run(&["contacts", "list"]).await;
    assert!(!out.status.success());
    assert!(text(&out).1.contains("not signed in"), "{:?}", text(&out));

    let out = ann
        .run(&[
            "login",
            "--email",
            "ann@example.com",
            "--server",
            "http://example.com",
        ])
        .await;
    assert!(
        text(&out)
            .1
            .contains("plain http is only allowed to this machine"),
        "{:?}",
        text(&out)
    );

    server.signup("ann@example.com").await;
    let mut wrong = ann.command(&["login", "--email", "ann@example.com"]);
    wrong.env("STRIVE_PASSWORD", "not the password");
    let out = tokio::task::spawn_blocking(move || wrong.output().unwrap())
        .await
        .unwrap();
    assert!(!out.status.success());
    assert!(text(&out).1.contains("401"), "{:?}", text(&out));

    ann.ok(&["login", "--email", "ann@example.com"]).await;
    ann.ok(&["orgs", "create", "Acme Realty"]).await;
    for args in [
        vec!["contacts", "add", "--name", "X", "--email", "not-an-email"],
        vec!["contacts", "edit", "0000", "--name", "Nobody"],
        vec![
            "loops",
            "create",
            "--address",
            "1 Main",
            "--type",
            "LISTING_AGREEMENT",
            "--price",
            "12.345",
        ],
        vec!["contacts", "add", "--name", "Y", "--follow-up", "tomorrow"],
    ] {
        let out = ann.run(&args).await;
        let (_, err) = text(&out);
        assert!(!out.status.success(), "{args:?}");
        assert!(err.starts_with("error: "), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    let csv = ann.home.path().join("contacts.csv");
    std::fs::write(
        &csv,
        "name,email\nGood Row,good@example.com\n,missing@example.com\nBad Mail,nope\n",
    )
    .unwrap();
    let out = ann
        .run(&["contacts", "import", csv.to_str().unwrap()])
        .await;
    let (_, err) = text(&out);
    assert!(
        err.contains("nothing imported: 2 row(s)")
            && err.contains("line 3")
            && err.contains("line 4"),
        "{err}"
    );
    assert_eq!(
        ann.json(&["status", "--offline"]).await["sync"]["pending"],
        0,
        "nothing queued"
    );
    assert_eq!(ann.json(&["contacts", "list"]).await["total"], 0);
}

#[tokio::test]
async fn several_organizations_and_a_live_activity_feed() {
    use std::io::BufRead;
    let server = TestServer::start().await;
    server.signup("ann@example.com").await;
    let ann = Strive::new(&server);
    ann.ok(&["login", "--email", "ann@example.com"]).await;
    ann.ok(&["orgs", "create", "Acme Realty"]).await;
    ann.ok(&["contacts", "add", "--name", "Acme Client"]).await;
    ann.ok(&["orgs", "create", "Beta Homes"]).await;
    assert_eq!(
        ann.json(&["contacts", "list"]).await["total"],
        0,
        "Beta's own replica"
    );
    let orgs = ann.json(&["orgs"]).await;
    assert_eq!(orgs.as_array().unwrap().len(), 2);
    ann.ok(&["use", "acme-realty"]).await;
    assert_eq!(ann.json(&["contacts", "list"]).await["total"], 1);
    for o in orgs.as_array().unwrap() {
        let file = ann
            .home
            .path()
            .join(format!("{}.db", o["organization_id"].as_str().unwrap()));
        assert!(file.exists(), "one replica file per organization: {file:?}");
    }
    ann.ok(&["sync"]).await;

    // `activity --follow` prints what another device does, as it happens.
    let mut follow = ann
        .command(&["--json", "activity", "--follow", "--limit", "0"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = follow.stdout.take().unwrap();
    let follow = common::Running(follow);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let laptop = Strive::new(&server);
    laptop.ok(&["login", "--email", "ann@example.com"]).await;
    laptop.ok(&["use", "acme-realty"]).await;
    // The follower is connected once its first sync is through; then the laptop writes.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    laptop
        .ok(&["contacts", "add", "--name", "Live Larry"])
        .await;
    laptop.ok(&["sync"]).await;
    let line =
        tokio::task::spawn_blocking(move || rx.recv_timeout(std::time::Duration::from_secs(15)))
            .await
            .unwrap()
            .expect("a live activity line");
    let item: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(
        (item["action"].as_str(), item["entity_type"].as_str()),
        (Some("created"), Some("contact")),
        "{item}"
    );
    drop(follow);
    // The follower kept its replica in sync while it listened.
    assert_eq!(
        ann.json(&["contacts", "list", "--search", "larry"]).await["total"],
        1
    );
}
