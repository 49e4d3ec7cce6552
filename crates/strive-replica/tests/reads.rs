//! Reads from the replica, offline, against what the real server answers for the same data.

mod support;

use chrono::{Duration, DurationRound, Utc};
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use strive_domain::entities::{ActivityItem, Dashboard, Deal, LoopWithTasks, Member};
use strive_domain::mutations::contacts::CreateContact;
use strive_domain::mutations::deals::CreateDeal;
use strive_domain::mutations::loops::CreateLoop;
use strive_domain::mutations::{Delete, Mutation};
use strive_domain::rules::{default_task_ids, DEFAULT_LOOP_TASKS};
use strive_domain::ContactType::{Client, Partner, Prospect, Vendor};
use strive_domain::{ContactId, ContactStatus, LoopId, OrgId, TaskStatus, TransactionType, UserId};
use strive_replica::read::{ContactQuery, ContactSort, DealQuery, LoopQuery};
use support::{Device, TestServer, PASSWORD};

/// An organization of Ann (owner, on the returned device, synced) and Bob (member).
async fn org_of_two(server: &TestServer) -> (OrgId, Device, UserId) {
    for (email, name) in [
        ("ann@example.com", "Ann Archer"),
        ("bob@example.com", "Bob Baker"),
    ] {
        let body = json!({"email": email, "password": PASSWORD, "name": name});
        let (s, b) = server
            .call(Method::POST, "/v1/auth/signup", None, body)
            .await;
        assert_eq!(s, 201, "{b}");
    }
    let setup = server.device("ann@example.com", OrgId::new()).await;
    let body = json!({"name": "Acme Realty"});
    let (s, org) = server
        .call(Method::POST, "/v1/orgs", Some(&setup.token), body)
        .await;
    assert_eq!(s, 201, "{org}");
    let org: OrgId = org["id"].as_str().unwrap().parse().unwrap();
    let body = json!({"email": "bob@example.com", "role": "MEMBER"});
    let path = format!("/v1/orgs/{org}/members");
    let (s, bob) = server
        .call(Method::POST, &path, Some(&setup.token), body)
        .await;
    assert_eq!(s, 201, "{bob}");
    let bob: UserId = bob["user_id"].as_str().unwrap().parse().unwrap();
    let mut ann = server.device("ann@example.com", org).await;
    ann.sync(server).await;
    (org, ann, bob)
}

async fn get<T: DeserializeOwned>(server: &TestServer, token: &str, path: &str) -> T {
    let (s, body) = server
        .call(Method::GET, path, Some(token), Value::Null)
        .await;
    assert_eq!(s, 200, "{path}: {body}");
    serde_json::from_value(body).unwrap()
}

