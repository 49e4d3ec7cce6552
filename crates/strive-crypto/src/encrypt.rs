//! Streaming encryption: a `Write` that seals every 64 KiB as one chunk.

use crate::format::{Header, HEADER_LEN};
use crate::{CryptoError, DataKey};
use aes_gcm::aead::stream::EncryptorBE32;
use aes_gcm::aead::KeyInit;
use aes_gcm::Aes256Gcm;
use std::io::{Read, Write};

/// Encrypts what is written to it into `inner`. Call [`finish`](Self::finish) at the end: the
/// last chunk is sealed as the last, which is what lets a reader detect a cut-off document.
/// Memory: one chunk, whatever the size of the document.
pub struct EncryptWriter<W: Write> {
    inner: W,
    stream: Option<EncryptorBE32<Aes256Gcm>>,
    aad: [u8; HEADER_LEN],
    buf: Vec<u8>,
    chunk: usize,
    plaintext: u64,
    written: u64,
}

impl<W: Write> EncryptWriter<W> {
    /// Writes the header at once.
    pub fn new(key: &DataKey, mut inner: W) -> Result<Self, CryptoError> {
        let header = Header::new(key);
        let aad = header.to_bytes();
        inner.write_all(&aad)?;
        let cipher = Aes256Gcm::new(key.as_bytes().into());
        let stream = EncryptorBE32::from_aead(cipher, header.nonce_prefix.as_slice().into());
        let chunk = header.chunk_size as usize;
        Ok(EncryptWriter {
            inner,
            stream: Some(stream),
            aad,
            buf: Vec::with_capacity(chunk + 16),
            chunk,
            plaintext: 0,
            written: HEADER_LEN as u64,
        })
    }

    /// Seals the buffered full chunk (more data follows it).
    fn seal_next(&mut self) -> std::io::Result<()> {
        let stream = self
            .stream
            .as_mut()
            .ok_or_else(|| std::io::Error::other("written after finish"))?;
        stream
            .encrypt_next_in_place(&self.aad, &mut self.buf)
            .map_err(|_| std::io::Error::other(CryptoError::TooLarge))?;
        self.inner.write_all(&self.buf)?;
        self.written += self.buf.len() as u64;
        self.buf.clear();
        Ok(())
    }

    /// Seals the last chunk and returns the inner writer and the (plaintext, ciphertext) sizes.
    pub fn finish(mut self) -> Result<(W, u64, u64), CryptoError> {
        let stream = self.stream.take().ok_or(CryptoError::TooLarge)?;
        stream
            .encrypt_last_in_place(&self.aad, &mut self.buf)
            .map_err(|_| CryptoError::TooLarge)?;
        self.inner.write_all(&self.buf)?;
        self.written += self.buf.len() as u64;
        self.inner.flush()?;
        Ok((self.inner, self.plaintext, self.written))
    }
}

impl<W: Write> Write for EncryptWriter<W> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if data.is_empty() {
            return Ok(0);
        }
        // A full buffer is sealed only once more data arrives: until then it may be the last.
        if self.buf.len() == self.chunk {
            self.seal_next()?;
        }
        let n = data.len().min(self.chunk - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        self.plaintext += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Encrypts all of `reader` into `writer`; returns (plaintext, ciphertext) sizes.
pub fn encrypt(
    key: &DataKey,
    mut reader: impl Read,
    writer: impl Write,
) -> Result<(u64, u64), CryptoError> {
    let mut enc = EncryptWriter::new(key, writer)?;
    std::io::copy(&mut reader, &mut enc)?;
    let (_, plain, cipher) = enc.finish()?;
    Ok((plain, cipher))
}
