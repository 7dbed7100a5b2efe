//! Shared by the capture-file targets: reads every packet of a file held
//! in memory and parses it, proving the reader stops within its input.

use capture::{parse_packet, CaptureFile, FlowUpdate, Totals};

/// Reads `bytes` as a capture file to its end (or its first fatal error).
pub fn read_all(bytes: Vec<u8>) {
    let len = bytes.len();
    let Ok(mut f) = CaptureFile::from_reader(Box::new(std::io::Cursor::new(bytes))) else {
        return;
    };
    let mut totals = Totals::default();
    let mut u = FlowUpdate::default();
    // Every packet or skipped block consumes at least 12 bytes: more steps
    // than that is a reader that does not advance.
    for _ in 0..len / 12 + 2 {
        match f.next_packet() {
            Ok(Some(p)) => {
                assert!(p.data.len() <= len, "a packet longer than its file");
                let r = parse_packet(&p, &mut u);
                totals.record(&p, &u, r.err());
            }
            Ok(None) => return,
            Err(e) if e.is_fatal() => return,
            Err(_) => {}
        }
    }
    panic!("reader did not finish a {len}-byte input");
}
