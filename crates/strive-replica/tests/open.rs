//! The encrypted replica on a real SQLCipher file, through the password path (no keychain).

use strive_domain::OrgId;
use strive_replica::{Keychain, Replica, ReplicaError};

const SECRET_NAME: &str = "Zebulon Quixote-Plaintextcheck";

fn contact_line(seq: i64, id: &str, name: &str) -> String {
    serde_json::json!({"seq": seq, "table": "contacts", "row": {
        "id": id, "organization_id": "o", "name": name, "email": "zq@example.com",
        "contact_type": "PROSPECT", "status": "ACTIVE", "tags": ["vip"], "sync_seq_is_ignored": 1
    }})
    .to_string()
}

#[test]
fn replica_is_encrypted_and_opens_with_the_password_only() {
    let dir = tempfile::tempdir().unwrap();
    let org = OrgId::new();
    let mut r = Replica::create(dir.path(), org, "a long password", Keychain::Disabled).unwrap();
    let line = contact_line(1, "c1", SECRET_NAME);
    let applied = r.apply_lines([line.as_bytes()]).unwrap();
    assert_eq!(applied.upserts, 1);
    drop(r);

    // No plaintext anywhere on disk: the database, its WAL, the key file.
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains("Zebulon"), "plaintext found on disk");
        assert!(
            !text.contains("SQLite format 3"),
            "an unencrypted SQLite header on disk"
        );
    }

    assert!(matches!(
        Replica::open(
            dir.path(),
            org,
            Some("the wrong password"),
            Keychain::Disabled
        ),
        Err(ReplicaError::WrongPassword)
    ));
    assert!(matches!(
        Replica::open(dir.path(), org, None, Keychain::Disabled),
        Err(ReplicaError::PasswordNeeded)
    ));
    let r = Replica::open(dir.path(), org, Some("a long password"), Keychain::Disabled).unwrap();
    assert_eq!(r.count("contacts").unwrap(), 1);
    assert_eq!(r.last_seq().unwrap(), 1);
    assert!(matches!(
        Replica::open(
            dir.path(),
            OrgId::new(),
            Some("a long password"),
            Keychain::Disabled
        ),
        Err(ReplicaError::NotFound)
    ));
}

#[test]
fn applying_the_feed_is_idempotent_and_honours_deletes() {
    let dir = tempfile::tempdir().unwrap();
    let mut r =
        Replica::create(dir.path(), OrgId::new(), "pw pw pw pw", Keychain::Disabled).unwrap();
    let page = [
        contact_line(1, "c1", "Ann"),
        contact_line(2, "c2", "Bob"),
        contact_line(3, "c1", "Ann Renamed"),
        serde_json::json!({"seq": 4, "table": "contacts", "deleted": "c2"}).to_string(),
        serde_json::json!({"seq": 5, "table": "a_future_table", "row": {"id": "x"}}).to_string(),
        serde_json::json!({"end": true, "last_seq": 5, "more": false, "full_resync": false})
            .to_string(),
    ];
    let applied = r.apply_lines(page.iter().map(|l| l.as_bytes())).unwrap();
    assert_eq!((applied.upserts, applied.deletes), (3, 1));
    assert_eq!(applied.end.map(|e| (e.last_seq, e.more)), Some((5, false)));
    assert_eq!(r.count("contacts").unwrap(), 1);
    assert_eq!(r.last_seq().unwrap(), 5);

    // The same page again (a crash before the client noted it) changes nothing.
    let again = r.apply_lines(page.iter().map(|l| l.as_bytes())).unwrap();
    assert_eq!((again.upserts, again.deletes), (0, 0));
    assert_eq!(r.count("contacts").unwrap(), 1);

    // A malformed line is a typed error and rolls the whole batch back.
    let bad = [contact_line(6, "c9", "Cy"), "{not json".to_string()];
    assert!(matches!(
        r.apply_lines(bad.iter().map(|l| l.as_bytes())),
        Err(ReplicaError::BadChange(_))
    ));
    assert_eq!(r.count("contacts").unwrap(), 1);
    assert_eq!(r.last_seq().unwrap(), 5);
}
