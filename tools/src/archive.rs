//! `replay --archive DIR`: the batch layer. Exact per-epoch flow
//! aggregates (one row per epoch and 5-tuple: packets, IP bytes, wire
//! bytes) as Parquet files, partitioned by hour
//! (`DIR/date=YYYY-MM-DD/hour=HH/part-NNNNNN.parquet`), so Spark, DuckDB or
//! any Parquet reader answers exact historical questions the sketches only
//! bound.
//!
//! The source thread copies each batch of updates (one copy per batch,
//! nothing per packet) to a writer thread over a bounded channel; a file
//! replay waits for it there and so loses nothing. The writer sums the
//! updates per (epoch, 5-tuple) and writes a file per hour touched each
//! time 65,536 rows are held, and at the end. Disk use is bounded by
//! `--archive-max-bytes`: after each file, the oldest files are deleted
//! until the archive fits, and counted (`deleted_files`, `deleted_bytes`
//! in the summary's `archive`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

use anyhow::Result;
use capture::FlowUpdate;
use clap::Args;
use serde_json::{json, Value};

/// The archive options of `replay`.
#[derive(Debug, Args, Clone)]
pub struct ArchiveArgs {
    /// Write exact per-epoch flow aggregates as Parquet under DIR,
    /// partitioned by hour (needs the `archive` feature).
    #[arg(long, value_name = "DIR")]
    pub archive: Option<PathBuf>,
    /// Disk the archive may use; the oldest files are deleted beyond it.
    #[arg(long, default_value_t = 1 << 30, value_name = "BYTES")]
    pub archive_max_bytes: u64,
}

/// Rows held before they are written.
const FLUSH_ROWS: usize = 65_536;

/// One row's key: epoch start, addresses, ports, protocol, IP version.
type Key = (u64, u128, u128, u16, u16, u8, u8);

/// A row: its key and packets, IP bytes, wire bytes.
type Row = (Key, (u64, u64, u64));

/// What the archive wrote and deleted.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    pub files: u64,
    pub rows: u64,
    pub bytes: u64,
    pub deleted_files: u64,
    pub deleted_bytes: u64,
    /// Updates of a live source not archived because the writer was
    /// behind (a file replay waits instead).
    pub dropped_updates: u64,
    pub errors: Vec<String>,
}

impl Report {
    pub fn json(&self) -> Value {
        json!({
            "files": self.files, "rows": self.rows, "bytes": self.bytes,
            "deleted_files": self.deleted_files, "deleted_bytes": self.deleted_bytes,
            "dropped_updates": self.dropped_updates, "errors": self.errors,
        })
    }

    pub fn row(&self) -> (String, String) {
        (
            "archive".into(),
            format!(
                "{} rows in {} Parquet files ({} bytes), {} oldest files deleted ({} bytes), {} updates not archived (writer behind)",
                self.rows,
                self.files,
                self.bytes,
                self.deleted_files,
                self.deleted_bytes,
                self.dropped_updates
            ),
        )
    }
}

/// The writer thread's state.
struct Writer {
    dir: PathBuf,
    max_bytes: u64,
    epoch_ns: u64,
    rows: HashMap<Key, (u64, u64, u64)>,
    /// Files written and not deleted, oldest first, with their sizes.
    kept: std::collections::VecDeque<(PathBuf, u64)>,
    kept_bytes: u64,
    seq: u64,
    report: Report,
}

/// A source whose updates are also archived.
pub struct Archiving<'a, S> {
    pub inner: &'a mut S,
    tx: Option<SyncSender<Vec<FlowUpdate>>>,
    /// Updates a live (shedding) source could not hand to a busy writer:
    /// counted, never waited for.
    dropped: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl<S> std::fmt::Debug for Archiving<'_, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Archiving").finish_non_exhaustive()
    }
}

