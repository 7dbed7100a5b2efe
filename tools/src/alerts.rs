//! Detection options, the configuration file, and where alerts go: JSON
//! lines to stdout or a file, a notify command with each alert on its
//! stdin, and Prometheus gauges of active alerts.

use std::io::Write;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Result;
use clap::Args;
use pipeline::detect::{AlertKind, DetectConfig, Detector, Event};
use pipeline::{Metrics, Summary};
use serde::Deserialize;
use serde_json::Value;

use crate::render::alert::alert_json;

#[derive(Debug, Args, Clone, Default)]
pub struct DetectArgs {
    /// Configuration file (TOML): `[detect]` settings and
    /// `[[detect.hostgroup]]` networks with thresholds. Without it every
    /// address is protected with default thresholds.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Write every alert event (start, update, end) as a JSON line to FILE,
    /// `-` for standard output.
    #[arg(long, value_name = "FILE")]
    pub alerts: Option<PathBuf>,
    /// Run this shell command for every alert start and end, with the alert
    /// as one JSON line on its standard input.
    #[arg(long, value_name = "COMMAND")]
    pub notify: Option<String>,
    /// Seconds a --notify command may run; then it is killed (its whole
    /// process group), warned about and counted.
    #[arg(long, value_name = "SECONDS", default_value_t = 5.0)]
    pub notify_timeout: f64,
    /// Turn detection off.
    #[arg(long)]
    pub no_detect: bool,
}

/// The configuration file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// Detection settings.
    #[serde(default)]
    pub detect: DetectConfig,
    /// `netsketch run`: pipeline options, as on the command line
    /// (`workers = 2`, `window = ["60/10"]`).
    #[serde(default)]
    pub engine: crate::args::config::EngineSection,
    /// `netsketch run`: the HTTP endpoint (`listen`, `metrics_series`).
    #[serde(default)]
    pub serve: crate::args::config::ServeSection,
    /// `netsketch run`: where the input comes from (`kind` = collect,
    /// capture or file, and that command's options).
    #[serde(default, rename = "source")]
    pub spanned_source: Vec<toml::Spanned<crate::args::config::SourceSection>>,
    /// The same, without their places (filled by [`load_config`]).
    #[serde(skip)]
    pub source: Vec<crate::args::config::SourceSection>,
    /// The line each `[[source]]` starts on.
    #[serde(skip)]
    pub source_lines: Vec<usize>,
    /// The file's text.
    #[serde(skip)]
    pub text: String,
    /// `netsketch run`: alert outputs (`alerts` file, `notify` command).
    #[serde(default)]
    pub output: crate::args::config::OutputSection,
}

/// Reads and checks a configuration file against its schema; errors name
/// the file, the line and the key, and are usage errors (exit status 2).
pub fn load_config(path: &Path) -> Result<ConfigFile> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| crate::exit::usage(format!("cannot read {}: {e}", path.display())))?;
    let mut cfg: ConfigFile = toml::from_str(&text).map_err(|e| {
        crate::exit::usage(format!("{}: {}", path.display(), e.to_string().trim_end()))
    })?;
    if let Err(e) = cfg.detect.validate() {
        return Err(crate::exit::usage(format!(
            "{}: [detect] {e}",
            path.display()
        )));
    }
    for s in std::mem::take(&mut cfg.spanned_source) {
        cfg.source_lines
            .push(crate::args::config::line_of(&text, s.span().start));
        cfg.source.push(s.into_inner());
    }
    cfg.text = text;
    Ok(cfg)
}

/// Notify commands running at once at most; an alert beyond them is not
/// notified (warned and counted as `too_many`).
const MAX_NOTIFY_RUNNING: usize = 64;

/// A notify command on its way.
struct Running {
    child: Child,
    deadline: Instant,
}

/// The detector and its outputs.
pub struct Alerting {
    detector: Detector,
    /// The detector's alert history as JSON, each in its latest state.
    rendered: Vec<Value>,
    out: Option<Box<dyn Write + Send>>,
    notify: Option<String>,
    notify_timeout: Duration,
    children: Vec<Running>,
    gauge: prometheus::IntGaugeVec,
    /// `netsketch_notify_total{result}`: ok, failed, timeout, too_many,
    /// spawn_error.
    notified: prometheus::IntCounterVec,
    failures: Vec<String>,
    /// `--kafka`: every event also goes to the alerts topic.
    kafka: Option<crate::kafka::Handle>,
}