fn contact(name: &str) -> CreateContact {
    CreateContact {
        id: Some(ContactId::new()),
        name: name.into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn dashboard_deals_activity_and_members_match_the_server() {
    let server = TestServer::start().await;
    let (org, mut ann, bob) = org_of_two(&server).await;

    // Written on the device (chrono's spelling of instants), then pushed.
    let soon = Utc::now() + Duration::hours(49) + Duration::nanoseconds(123_456_789);
    for (name, status, follow_up, assignee) in [
        ("Dora Device", ContactStatus::Active, Some(soon), Some(bob)),
        ("Eve Device", ContactStatus::Inactive, None, None),
        (
            "Finn Device",
            ContactStatus::DoNotContact,
            Some(soon),
            Some(ann.user),
        ),
    ] {
        let c = CreateContact {
            status: Some(status),
            next_follow_up_at: follow_up,
            assigned_to_id: assignee,
            ..contact(name)
        };
        ann.replica.mutate(Mutation::CreateContact(c)).unwrap();
    }
    let deal = CreateDeal {
        id: None,
        title: "Elm Street".into(),
        value_cents: 416_668,
        stage: None,
        status: None,
        probability: None,
        contact_id: None,
        assigned_to_id: None,
        expected_close_date: None,
        description: None,
    };
    ann.replica.mutate(Mutation::CreateDeal(deal)).unwrap();
    ann.sync(&server).await;

    // Written with plain SQL: created over six weeks, follow-ups from two days ago to ten days
    // ahead (more than ten inside the window), two at the same instant, whole-second and
    // microsecond instants, three statuses, two assignees and none.
    let (a, b) = (ann.user, bob);
    server
        .sql(&format!(
            "INSERT INTO contacts (organization_id, id, name, email, contact_type, status,
                                   assigned_to_id, next_follow_up_at, created_by, created_at)
             SELECT '{org}', gen_random_uuid(), 'Contact ' || i, 'c' || i || '@example.com',
                    (ARRAY['PROSPECT','CLIENT','PARTNER'])[1 + i % 3],
                    (ARRAY['ACTIVE','ACTIVE','INACTIVE','DO_NOT_CONTACT'])[1 + i % 4],
                    CASE i % 3 WHEN 0 THEN NULL WHEN 1 THEN '{b}'::uuid ELSE '{a}'::uuid END,
                    CASE WHEN i % 5 = 4 THEN NULL
                         ELSE now() + (i * 7 - 60) * interval '1 hour' + interval '17 minutes' END,
                    '{a}', now() - i * interval '19 hours' - interval '3 minutes'
               FROM generate_series(1, 40) i;
             INSERT INTO contacts (organization_id, id, name, contact_type, status,
                                   next_follow_up_at, created_by)
             SELECT '{org}', gen_random_uuid(), 'Twin ' || i, 'CLIENT', 'ACTIVE',
                    date_trunc('second', now()) + interval '30 minutes', '{a}'
               FROM generate_series(1, 2) i;
             INSERT INTO deals (organization_id, id, title, value_cents, stage, status,
                                probability, created_by)
             SELECT '{org}', gen_random_uuid(), 'Deal ' || v, v, 'LEAD', 'ACTIVE', 10, '{a}'
               FROM unnest(ARRAY[100000, 250001, 333333]) v;"
        ))
        .await;
    ann.sync(&server).await;

    let path = format!("/v1/orgs/{org}/dashboard");
    let on_server: Dashboard = get(&server, &ann.token, &path).await;
    let local = ann.replica.dashboard(Utc::now()).unwrap();
    assert_eq!(local, on_server);
    // Not equal by being empty: the data set reaches every figure.
    assert_eq!(local.total_contacts, 45);
    assert_eq!(local.contacts_by_status.len(), 3);
    assert_eq!(local.contacts_created_last_7_days, 8 + 2 + 3);
    assert_eq!(local.deal_count, 4);
    assert_eq!(
        local.deal_value_avg_cents,
        Some(275_001),
        "275,000.5 rounds up"
    );
    assert_eq!(local.upcoming_follow_ups.len(), 10);
    assert!(local.upcoming_follow_ups[0].name.starts_with("Twin"));
    assert!(local
        .upcoming_follow_ups
        .iter()
        .any(|f| f.assignee_name.is_some()));

    // Deals read back as the server has them.
    let deals = ann.replica.deals(&DealQuery::default()).unwrap();
    assert_eq!(deals.total, 4);
    assert_eq!(
        deals.items[3].title, "Elm Street",
        "most recently changed first"
    );
    let ids: Vec<String> = deals.items[..3].iter().map(|d| d.id.to_string()).collect();
    assert!(
        ids.windows(2).all(|w| w[0] > w[1]),
        "one INSERT, one instant: id order"
    );
    for d in &deals.items {
        let path = format!("/v1/orgs/{org}/deals/{}", d.id);
        assert_eq!(&get::<Deal>(&server, &ann.token, &path).await, d);
        assert_eq!(ann.replica.deal(d.id).unwrap().as_ref(), Some(d));
    }

    // The activity feed: the same entries, newest first, with the authors' names.
    let path = format!("/v1/orgs/{org}/activity?limit=50");
    let on_server: Vec<ActivityItem> = get(&server, &ann.token, &path).await;
    let feed = ann.replica.activity(50, None).unwrap();
    assert_eq!(feed, on_server);
    assert!(feed.len() >= 5 && feed.iter().all(|i| i.user_name == "Ann Archer"));
    let older = ann.replica.activity(2, Some(feed[1].id)).unwrap();
    assert_eq!(older, feed[2..4]);

    let path = format!("/v1/orgs/{org}/members");
    let members: Vec<Member> = get(&server, &ann.token, &path).await;
    assert_eq!(ann.replica.members().unwrap(), members);
    assert_eq!(members.len(), 2);
}

#[tokio::test]
async fn contacts_search_filter_sort_and_page_offline() {
    let server = TestServer::start().await;
    let (_, mut ann, bob) = org_of_two(&server).await;
    let now = Utc::now();
    // Everything below is offline.
    // name, email, company, phone, type, follow-up in days ("" and 0: none)
    let people = [
        ("Émile Zola", "", "Rougon SA", "", Client, 3),
        (
            "anna apple",
            "anna@orchard.example",
            "Orchard Ltd",
            "",
            Prospect,
            0,
        ),
        ("Bob Builder", "", "Builders_50% Inc", "", Vendor, 1),
        ("Carl Carter", "", "", "+1 555 0500", Client, 0),
        ("Dana Doe", "", "", "+1 555 0100", Partner, 2),
        ("Sam Same", "", "", "", Prospect, 0),
        ("Sam Same", "", "", "", Prospect, 0),
    ];
    let text = |s: &str| (!s.is_empty()).then(|| s.to_string());
    let mut ids = Vec::new();
    for (i, (name, email, company, phone, kind, days)) in people.into_iter().enumerate() {
        let status = [ContactStatus::Active, ContactStatus::Inactive][i % 2];
        let c = CreateContact {
            email: text(email),
            company: text(company),
            phone: text(phone),
            contact_type: Some(kind),
            status: Some(status),
            assigned_to_id: (i < 3).then_some(bob),
            next_follow_up_at: (days > 0).then(|| now + Duration::days(days)),
            ..contact(name)
        };
        ids.push(c.id.unwrap());
        ann.replica.mutate(Mutation::CreateContact(c)).unwrap();
    }
    let names = |q: ContactQuery| -> (Vec<String>, i64) {
        let page = ann.replica.contacts(&q).unwrap();
        (
            page.items.into_iter().map(|r| r.contact.name).collect(),
            page.total,
        )
    };
    let search = |s: &str| ContactQuery {
        search: Some(s.into()),
        sort: ContactSort::Name,
        descending: false,
        ..Default::default()
    };
    assert_eq!(
        names(search("ÉMILE")).0,
        ["Émile Zola"],
        "Unicode case folding"
    );
    assert_eq!(
        names(search("ORCHARD")).0,
        ["anna apple"],
        "company and email"
    );
    assert_eq!(names(search("50%")).0, ["Bob Builder"], "% is literal");
    assert_eq!(names(search("_")).0, ["Bob Builder"], "_ is literal");
    assert_eq!(names(search(" 555 01 ")).0, ["Dana Doe"], "phone, trimmed");
    assert_eq!(names(search("nobody")), (vec![], 0));

    let by_name = ContactQuery {
        sort: ContactSort::Name,
        descending: false,
        ..Default::default()
    };
    let (all, total) = names(by_name.clone());
    assert_eq!(total, 7);
    // ASCII case is ignored; SQLite has no locale collation, so other letters follow Z.
    let want = [
        "anna apple",
        "Bob Builder",
        "Carl Carter",
        "Dana Doe",
        "Sam Same",
        "Sam Same",
        "Émile Zola",
    ];
    assert_eq!(all, want);
    let twins: Vec<ContactId> = ann.replica.contacts(&by_name).unwrap().items[4..6]
        .iter()
        .map(|r| r.contact.id)
        .collect();
    assert!(
        twins[0].to_string() < twins[1].to_string(),
        "equal names: id order"
    );
    let (desc, _) = names(ContactQuery {
        descending: true,
        ..by_name.clone()
    });
    assert_eq!(desc, all.iter().rev().cloned().collect::<Vec<_>>());

    let page = |offset| {
        names(ContactQuery {
            limit: 3,
            offset,
            ..by_name.clone()
        })
    };
    assert_eq!(page(0), (all[0..3].to_vec(), 7));
    assert_eq!(page(3), (all[3..6].to_vec(), 7));
    assert_eq!(page(6), (all[6..].to_vec(), 7));

    let follow = ContactQuery {
        sort: ContactSort::NextFollowUpAt,
        descending: false,
        ..Default::default()
    };
    let (soonest, _) = names(follow.clone());
    assert_eq!(
        soonest[..3],
        ["Bob Builder", "Dana Doe", "Émile Zola"],
        "no follow-up comes last"
    );
    let (latest, _) = names(ContactQuery {
        descending: true,
        ..follow
    });
    assert_eq!(latest[4..], ["Émile Zola", "Dana Doe", "Bob Builder"]);
    let (newest, _) = names(ContactQuery::default());
    assert_eq!(newest[0], "Sam Same", "default: newest first");
    assert_eq!(newest[6], "Émile Zola");

    let filtered = ann
        .replica
        .contacts(&ContactQuery {
            status: Some(ContactStatus::Active),
            assigned_to: Some(bob),
            ..by_name.clone()
        })
        .unwrap();
    assert_eq!(filtered.total, 2);
    let rows: Vec<_> = filtered
        .items
        .iter()
        .map(|r| (r.contact.name.as_str(), r.assignee_name.as_deref()))
        .collect();
    assert_eq!(
        rows,
        [
            ("Bob Builder", Some("Bob Baker")),
            ("Émile Zola", Some("Bob Baker"))
        ]
    );
    let clients = ContactQuery {
        contact_type: Some(Client),
        ..by_name
    };
    assert_eq!(
        names(clients),
        (vec!["Carl Carter".into(), "Émile Zola".into()], 2)
    );

    let one = ann.replica.contact(ids[2]).unwrap().unwrap();
    assert_eq!(one.contact.company.as_deref(), Some("Builders_50% Inc"));
    assert_eq!(one.assignee_name.as_deref(), Some("Bob Baker"));
    assert_eq!(ann.replica.contact(ContactId::new()).unwrap(), None);
}

#[tokio::test]
async fn loops_show_tasks_and_progress_offline_and_as_the_server_does() {
    let server = TestServer::start().await;
    let (org, _, _) = org_of_two(&server).await;
    // A device that has never synced: the loop and its four tasks exist at once, locally.
    let mut dev = server.device("ann@example.com", org).await;
    let mine = LoopId::new();
    let create = |id, address: &str| {
        Mutation::CreateLoop(CreateLoop {
            id: Some(id),
            property_address: address.into(),
            transaction_type: TransactionType::ListingAgreement,
            listing_price_cents: 52_500_000,
            expected_closing: None,
        })
    };
    dev.replica.mutate(create(mine, "7 Oak Lane")).unwrap();
    let l = dev.replica.loop_with_tasks(mine).unwrap().unwrap();
    let tasks: Vec<_> = l
        .tasks
        .iter()
        .map(|t| (t.position, t.title.as_str(), t.category))
        .collect();
    let want: Vec<_> = (1..)
        .zip(DEFAULT_LOOP_TASKS)
        .map(|(p, (t, c))| (p, t, c))
        .collect();
    assert_eq!(tasks, want);
    assert!(l.tasks.iter().all(|t| t.status == TaskStatus::Pending));
    assert_eq!(dev.replica.loop_with_tasks(LoopId::new()).unwrap(), None);

    let done = |id| Mutation::CompleteTask(Delete { id });
    dev.replica.mutate(done(default_task_ids(mine)[0])).unwrap();
    let list = dev.replica.loops(&LoopQuery::default()).unwrap();
    assert_eq!(list.total, 1);
    let s = &list.items[0];
    assert_eq!(
        (s.transaction_loop.progress, s.task_count, s.tasks_done),
        (25, 4, 1)
    );

    // A second loop with three of four tasks done; then both meet the server's list.
    let other = LoopId::new();
    dev.replica.mutate(create(other, "9 Birch Road")).unwrap();
    for t in &default_task_ids(other)[..3] {
        dev.replica.mutate(done(*t)).unwrap();
    }
    dev.sync(&server).await;
    let path = format!("/v1/orgs/{org}/loops");
    let on_server: Value = get(&server, &dev.token, &path).await;
    let on_server: Vec<LoopWithTasks> = serde_json::from_value(on_server["items"].clone()).unwrap();
    let local = dev.replica.loops(&LoopQuery::default()).unwrap();
    let counts = |l: &LoopWithTasks| {
        let done = l
            .tasks
            .iter()
            .filter(|t| t.status == TaskStatus::Done)
            .count() as i64;
        (
            l.transaction_loop.id,
            l.transaction_loop.progress,
            l.tasks.len() as i64,
            done,
        )
    };
    let server_view: Vec<_> = on_server.iter().map(counts).collect();
    let local_view: Vec<_> = local
        .items
        .iter()
        .map(|s| {
            (
                s.transaction_loop.id,
                s.transaction_loop.progress,
                s.task_count,
                s.tasks_done,
            )
        })
        .collect();
    assert_eq!(local_view, server_view);
    assert_eq!(local_view, [(other, 75, 4, 3), (mine, 25, 4, 1)]);
    for l in &on_server {
        let id = l.transaction_loop.id;
        assert_eq!(dev.replica.loop_with_tasks(id).unwrap().as_ref(), Some(l));
    }
}

#[tokio::test]
async fn instants_compare_as_time_whatever_their_spelling() {
    let server = TestServer::start().await;
    let (_, mut ann, _) = org_of_two(&server).await;
    // Whole seconds: chrono writes `...:00Z`, PostgreSQL `...:00+00:00`; as raw text either
    // sorts on the wrong side of `...:00.000000Z`.
    let now = Utc::now().duration_trunc(Duration::seconds(1)).unwrap() + Duration::days(1);
    let micro = Duration::microseconds(1);
    let week = Duration::days(7);
    for (name, at) in [
        ("start", now),
        (
            "middle",
            now + Duration::days(3) + Duration::milliseconds(500),
        ),
        ("end", now + week),
        ("too early", now - micro),
        ("too late", now + week + micro),
    ] {
        let c = CreateContact {
            next_follow_up_at: Some(at),
            ..contact(name)
        };
        ann.replica.mutate(Mutation::CreateContact(c)).unwrap();
    }
    let upcoming = |d: &Device| -> Vec<String> {
        let dash = d.replica.dashboard(now).unwrap();
        dash.upcoming_follow_ups
            .into_iter()
            .map(|f| f.name)
            .collect()
    };
    let created = |d: &Device| {
        let c = d.replica.contacts(&ContactQuery::default()).unwrap().items;
        let mut at: Vec<_> = c.iter().map(|r| r.contact.created_at).collect();
        at.sort();
        at
    };
    let recent = |d: &Device, now| {
        d.replica
            .dashboard(now)
            .unwrap()
            .contacts_created_last_7_days
    };
    for stage in ["as written on the device", "as pulled from the server"] {
        assert_eq!(upcoming(&ann), ["start", "middle", "end"], "{stage}");
        let at = created(&ann);
        let later = at.iter().filter(|t| **t > at[0]).count() as i64;
        assert_eq!(
            recent(&ann, at[0] + week),
            5,
            "{stage}: the bound is inclusive"
        );
        assert_eq!(recent(&ann, at[0] + week + micro), later, "{stage}");
        ann.sync(&server).await;
    }
}
