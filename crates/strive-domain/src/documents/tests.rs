use super::*;

fn ids() -> (OrgId, LoopId) {
    (OrgId::new(), LoopId::new())
}

#[test]
fn path_tricks_become_one_safe_segment_under_the_loop() {
    let (org, l) = ids();
    let prefix = format!("{org}/transactions/{l}/");
    let long = "a".repeat(300) + ".pdf";
    let cases = [
        ("../../etc/passwd", ".._.._etc_passwd"),
        ("a/b\\c", "a_b_c"),
        ("evil\0.pdf", "evil_.pdf"),
        ("..", "document"),
        ("...hidden", "hidden"),
        ("", "document"),
        (
            "Contrat signé – 12 rue Élm.pdf",
            "Contrat_sign____12_rue__lm.pdf",
        ),
        ("合同.pdf", "__.pdf"),
        ("report.final-v2.PDF", "report.final-v2.PDF"),
    ];
    for (name, expected) in cases {
        let clean = sanitize_name(name);
        let expected = expected.trim_start_matches('.');
        assert_eq!(clean, expected, "{name:?}");
        let key = storage_key(org, l, 1_700_000_000_000, name);
        assert!(key.starts_with(&prefix), "{key}");
        let last = &key[prefix.len()..];
        assert!(!last.contains('/') && !last.contains('\\') && !last.contains('\0'));
        assert!(key.split('/').all(|seg| seg != ".." && seg != "."), "{key}");
    }
    let clean = sanitize_name(&long);
    assert_eq!(clean.len(), MAX_KEY_NAME_CHARS);
    assert!(clean.ends_with(".pdf"), "the extension is kept: {clean}");
}

#[test]
fn display_names_lose_control_characters_only() {
    assert_eq!(display_name(" a\0b\nc.pdf ").unwrap(), "a_b_c.pdf");
    assert_eq!(display_name("../x.pdf").unwrap(), "../x.pdf");
    assert_eq!(display_name("   "), Err(DocumentRejection::EmptyName));
    assert_eq!(display_name(&"é".repeat(400)).unwrap().chars().count(), 255);
}

/// A minimal ZIP's central directory naming `names`.
fn zip_tail(names: &[&str]) -> Vec<u8> {
    let mut v = Vec::new();
    for n in names {
        let mut h = vec![0u8; 46];
        h[..4].copy_from_slice(b"PK\x01\x02");
        h[28..30].copy_from_slice(&(n.len() as u16).to_le_bytes());
        v.extend_from_slice(&h);
        v.extend_from_slice(n.as_bytes());
    }
    v.extend_from_slice(b"PK\x05\x06");
    v.extend_from_slice(&[0u8; 18]);
    v
}

#[test]
fn sniffing_reads_bytes_not_names() {
    let ok = |head: &[u8], tail: &[u8]| sniff(head, tail).unwrap();
    assert_eq!(ok(b"%PDF-1.7\n...", b""), DocumentKind::Pdf);
    assert_eq!(ok(b"\x89PNG\r\n\x1a\n....", b""), DocumentKind::Png);
    assert_eq!(ok(b"\xFF\xD8\xFF\xE0..JFIF", b""), DocumentKind::Jpeg);
    assert_eq!(
        ok(b"Offer: $450,000\r\nTerms...\n", b""),
        DocumentKind::Text
    );
    assert_eq!(ok("Prix : 450 000 €\n".as_bytes(), b""), DocumentKind::Text);
    assert_eq!(
        ok(b"", b""),
        DocumentKind::Text,
        "an empty file is empty text"
    );
    // A multi-byte character cut by the end of the head is still text.
    let cut = "€".as_bytes();
    assert_eq!(ok(&[b"abc", &cut[..2]].concat(), b""), DocumentKind::Text);
    let docx = zip_tail(&["[Content_Types].xml", "_rels/.rels", "word/document.xml"]);
    assert_eq!(ok(b"PK\x03\x04rest", &docx), DocumentKind::Docx);
    let xlsx = zip_tail(&["[Content_Types].xml", "xl/workbook.xml"]);
    assert_eq!(ok(b"PK\x03\x04rest", &xlsx), DocumentKind::Xlsx);

    let refused = |head: &[u8], tail: &[u8]| match sniff(head, tail) {
        Err(DocumentRejection::UnsupportedType { what }) => what,
        other => panic!("{head:?}: {other:?}"),
    };
    assert!(refused(b"\x7FELF\x02\x01", b"").contains("ELF"));
    assert!(refused(b"MZ\x90\x00", b"").contains("Windows"));
    assert!(refused(b"PK\x03\x04", &zip_tail(&["evil.exe"])).contains("ZIP"));
    assert!(refused(b"#!/bin/sh\nrm -rf /", b"").contains("script"));
    assert!(refused(b"text\0with NUL", b"").contains("binary"));
    assert!(refused(&[0xC3, 0x28, b'a', b'b', b'c', b'd', b'e'], b"").contains("binary"));
    // Garbage after a central-directory signature must not panic.
    let _ = sniff(b"PK\x03\x04", b"PK\x01\x02\xFF\xFF");
}

#[test]
fn declared_types_and_sizes() {
    assert_eq!(
        check_declared_mime("application/pdf").unwrap(),
        DocumentKind::Pdf
    );
    assert_eq!(
        check_declared_mime("text/plain; charset=utf-8").unwrap(),
        DocumentKind::Text
    );
    let e = check_declared_mime("application/x-msdownload").unwrap_err();
    assert_eq!(e.code(), "unsupported_document_type");
    check_size(DEFAULT_MAX_DOCUMENT_BYTES, DEFAULT_MAX_DOCUMENT_BYTES).unwrap();
    let e = check_size(DEFAULT_MAX_DOCUMENT_BYTES + 1, DEFAULT_MAX_DOCUMENT_BYTES).unwrap_err();
    assert_eq!(e.code(), "document_too_large");
    assert!(e.to_string().contains("104857601"), "{e}");
}

#[test]
fn the_review_workflow_moves_one_way() {
    use DocumentStatus::*;
    assert_eq!(submit(Draft), Ok(Submitted));
    assert!(submit(Returned)
        .unwrap_err()
        .0
        .contains("corrected version"));
    for s in [Submitted, Approved, Archived] {
        assert!(submit(s).is_err(), "submit from {s}");
    }
    assert_eq!(review(Submitted, ReviewDecision::Approve), Ok(Approved));
    assert_eq!(review(Submitted, ReviewDecision::Return), Ok(Returned));
    for s in [Draft, Approved, Returned, Archived] {
        let e = review(s, ReviewDecision::Approve).unwrap_err();
        assert!(e.0.contains(s.as_str()), "{e}");
    }
    assert_eq!(after_new_version(Approved), Draft);
}
