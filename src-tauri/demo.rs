//! `strive-desktop --seed-demo`: signs a demo broker up on the server, creates an organization
//! with two teammates, and fills it through this device's replica and a sync, the same path
//! every edit in the app takes. Run once; later runs see the organization and stop.

use crate::state::Settings;
use anyhow::{Context, Result};
use chrono::{Duration, Utc};
use serde_json::json;
use strive_domain::mutations::contacts::{BulkAssignContacts, CreateContact};
use strive_domain::mutations::deals::CreateDeal;
use strive_domain::mutations::loops::CreateLoop;
use strive_domain::mutations::{Delete, Mutation};
use strive_domain::rules::default_task_ids;
use strive_domain::*;
use strive_replica::api::{Api, Auth};
use strive_replica::engine::sync_round;
use strive_replica::{signin, SyncError};

pub const ORG_NAME: &str = "Harbor & Pine Realty";
const OWNER: (&str, &str) = ("ann@harborpine.example", "Ann Lee");
const TEAM: [(&str, &str, OrgRole); 2] = [
    ("ben@harborpine.example", "Ben Ortiz", OrgRole::Member),
    ("cara@harborpine.example", "Cara Nguyen", OrgRole::Admin),
];
const FIRST: [&str; 24] = [
    "Olivia", "Liam", "Emma", "Noah", "Ava", "Elijah", "Sophia", "Mateo", "Isabella", "Lucas",
    "Mia", "Levi", "Amelia", "Ethan", "Harper", "James", "Evelyn", "Aiden", "Priya", "Kenji",
    "Fatima", "Diego", "Chloe", "Samuel",
];
const LAST: [&str; 20] = [
    "Carter", "Nguyen", "Patel", "Garcia", "Okafor", "Schmidt", "Rossi", "Kim", "Haddad",
    "Johnson", "Silva", "Müller", "Dubois", "Novak", "Tanaka", "Walsh", "Reyes", "Brooks", "Ahmed",
    "Larsen",
];
const COMPANIES: [&str; 8] = [
    "Elm Holdings",
    "Bayview Capital",
    "Northgate Partners",
    "Cedar Lane Homes",
    "Summit Relocation",
    "Brightwater Title",
    "Keystone Lending",
    "Oak & Ivy Design",
];
const STREETS: [&str; 8] = [
    "12 Elm Street",
    "48 Harbor View Drive",
    "301 Pine Ridge Road",
    "7 Maple Court",
    "1550 Lakeshore Boulevard, Unit 4B",
    "22 Orchard Lane",
    "904 Cypress Avenue",
    "63 Willow Bend",
];

/// The password of the demo accounts: `STRIVE_DEMO_PASSWORD` or a fixed one, printed by
/// scripts/run.sh so the person trying the product can sign in.
pub fn password() -> String {
    std::env::var("STRIVE_DEMO_PASSWORD").unwrap_or_else(|_| "harbor-and-pine-demo".into())
}

async fn sign_up(api: &Api, email: &str, name: &str, pw: &str) -> Result<()> {
    match api.signup(email, pw, Some(name)).await {
        Ok(_) | Err(SyncError::Refused { status: 409, .. }) => Ok(()),
        Err(e) => Err(e).with_context(|| format!("signing up {email}")),
    }
}

