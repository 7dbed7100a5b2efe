//! The window ring: Spark's `reduceByKeyAndWindow` over closed epochs.
//!
//! Every epoch of the stream is pushed, in order and without holes (an
//! epoch without updates is an empty [`Summary`], which allocates nothing),
//! and every slide emits its window whatever the traffic:
//! - a window ends at each multiple of its slide, `[end - length, end)` in
//!   epochs, aligned to epoch 0 of the Unix clock (so every run and every
//!   command cuts the same windows);
//! - windows that start before the stream's first epoch are emitted too,
//!   marked partial;
//! - at the end of input (or on shutdown) the window that holds the last
//!   epoch is emitted, marked partial, if its slide has not ended yet.
//!
//! Tumbling windows (`slide == length`) therefore partition the stream:
//! their packets sum to the run's.

use std::collections::VecDeque;

use crate::shard::ShardSketches;
use crate::summary::Summary;

use super::config::WindowSpec;

/// The last epochs of a stream, and the windows they make.
#[derive(Debug)]
pub(super) struct WindowRing {
    specs: Vec<WindowSpec>,
    epoch_ns: u64,
    /// The last `len` epochs, oldest first, consecutive.
    ring: VecDeque<(u64, Summary)>,
    len: u64,
    first: Option<u64>,
    last: Option<u64>,
    /// Set when the stream begins with closes and no epoch: it starts
    /// after this one.
    after: Option<u64>,
    /// Every spec tumbles (`slide == length`): windows are accumulated as
    /// their epochs arrive, one merge per epoch and no ring, the epoch
    /// itself (not a copy) starting each window of the last spec.
    tumbling: bool,
    /// The window being accumulated, per spec (tumbling only).
    acc: Vec<Option<Summary>>,
    /// Epochs and windows the ring is done with, for their storage to be
    /// reused ([`WindowRing::take_spent`]).
    spent: Vec<Summary>,
    /// Tumbling only: the first spec's windows merged, which partition the
    /// stream: the run total's sketches but for its address rankings, one
    /// merge per window instead of one per epoch ([`WindowRing::take_total`]).
    total: Option<Summary>,
}

impl WindowRing {
    pub(super) fn new(specs: &[WindowSpec], epoch_ns: u64) -> WindowRing {
        WindowRing {
            specs: specs.to_vec(),
            epoch_ns,
            ring: VecDeque::new(),
            len: specs.iter().map(|w| w.length as u64).max().unwrap_or(1),
            first: None,
            last: None,
            after: None,
            tumbling: Self::totals_windows(specs),
            acc: specs.iter().map(|_| None).collect(),
            spent: Vec::new(),
            total: None,
        }
    }

    /// Whether the run total is made of the windows ([`WindowRing::take_total`]),
    /// as it is when every window tumbles.
    pub(super) fn totals_windows(specs: &[WindowSpec]) -> bool {
        specs.iter().all(|w| w.slide == w.length)
    }

    /// The first spec's windows merged (tumbling only; `None` before any
    /// window with traffic), once the stream has finished.
    pub(super) fn take_total(&mut self) -> Option<Summary> {
        self.total.take()
    }

