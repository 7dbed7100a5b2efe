//! Capture files as a pipeline source: read, parse (capture's parser) and
//! count exactly, in the source thread; recorded flow exports decoded into
//! their records.

use capture::flows::{FlowDecoder, FlowError, Limits};
use capture::{parse_packet, udp_datagram, CaptureFile, FlowUpdate, ReadError, Reason, Totals};

use super::{Selected, Selector, Source};

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
pub struct FileSource {
    files: Vec<(String, CaptureFile)>,
    next: usize,
    /// Exact counters of everything read, including what the sketches skip
    /// (non-IP frames, parse errors).
    pub totals: Totals,
    /// Files that ended early.
    pub problems: Vec<FileProblem>,
    /// Flow mode: the captures hold NetFlow/IPFIX exports, whose records
    /// (not the packets) go to the pipeline.
    pub flows: Option<FlowDecoder>,
    /// Decoded records not yet handed over.
    ready: Vec<FlowUpdate>,
    /// Packets left out by the selector's filter expression.
    pub filtered: u64,
    /// Packets left out by the selector's time range.
    pub out_of_range: u64,
    select: Option<Selector>,
}

impl std::fmt::Debug for FileSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileSource")
            .field("files", &self.files.len())
            .field("next", &self.next)
            .field("totals", &self.totals)
            .field("filtered", &self.filtered)
            .field("out_of_range", &self.out_of_range)
            .finish_non_exhaustive()
    }
}

impl FileSource {
    /// Reads `files` in order.
    pub fn new(files: Vec<(String, CaptureFile)>) -> FileSource {
        FileSource {
            files,
            next: 0,
            totals: Totals::default(),
            problems: Vec::new(),
            flows: None,
            ready: Vec::new(),
            filtered: 0,
            out_of_range: 0,
            select: None,
        }
    }

    /// Runs `select` on every packet read before anything else sees it.
    pub fn select(mut self, select: Selector) -> FileSource {
        self.select = Some(select);
        self
    }

    /// Reads `files` as recorded flow exports (NetFlow v5/v9, IPFIX): the
    /// UDP datagrams are decoded and their flow records enter the
    /// pipeline, the frames only the exact counters.
    pub fn flows(files: Vec<(String, CaptureFile)>, limits: Limits) -> FileSource {
        let mut f = FileSource::new(files);
        f.flows = Some(FlowDecoder::new(limits));
        f
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
        // Records of the last datagram first.
        let take = self.ready.len().min(max);
        out.extend(self.ready.drain(..take));
        while out.len() < max {
            let Some((name, file)) = self.files.get_mut(self.next) else {
                return !self.ready.is_empty();
            };
            match file.next_packet() {
                Ok(Some(pkt)) => {
                    match self.select.as_mut().map_or(Selected::Keep, |f| f(&pkt)) {
                        Selected::Keep => {}
                        Selected::Filtered => {
                            self.filtered += 1;
                            continue;
                        }
                        Selected::OutOfRange => {
                            self.out_of_range += 1;
                            continue;
                        }
                    }
                    let res = parse_packet(&pkt, &mut u);
                    self.totals.record(&pkt, &u, res.err());
                    match self.flows.as_mut() {
                        None => out.push(u),
                        Some(dec) => {
                            // Errors are counted by the decoder, by reason.
                            match udp_datagram(&pkt) {
                                Ok(Some(d)) => {
                                    let _ = dec.decode(
                                        (d.src, d.sport),
                                        d.payload,
                                        pkt.ts_ns,
                                        &mut self.ready,
                                    );
                                }
                                Ok(None) => {}
                                Err(_) => {
                                    dec.counts.error_from(u.src, FlowError::TruncatedDatagram)
                                }
                            }
                            let take = self.ready.len().min(max - out.len());
                            out.extend(self.ready.drain(..take));
                        }
                    }
                }
                Ok(None) => {
                    self.next += 1;
                    if self.next == self.files.len() {
                        if let Some(dec) = self.flows.as_mut() {
                            dec.finish();
                        }
                    }
                }
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