pub async fn seed(settings: Settings) -> Result<()> {
    let pw = password();
    let api = Api::new(&settings.default_server, settings.allow_insecure)?;
    sign_up(&api, OWNER.0, OWNER.1, &pw).await?;
    for (email, name, _) in TEAM {
        sign_up(&api, email, name, &pw).await?;
    }
    let account = signin::sign_in(
        &settings.dir,
        &api,
        OWNER.0,
        &pw,
        "Demo laptop",
        settings.keychain,
    )
    .await
    .context("signing in the demo owner")?;
    if account
        .profile
        .organizations
        .iter()
        .any(|m| m.name == ORG_NAME)
    {
        println!("The demo organization already exists; nothing to add.");
        return Ok(());
    }
    let account = std::sync::Arc::new(account);
    let auth = Auth::new(api.clone(), account.clone());
    let token = auth.token().await?;
    let org = api.create_org(&token, ORG_NAME).await?;
    for (email, _, role) in TEAM {
        let res = api
            .http()
            .post(format!("{}/v1/orgs/{}/members", api.base(), org.id))
            .bearer_auth(&token)
            .json(&json!({ "email": email, "role": role }))
            .send()
            .await?;
        anyhow::ensure!(
            res.status().is_success(),
            "adding {email}: {}",
            res.status()
        );
    }
    let me = api.me(&token).await?;
    let mut profile = account.profile.clone();
    profile.organizations = me.organizations;
    profile.current_org = Some(org.id);
    strive_replica::account::Account::write_profile(&settings.dir, &profile)?;
    let mut replica = account.open_replica(org.id, Some(&pw))?;
    // The first pull brings the members and the tier, which the local rules check.
    sync_round(&mut replica, &auth, false, |_| {}).await?;
    let members = replica.members()?;
    let id_of = |email: &str| members.iter().find(|m| m.email == email).map(|m| m.user_id);
    let mut loops = Vec::new();
    for m in sample(id_of(TEAM[0].0), id_of(TEAM[1].0)) {
        if let Mutation::CreateLoop(CreateLoop { id: Some(id), .. }) = &m {
            loops.push(*id);
        }
        replica.mutate(m).context("a demo record")?;
    }
    documents(&mut replica, &loops).context("the demo documents")?;
    let (pushed, _) = sync_round(&mut replica, &auth, false, |_| {}).await?;
    println!(
        "Demo organization \"{ORG_NAME}\" ready: {} changes sent. Sign in as {} (password: {pw}).",
        pushed.applied, OWNER.0
    );
    Ok(())
}

/// A few documents in the first loops, through the vault like any upload (encrypted here, sent
/// by the sync): drafts, submitted ones waiting in the review queue, and an approved one.
fn documents(replica: &mut strive_replica::Replica, loops: &[LoopId]) -> Result<()> {
    use strive_domain::documents::ReviewDecision;
    use strive_domain::mutations::documents::ReviewDocument;
    use strive_replica::vault::{NewDocument, Source};
    let files: [(usize, &str, DocumentType, &str); 5] = [
        (
            0,
            "Purchase agreement.pdf",
            DocumentType::Contract,
            "submit",
        ),
        (
            0,
            "Seller disclosure.pdf",
            DocumentType::Disclosure,
            "draft",
        ),
        (
            0,
            "Home inspection report.pdf",
            DocumentType::Inspection,
            "approve",
        ),
        (1, "Listing agreement.pdf", DocumentType::Contract, "submit"),
        (2, "Appraisal.pdf", DocumentType::Appraisal, "draft"),
    ];
    let dir = tempfile::tempdir()?;
    for (i, name, document_type, step) in files {
        let Some(loop_id) = loops.get(i) else {
            continue;
        };
        let path = dir.path().join(name);
        let title = name.trim_end_matches(".pdf");
        std::fs::write(
            &path,
            pdf(&[
                title,
                "Harbor & Pine Realty - demo document",
                "Portland, OR",
            ]),
        )?;
        let added = replica.add_document(NewDocument {
            loop_id: *loop_id,
            source: Source::File(&path),
            name: None,
            document_type,
            document_id: None,
            max_bytes: crate::commands::documents::max_bytes(),
        })?;
        let id = added.document_id;
        if step != "draft" {
            replica.mutate(Mutation::SubmitDocument(Delete { id }))?;
        }
        if step == "approve" {
            replica.mutate(Mutation::ReviewDocument(ReviewDocument {
                id,
                decision: ReviewDecision::Approve,
                note: Some("Complete and signed.".into()),
            }))?;
        }
    }
    Ok(())
}

/// A one-page PDF with `lines` of text (Helvetica), offsets computed for a valid xref table.
pub fn pdf(lines: &[&str]) -> Vec<u8> {
    let escape = |t: &str| {
        t.replace('\\', "\\\\")
            .replace('(', "\\(")
            .replace(')', "\\)")
    };
    let mut text = String::from("BT /F1 22 Tf 72 720 Td");
    for (i, l) in lines.iter().enumerate() {
        if i == 1 {
            text.push_str(" /F1 12 Tf");
        }
        text.push_str(&format!(" ({}) Tj 0 -28 Td", escape(l)));
    }
    text.push_str(" ET");
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_string(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_string(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R \
         /Resources << /Font << /F1 5 0 R >> >> >>"
            .to_string(),
        format!("<< /Length {} >>\nstream\n{text}\nendstream", text.len()),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_string(),
    ];
    let mut out = String::from("%PDF-1.4\n");
    let mut offsets = Vec::new();
    for (i, o) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.push_str(&format!("{} 0 obj\n{o}\nendobj\n", i + 1));
    }
    let xref = out.len();
    out.push_str(&format!(
        "xref\n0 {}\n0000000000 65535 f \n",
        objects.len() + 1
    ));
    for off in offsets {
        out.push_str(&format!("{off:010} 00000 n \n"));
    }
    out.push_str(&format!(
        "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
        objects.len() + 1
    ));
    out.into_bytes()
}