    /// Hands out what the ring is done with: epochs that left it and
    /// windows after they were emitted.
    pub(super) fn take_spent(&mut self) -> impl Iterator<Item = Summary> + '_ {
        self.spent.drain(..)
    }

    /// The epoch the next push must be, once the stream started.
    pub(super) fn next_epoch(&self) -> Option<u64> {
        self.last.or(self.after).map(|l| l + 1)
    }

    /// Starts the stream after epoch `x` (a live source whose clock closed
    /// epochs before any update came), if it has not started.
    pub(super) fn start_after(&mut self, x: u64) {
        if self.last.is_none() {
            self.after = Some(x);
        }
    }

    /// Jumps over a stretch of empty epochs: the next push is `n`. Only
    /// called after at least a ring's length of empty epochs, so the ring
    /// and the windows being accumulated hold nothing but empty epochs;
    /// windows lying wholly inside the stretch are not emitted.
    pub(super) fn skip_to(&mut self, n: u64) {
        if self.next_epoch().is_some_and(|x| n > x) {
            self.ring.clear();
            for a in &mut self.acc {
                *a = None;
            }
            self.last = Some(n - 1);
        }
    }

    /// The longest window, in epochs.
    pub(super) fn span(&self) -> u64 {
        self.len + self.specs.iter().map(|w| w.slide as u64).max().unwrap_or(1)
    }

    /// Takes epoch `e`, the one after the last pushed (or the stream's
    /// first), and emits the windows it ends as `emit(spec index, window)`.
    ///
    /// # Panics
    ///
    /// If `e` is not the epoch after the last one pushed: the merging
    /// thread fills every gap with empty epochs, so this is a broken
    /// invariant, not bad input.
    pub(super) fn push(&mut self, e: u64, s: Summary, emit: &mut dyn FnMut(usize, &Summary)) {
        assert!(
            self.next_epoch().is_none_or(|n| e == n),
            "epochs are pushed in order without holes"
        );
        self.first.get_or_insert(e);
        self.last = Some(e);
        if self.tumbling {
            self.accumulate(e, s, emit);
            return;
        }
        self.ring.push_back((e, s));
        while self.ring.front().is_some_and(|(x, _)| x + self.len <= e) {
            if let Some((_, old)) = self.ring.pop_front() {
                self.spend(old);
            }
        }
        for i in 0..self.specs.len() {
            let spec = self.specs[i];
            if (e + 1) % spec.slide as u64 == 0 {
                let w = self.window(spec, e + 1);
                emit(i, &w);
                self.spend(w);
            }
        }
    }

    /// Adds epoch `e` to every spec's window (tumbling specs only),
    /// emitting those it ends.
    fn accumulate(&mut self, e: u64, s: Summary, emit: &mut dyn FnMut(usize, &Summary)) {
        let n = self.specs.len();
        let mut s = Some(s);
        for i in 0..n {
            let spec = self.specs[i];
            self.add_to(i, &mut s);
            if (e + 1) % spec.slide as u64 == 0 {
                if let Some(mut w) = self.acc[i].take() {
                    self.shape(&mut w, spec, e + 1);
                    emit(i, &w);
                    self.retire(i, w);
                }
            }
        }
        if let Some(s) = s {
            self.spend(s);
        }
    }

    /// Adds `s` to spec `i`'s window being accumulated: a copy for all
    /// but the last spec, which takes it (by move into a window that has
    /// no sketches yet), leaving in `s` what is left of it to spend.
    fn add_to(&mut self, i: usize, s: &mut Option<Summary>) {
        let last = i + 1 == self.specs.len();
        match &mut self.acc[i] {
            Some(w) if last => *s = s.take().map(|s| w.absorb(s)),
            Some(w) => w.merge(s.as_ref().expect("taken only last")),
            None if last => self.acc[i] = s.take(),
            None => self.acc[i] = s.clone(),
        }
    }

    /// Sketches of epochs already pushed, come after them (chunk mode: a
    /// chunk whose last epoch the stream did not reach) into the window of
    /// each spec being accumulated, which holds those epochs (tumbling
    /// only).
    pub(super) fn absorb(&mut self, shards: Vec<ShardSketches>) {
        debug_assert!(self.tumbling, "chunks come with tumbling windows only");
        let Some(last) = self.last else { return };
        let e_ns = self.epoch_ns;
        let mut s = Summary::nothing(last.saturating_mul(e_ns), (last + 1).saturating_mul(e_ns));
        s.shards = shards;
        let mut s = Some(s);
        for i in 0..self.specs.len() {
            self.add_to(i, &mut s);
        }
        if let Some(s) = s {
            self.spend(s);
        }
    }

    /// An emitted tumbling window: the first spec's go into the total.
    fn retire(&mut self, spec: usize, w: Summary) {
        if spec != 0 || w.shards.is_empty() {
            return self.spend(w);
        }
        match &mut self.total {
            Some(t) => {
                t.merge_rest(&w);
                self.spend(w);
            }
            None => self.total = Some(w),
        }
    }

    /// Keeps a summary's sketches for reuse (an empty one has none).
    fn spend(&mut self, s: Summary) {
        if !s.shards.is_empty() {
            self.spent.push(s);
        }
    }

    /// Gives a window its nominal bounds and its partial mark (ring and
    /// tumbling accumulation alike).
    fn shape(&self, w: &mut Summary, spec: WindowSpec, end: u64) {
        let start = end.saturating_sub(spec.length as u64);
        w.start_ns = start.saturating_mul(self.epoch_ns);
        w.end_ns = end.saturating_mul(self.epoch_ns);
        w.partial = self
            .first
            .is_some_and(|f| end < f.saturating_add(spec.length as u64));
    }

    /// Ends the stream: emits, per window spec, the window holding the
    /// last epoch if its slide has not ended, marked partial.
    pub(super) fn finish(&mut self, emit: &mut dyn FnMut(usize, &Summary)) {
        let Some(last) = self.last else { return };
        if self.tumbling {
            for i in 0..self.specs.len() {
                let spec = self.specs[i];
                let slide = spec.slide as u64;
                if let Some(mut w) = self.acc[i].take() {
                    let end = ((last + 1) / slide + 1) * slide;
                    self.shape(&mut w, spec, end);
                    w.partial = true;
                    emit(i, &w);
                    self.retire(i, w);
                }
            }
            return;
        }
        for i in 0..self.specs.len() {
            let spec = self.specs[i];
            let slide = spec.slide as u64;
            if (last + 1) % slide != 0 {
                let end = ((last + 1) / slide + 1) * slide;
                let mut w = self.window(spec, end);
                w.partial = true;
                emit(i, &w);
            }
        }
    }

    /// The window of `spec` ending at epoch `end` (exclusive), from the
    /// epochs in the ring.
    fn window(&self, spec: WindowSpec, end: u64) -> Summary {
        let start = end.saturating_sub(spec.length as u64);
        let mut w = Summary::nothing(
            start.saturating_mul(self.epoch_ns),
            end.saturating_mul(self.epoch_ns),
        );
        for (_, s) in self.ring.iter().filter(|(x, _)| *x >= start && *x < end) {
            w.merge(s);
        }
        // Nominally `[end - length, end)`, which may reach before the
        // stream (or before epoch 0).
        self.shape(&mut w, spec, end);
        w
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::summary::EpochTotals;

    /// An epoch with `packets` packets (exact totals only: the ring never
    /// looks into the sketches).
    fn epoch(e: u64, packets: u64) -> Summary {
        let mut s = Summary::nothing(e, e + 1);
        s.totals = EpochTotals {
            packets,
            ..EpochTotals::default()
        };
        s
    }

    /// Pushes `epochs` (epoch index, packets) with holes filled by empty
    /// epochs, as the merging thread does, then finishes; returns every
    /// window as (spec, start epoch, end epoch, packets, partial).
    fn check(specs: &[(u32, u32)], epochs: &[(u64, u64)]) -> Vec<(usize, u64, u64, u64, bool)> {
        let specs: Vec<WindowSpec> = specs
            .iter()
            .map(|&(length, slide)| WindowSpec { length, slide })
            .collect();
        let mut ring = WindowRing::new(&specs, 1);
        let mut out = Vec::new();
        let mut emit = |i: usize, w: &Summary| {
            out.push((i, w.start_ns, w.end_ns, w.totals.packets, w.partial))
        };
        for &(e, p) in epochs {
            while let Some(n) = ring.next_epoch().filter(|n| *n < e) {
                ring.push(n, Summary::nothing(n, n + 1), &mut emit);
            }
            ring.push(e, epoch(e, p), &mut emit);
        }
        ring.finish(&mut emit);
        out
    }

    #[test]
    fn tumbling_windows_partition_the_stream() {
        // The synflood trace's shape: traffic from 21 s to 44 s, windows
        // of 10: [20, 30) partial at the start, [30, 40), [40, 50) partial
        // at the end.
        let epochs: Vec<(u64, u64)> = (21..=44).map(|e| (e, 100)).collect();
        assert_eq!(
            check(&[(10, 10)], &epochs),
            vec![
                (0, 20, 30, 900, true),
                (0, 30, 40, 1000, false),
                (0, 40, 50, 500, true),
            ]
        );
    }

    #[test]
    fn windows_whose_last_epochs_are_empty_are_emitted() {
        // A burst in epoch 22, nothing until epoch 31: [20, 30) holds it
        // although its last seven epochs are empty.
        assert_eq!(
            check(&[(10, 10)], &[(22, 5), (31, 1)]),
            vec![(0, 20, 30, 5, true), (0, 30, 40, 1, true)]
        );
        // Windows of only empty epochs are emitted too, with no packets.
        assert_eq!(
            check(&[(2, 2)], &[(1, 3), (6, 4)]),
            vec![
                (0, 0, 2, 3, true),
                (0, 2, 4, 0, false),
                (0, 4, 6, 0, false),
                (0, 6, 8, 4, true),
            ]
        );
    }

    #[test]
    fn sliding_windows_start_partial_and_end_partial() {
        // Length 4, slide 2, epochs 0..=4.
        assert_eq!(
            check(&[(4, 2)], &[(0, 1), (1, 1), (2, 1), (3, 1), (4, 1)]),
            vec![(0, 0, 2, 2, true), (0, 0, 4, 4, false), (0, 2, 6, 3, true),]
        );
        // The last epoch closes a slide: no extra window.
        assert_eq!(
            check(&[(4, 2)], &[(2, 1), (3, 1)]),
            vec![(0, 0, 4, 2, true)]
        );
    }

    #[test]
    fn every_spec_gets_its_windows() {
        assert_eq!(
            check(&[(1, 1), (3, 3)], &[(0, 1), (1, 2), (2, 3), (3, 4)]),
            vec![
                (0, 0, 1, 1, false),
                (0, 1, 2, 2, false),
                (0, 2, 3, 3, false),
                (1, 0, 3, 6, false),
                (0, 3, 4, 4, false),
                (1, 3, 6, 4, true),
            ]
        );
    }

    #[test]
    fn skipping_a_stretch_of_empty_epochs_keeps_the_windows_around_it() {
        for specs in [[(10u32, 10u32)], [(10, 5)]] {
            let specs: Vec<WindowSpec> = specs
                .iter()
                .map(|&(length, slide)| WindowSpec { length, slide })
                .collect();
            let mut ring = WindowRing::new(&specs, 1);
            let mut out = Vec::new();
            let mut emit = |_: usize, w: &Summary| out.push((w.start_ns, w.totals.packets));
            ring.push(3, epoch(3, 7), &mut emit);
            for e in 4..40 {
                ring.push(e, Summary::nothing(e, e + 1), &mut emit);
            }
            ring.skip_to(1_000_000 - ring.span());
            while let Some(n) = ring.next_epoch().filter(|n| *n < 1_000_000) {
                ring.push(n, Summary::nothing(n, n + 1), &mut emit);
            }
            ring.push(1_000_000, epoch(1_000_000, 5), &mut emit);
            ring.finish(&mut emit);
            // Tumbling: each packet once; sliding by half: twice, but for
            // the last epoch's final window.
            let want = if specs[0].slide == specs[0].length {
                12
            } else {
                19
            };
            assert_eq!(out.iter().map(|w| w.1).sum::<u64>(), want, "{specs:?}");
            assert!(out.len() < 30, "{specs:?}: {}", out.len());
            assert_eq!(
                out.last().unwrap().0,
                1_000_000 - 10 + specs[0].slide as u64
            );
        }
    }

    #[test]
    fn a_stream_without_epochs_emits_no_window() {
        assert_eq!(check(&[(10, 10)], &[]), vec![]);
    }

    #[test]
    fn a_long_gap_keeps_only_the_ring() {
        // 1,000,000 empty epochs: every window emitted, the ring bounded.
        let specs = [WindowSpec {
            length: 10,
            slide: 10,
        }];
        let mut ring = WindowRing::new(&specs, 1);
        let mut n = 0u64;
        let mut packets = 0u64;
        let mut emit = |_: usize, w: &Summary| {
            n += 1;
            packets += w.totals.packets;
        };
        ring.push(0, epoch(0, 7), &mut emit);
        for e in 1..1_000_000 {
            ring.push(e, Summary::nothing(e, e + 1), &mut emit);
            assert!(ring.ring.len() <= 10);
        }
        ring.push(1_000_000, epoch(1_000_000, 3), &mut emit);
        ring.finish(&mut emit);
        assert_eq!((n, packets), (100_001, 10));
    }
}