impl<'a, S> Archiving<'a, S> {
    /// `inner`, archived by `archive` if there is one.
    pub fn new(inner: &'a mut S, archive: Option<&Archive>) -> Archiving<'a, S> {
        Archiving {
            inner,
            tx: archive.and_then(|a| a.tx.clone()),
            dropped: archive.map_or_else(Default::default, |a| std::sync::Arc::clone(&a.dropped)),
        }
    }
}

impl<S: pipeline::Source> pipeline::Source for Archiving<'_, S> {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn fill(&mut self, out: &mut Vec<FlowUpdate>, max: usize) -> bool {
        let n0 = out.len();
        let more = self.inner.fill(out, max);
        if let Some(tx) = &self.tx {
            if out.len() > n0 {
                let batch = out[n0..].to_vec();
                // A file replay waits for the writer and loses nothing; a
                // live source never waits for the disk.
                let gone = if self.inner.backpressure() == pipeline::Backpressure::Shed {
                    match tx.try_send(batch) {
                        Ok(()) => false,
                        Err(std::sync::mpsc::TrySendError::Full(b)) => {
                            self.dropped
                                .fetch_add(b.len() as u64, std::sync::atomic::Ordering::Relaxed);
                            false
                        }
                        Err(std::sync::mpsc::TrySendError::Disconnected(_)) => true,
                    }
                } else {
                    tx.send(batch).is_err()
                };
                // The writer is gone (it said why); the run goes on.
                if gone {
                    self.tx = None;
                }
            }
        }
        more
    }

    fn backpressure(&self) -> pipeline::Backpressure {
        self.inner.backpressure()
    }

    fn clock_ns(&self) -> Option<u64> {
        self.inner.clock_ns()
    }
}

/// A started archive: hand its `wrap` to the engine, then `finish`.
#[derive(Debug)]
pub struct Archive {
    tx: Option<SyncSender<Vec<FlowUpdate>>>,
    thread: std::thread::JoinHandle<Report>,
    dropped: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl Archive {
    /// Checks the options and starts the writer, or `None` without
    /// `--archive`.
    pub fn start(args: &ArchiveArgs, epoch_ns: u64) -> Result<Option<Archive>> {
        let Some(dir) = &args.archive else {
            return Ok(None);
        };
        if !cfg!(feature = "archive") {
            return Err(crate::exit::usage(
                "this netsketch was built without the archive; rebuild with `cargo build --release --features archive`",
            ));
        }
        if args.archive_max_bytes < 1 << 16 {
            return Err(crate::exit::usage(
                "--archive-max-bytes must be at least 65536",
            ));
        }
        std::fs::create_dir_all(dir)
            .map_err(|e| crate::exit::output(format!("cannot create {}: {e}", dir.display())))?;
        let mut w = Writer {
            dir: dir.clone(),
            max_bytes: args.archive_max_bytes,
            epoch_ns: epoch_ns.max(1),
            rows: HashMap::new(),
            kept: Default::default(),
            kept_bytes: 0,
            seq: 0,
            report: Report::default(),
        };
        w.scan_existing();
        let (tx, rx) = sync_channel(4);
        let thread = std::thread::Builder::new()
            .name("archive".into())
            .spawn(move || w.run(&rx))?;
        Ok(Some(Archive {
            tx: Some(tx),
            thread,
            dropped: Default::default(),
        }))
    }

    /// Writes what is held and returns the report.
    pub fn finish(mut self) -> Report {
        self.tx = None;
        let mut r = self.thread.join().unwrap_or_else(|_| Report {
            errors: vec!["archive writer failed".into()],
            ..Report::default()
        });
        r.dropped_updates = self.dropped.load(std::sync::atomic::Ordering::Relaxed);
        r
    }
}

/// Days since 1970-01-01 as (year, month, day) (Hinnant's algorithm).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// `date=YYYY-MM-DD/hour=HH` of an instant.
fn partition(ts_ns: u64) -> String {
    let s = (ts_ns / 1_000_000_000) as i64;
    let (y, m, d) = civil(s.div_euclid(86_400));
    format!(
        "date={y:04}-{m:02}-{d:02}/hour={:02}",
        s.rem_euclid(86_400) / 3600
    )
}

#[cfg(feature = "archive")]
fn ip_text(ip: u128, version: u8) -> String {
    match version {
        4 | 6 => capture::Ip(ip).to_ip_addr().to_string(),
        _ => String::new(),
    }
}

impl Writer {
    /// Files a previous run left count against the budget, oldest first.
    fn scan_existing(&mut self) {
        let mut found = Vec::new();
        let mut stack = vec![self.dir.clone()];
        while let Some(d) = stack.pop() {
            let Ok(rd) = std::fs::read_dir(&d) else {
                continue;
            };
            for e in rd.flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else if p.extension().is_some_and(|x| x == "parquet") {
                    let len = e.metadata().map_or(0, |m| m.len());
                    let seq = p
                        .file_stem()
                        .and_then(|s| s.to_str())
                        .and_then(|s| s.strip_prefix("part-"))
                        .and_then(|s| s.parse::<u64>().ok())
                        .unwrap_or(0);
                    found.push((p.parent().map(Path::to_path_buf), seq, p, len));
                }
            }
        }
        found.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
        for (_, seq, p, len) in found {
            self.seq = self.seq.max(seq + 1);
            self.kept_bytes += len;
            self.kept.push_back((p, len));
        }
    }