/// Contacts, deals and loops that look like a small brokerage's month.
fn sample(ben: Option<UserId>, cara: Option<UserId>) -> Vec<Mutation> {
    let now = Utc::now();
    let mut out = Vec::new();
    let mut contact_ids = Vec::new();
    let types = ContactType::ALL;
    let statuses = [
        ContactStatus::Active,
        ContactStatus::Active,
        ContactStatus::Inactive,
        ContactStatus::Active,
        ContactStatus::DoNotContact,
    ];
    for i in 0..240usize {
        let (first, last) = (FIRST[i % FIRST.len()], LAST[(i * 7 + i / 24) % LAST.len()]);
        let id = ContactId::new();
        contact_ids.push(id);
        let company = (i % 3 != 0).then(|| COMPANIES[i % COMPANIES.len()].to_string());
        let follow_up = (i % 9 == 0).then(|| now + Duration::hours(6 + (i as i64 * 5) % 160));
        out.push(Mutation::CreateContact(CreateContact {
            id: Some(id),
            name: format!("{first} {last}"),
            email: Some(format!(
                "{}.{}{}@mail.example",
                first.to_lowercase(),
                last.to_lowercase().replace('ü', "u"),
                i
            )),
            phone: Some(format!("+1 415 555 {:04}", 1000 + i)),
            company,
            position: None,
            contact_type: Some(types[i % types.len()]),
            status: Some(statuses[i % statuses.len()]),
            notes: (i % 5 == 0).then(|| "Prefers a call after 5pm.".to_string()),
            tags: if i % 4 == 0 {
                vec!["buyer".into()]
            } else {
                vec!["seller".into()]
            },
            assigned_to_id: None,
            next_follow_up_at: follow_up,
        }));
    }
    for (who, range) in [(ben, 0..60), (cara, 60..110)] {
        if let Some(who) = who {
            out.push(Mutation::BulkAssignContacts(BulkAssignContacts {
                contact_ids: contact_ids[range].to_vec(),
                assigned_to_id: who,
            }));
        }
    }
    let stages = DealStage::ALL;
    for i in 0..24usize {
        out.push(Mutation::CreateDeal(CreateDeal {
            id: Some(DealId::new()),
            title: format!(
                "{} — {}",
                STREETS[i % STREETS.len()],
                ["purchase", "listing", "lease"][i % 3]
            ),
            value_cents: 18_500_000 + (i as i64 * 3_750_000),
            stage: Some(stages[i % stages.len()]),
            status: None,
            probability: Some(20 + (i as i32 * 7) % 75),
            contact_id: Some(contact_ids[i * 5]),
            assigned_to_id: None,
            expected_close_date: Some((now + Duration::days(10 + i as i64 * 4)).date_naive()),
            description: None,
        }));
    }
    let types = TransactionType::ALL;
    for (i, street) in STREETS.iter().enumerate().take(6) {
        let id = LoopId::new();
        out.push(Mutation::CreateLoop(CreateLoop {
            id: Some(id),
            property_address: format!("{street}, Portland, OR"),
            transaction_type: types[i % types.len()],
            listing_price_cents: 42_500_000 + i as i64 * 6_100_000,
            expected_closing: Some((now + Duration::days(21 + i as i64 * 9)).date_naive()),
        }));
        for task in default_task_ids(id).iter().take(i % 5) {
            out.push(Mutation::CompleteTask(Delete { id: *task }));
        }
    }
    out
}

#[cfg(test)]
mod pdf_tests {
    use strive_domain::documents::{sniff, DocumentKind};

    #[test]
    fn the_demo_pdfs_are_pdfs_by_their_content() {
        let b = super::pdf(&["Purchase agreement", "Harbor & Pine (demo)", "Portland, OR"]);
        assert_eq!(sniff(&b, &b).expect("accepted"), DocumentKind::Pdf);
        let text = String::from_utf8(b).expect("ascii");
        let xref: usize = text
            .rsplit("startxref\n")
            .next()
            .and_then(|t| t.lines().next())
            .and_then(|n| n.parse().ok())
            .expect("startxref");
        assert!(
            text[xref..].starts_with("xref"),
            "startxref points at the table"
        );
        assert!(text.contains("(Harbor & Pine \\(demo\\)) Tj"));
    }
}
