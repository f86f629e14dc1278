//! Differential: `Utf8Validator` fed in fuzzer-chosen pieces against
//! `core::str::from_utf8` on the prefixes and the whole.
//!
//! Input layout: `[nsplit, split_len * (nsplit % 8), text...]`; the text is
//! fed in pieces of the split lengths, cycled (0 = an empty piece).
//!
//! Oracles: `feed` fails exactly when the input fed so far contains an
//! invalid sequence (`from_utf8(prefix)` fails with `error_len().is_some()`),
//! i.e. at the first piece that completes the first invalid prefix; at the
//! end without an error, `is_complete()` equals `from_utf8(whole).is_ok()`;
//! `reset` gives a fresh validator; `feed_into` in the same pieces fails
//! exactly when `feed` does and appends exactly the complete code points.

#![no_main]

use libfuzzer_sys::fuzz_target;
use wsmachine::Utf8Validator;

fuzz_target!(|data: &[u8]| {
    let [nsplit, rest @ ..] = data else { return };
    let nsplit = usize::from(nsplit % 8);
    if rest.len() < nsplit {
        return;
    }
    let (splits, text) = rest.split_at(nsplit);
    let pieces: Vec<usize> = if splits.iter().all(|&s| s == 0) {
        vec![text.len()]
    } else {
        splits.iter().map(|&s| usize::from(s)).collect()
    };

    let mut v = Utf8Validator::new();
    let mut at = 0;
    let mut i = 0;
    let mut failed = false;
    loop {
        let n = pieces[i % pieces.len()].min(text.len() - at);
        i += 1;
        let fed = v.feed(&text[at..at + n]);
        at += n;
        let dead = matches!(core::str::from_utf8(&text[..at]), Err(e) if e.error_len().is_some());
        assert_eq!(
            fed.is_err(),
            dead,
            "feed after {at} bytes: validator {fed:?}, from_utf8(prefix) invalid: {dead}"
        );
        if fed.is_err() {
            failed = true;
            break;
        }
        // Between pieces: complete iff the prefix is valid UTF-8.
        assert_eq!(
            v.is_complete(),
            core::str::from_utf8(&text[..at]).is_ok(),
            "is_complete after {at} bytes"
        );
        if at == text.len() {
            break;
        }
    }
    if !failed {
        assert_eq!(v.is_complete(), core::str::from_utf8(text).is_ok());
    }

    // `feed_into` in the same pieces (it works in blocks of its own inside
    // a long piece) fails exactly when `feed` does; until then it has
    // appended every complete code point and nothing more, and on failure a
    // prefix of the valid part.
    let mut w = Utf8Validator::new();
    let mut out = String::new();
    let (mut at, mut i) = (0, 0);
    let verdict = loop {
        let n = pieces[i % pieces.len()].min(text.len() - at);
        i += 1;
        let fed = w.feed_into(&text[at..at + n], &mut out);
        at += n;
        if fed.is_err() || at == text.len() {
            break fed;
        }
    };
    assert_eq!(verdict.is_err(), failed, "feed_into and feed disagree");
    let valid = match core::str::from_utf8(text) {
        Ok(_) => text.len(),
        Err(e) => e.valid_up_to(),
    };
    if verdict.is_ok() {
        assert_eq!(out.as_bytes(), &text[..valid]);
    } else {
        assert!(out.len() <= valid);
        assert_eq!(out.as_bytes(), &text[..out.len()]);
    }

    // Byte by byte gives the same verdict, failing at the first dead prefix.
    let mut b = Utf8Validator::new();
    let first_dead = (1..=text.len())
        .find(|&k| matches!(core::str::from_utf8(&text[..k]), Err(e) if e.error_len().is_some()));
    for (k, byte) in text.iter().enumerate() {
        let fed = b.feed(core::slice::from_ref(byte));
        assert_eq!(fed.is_err(), first_dead == Some(k + 1), "byte {k}");
        if fed.is_err() {
            break;
        }
    }

    // `reset` forgets everything. (Not compared with `==`: the derived
    // `PartialEq` also compares stale bytes of the partial code point.)
    v.reset();
    assert!(v.is_complete());
    assert!(v.feed(&[0xE2]).is_ok());
    assert!(!v.is_complete());
    v.reset();
    assert!(v.feed("ok €".as_bytes()).is_ok());
    assert!(v.is_complete());
});