impl Alerting {
    /// Builds detection for `epoch_ns` epochs, or `None` if turned off.
    pub fn new(args: &DetectArgs, epoch_ns: u64, metrics: &Metrics) -> Result<Option<Alerting>> {
        if args.no_detect {
            return Ok(None);
        }
        let cfg = match &args.config {
            Some(p) => load_config(p)?.detect,
            None => DetectConfig::default(),
        };
        let detector = Detector::new(cfg, epoch_ns).map_err(crate::exit::usage)?;
        let t = args.notify_timeout;
        if !(t.is_finite() && t > 0.0 && t <= 86_400.0) {
            return Err(crate::exit::usage(
                "--notify-timeout must be a positive number of seconds, at most 86400",
            ));
        }
        let out: Option<Box<dyn Write + Send>> = match &args.alerts {
            None => None,
            Some(p) if p.as_os_str() == "-" => Some(Box::new(std::io::stdout())),
            Some(p) => Some(Box::new(std::io::BufWriter::new(
                std::fs::File::create(p).map_err(|e| {
                    crate::exit::output(format!("cannot create {}: {e}", p.display()))
                })?,
            ))),
        };
        let notified = prometheus::IntCounterVec::new(
            prometheus::Opts::new(
                "netsketch_notify_total",
                "Notify commands by result (ok, failed, timeout: killed, too_many: not run, spawn_error)",
            ),
            &["result"],
        )
        .expect("valid");
        let _ = metrics.registry.register(Box::new(notified.clone()));
        let gauge = prometheus::IntGaugeVec::new(
            prometheus::Opts::new("netsketch_alerts_active", "Alerts active now, by type"),
            &["type"],
        )
        .expect("valid");
        // A second run in one process registers again: keep the first.
        let _ = metrics.registry.register(Box::new(gauge.clone()));
        Ok(Some(Alerting {
            detector,
            rendered: Vec::new(),
            out,
            notify: args.notify.clone(),
            notify_timeout: Duration::from_secs_f64(t),
            children: Vec::new(),
            gauge,
            notified,
            failures: Vec::new(),
            kafka: None,
        }))
    }

    /// Feeds one closed epoch; writes and notifies what it raises.
    pub fn on_epoch(&mut self, s: &Summary) {
        let alerts = self.detector.on_epoch(s);
        let lines: Vec<Value> = alerts.iter().map(alert_json).collect();
        if !lines.is_empty() {
            self.sync_rendered();
        }
        for (alert, line) in alerts.iter().zip(&lines) {
            if let Some(k) = &self.kafka {
                k.alert(line);
            }
            if let Some(o) = self.out.as_mut() {
                if let Err(e) = writeln!(o, "{line}") {
                    self.output_failed(&e);
                }
            }
            if alert.event != Event::Update {
                self.notify(line);
            }
        }
        if !lines.is_empty() {
            if let Some(Err(e)) = self.out.as_mut().map(|o| o.flush()) {
                self.output_failed(&e);
            }
        }
        self.reap(false);
        // Active counts change only with an event; the epochs of a long
        // quiet stretch skip the nine labelled lookups.
        if lines.is_empty() && s.totals.packets == 0 {
            return;
        }
        let active = self.detector.active_by_type();
        for k in AlertKind::ALL {
            self.gauge
                .with_label_values(&[k.as_str()])
                .set(active.get(&k).copied().unwrap_or(0) as i64);
        }
    }

    /// Brings the JSON history up to the detector's: new alerts appended,
    /// the ones not yet ended rendered again (an ended alert no longer
    /// changes). The history changes only in an epoch that wrote a line.
    fn sync_rendered(&mut self) {
        for (i, a) in self.detector.alerts().iter().enumerate() {
            match self.rendered.get_mut(i) {
                None => self.rendered.push(alert_json(a)),
                Some(r) if r["event"] != Event::End.as_str() => *r = alert_json(a),
                Some(_) => {}
            }
        }
    }

    /// The alert output failed: said once, and no more is written to it.
    fn output_failed(&mut self, e: &std::io::Error) {
        self.failures.push(format!("alert output: {e}"));
        self.out = None;
    }

