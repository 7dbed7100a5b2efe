//! The merging thread: completes epochs from the workers' partials and the
//! source's totals, keeps the ring of closed epochs and forms the sliding
//! windows and the run total from it.

use std::collections::{BTreeMap, VecDeque};
use std::time::Instant;

use crossbeam_channel::Receiver;

use crate::keys::SHARDS;
use crate::shard::ShardSketches;
use crate::summary::{EpochTotals, Summary};

use super::{Engine, RunOutput};

/// Closed epochs the merge channel holds before workers wait for it.
pub(super) const MERGE_EPOCHS: usize = 2;

pub(super) enum MergeMsg {
    Totals(u64, EpochTotals),
    Partial(u64, Vec<(usize, ShardSketches)>),
    Closed(usize, u64),
    Done(usize),
}

impl Engine {
    pub(super) fn merge_loop(
        &self,
        rx: Receiver<MergeMsg>,
        on_epoch: &mut dyn FnMut(&Summary),
        on_window: &mut dyn FnMut(usize, &Summary),
    ) -> RunOutput {
        // With no workers the source thread is the one participant.
        let n = self.cfg.workers.max(1);
        let e_ns = self.cfg.epoch_ns;
        let ring_len = self
            .cfg
            .windows
            .iter()
            .map(|w| w.length as usize)
            .max()
            .unwrap_or(1);
        let mut pending: BTreeMap<u64, (Option<EpochTotals>, Vec<Option<ShardSketches>>)> =
            BTreeMap::new();
        let mut through: Vec<Option<u64>> = vec![None; n];
        let mut ring: VecDeque<(u64, Summary)> = VecDeque::new();
        let mut total: Option<Summary> = None;
        let mut epochs = 0u64;
        let mut late = 0u64;
        let mut future = 0u64;
        let hist = self.metrics.stage_seconds.with_label_values(&["merge"]);
        let new_pending = || (None, (0..SHARDS).map(|_| None).collect::<Vec<_>>());
        for msg in rx {
            match msg {
                MergeMsg::Totals(e, t) => pending.entry(e).or_insert_with(new_pending).0 = Some(t),
                MergeMsg::Partial(e, parts) => {
                    let p = pending.entry(e).or_insert_with(new_pending);
                    for (s, sk) in parts {
                        p.1[s] = Some(sk);
                    }
                }
                MergeMsg::Closed(w, x) => through[w] = Some(x),
                MergeMsg::Done(w) => through[w] = Some(u64::MAX),
            }
            let Some(all) = through
                .iter()
                .map(|t| t.unwrap_or(0))
                .min()
                .filter(|_| through.iter().all(Option::is_some))
            else {
                continue;
            };
            // An epoch is complete when every worker closed it and the
            // source sent its totals.
            while let Some((&e, p)) = pending.first_key_value() {
                if e > all || p.0.is_none() {
                    break;
                }
                let (t, shards) = pending.remove(&e).expect("first key exists");
                let t0 = Instant::now();
                let summary = Summary {
                    start_ns: e * e_ns,
                    end_ns: (e + 1) * e_ns,
                    totals: t.unwrap_or_default(),
                    shards: shards
                        .into_iter()
                        .map(|s| s.unwrap_or_else(|| ShardSketches::new(&self.budget)))
                        .collect(),
                };
                epochs += 1;
                late += summary.totals.late;
                future += summary.totals.future;
                on_epoch(&summary);
                self.metrics.epochs.inc();
                match &mut total {
                    Some(tot) => tot.merge(&summary),
                    None => total = Some(summary.clone()),
                }
                ring.push_back((e, summary));
                while ring.front().is_some_and(|(x, _)| x + ring_len as u64 <= e) {
                    ring.pop_front();
                }
                for (i, spec) in self.cfg.windows.iter().enumerate() {
                    if (e + 1) % spec.slide as u64 == 0 {
                        let first = (e + 1).saturating_sub(spec.length as u64);
                        let mut win: Option<Summary> = None;
                        for (_, s) in ring.iter().filter(|(x, _)| *x >= first) {
                            match &mut win {
                                Some(w) => w.merge(s),
                                None => win = Some(s.clone()),
                            }
                        }
                        if let Some(mut w) = win {
                            w.start_ns = first * e_ns;
                            w.end_ns = (e + 1) * e_ns;
                            on_window(i, &w);
                        }
                    }
                }
                hist.observe(t0.elapsed().as_secs_f64());
            }
        }
        RunOutput {
            total: total.unwrap_or_else(|| Summary::empty(0, 0, &self.budget)),
            epochs,
            late,
            future,
            dropped: self.metrics.drops.with_label_values(&["queue_full"]).get(),
            batches: self.metrics.batches.get(),
        }
    }
}
