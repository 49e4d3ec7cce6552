//! The watched folder with real file system events: files written slowly, many at once, a
//! restart in the middle, a crash between recording an import and moving the file: each file is
//! imported exactly once, refused ones go to `rejected/` with their reason.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use strive_domain::mutations::loops::CreateLoop;
use strive_domain::mutations::Mutation;
use strive_domain::{DeviceId, GlobalRole, LoopId, OrgId, TransactionType, UserId};
use strive_replica::watch::{watch, WatchEvent, WatchOptions};
use strive_replica::{Keychain, Replica, Session};

fn replica(dir: &Path) -> (Replica, LoopId) {
    let mut r = Replica::create(dir, OrgId::new(), "a long password", Keychain::Disabled).unwrap();
    r.set_session(Session {
        user: UserId::new(),
        device: DeviceId::new(),
        global: GlobalRole::User,
    })
    .unwrap();
    let loop_id = LoopId::new();
    r.mutate(Mutation::CreateLoop(CreateLoop {
        id: Some(loop_id),
        property_address: "12 Elm Street".into(),
        transaction_type: TransactionType::ListingAgreement,
        listing_price_cents: 45_000_000,
        expected_closing: None,
    }))
    .unwrap();
    (r, loop_id)
}

/// A watcher on its own thread and connection, stopped (and joined) on drop.
struct Running {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn start(
    r: &Replica,
    folder: &Path,
    loop_id: LoopId,
    events: Arc<Mutex<Vec<WatchEvent>>>,
) -> Running {
    let mut conn = r.reopen().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let folder = folder.to_path_buf();
    let options = WatchOptions {
        settle: Duration::from_millis(600),
        poll: Duration::from_millis(100),
        ..Default::default()
    };
    let thread = std::thread::spawn(move || {
        watch(&mut conn, &folder, loop_id, &options, &flag, |e| {
            events.lock().unwrap().push(e.clone())
        })
        .expect("the watcher runs");
    });
    Running {
        stop,
        thread: Some(thread),
    }
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .filter(|e| e.path().is_file())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn text(n: usize) -> Vec<u8> {
    format!("Disclosure {n}\n").repeat(200).into_bytes()
}

/// Writes `bytes` in `parts` pieces with a pause between them, like a slow copy.
fn write_slowly(
    path: PathBuf,
    bytes: Vec<u8>,
    parts: usize,
    pause: Duration,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        use std::io::Write;
        let mut f = std::fs::File::create(&path).unwrap();
        for piece in bytes.chunks(bytes.len().div_ceil(parts)) {
            f.write_all(piece).unwrap();
            f.flush().unwrap();
            std::thread::sleep(pause);
        }
    })
}

fn import_count(r: &Replica) -> (i64, usize) {
    (r.pending().unwrap(), r.vault_entries().unwrap().len())
}

#[test]
fn each_dropped_file_is_imported_exactly_once() {
    let home = tempfile::tempdir().unwrap();
    let folder = tempfile::tempdir().unwrap();
    let (r, loop_id) = replica(home.path());
    let base_pending = r.pending().unwrap();
    let events = Arc::new(Mutex::new(Vec::new()));
    let imported = folder.path().join("imported");
    let rejected = folder.path().join("rejected");

    // A file that was there before the watcher started.
    std::fs::write(folder.path().join("early.txt"), text(0)).unwrap();
    let w = start(&r, folder.path(), loop_id, events.clone());
    // Many at once, one written slowly (2.4 s, never still for 600 ms until done), one refused,
    // one partial download ignored.
    for i in 1..=8 {
        std::fs::write(folder.path().join(format!("doc{i}.txt")), text(i)).unwrap();
    }
    let slow_bytes = text(99).repeat(10);
    let slow = write_slowly(
        folder.path().join("slow.txt"),
        slow_bytes.clone(),
        8,
        Duration::from_millis(300),
    );
    std::fs::write(
        folder.path().join("tool.exe"),
        b"MZ\x90\x00 windows program",
    )
    .unwrap();
    std::fs::write(folder.path().join("movie.mp4.part"), b"half a download").unwrap();
    slow.join().unwrap();
    wait_for("10 imports and 1 refusal", || {
        names(&imported).len() == 10 && names(&rejected).len() == 2
    });
    assert_eq!(names(&rejected), ["tool.exe", "tool.exe.reason.txt"]);
    let reason = std::fs::read_to_string(rejected.join("tool.exe.reason.txt")).unwrap();
    assert!(reason.contains("Windows executable"), "{reason}");
    assert_eq!(
        names(folder.path()),
        ["movie.mp4.part"],
        "only the ignored file stays"
    );

    // The slow file was taken whole, once.
    let docs = r.documents(Some(loop_id), None).unwrap();
    assert_eq!(docs.len(), 10);
    let slow_doc = docs
        .iter()
        .find(|d| d.document.original_name == "slow.txt")
        .unwrap();
    let v = slow_doc.document.current_version_id.unwrap();
    assert!(
        r.read_document(v).unwrap() == slow_bytes,
        "the complete file"
    );
    assert_eq!(import_count(&r), (base_pending + 10, 10));

    // Restart in the middle of a slow copy: the next watcher takes it when it is done.
    let slow2 = text(77).repeat(8);
    let writer = write_slowly(
        folder.path().join("late.txt"),
        slow2.clone(),
        6,
        Duration::from_millis(300),
    );
    std::thread::sleep(Duration::from_millis(500));
    drop(w);
    let w = start(&r, folder.path(), loop_id, events.clone());
    writer.join().unwrap();
    wait_for("the late file", || {
        names(&imported).contains(&"late.txt".to_string())
    });
    assert_eq!(import_count(&r), (base_pending + 11, 11));
    drop(w);

    // A crash after the import was recorded but before the move: the file is still in the folder
    // when the watcher starts again. It is recognized and only moved.
    std::fs::copy(imported.join("doc3.txt"), folder.path().join("doc3.txt")).unwrap();
    // The same name with new content is a new version of that document.
    std::fs::write(folder.path().join("doc4.txt"), text(444)).unwrap();
    let _w = start(&r, folder.path(), loop_id, events.clone());
    wait_for("the recovered and the changed file", || {
        names(folder.path()) == ["movie.mp4.part"]
    });
    assert!(names(&imported).contains(&"doc3 (2).txt".to_string()));
    assert_eq!(import_count(&r), (base_pending + 12, 12));
    let docs = r.documents(Some(loop_id), None).unwrap();
    assert_eq!(docs.len(), 11, "doc4 got a version, not a second document");
    let doc4 = docs
        .iter()
        .find(|d| d.document.original_name == "doc4.txt")
        .unwrap();
    assert_eq!(doc4.document.version, 2);

    let ev = events.lock().unwrap().clone();
    let count = |f: &dyn Fn(&WatchEvent) -> bool| ev.iter().filter(|e| f(e)).count();
    assert_eq!(
        count(&|e| matches!(e, WatchEvent::Imported { .. })),
        12,
        "{ev:?}"
    );
    assert_eq!(
        count(&|e| matches!(e, WatchEvent::AlreadyImported { .. })),
        1
    );
    assert_eq!(count(&|e| matches!(e, WatchEvent::Rejected { .. })), 1);
}