    fn notify(&mut self, line: &Value) {
        let Some(cmd) = self.notify.clone() else {
            return;
        };
        // Reap the ones that finished, so a long run keeps no zombies.
        self.reap(false);
        if self.children.len() >= MAX_NOTIFY_RUNNING {
            self.note("too_many", || {
                format!("{MAX_NOTIFY_RUNNING} notify commands still running; alert not notified")
            });
            return;
        }
        // Its own process group, so that a timeout kills what it started.
        match Command::new("sh")
            .args(["-c", &cmd])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .process_group(0)
            .spawn()
        {
            Ok(mut child) => {
                if let Some(mut stdin) = child.stdin.take() {
                    // A command that does not read its stdin is its own
                    // business; the line is short, so this never blocks.
                    let _ = writeln!(stdin, "{line}");
                }
                self.children.push(Running {
                    child,
                    deadline: Instant::now() + self.notify_timeout,
                });
            }
            Err(e) => self.note("spawn_error", || format!("notify command: {e}")),
        }
    }

    /// Counts a notify result; a failure is also kept for the warning
    /// (the first 20 of each run, then only counted).
    fn note(&mut self, result: &str, why: impl FnOnce() -> String) {
        self.notified.with_label_values(&[result]).inc();
        if result != "ok" && self.failures.len() < 20 {
            self.failures.push(why());
        }
    }

