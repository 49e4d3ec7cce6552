//! Round trips at every size that matters, and every way a ciphertext can be wrong failing with
//! its own error (never with plaintext that was not encrypted under this key at this place).

use rand::{Rng, RngCore, SeedableRng};
use strive_crypto::format::TAG_LEN;
use strive_crypto::{
    ciphertext_len, decrypt, decrypt_to_vec, encrypt, CryptoError, DataKey, DecryptReader,
    EncryptWriter, CHUNK_SIZE, HEADER_LEN,
};

const C: usize = CHUNK_SIZE as usize;
const MARKER: &[u8] = b"PLAINTEXT-MARKER-7f3a";

/// Recognizable plaintext: a marker every 4 KiB among pseudo-random bytes.
fn document(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut v = vec![0u8; len];
    rng.fill_bytes(&mut v);
    let mut at = 0;
    while at + MARKER.len() <= len {
        v[at..at + MARKER.len()].copy_from_slice(MARKER);
        at += 4096;
    }
    v
}

fn seal(key: &DataKey, plain: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let (p, c) = encrypt(key, plain, &mut out).unwrap();
    assert_eq!(p as usize, plain.len());
    assert_eq!(c as usize, out.len());
    out
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Offset of chunk `i` in a ciphertext.
fn chunk_at(i: usize) -> usize {
    HEADER_LEN + i * (C + TAG_LEN as usize)
}

#[test]
fn round_trips_at_every_boundary() {
    let key = DataKey::generate();
    for len in [0, 1, C - 1, C, C + 1, 2 * C, 3 * C + 5] {
        let plain = document(len, len as u64);
        let sealed = seal(&key, &plain);
        assert_eq!(sealed.len() as u64, ciphertext_len(len as u64).unwrap());
        if len >= MARKER.len() {
            assert!(
                !contains(&sealed, MARKER),
                "{len} B: plaintext in ciphertext"
            );
        }
        assert_eq!(decrypt_to_vec(&key, &sealed).unwrap(), plain, "{len} B");
    }
}

#[test]
fn fifty_megabytes_stream_through_in_small_reads_and_writes() {
    let key = DataKey::generate();
    let plain = document(50 << 20, 50);
    // Odd write sizes: chunking must not depend on how the caller writes.
    let mut enc = EncryptWriter::new(&key, Vec::new()).unwrap();
    for piece in plain.chunks(7_919) {
        std::io::Write::write_all(&mut enc, piece).unwrap();
    }
    let (sealed, p, c) = enc.finish().unwrap();
    assert_eq!((p, c), (plain.len() as u64, sealed.len() as u64));
    assert!(!contains(&sealed[..1 << 20], MARKER));
    let mut dec = DecryptReader::new(&key, sealed.as_slice()).unwrap();
    let mut back = Vec::new();
    let mut buf = [0u8; 1000];
    loop {
        let n = std::io::Read::read(&mut dec, &mut buf).unwrap();
        if n == 0 {
            break;
        }
        back.extend_from_slice(&buf[..n]);
    }
    assert!(back == plain, "50 MB round trip");
}

#[test]
fn a_wrong_key_is_told_apart_from_damage() {
    let sealed = seal(&DataKey::generate(), &document(3 * C, 1));
    let err = decrypt_to_vec(&DataKey::generate(), &sealed).unwrap_err();
    assert!(matches!(err, CryptoError::WrongKey), "{err}");
}

#[test]
fn a_flipped_bit_anywhere_fails_with_no_output() {
    let key = DataKey::generate();
    let plain = document(3 * C + 100, 2);
    let sealed = seal(&key, &plain);
    // Magic, version, chunk size, nonce prefix, key check, chunk bodies, tags, the last chunk.
    let spots = [
        0,
        4,
        6,
        10,
        20,
        chunk_at(0) + 5,
        chunk_at(1) - 1,
        chunk_at(2) + C / 2,
        sealed.len() - 1,
    ];
    for at in spots {
        let mut bad = sealed.clone();
        bad[at] ^= 0x01;
        let mut out = Vec::new();
        let err = decrypt(&key, bad.as_slice(), &mut out, None).unwrap_err();
        let expected_kind = match at {
            0..4 => matches!(err, CryptoError::NotEncrypted),
            4 => matches!(err, CryptoError::UnsupportedVersion(_)),
            5..9 => matches!(err, CryptoError::BadHeader(_) | CryptoError::WrongKey),
            9..32 => matches!(err, CryptoError::WrongKey),
            _ => matches!(err, CryptoError::Tampered { .. }),
        };
        assert!(expected_kind, "flip at {at}: {err}");
        // Only chunks before the damaged one may have come out, and they are genuine.
        assert!(plain.starts_with(&out), "flip at {at}: output is a prefix");
        if let CryptoError::Tampered { chunk } = err {
            assert_eq!(out.len(), chunk as usize * C, "flip at {at}");
        }
        assert!(decrypt_to_vec(&key, &bad).is_err());
    }
}

#[test]
fn truncation_is_reported_as_such() {
    let key = DataKey::generate();
    let sealed = seal(&key, &document(3 * C + 100, 3));
    // The final chunk dropped whole: the previous one was not sealed as the last.
    let cut = &sealed[..chunk_at(3)];
    let err = decrypt(&key, cut, std::io::sink(), None).unwrap_err();
    assert!(matches!(err, CryptoError::Truncated { chunks: 3 }), "{err}");
    // Nothing after the header at all.
    let err = decrypt(&key, &sealed[..HEADER_LEN], std::io::sink(), None).unwrap_err();
    assert!(matches!(err, CryptoError::Truncated { chunks: 0 }), "{err}");
    // Cut mid-chunk with the size known from the metadata.
    let mid = &sealed[..chunk_at(1) + 100];
    let err = decrypt(&key, mid, std::io::sink(), Some(sealed.len() as u64)).unwrap_err();
    assert!(matches!(err, CryptoError::ShortRead { .. }), "{err}");
    // Shorter than a header.
    let err = decrypt(&key, &sealed[..10], std::io::sink(), None).unwrap_err();
    assert!(matches!(err, CryptoError::BadHeader(_)), "{err}");
}

#[test]
fn reordered_and_duplicated_chunks_are_named() {
    let key = DataKey::generate();
    let sealed = seal(&key, &document(4 * C, 4));
    let mut swapped = sealed.clone();
    let (a, b) = (chunk_at(1), chunk_at(2));
    let first = sealed[a..b].to_vec();
    swapped[a..b].copy_from_slice(&sealed[b..chunk_at(3)]);
    swapped[b..chunk_at(3)].copy_from_slice(&first);
    let err = decrypt_to_vec(&key, &swapped).unwrap_err();
    assert!(
        matches!(
            err,
            CryptoError::Reordered {
                chunk: 1,
                belongs_at: 2
            }
        ),
        "{err}"
    );
    // A chunk removed from the middle: chunk 1's place holds chunk 2.
    let mut dropped = sealed[..a].to_vec();
    dropped.extend_from_slice(&sealed[b..]);
    let err = decrypt_to_vec(&key, &dropped).unwrap_err();
    assert!(
        matches!(
            err,
            CryptoError::Reordered {
                chunk: 1,
                belongs_at: 2
            }
        ),
        "{err}"
    );
    // Data appended after the final chunk.
    let mut longer = sealed.clone();
    longer.extend_from_slice(&sealed[a..b]);
    let err = decrypt(&key, longer.as_slice(), std::io::sink(), None).unwrap_err();
    assert!(matches!(err, CryptoError::TrailingData), "{err}");
    // Chunks spliced in from another document under the same key.
    let other = seal(&key, &document(4 * C, 5));
    let mut spliced = sealed.clone();
    spliced[a..b].copy_from_slice(&other[a..b]);
    let err = decrypt_to_vec(&key, &spliced).unwrap_err();
    assert!(matches!(err, CryptoError::Tampered { chunk: 1 }), "{err}");
}

#[test]
fn the_decoder_never_panics_on_arbitrary_or_mangled_input() {
    let key = DataKey::generate();
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let good = seal(&key, &document(2 * C + 3, 6));
    for round in 0..200 {
        let input: Vec<u8> = match round % 4 {
            // Pure noise, sometimes behind a valid header.
            0 => {
                let mut v = vec![0u8; rng.gen_range(0..2 * C)];
                rng.fill_bytes(&mut v);
                v
            }
            1 => {
                let mut v = good[..HEADER_LEN].to_vec();
                let mut tail = vec![0u8; rng.gen_range(0..2 * C)];
                rng.fill_bytes(&mut tail);
                v.extend_from_slice(&tail);
                v
            }
            // A good document cut at a random place.
            2 => good[..rng.gen_range(0..good.len())].to_vec(),
            // A good document with a few random bytes changed.
            _ => {
                let mut v = good.clone();
                for _ in 0..rng.gen_range(1..4) {
                    let i = rng.gen_range(0..v.len());
                    v[i] = rng.gen();
                }
                v
            }
        };
        let outcome = decrypt_to_vec(&key, &input);
        if round % 4 != 3 || input != good {
            assert!(outcome.is_err(), "round {round}: mangled input decrypted");
        }
    }
}
