//! The keychain path under a real Secret Service: this test starts its own D-Bus session bus and
//! an unlocked gnome-keyring-daemon (Debian packages dbus and gnome-keyring), then shows the
//! replica opening with no password because its key is in the keychain.

use std::process::{Command, Stdio};
use strive_domain::{DeviceId, GlobalRole, OrgId, UserId};
use strive_replica::account::{Account, Profile, Tokens};
use strive_replica::{Keychain, Replica, ReplicaError};

fn start_secret_service(home: &std::path::Path) -> u32 {
    let out = Command::new("dbus-daemon")
        .args(["--session", "--fork", "--print-address=1", "--print-pid=1"])
        .output()
        .expect("dbus-daemon runs (install the dbus package)");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let address = lines.next().expect("bus address").to_string();
    let pid: u32 = lines
        .next()
        .and_then(|p| p.trim().parse().ok())
        .expect("bus pid");
    // Single-threaded at this point: this test binary holds one test.
    std::env::set_var("DBUS_SESSION_BUS_ADDRESS", &address);
    std::env::set_var("HOME", home);
    let mut keyring = Command::new("gnome-keyring-daemon")
        .args(["--unlock", "--components=secrets"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("gnome-keyring-daemon runs (install the gnome-keyring package)");
    use std::io::Write;
    keyring
        .stdin
        .take()
        .unwrap()
        .write_all(b"test-keyring-password")
        .unwrap();
    assert!(keyring.wait().unwrap().success(), "keyring daemon started");
    pid
}

#[test]
fn key_in_the_keychain_opens_the_replica_without_a_password() {
    let home = tempfile::tempdir().unwrap();
    let bus = start_secret_service(home.path());
    let dir = tempfile::tempdir().unwrap();
    let org = OrgId::new();
    let r = Replica::create(dir.path(), org, "a long password", Keychain::System).unwrap();
    drop(r);

    let entry = keyring::Entry::new("strive-desktop", &format!("replica-key:{org}")).unwrap();
    let stored = entry
        .get_password()
        .expect("the key is in the Secret Service");
    assert_eq!(stored.len(), 64, "a 256-bit key, hex");

    let reopened =
        Replica::open(dir.path(), org, None, Keychain::System).expect("opens from the keychain");
    assert_eq!(reopened.org(), org);
    drop(reopened);

    // A keychain holding a wrong key falls back to the password.
    entry.set_password(&"00".repeat(32)).unwrap();
    assert!(Replica::open(dir.path(), org, None, Keychain::System).is_err());
    let healed = Replica::open(dir.path(), org, Some("a long password"), Keychain::System).unwrap();
    drop(healed);
    assert_ne!(
        entry.get_password().unwrap(),
        "00".repeat(32),
        "the right key is put back"
    );

    // The signed-in account: its tokens open with the keychain alone, and signing out takes
    // every key out of the keychain.
    let profile = Profile {
        server_url: "https://strive.example.com".into(),
        email: "ann@example.com".into(),
        user_id: UserId::new(),
        device_id: DeviceId::new(),
        device_name: "laptop".into(),
        global_role: GlobalRole::User,
        organizations: Vec::new(),
        current_org: Some(org),
    };
    let tokens = Tokens {
        access_token: "access-marker-7f3a".into(),
        access_expires_at: 0,
        refresh_token: "refresh-marker-9c1e".into(),
    };
    Account::create(
        dir.path(),
        profile.clone(),
        &tokens,
        "a long password",
        Keychain::System,
    )
    .unwrap();
    let sealed = std::fs::read(dir.path().join("account.tokens")).unwrap();
    assert!(
        !String::from_utf8_lossy(&sealed).contains("marker"),
        "tokens are sealed on disk"
    );
    let account = Account::unlock(dir.path(), None, Keychain::System).expect("keychain unlocks");
    assert_eq!(
        account.tokens().unwrap().refresh_token,
        "refresh-marker-9c1e"
    );
    let mut with_org = account;
    with_org.profile.organizations = vec![strive_domain::entities::Membership {
        organization_id: org,
        name: "Acme".into(),
        slug: "acme".into(),
        role: strive_domain::OrgRole::Owner,
        tier: strive_domain::Tier::Free,
    }];
    with_org.forget(false).unwrap();
    assert!(
        entry.get_password().is_err(),
        "the replica key left the keychain"
    );
    assert!(matches!(
        Account::unlock(dir.path(), None, Keychain::System),
        Err(ReplicaError::SignedOut)
    ));
    assert!(
        matches!(
            Replica::open(dir.path(), org, None, Keychain::System),
            Err(ReplicaError::PasswordNeeded)
        ),
        "after signing out the replica needs the password again"
    );

    let _ = Command::new("kill").arg(bus.to_string()).status();
}
