//! Where a new document's bytes come from: a plain file (the CLI, a watched folder), or bytes
//! that arrive piece by piece (the app receives a picked or dropped file from its web view in
//! chunks). Those are staged encrypted under a key that lives only in memory, so the plaintext
//! never touches the disk, not even when the app crashes halfway: what is left behind is
//! ciphertext nobody holds the key to.

use crate::vault::DocumentError;
use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::Path;
use strive_crypto::{DataKey, DecryptReader, EncryptWriter};
use strive_domain::documents::{sniff, DocumentKind, SNIFF_HEAD, SNIFF_TAIL};

/// A new document's bytes.
pub enum Source<'a> {
    File(&'a Path),
    Staged(&'a Staged),
}

impl Source<'_> {
    /// The plaintext's length.
    pub(crate) fn len(&self) -> Result<u64, DocumentError> {
        match self {
            Source::File(path) => {
                let meta = std::fs::metadata(path)?;
                if !meta.is_file() {
                    return Err(DocumentError::NotFound("File"));
                }
                Ok(meta.len())
            }
            Source::Staged(s) => Ok(s.len),
        }
    }

    /// What the content is, by its head and tail (never by a name).
    pub(crate) fn kind(&self) -> Result<DocumentKind, DocumentError> {
        match self {
            Source::File(path) => sniff_file(path),
            Source::Staged(s) => {
                let tail: Vec<u8> = s.tail.iter().copied().collect();
                sniff(&s.head, &tail).map_err(DocumentError::Rejected)
            }
        }
    }

    /// The plaintext, from the start.
    pub(crate) fn open(&self) -> Result<Box<dyn Read + Send>, DocumentError> {
        Ok(match self {
            Source::File(path) => Box::new(BufReader::with_capacity(1 << 20, File::open(path)?)),
            Source::Staged(s) => {
                let file = BufReader::with_capacity(1 << 20, File::open(s.file.path())?);
                Box::new(DecryptReader::new(&s.key, file)?)
            }
        })
    }

    /// The file's own name, if it has one.
    pub(crate) fn file_name(&self) -> Option<String> {
        match self {
            Source::File(path) => path.file_name().map(|n| n.to_string_lossy().into_owned()),
            Source::Staged(_) => None,
        }
    }
}

/// The head and tail of a file, for content sniffing.
pub fn sniff_file(path: &Path) -> Result<DocumentKind, DocumentError> {
    let mut f = File::open(path)?;
    let len = f.metadata()?.len();
    let mut head = vec![0u8; SNIFF_HEAD.min(len as usize)];
    f.read_exact(&mut head)?;
    let tail_len = SNIFF_TAIL.min(len as usize);
    let mut tail = vec![0u8; tail_len];
    f.seek(SeekFrom::Start(len - tail_len as u64))?;
    f.read_exact(&mut tail)?;
    sniff(&head, &tail).map_err(DocumentError::Rejected)
}

/// Bytes being received, encrypted as they come into a private temporary file (0600 in a 0700
/// directory, removed on drop). Only the first and last few KiB are kept in memory, to sniff the
/// content's type once it is whole.
pub struct Staged {
    key: DataKey,
    writer: Option<EncryptWriter<BufWriter<File>>>,
    file: tempfile::NamedTempFile,
    head: Vec<u8>,
    tail: VecDeque<u8>,
    len: u64,
    _dir: tempfile::TempDir,
}

impl Staged {
    pub fn new() -> Result<Self, DocumentError> {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::Builder::new()
            .prefix("strive-staged-")
            .tempdir()?;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700))?;
        // NamedTempFile is created 0600.
        let file = tempfile::NamedTempFile::new_in(dir.path())?;
        let key = DataKey::generate();
        let writer = EncryptWriter::new(&key, BufWriter::new(file.reopen()?))?;
        Ok(Staged {
            key,
            writer: Some(writer),
            file,
            head: Vec::with_capacity(SNIFF_HEAD),
            tail: VecDeque::with_capacity(SNIFF_TAIL),
            len: 0,
            _dir: dir,
        })
    }

    /// Appends bytes (before [`Staged::finish`]).
    pub fn write(&mut self, bytes: &[u8]) -> Result<(), DocumentError> {
        let writer = self.writer.as_mut().ok_or_else(|| {
            DocumentError::Io(std::io::Error::other("the staged file is already complete"))
        })?;
        writer.write_all(bytes)?;
        let room = SNIFF_HEAD - self.head.len();
        self.head.extend_from_slice(&bytes[..room.min(bytes.len())]);
        let keep = bytes.len().min(SNIFF_TAIL);
        let drop = (self.tail.len() + keep).saturating_sub(SNIFF_TAIL);
        self.tail.drain(..drop);
        self.tail.extend(&bytes[bytes.len() - keep..]);
        self.len += bytes.len() as u64;
        Ok(())
    }

    /// Seals the last chunk; the staged bytes can then be read back (through [`Source::Staged`]).
    pub fn finish(&mut self) -> Result<(), DocumentError> {
        if let Some(writer) = self.writer.take() {
            let (mut out, _, _) = writer.finish()?;
            out.flush()?;
        }
        Ok(())
    }

    /// Bytes received so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The staged (encrypted) file, for tests that look for plaintext on disk.
    pub fn path(&self) -> &Path {
        self.file.path()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staged_bytes_are_ciphertext_on_disk_and_come_back_whole() {
        let marker = b"PLAINTEXT-MARKER-4711";
        let mut pdf = b"%PDF-1.7\n".to_vec();
        for i in 0..200_000u32 {
            pdf.extend_from_slice(marker);
            pdf.extend_from_slice(&i.to_le_bytes());
        }
        pdf.extend_from_slice(b"\n%%EOF\n");
        let mut staged = Staged::new().unwrap();
        // Uneven chunks, as the web view sends them.
        for chunk in pdf.chunks(777_777) {
            staged.write(chunk).unwrap();
        }
        staged.finish().unwrap();
        let on_disk = std::fs::read(staged.path()).unwrap();
        assert!(on_disk.len() as u64 > staged.len());
        assert!(
            !on_disk.windows(marker.len()).any(|w| w == marker),
            "no plaintext in the staged file"
        );
        let source = Source::Staged(&staged);
        assert_eq!(source.len().unwrap(), pdf.len() as u64);
        assert_eq!(source.kind().unwrap(), DocumentKind::Pdf);
        let mut back = Vec::new();
        source.open().unwrap().read_to_end(&mut back).unwrap();
        assert!(back == pdf, "the staged bytes come back exactly");
        // The directory goes with it.
        let dir = staged.path().parent().unwrap().to_path_buf();
        drop(staged);
        assert!(!dir.exists());
    }

    #[test]
    fn staged_bytes_that_are_not_a_document_are_refused_by_content() {
        let mut staged = Staged::new().unwrap();
        staged
            .write(b"MZ\x90\x00 an executable, named report.pdf")
            .unwrap();
        staged.finish().unwrap();
        assert!(matches!(
            Source::Staged(&staged).kind(),
            Err(DocumentError::Rejected(_))
        ));
    }
}
