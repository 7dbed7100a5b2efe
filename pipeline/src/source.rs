//! Capture files as a pipeline source: read, parse (capture's parser) and
//! count exactly, in the source thread.

use capture::{parse_packet, CaptureFile, FlowUpdate, ReadError, Reason, Totals};

use crate::engine::Source;

/// How reading one file ended badly.
#[derive(Debug)]
pub struct FileProblem {
    /// The file's name as given.
    pub name: String,
    /// What happened.
    pub error: ReadError,
    /// True when the file was cut short at the end (a warning), false for
    /// corrupt framing (an error).
    pub cut_short: bool,
}

/// Capture files read in order. Blocks on full queues: replay loses
/// nothing.
#[derive(Debug)]
pub struct FileSource {
    files: Vec<(String, CaptureFile)>,
    next: usize,
    /// Exact counters of everything read, including what the sketches skip
    /// (non-IP frames, parse errors).
    pub totals: Totals,
    /// Files that ended early.
    pub problems: Vec<FileProblem>,
}

impl FileSource {
    /// Reads `files` in order.
    pub fn new(files: Vec<(String, CaptureFile)>) -> FileSource {
        FileSource {
            files,
            next: 0,
            totals: Totals::default(),
            problems: Vec::new(),
        }
    }

    /// Bytes read from each file's underlying source so far, for progress.
    pub fn progress_counters(&self) -> Vec<std::sync::Arc<std::sync::atomic::AtomicU64>> {
        self.files.iter().map(|(_, f)| f.source_bytes()).collect()
    }
}

impl Source for FileSource {
    fn name(&self) -> &'static str {
        "file"
    }

    fn fill(&mut self, out: &mut Vec<FlowUpdate>, max: usize) -> bool {
        let mut u = FlowUpdate::default();
        while out.len() < max {
            let Some((name, file)) = self.files.get_mut(self.next) else {
                return false;
            };
            match file.next_packet() {
                Ok(Some(pkt)) => {
                    let res = parse_packet(&pkt, &mut u);
                    self.totals.record(&pkt, &u, res.err());
                    out.push(u);
                }
                Ok(None) => self.next += 1,
                Err(e) => {
                    let reason = e.reason().unwrap_or(Reason::ReadError);
                    self.totals.errors.add(reason, 1);
                    if e.is_fatal() {
                        self.problems.push(FileProblem {
                            name: name.clone(),
                            cut_short: reason == Reason::TruncatedFile,
                            error: e,
                        });
                        self.next += 1;
                    }
                }
            }
        }
        true
    }
}