    fn run(mut self, rx: &Receiver<Vec<FlowUpdate>>) -> Report {
        for batch in rx.iter() {
            for u in &batch {
                let epoch = u.ts_ns / self.epoch_ns * self.epoch_ns;
                let k = (
                    epoch,
                    u.src.0,
                    u.dst.0,
                    u.sport,
                    u.dport,
                    u.proto,
                    u.ip_version,
                );
                let e = self.rows.entry(k).or_default();
                e.0 = e.0.saturating_add(u.packets as u64);
                e.1 = e.1.saturating_add(u.bytes);
                e.2 = e.2.saturating_add(u.wire_len as u64);
            }
            if self.rows.len() >= FLUSH_ROWS {
                self.flush();
            }
        }
        self.flush();
        self.report
    }

    /// Writes every held row, one file per hour partition.
    fn flush(&mut self) {
        if self.rows.is_empty() {
            return;
        }
        let mut rows: Vec<Row> = self.rows.drain().collect();
        rows.sort_unstable();
        let mut start = 0;
        while start < rows.len() {
            let part = partition(rows[start].0 .0);
            let mut end = start;
            while end < rows.len() && partition(rows[end].0 .0) == part {
                end += 1;
            }
            let dir = self.dir.join(&part);
            let path = dir.join(format!("part-{:06}.parquet", self.seq));
            self.seq += 1;
            let res = std::fs::create_dir_all(&dir)
                .map_err(|e| e.to_string())
                .and_then(|_| write_file(&path, &rows[start..end]));
            match res {
                Ok(len) => {
                    self.report.files += 1;
                    self.report.rows += (end - start) as u64;
                    self.report.bytes += len;
                    self.kept.push_back((path, len));
                    self.kept_bytes += len;
                    self.rotate();
                }
                Err(e) => {
                    if self.report.errors.len() < 10 {
                        self.report.errors.push(format!("{}: {e}", path.display()));
                    }
                }
            }
            start = end;
        }
    }

    /// Deletes the oldest files until the archive fits (the newest file
    /// always stays).
    fn rotate(&mut self) {
        while self.kept_bytes > self.max_bytes && self.kept.len() > 1 {
            let Some((p, len)) = self.kept.pop_front() else {
                break;
            };
            self.kept_bytes -= len;
            if std::fs::remove_file(&p).is_ok() {
                self.report.deleted_files += 1;
                self.report.deleted_bytes += len;
            }
        }
    }
}

