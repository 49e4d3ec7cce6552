//! Streaming decryption: a `Read` that releases a chunk's plaintext only after the chunk
//! authenticated at its position, and fails with a typed error on anything else.
//!
//! Plaintext already released stays genuine, but a later chunk can still fail (a cut-off end is
//! only known at the end): callers that must not keep a partial document write to a temporary
//! file, or use [`decrypt_to_vec`], and keep the result only on success.

use crate::format::{Header, HEADER_LEN, TAG_LEN};
use crate::{CryptoError, DataKey};
use aes_gcm::aead::stream::{NewStream, StreamBE32, StreamPrimitive};
use aes_gcm::aead::KeyInit;
use aes_gcm::Aes256Gcm;
use std::io::{Read, Write};

/// How far either side to look for the right position of a chunk that failed at its own
/// (diagnostics only: the failure path, never a good document; bounded so that a hostile input
/// costs at most a few MB of extra authentication work).
const REORDER_SEARCH: u32 = 32;

pub struct DecryptReader<R: Read> {
    inner: R,
    stream: StreamBE32<Aes256Gcm>,
    aad: [u8; HEADER_LEN],
    chunk: usize,
    /// The next chunk's position.
    position: u32,
    buf: Vec<u8>,
    /// Plaintext of the current chunk not yet handed out: `buf[out..]`.
    out: usize,
    /// A byte read ahead to learn whether more chunks follow.
    peeked: Option<u8>,
    done: bool,
    failed: Option<String>,
    read_total: u64,
    expected: Option<u64>,
}

impl<R: Read> DecryptReader<R> {
    /// Reads and checks the header: a wrong key fails here, before any chunk.
    pub fn new(key: &DataKey, mut inner: R) -> Result<Self, CryptoError> {
        let mut head = [0u8; HEADER_LEN];
        let got = read_full(&mut inner, &mut head)?;
        let header = Header::parse(&head[..got])?;
        header.check_key(key)?;
        let cipher = Aes256Gcm::new(key.as_bytes().into());
        let stream = StreamBE32::from_aead(cipher, header.nonce_prefix.as_slice().into());
        let chunk = header.chunk_size as usize;
        Ok(DecryptReader {
            inner,
            stream,
            aad: head,
            chunk,
            position: 0,
            buf: Vec::with_capacity(chunk + TAG_LEN as usize),
            out: 0,
            peeked: None,
            done: false,
            failed: None,
            read_total: HEADER_LEN as u64,
            expected: None,
        })
    }

    /// The ciphertext's size as recorded elsewhere (the server's metadata): a document that
    /// ends early is then reported as truncated wherever it was cut.
    pub fn with_expected_len(mut self, len: u64) -> Self {
        self.expected = Some(len);
        self
    }

    /// Reads the next ciphertext chunk into `buf`; returns whether it is the last one.
    fn fill(&mut self) -> Result<bool, CryptoError> {
        let full = self.chunk + TAG_LEN as usize;
        self.buf.clear();
        self.buf.resize(full, 0);
        let mut got = 0;
        if let Some(b) = self.peeked.take() {
            self.buf[0] = b; // already counted in read_total
            got = 1;
        }
        let fresh = read_full(&mut self.inner, &mut self.buf[got..])?;
        got += fresh;
        self.buf.truncate(got);
        self.read_total += fresh as u64;
        if got < full {
            return Ok(true);
        }
        let mut one = [0u8; 1];
        let more = read_full(&mut self.inner, &mut one)? == 1;
        if more {
            self.peeked = Some(one[0]);
            self.read_total += 1;
        }
        Ok(!more)
    }

    fn open(&mut self, position: u32, last: bool) -> bool {
        self.stream
            .decrypt_in_place(position, last, &self.aad, &mut self.buf)
            .is_ok()
    }

    /// Decrypts the next chunk into `buf`, or says precisely why it cannot.
    fn next_chunk(&mut self) -> Result<(), CryptoError> {
        let last = self.fill()?;
        let position = self.position;
        if let Some(expected) = self.expected {
            if last && self.read_total < expected {
                return Err(CryptoError::ShortRead {
                    got: self.read_total,
                    expected,
                });
            }
            if self.read_total > expected {
                return Err(CryptoError::TrailingData);
            }
        }
        if self.buf.len() < TAG_LEN as usize {
            // Not even a tag: the end was cut off (or nothing followed the header).
            return Err(CryptoError::Truncated { chunks: position });
        }
        if self.open(position, last) {
            self.position = position.checked_add(1).ok_or(CryptoError::TooLarge)?;
            self.out = 0;
            self.done = last;
            return Ok(());
        }
        Err(self.diagnose(position, last))
    }

    /// Why the chunk at `position` failed: sealed as the other kind (end cut off, or data after
    /// the end), sealed for another position (reordered), or neither (modified).
    fn diagnose(&mut self, position: u32, last: bool) -> CryptoError {
        if self.open(position, !last) {
            return if last {
                CryptoError::Truncated {
                    chunks: position.saturating_add(1),
                }
            } else {
                CryptoError::TrailingData
            };
        }
        let from = position.saturating_sub(REORDER_SEARCH);
        let upto = position.saturating_add(REORDER_SEARCH);
        for p in (from..=upto).filter(|p| *p != position) {
            if self.open(p, false) || self.open(p, true) {
                return CryptoError::Reordered {
                    chunk: position,
                    belongs_at: p,
                };
            }
        }
        CryptoError::Tampered { chunk: position }
    }
}

impl<R: Read> Read for DecryptReader<R> {
    fn read(&mut self, dst: &mut [u8]) -> std::io::Result<usize> {
        if let Some(why) = &self.failed {
            return Err(std::io::Error::other(why.clone()));
        }
        while self.out >= self.buf.len() {
            if self.done {
                return Ok(0);
            }
            if let Err(e) = self.next_chunk() {
                self.failed = Some(e.to_string());
                self.buf.clear();
                return Err(std::io::Error::other(e));
            }
        }
        let n = dst.len().min(self.buf.len() - self.out);
        dst[..n].copy_from_slice(&self.buf[self.out..self.out + n]);
        self.out += n;
        Ok(n)
    }
}

/// Reads until `buf` is full or the reader ends; returns how many bytes were read.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// Decrypts all of `reader` into `writer`; returns the plaintext size. On error, `writer` may
/// hold a genuine but incomplete prefix: discard it.
pub fn decrypt(
    key: &DataKey,
    reader: impl Read,
    mut writer: impl Write,
    expected_len: Option<u64>,
) -> Result<u64, CryptoError> {
    let mut dec = DecryptReader::new(key, reader)?;
    if let Some(len) = expected_len {
        dec = dec.with_expected_len(len);
    }
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    loop {
        let n = dec.read(&mut buf).map_err(CryptoError::from_io)?;
        if n == 0 {
            return Ok(total);
        }
        writer.write_all(&buf[..n])?;
        total += n as u64;
    }
}

/// Decrypts a whole document in memory: all of it, or an error and nothing.
pub fn decrypt_to_vec(key: &DataKey, ciphertext: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let mut out = Vec::with_capacity(ciphertext.len());
    decrypt(key, ciphertext, &mut out, Some(ciphertext.len() as u64))?;
    Ok(out)
}
