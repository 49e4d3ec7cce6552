//! The least work a document's round trip can do on this machine, measured pass by pass in the
//! same run: what any implementation of the same design must spend, with nothing else (no
//! database, no HTTP, no coordination, no fsync, no kernel writeback). Spread perfectly over the
//! machine's cores, it is the fastest the round trip could possibly be.

use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::path::Path;

/// CPU time this process has used, in seconds (all its threads).
pub fn cpu_seconds() -> f64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `t` is a valid timespec for the call to fill.
    let ok = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut t) } == 0;
    if ok {
        t.tv_sec as f64 + t.tv_nsec as f64 / 1e9
    } else {
        f64::NAN
    }
}

/// The CPU seconds `f` takes.
fn cpu<T>(f: impl FnOnce() -> T) -> (f64, T) {
    let start = cpu_seconds();
    let out = f();
    (cpu_seconds() - start, out)
}

const BLOCK: usize = 64 * 1024;

/// Raw AES-256-GCM over `total` bytes in 64 KiB chunks, on the calling thread: the limit the
/// product is compared with.
pub fn aes_pass(total: usize) {
    let cipher = Aes256Gcm::new(&[7u8; 32].into());
    let mut buf = vec![0x5Au8; BLOCK];
    let mut counter = 0u64;
    let mut done = 0;
    while done < total {
        let mut nonce = [0u8; 12];
        nonce[..8].copy_from_slice(&counter.to_be_bytes());
        counter += 1;
        if let Ok(tag) = cipher.encrypt_in_place_detached(Nonce::from_slice(&nonce), b"", &mut buf)
        {
            std::hint::black_box(tag);
        }
        done += buf.len();
    }
}

/// One SHA-256 over `total` bytes.
fn sha256(total: usize) -> f64 {
    let buf = vec![0xA5u8; BLOCK];
    cpu(|| {
        let mut h = Sha256::new();
        for _ in 0..total.div_ceil(BLOCK) {
            h.update(&buf);
        }
        std::hint::black_box(h.finalize());
    })
    .0
}

/// Writing `total` bytes into the page cache (no fsync), then reading them back from it.
fn page_cache(dir: &Path, total: usize) -> std::io::Result<(f64, f64)> {
    let path = dir.join("floor.bin");
    let mut buf = vec![0xC3u8; 1 << 20];
    let (write, written) = cpu(|| -> std::io::Result<()> {
        let mut f = std::fs::File::create(&path)?;
        for _ in 0..total.div_ceil(buf.len()) {
            f.write_all(&buf)?;
        }
        Ok(())
    });
    written?;
    let (read, done) = cpu(|| -> std::io::Result<()> {
        let mut f = std::fs::File::open(&path)?;
        while f.read(&mut buf)? > 0 {}
        Ok(())
    });
    done?;
    std::fs::remove_file(&path)?;
    Ok((write, read))
}

/// Sending `total` bytes over loopback TCP from one thread to another (both sides' CPU).
fn loopback(total: usize) -> std::io::Result<f64> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let (secs, sent) = cpu(|| -> std::io::Result<()> {
        let reader = std::thread::spawn(move || -> std::io::Result<u64> {
            let (mut s, _) = listener.accept()?;
            let mut buf = vec![0u8; 1 << 20];
            let mut got = 0u64;
            loop {
                let n = s.read(&mut buf)?;
                if n == 0 {
                    return Ok(got);
                }
                got += n as u64;
            }
        });
        let mut s = std::net::TcpStream::connect(addr)?;
        let buf = vec![0x3Cu8; 1 << 20];
        for _ in 0..total.div_ceil(buf.len()) {
            s.write_all(&buf)?;
        }
        drop(s);
        reader
            .join()
            .map_err(|_| std::io::Error::other("the loopback reader panicked"))??;
        Ok(())
    });
    sent?;
    Ok(secs)
}

/// The passes over the file the round trip cannot do without, with how many times it makes each.
pub struct Floor {
    pub passes: Vec<(&'static str, u32, f64)>,
}

impl Floor {
    pub fn measure(dir: &Path, total: usize) -> std::io::Result<Self> {
        let (write, read) = page_cache(dir, total)?;
        Ok(Floor {
            passes: vec![
                ("AES-256-GCM (encrypt on the device, decrypt on the way back)", 2, cpu(|| aes_pass(total)).0),
                ("SHA-256 (declared by the device, verified by the server)", 2, sha256(total)),
                ("write into the page cache (vault, part file, fetched copy, plaintext)", 4, write),
                ("read from the page cache (source, vault for the upload, blob for the download)", 3, read),
                ("loopback TCP (upload, download)", 2, loopback(total)?),
            ],
        })
    }

    /// CPU seconds of all the passes.
    pub fn cpu_seconds(&self) -> f64 {
        self.passes.iter().map(|(_, n, s)| *n as f64 * s).sum()
    }
}

/// How many cores this process may use.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