/// The Parquet schema of a row.
#[cfg(feature = "archive")]
pub const SCHEMA: &str = "message netsketch_flow_epoch {
  required int64 epoch_start_ns;
  required binary src (UTF8);
  required binary dst (UTF8);
  required int32 sport;
  required int32 dport;
  required int32 proto;
  required int32 ip_version;
  required int64 packets;
  required int64 ip_bytes;
  required int64 wire_bytes;
}";

#[cfg(feature = "archive")]
fn write_file(path: &Path, rows: &[Row]) -> Result<u64, String> {
    use parquet::data_type::{ByteArray, ByteArrayType, Int32Type, Int64Type};
    use parquet::file::properties::WriterProperties;
    use parquet::file::writer::SerializedFileWriter;
    use parquet::schema::parser::parse_message_type;
    use std::sync::Arc;

    let e = |e: parquet::errors::ParquetError| e.to_string();
    let schema = Arc::new(parse_message_type(SCHEMA).map_err(e)?);
    let tmp = path.with_extension("parquet.tmp");
    let file = std::fs::File::create(&tmp).map_err(|e| e.to_string())?;
    let props = Arc::new(WriterProperties::builder().build());
    let mut w = SerializedFileWriter::new(file, schema, props).map_err(e)?;
    let mut rg = w.next_row_group().map_err(e)?;
    let i64s = |f: &dyn Fn(&Row) -> u64| -> Vec<i64> { rows.iter().map(|r| f(r) as i64).collect() };
    let i32s = |f: &dyn Fn(&Row) -> i32| -> Vec<i32> { rows.iter().map(f).collect() };
    let mut col = 0;
    while let Some(mut c) = rg.next_column().map_err(e)? {
        match col {
            0 => {
                c.typed::<Int64Type>()
                    .write_batch(&i64s(&|r| r.0 .0), None, None)
                    .map_err(e)?;
            }
            1 | 2 => {
                let v: Vec<ByteArray> = rows
                    .iter()
                    .map(|r| {
                        let ip = if col == 1 { r.0 .1 } else { r.0 .2 };
                        ByteArray::from(ip_text(ip, r.0 .6).as_str())
                    })
                    .collect();
                c.typed::<ByteArrayType>()
                    .write_batch(&v, None, None)
                    .map_err(e)?;
            }
            3..=6 => {
                let v = i32s(&|r| match col {
                    3 => r.0 .3 as i32,
                    4 => r.0 .4 as i32,
                    5 => r.0 .5 as i32,
                    _ => r.0 .6 as i32,
                });
                c.typed::<Int32Type>()
                    .write_batch(&v, None, None)
                    .map_err(e)?;
            }
            _ => {
                let v = i64s(&|r| match col {
                    7 => r.1 .0,
                    8 => r.1 .1,
                    _ => r.1 .2,
                });
                c.typed::<Int64Type>()
                    .write_batch(&v, None, None)
                    .map_err(e)?;
            }
        }
        c.close().map_err(e)?;
        col += 1;
    }
    rg.close().map_err(e)?;
    w.close().map_err(e)?;
    let len = std::fs::metadata(&tmp).map_err(|e| e.to_string())?.len();
    std::fs::rename(&tmp, path).map_err(|e| e.to_string())?;
    Ok(len)
}

#[cfg(not(feature = "archive"))]
fn write_file(_path: &Path, _rows: &[Row]) -> Result<u64, String> {
    // Unreachable: `Archive::start` refuses `--archive` without the
    // feature, so no writer runs.
    Err("built without the archive feature".into())
}

#[cfg(test)]
mod tests {
    use super::partition;

    #[test]
    fn partitions_are_utc_hours() {
        assert_eq!(partition(0), "date=1970-01-01/hour=00");
        // 2024-01-01T00:00:00Z and 2024-02-29T23:59:59Z.
        assert_eq!(
            partition(1_704_067_200_000_000_000),
            "date=2024-01-01/hour=00"
        );
        assert_eq!(
            partition(1_709_251_199_000_000_000),
            "date=2024-02-29/hour=23"
        );
    }
}
