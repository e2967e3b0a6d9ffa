//! Arbitrary bytes in arbitrary chunks: no panic, bounded line buffer, the same lines whatever
//! the chunking, and the fast scanner agreeing with the line parser on codes.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use msgops_logwatch::{
    parse_any_timestamp, scan_file, LineMeta, LineParser, LineSplitter, LogEvent, ParserConfig,
    ScanOptions, ZoneSetting,
};
use proptest::prelude::*;

const CAP: usize = 64;

fn split_all(data: &[u8], cuts: &[usize]) -> (Vec<(Vec<u8>, bool)>, usize) {
    let mut s = LineSplitter::new(CAP);
    let mut out = Vec::new();
    let mut max_pending = 0;
    let mut start = 0;
    for &c in cuts.iter().chain(std::iter::once(&data.len())) {
        let end = c.clamp(start, data.len());
        s.push(&data[start..end], |l, t| out.push((l.to_vec(), t)));
        max_pending = max_pending.max(s.pending_len()).max(s.pending_capacity());
        start = end;
    }
    (out, max_pending)
}

fn log_like() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        Just(b"2025-10-29 16:34:53,202 - svc - WARNING - SMS FALLBACK - OTP for +14165550123: 091282\n".to_vec()),
        Just(b"2025-10-29 16:35:00,000 - svc - INFO - OTP created for phone: 4165550199\n".to_vec()),
        Just(b"OTP Code: 553190\r\n".to_vec()),
        Just(b"INFO:     127.0.0.1:1 - \"POST /api/v1/auth/otp/send HTTP/1.1\" 500 Internal Server Error\n".to_vec()),
        Just(b"Traceback (most recent call last):\n".to_vec()),
        Just(b"\n".to_vec()),
        Just(b"\r".to_vec()),
        Just("ünïcödé ✓ ".as_bytes().to_vec()),
        proptest::collection::vec(any::<u8>(), 0..40),
    ];
    proptest::collection::vec(piece, 0..40).prop_map(|v| v.concat())
}

proptest! {
    #[test]
    fn any_bytes_in_any_chunks_split_the_same_in_bounded_memory(
        data in log_like(),
        mut cuts in proptest::collection::vec(0usize..2000, 0..20),
    ) {
        cuts.sort_unstable();
        let (chunked, max_pending) = split_all(&data, &cuts);
        let (whole, _) = split_all(&data, &[]);
        prop_assert!(max_pending <= CAP, "line buffer grew to {max_pending} > {CAP}");
        prop_assert_eq!(&chunked, &whole);
        for (line, _truncated) in &chunked {
            prop_assert!(line.len() <= CAP);
            prop_assert!(!line.contains(&b'\n'));
        }
        // The parser takes anything.
        let mut parser = LineParser::new("f", Arc::new(ParserConfig::default()));
        let now = parse_any_timestamp("2025-10-29 16:40:00").unwrap().and_utc();
        let mut events = Vec::new();
        for (i, (line, truncated)) in chunked.iter().enumerate() {
            parser.feed(line, &LineMeta { line_no: i as u64 + 1, truncated: *truncated, complete: true, live: true, now }, &mut events);
        }
        parser.flush(&mut events);
    }

    #[test]
    fn scanner_and_parser_find_the_same_codes(data in log_like()) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.log");
        std::fs::write(&path, &data).unwrap();
        let now = parse_any_timestamp("2025-10-29 16:40:00").unwrap().and_utc();
        let config = ParserConfig { zone: ZoneSetting::UTC, ..ParserConfig::default() };
        let mut options = ScanOptions::new(now);
        options.parser = config.clone();
        options.include_expired = true;
        let scanned: Vec<_> = scan_file(&path, &options).unwrap().into_iter().map(|c| (c.code, c.recipient, c.candidates, c.line, c.created_at, c.time)).collect();

        let mut parser = LineParser::new("x", Arc::new(config));
        let mut splitter = LineSplitter::new(1 << 20);
        let mut events = Vec::new();
        let mut n = 0;
        splitter.push(&data, |line, truncated| {
            n += 1;
            parser.feed(line, &LineMeta { line_no: n, truncated, complete: true, live: false, now }, &mut events);
        });
        splitter.finish(|line, truncated| {
            n += 1;
            parser.feed(line, &LineMeta { line_no: n, truncated, complete: false, live: false, now }, &mut events);
        });
        let parsed: Vec<_> = events.into_iter().filter_map(|e| match e {
            LogEvent::Code(c) => Some((c.code, c.recipient, c.candidates, c.line, c.created_at, c.time)),
            _ => None,
        }).collect();
        prop_assert_eq!(scanned, parsed);
    }
}
