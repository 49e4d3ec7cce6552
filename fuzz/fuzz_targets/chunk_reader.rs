//! The encrypted-chunk reader on hostile input. Mode 0: any bytes as a document's ciphertext.
//! Mode 1: a real document whose ciphertext has one byte changed where the input says. Either
//! way: a typed error or, only when the bytes are authentic, exactly the original plaintext;
//! never a panic and never garbage.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;
use strive_crypto::{decrypt_to_vec, encrypt, DataKey};

static KEY: OnceLock<DataKey> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let key = KEY.get_or_init(|| DataKey::from_bytes([7; 32]));
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode % 2 == 0 {
        let _ = decrypt_to_vec(key, rest);
        return;
    }
    // [position: 4 bytes][xor mask: 1 byte][plaintext...]
    if rest.len() < 5 {
        return;
    }
    let at = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
    let mask = rest[4];
    let plaintext = &rest[5..];
    let mut ciphertext = Vec::new();
    encrypt(key, plaintext, &mut ciphertext).expect("encrypting into memory");
    let at = at % ciphertext.len();
    ciphertext[at] ^= mask;
    match decrypt_to_vec(key, &ciphertext) {
        Ok(out) => {
            assert_eq!(mask, 0, "a changed byte at {at} was accepted");
            assert_eq!(out, plaintext);
        }
        Err(_) => assert_ne!(mask, 0, "an untouched document was refused"),
    }
});
