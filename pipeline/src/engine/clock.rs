//! The epoch clock: which epoch an update counts in, which updates are
//! late or stamped in the future, and when an epoch closes.
//!
//! Event time decides, update by update, so neither the batch size nor the
//! timing of the threads can move an update between epochs. An epoch
//! closes once the watermark (the newest event time seen, less the allowed
//! lateness) passes its end. An update for an epoch already closed is
//! *late*: it is counted in the newest open epoch instead of reopening the
//! past. A live source also gives its wall clock: its epochs close on time
//! when nothing arrives, and an update stamped more than an epoch ahead of
//! the clock is placed at the clock (*future*), so one bogus timestamp
//! cannot close every epoch up to it.

/// Where one update goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Placement {
    /// The epoch it counts in.
    pub epoch: u64,
    /// It was for a closed epoch and now counts in `epoch`.
    pub late: bool,
    /// It was stamped ahead of the clock and now counts at the clock.
    pub future: bool,
    /// Every epoch through this one closes after the update.
    pub close: Option<u64>,
}

/// The epoch state of one stream.
#[derive(Debug, Clone)]
pub(super) struct EpochClock {
    epoch_ns: u64,
    lateness_ns: u64,
    closed_through: Option<u64>,
    max_ts: Option<u64>,
    /// `clock + epoch_ns` of the last [`EpochClock::tick`], for live sources.
    ceiling: Option<u64>,
}

impl EpochClock {
    pub fn new(epoch_ns: u64, lateness_ns: u64) -> EpochClock {
        EpochClock {
            epoch_ns,
            lateness_ns,
            closed_through: None,
            max_ts: None,
            ceiling: None,
        }
    }

    /// Seconds between the newest event time and the end of the last
    /// closed epoch (the epoch lag metric).
    pub fn lag_ns(&self) -> Option<u64> {
        let (m, c) = (self.max_ts?, self.closed_through?);
        Some(m.saturating_sub((c + 1).saturating_mul(self.epoch_ns)))
    }

    /// A live source's wall clock reads `now`: returns the epoch through
    /// which everything closes, if that moved.
    pub fn tick(&mut self, now: u64) -> Option<u64> {
        self.ceiling = Some(now.saturating_add(self.epoch_ns));
        let watermark = now.saturating_sub(self.lateness_ns);
        let x = (watermark / self.epoch_ns).checked_sub(1)?;
        if self.closed_through.is_some_and(|c| x <= c) {
            return None;
        }
        self.closed_through = Some(x);
        let end = (x + 1).saturating_mul(self.epoch_ns);
        self.max_ts = Some(self.max_ts.map_or(now, |m| m.max(end)));
        Some(x)
    }

    /// Places an update stamped `*ts_ns`, rewriting the stamp of a late or
    /// future one to where it now counts.
    #[inline]
    pub fn place(&mut self, ts_ns: &mut u64) -> Placement {
        let e_ns = self.epoch_ns;
        let mut future = false;
        if let Some(c) = self.ceiling {
            if *ts_ns > c {
                *ts_ns = c - e_ns;
                future = true;
            }
        }
        let mut epoch = *ts_ns / e_ns;
        let mut late = false;
        if let Some(c) = self.closed_through {
            if epoch <= c {
                let now = (self.max_ts.unwrap_or(0) / e_ns).max(c + 1);
                *ts_ns = now * e_ns;
                epoch = now;
                late = true;
            }
        }
        let m = self.max_ts.map_or(*ts_ns, |m| m.max(*ts_ns));
        self.max_ts = Some(m);
        let watermark = m.saturating_sub(self.lateness_ns);
        let mut close = None;
        if let Some(x) = (watermark / e_ns).checked_sub(1) {
            if self.closed_through.is_none_or(|c| x > c) {
                self.closed_through = Some(x);
                close = Some(x);
            }
        }
        Placement {
            epoch,
            late,
            future,
            close,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    /// Feeds `(clock, ts)` steps (clock `None`: an update; `Some`: a tick
    /// and no update) and returns (epoch, late, future, close) per update,
    /// or the close of a tick.
    fn check(epoch_ns: u64, lateness_ns: u64, steps: &[(Option<u64>, u64)]) -> Vec<String> {
        let mut c = EpochClock::new(epoch_ns, lateness_ns);
        steps
            .iter()
            .map(|&(tick, ts)| match tick {
                Some(now) => format!("tick {:?}", c.tick(now)),
                None => {
                    let mut t = ts;
                    let p = c.place(&mut t);
                    format!(
                        "e{} late={} future={} close={:?} ts={}",
                        p.epoch, p.late, p.future, p.close, t
                    )
                }
            })
            .collect()
    }

    #[test]
    fn epochs_close_when_the_watermark_passes_their_end() {
        let got = check(
            S,
            0,
            &[(None, S / 2), (None, S + 1), (None, S + 2), (None, 3 * S)],
        );
        assert_eq!(
            got,
            [
                "e0 late=false future=false close=None ts=500000000",
                "e1 late=false future=false close=Some(0) ts=1000000001",
                "e1 late=false future=false close=None ts=1000000002",
                "e3 late=false future=false close=Some(2) ts=3000000000",
            ]
        );
    }

    #[test]
    fn a_late_update_counts_in_the_newest_epoch() {
        let got = check(S, 0, &[(None, 2 * S + 5), (None, S / 2)]);
        assert_eq!(got[1], "e2 late=true future=false close=None ts=2000000000");
    }

    #[test]
    fn lateness_holds_epochs_open() {
        let got = check(S, S, &[(None, S + 1), (None, S / 2), (None, 2 * S + 1)]);
        assert_eq!(
            got[0],
            "e1 late=false future=false close=None ts=1000000001"
        );
        // Within the allowed lateness: still its own epoch.
        assert_eq!(got[1], "e0 late=false future=false close=None ts=500000000");
        assert_eq!(
            got[2],
            "e2 late=false future=false close=Some(0) ts=2000000001"
        );
    }

    #[test]
    fn a_live_clock_closes_epochs_and_caps_future_stamps() {
        let got = check(
            S,
            0,
            &[(Some(5 * S + 1), 0), (None, 100 * S), (None, 4 * S)],
        );
        assert_eq!(got[0], "tick Some(4)");
        // More than an epoch ahead of the clock: placed at the clock.
        assert_eq!(got[1], "e5 late=false future=true close=None ts=5000000001");
        // Before the clock's closed epochs: late, into the current one.
        assert_eq!(got[2], "e5 late=true future=false close=None ts=5000000000");
    }

    #[test]
    fn a_tick_that_does_not_advance_closes_nothing() {
        let got = check(S, 0, &[(Some(3 * S), 0), (Some(3 * S + 5), 0)]);
        assert_eq!(got, ["tick Some(2)", "tick None"]);
    }
}
