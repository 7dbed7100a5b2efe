//! One run's shared stages, built once for every command that runs the
//! pipeline (replay, capture, collect, demo, and `run` through them): the
//! engine, detection, the outputs (alert file and `--notify`, Kafka,
//! archive) and the HTTP endpoint. A command builds its own source, hands
//! it to [`Session::run`], and renders from what [`Session::finish`] gives
//! back, adding only its own report fields.
//!
//! The glue lives here: each closed epoch goes to detection and then to the
//! endpoint (with the alerts so far); each window to Kafka, the endpoint
//! (the first `--window` only) and then the command's own sink (its
//! `--json` line, a report timeline).
//!
//! Stages are built in the order the commands always used, every option
//! checked before any thread starts: [`Session::new`] after the command's
//! own checks, [`Session::serve`] once its source is open.

use std::sync::atomic::AtomicBool;

use anyhow::Result;
use pipeline::{Engine, RunOutput, Source, Summary};
use serde_json::{Map, Value};

use crate::alerts::{self, Alerting, DetectArgs};
use crate::archive::{self, Archive, ArchiveArgs, Archiving};
use crate::args::cli::{ServeArgs, SessionArgs};
use crate::args::engine::Query;
use crate::exit::Outcome;
use crate::kafka::{self, Kafka, KafkaArgs};
use crate::rankings::Rankings;
use crate::render::{run_answers_json, run_answers_text};
use crate::serve::Server;

/// The stages every pipeline command shares.
pub struct Session {
    pub engine: Engine,
    alerting: Option<Alerting>,
    kafka: Option<Kafka>,
    archive: Option<Archive>,
    server: Option<Server>,
    /// Suspended while detection writes (an alert file on standard output
    /// must not tear a progress bar).
    bar: Option<indicatif::ProgressBar>,
    detect: bool,
}

/// What a session leaves when its run has ended: every alert, and the
/// reports of the outputs that were on.
pub struct Finished {
    pub alerts: Vec<Value>,
    pub kafka: Option<kafka::Report>,
    pub archive: Option<archive::Report>,
    detect: bool,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Finished {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Finished")
            .field("alerts", &self.alerts.len())
            .finish_non_exhaustive()
    }
}

impl Session {
    /// Detection and, when `outputs` are given, the Kafka sink (which also
    /// takes every alert event) and the archive, for `engine`.
    pub fn new(
        engine: Engine,
        detect: &DetectArgs,
        outputs: Option<(&KafkaArgs, &ArchiveArgs)>,
    ) -> Result<Session> {
        let epoch_ns = engine.config().epoch_ns;
        debug_assert!(
            detect.no_detect || engine.config().epoch_sketches,
            "detection reads each epoch's sketches"
        );
        let mut alerting = Alerting::new(detect, epoch_ns, &engine.metrics())?;
        let (kafka, archive) = match outputs {
            Some((k, a)) => {
                let kafka = Kafka::start(k, &engine.metrics().registry)?;
                alerts::attach_kafka(&mut alerting, kafka.as_ref());
                (kafka, Archive::start(a, epoch_ns)?)
            }
            None => (None, None),
        };
        Ok(Session {
            engine,
            alerting,
            kafka,
            archive,
            server: None,
            bar: None,
            detect: !detect.no_detect,
        })
    }

    /// Starts the endpoint if `--serve` was given (`source` names the
    /// command on `/api/v1/`).
    pub fn serve(&mut self, args: &ServeArgs, source: &str, k: usize) -> Result<()> {
        self.server = args.start(self.engine.metrics().registry.clone(), source, k)?;
        Ok(())
    }

    /// The endpoint, if one is serving.
    pub fn server(&self) -> Option<&Server> {
        self.server.as_ref()
    }

    /// Suspends `bar` while detection writes.
    pub fn with_bar(&mut self, bar: indicatif::ProgressBar) {
        self.bar = Some(bar);
    }

    /// Runs `source` (archived, when `--archive` is on) through the engine
    /// until it ends or `stop` is set; `sink` gets each window after Kafka
    /// and the endpoint.
    pub fn run<S: Source>(
        &mut self,
        source: &mut S,
        stop: &AtomicBool,
        mut sink: impl FnMut(usize, &Summary),
    ) -> RunOutput {
        let Session {
            engine,
            alerting,
            kafka,
            archive,
            server,
            bar,
            ..
        } = self;
        let (kafka, server, bar) = (kafka.as_ref(), server.as_ref(), bar.as_ref());
        let mut archived = Archiving::new(source, archive.as_ref());
        engine.run_observed(
            &mut archived,
            stop,
            |e| {
                match bar {
                    Some(b) => b.suspend(|| alerts::feed(alerting, e)),
                    None => alerts::feed(alerting, e),
                }
                if let Some(s) = server {
                    s.on_epoch(e, alerting.as_ref().map(|a| a.alerts()));
                }
            },
            |i, w| {
                if let Some(k) = kafka {
                    k.window(i, w);
                }
                if let (Some(s), 0) = (server, i) {
                    s.on_window(w);
                }
                sink(i, w);
            },
        )
    }

    /// Ends detection and the outputs. Failures of the alert outputs are
    /// warned about and mark `outcome`.
    pub fn finish(&mut self, outcome: &mut Outcome) -> Finished {
        Finished {
            alerts: alerts::finish(self.alerting.take(), outcome),
            kafka: kafka::finish(self.kafka.take()),
            archive: self.archive.take().map(Archive::finish),
            detect: self.detect,
        }
    }
}

impl Finished {
    /// The alerts a report shows: none when detection was off.
    pub fn shown(&self) -> Option<&[Value]> {
        self.detect.then_some(&self.alerts[..])
    }

    /// The summary's `kafka` and `archive` objects, then the answers.
    pub fn answers_json(
        &self,
        m: &mut Map<String, Value>,
        total: &Summary,
        k: usize,
        queries: &[Query],
    ) {
        if let Some(r) = &self.kafka {
            m.insert("kafka".into(), r.json());
        }
        if let Some(a) = &self.archive {
            m.insert("archive".into(), a.json());
        }
        run_answers_json(m, total, k, queries, self.shown());
    }

    /// The text report's rows of the outputs that were on.
    pub fn rows(&self) -> impl Iterator<Item = (String, String)> + '_ {
        let kafka = self.kafka.as_ref().map(kafka::Report::row);
        kafka
            .into_iter()
            .chain(self.archive.as_ref().map(archive::Report::row))
    }

    /// The answer rows of the text report.
    pub fn answers_text(
        &self,
        total: &Summary,
        ranks: &Rankings,
        queries: &[Query],
        trace_start_ns: Option<u64>,
    ) -> String {
        run_answers_text(total, ranks, queries, self.shown(), trace_start_ns)
    }
}

impl SessionArgs {
    /// The engine and the `--query` prefixes, checked (a refused option is
    /// a usage error) before anything starts.
    pub fn engine(&self) -> Result<(Engine, Vec<Query>)> {
        let engine = self.engine.engine(!self.detect.no_detect)?;
        let queries = self.engine.queries().map_err(crate::exit::usage)?;
        Ok((engine, queries))
    }

    /// The session of a live command over `engine`, with every output.
    pub fn session(&self, engine: Engine) -> Result<Session> {
        Session::new(engine, &self.detect, Some((&self.kafka, &self.archive)))
    }
}