    /// Collects the notify commands that ended and kills those past their
    /// deadline; with `wait`, waits for the others up to theirs.
    fn reap(&mut self, wait: bool) {
        let timeout = self.notify_timeout;
        loop {
            let now = Instant::now();
            let mut i = 0;
            while i < self.children.len() {
                let r = &mut self.children[i];
                match r.child.try_wait() {
                    Ok(None) if now < r.deadline => {
                        i += 1;
                        continue;
                    }
                    Ok(None) => {
                        let pid = rustix::process::Pid::from_raw(r.child.id() as i32);
                        if let Some(pid) = pid {
                            let _ = rustix::process::kill_process_group(
                                pid,
                                rustix::process::Signal::KILL,
                            );
                        }
                        let _ = r.child.kill();
                        let _ = r.child.wait();
                        self.children.swap_remove(i);
                        self.note("timeout", || {
                            format!("notify command still running after {timeout:?}; killed")
                        });
                    }
                    Ok(Some(st)) => {
                        self.children.swap_remove(i);
                        if st.success() {
                            self.note("ok", String::new);
                        } else {
                            self.note("failed", || format!("notify command exited with {st}"));
                        }
                    }
                    Err(e) => {
                        self.children.swap_remove(i);
                        self.note("failed", || format!("notify command: {e}"));
                    }
                }
            }
            if !wait || self.children.is_empty() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Every alert so far, each in its latest state.
    pub fn alerts(&self) -> &[Value] {
        &self.rendered
    }

    /// Waits for notify commands (each up to its deadline, then killed),
    /// flushes the alert output, and returns every alert of the run with
    /// any output failures.
    pub fn finish(mut self) -> (Vec<Value>, Vec<String>) {
        self.reap(true);
        if let Some(Err(e)) = self.out.as_mut().map(|o| o.flush()) {
            self.output_failed(&e);
        }
        (self.rendered, self.failures)
    }
}

/// Sends every alert event to `kafka` too, if detection is on.
pub fn attach_kafka(alerting: &mut Option<Alerting>, kafka: Option<&crate::kafka::Kafka>) {
    if let (Some(a), Some(k)) = (alerting.as_mut(), kafka) {
        a.kafka = k.handle();
    }
}

/// Feeds a closed epoch to detection, if it is on.
pub fn feed(alerting: &mut Option<Alerting>, epoch: &Summary) {
    if let Some(a) = alerting.as_mut() {
        a.on_epoch(epoch);
    }
}

/// Ends detection: every alert of the run (none if it was off). Output
/// failures (the alert file, notify commands) are printed as warnings and
/// mark `outcome`.
pub fn finish(alerting: Option<Alerting>, outcome: &mut crate::exit::Outcome) -> Vec<Value> {
    let (alerts, failures) = alerting.map(Alerting::finish).unwrap_or_default();
    outcome.output_failed |= !failures.is_empty();
    for f in failures {
        eprintln!("netsketch: warning: {f}");
    }
    alerts
}

/// One line per alert for the text report. Times are absolute (RFC 3339,
/// UTC); a replay also gives them relative to its trace's first packet
/// (`trace_start_ns`), labelled `trace +N s`. An alert still active at the
/// end of the run reads `active since`.
pub fn alerts_text(alerts: &[Value], trace_start_ns: Option<u64>) -> String {
    let mut s = String::new();
    if alerts.is_empty() {
        s.push_str("  alerts: none\n");
        return s;
    }
    s.push_str("  alerts:\n");
    for a in alerts {
        let at = |t: u64| match trace_start_ns {
            Some(o) => format!(
                "{} (trace +{:.0} s)",
                alert_time(t),
                t.saturating_sub(o) as f64 / 1e9
            ),
            None => alert_time(t),
        };
        let start = a["start_ts_ns"].as_u64().unwrap_or(0);
        let when = match a["end_ts_ns"].as_u64() {
            Some(end) => format!("from {} to {}", at(start), at(end)),
            None => format!("active since {}", at(start)),
        };
        let ev = &a["evidence"];
        let kind = a["type"].as_str().and_then(|t| t.parse::<AlertKind>().ok());
        let figure = match kind {
            Some(AlertKind::SlaLatency) => format!(
                "p{:.0} {} RTT {:.1} ms",
                ev["latency"]["quantile"].as_f64().unwrap_or(0.0) * 100.0,
                ev["latency"]["side"].as_str().unwrap_or("?"),
                ev["latency"]["upper_ns"].as_f64().unwrap_or(0.0) / 1e6
            ),
            Some(AlertKind::SlaFailures) => format!(
                "{:.0}% failed",
                ev["failure_ratio"].as_f64().unwrap_or(0.0) * 100.0
            ),
            _ => format!("{:.0} pps", ev["pps"]["value"].as_f64().unwrap_or(0.0)),
        };
        s.push_str(&format!(
            "    {:<18} {:<22} {:>16}  {when}\n",
            a["type"].as_str().unwrap_or("?"),
            a["victim"].as_str().unwrap_or("?"),
            figure
        ));
    }
    s
}

/// An alert time as RFC 3339 in UTC: whole seconds, or milliseconds when
/// the time has a fraction (epochs shorter than a second).
pub fn alert_time(ns: u64) -> String {
    let full = crate::render::format::ts_text(ns);
    // `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ`
    match full.split_once('.') {
        Some((secs, _)) if ns % 1_000_000_000 == 0 => format!("{secs}Z"),
        Some((secs, frac)) => format!("{secs}.{}Z", &frac[..3]),
        None => full,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn alert_times_are_rfc3339_and_relative_to_the_trace() {
        // 2026-12-01T00:00:04Z and 00:00:16Z, trace starting at 00:00:00.
        let day = 1_796_083_200u64 * 1_000_000_000;
        let ended = json!({"type": "syn_flood", "victim": "10.0.0.1",
            "start_ts_ns": day + 4_000_000_000u64, "end_ts_ns": day + 16_000_000_000u64,
            "evidence": {"pps": {"value": 1000.0}}});
        let active = json!({"type": "syn_flood", "victim": "10.0.0.2",
            "start_ts_ns": day + 4_500_000_000u64, "evidence": {"pps": {"value": 10.0}}});
        let t = alerts_text(&[ended.clone(), active.clone()], Some(day));
        assert!(
            t.contains(
                "from 2026-12-01T00:00:04Z (trace +4 s) to 2026-12-01T00:00:16Z (trace +16 s)"
            ),
            "{t}"
        );
        assert!(
            t.contains("active since 2026-12-01T00:00:04.500Z (trace +4 s)"),
            "{t}"
        );
        // Live sources: absolute times only (the collector printed
        // `from +1796150983 s to active`).
        let t = alerts_text(&[ended, active], None);
        assert!(
            t.contains("from 2026-12-01T00:00:04Z to 2026-12-01T00:00:16Z"),
            "{t}"
        );
        assert!(t.contains("active since 2026-12-01T00:00:04.500Z"), "{t}");
        assert!(!t.contains('+'), "{t}");
    }
}
