//! `replay --report FILE.html`: one self-contained page (inline SVG and
//! CSS, no script, nothing fetched) drawn from the run's windows: traffic
//! over time per protocol, distinct counts over time, the top talkers and
//! the alert timeline.
//!
//! Memory stays bounded whatever the run's length: at most [`MAX_POINTS`]
//! points are kept; when they fill, neighbours merge pairwise (sums for
//! counts, the larger for distinct counts) and each point stands for
//! twice as many windows from then on.

use std::fmt::Write as _;

use pipeline::{Dimension, Metric, Summary};
use serde_json::Value;

use crate::render::{si, thousands, ts_text};

/// Points kept per chart.
pub const MAX_POINTS: usize = 2048;

/// One point of the timeline: a window, or several merged.
#[derive(Debug, Clone, Copy, Default)]
struct Point {
    start_ns: u64,
    end_ns: u64,
    packets: u64,
    bytes: u64,
    tcp: u64,
    udp: u64,
    icmp: u64,
    distinct_src: f64,
    distinct_dst: f64,
    distinct_flows: f64,
}

impl Point {
    fn of(w: &Summary) -> Point {
        let t = &w.totals;
        Point {
            start_ns: w.start_ns,
            end_ns: w.end_ns,
            packets: t.packets,
            bytes: t.proto.ip_bytes,
            tcp: t.proto.tcp,
            udp: t.proto.udp,
            icmp: t.proto.icmp,
            // An empty window has nothing to count (and no sketch to ask).
            distinct_src: if t.packets == 0 {
                0.0
            } else {
                w.distinct_src().value
            },
            distinct_dst: if t.packets == 0 {
                0.0
            } else {
                w.distinct_dst().value
            },
            distinct_flows: if t.packets == 0 {
                0.0
            } else {
                w.distinct_flows().value
            },
        }
    }

    fn merge(&mut self, o: &Point) {
        self.start_ns = self.start_ns.min(o.start_ns);
        self.end_ns = self.end_ns.max(o.end_ns);
        self.packets += o.packets;
        self.bytes += o.bytes;
        self.tcp += o.tcp;
        self.udp += o.udp;
        self.icmp += o.icmp;
        self.distinct_src = self.distinct_src.max(o.distinct_src);
        self.distinct_dst = self.distinct_dst.max(o.distinct_dst);
        self.distinct_flows = self.distinct_flows.max(o.distinct_flows);
    }

    fn secs(&self) -> f64 {
        (self.end_ns.saturating_sub(self.start_ns) as f64 / 1e9).max(1e-9)
    }
}

/// The windows of a run, bounded to [`MAX_POINTS`] points.
#[derive(Debug, Default)]
pub struct Timeline {
    points: Vec<Point>,
    /// Windows per point.
    stride: usize,
    /// The point being filled and the windows in it.
    pending: Option<(Point, usize)>,
}

impl Timeline {
    /// An empty timeline.
    pub fn new() -> Timeline {
        Timeline {
            points: Vec::new(),
            stride: 1,
            pending: None,
        }
    }

    /// A window closed (the first `--window` only).
    pub fn push(&mut self, w: &Summary) {
        self.push_point(Point::of(w));
    }

    fn push_point(&mut self, p: Point) {
        let (acc, n) = match self.pending.take() {
            Some((mut a, n)) => {
                a.merge(&p);
                (a, n + 1)
            }
            None => (p, 1),
        };
        if n < self.stride {
            self.pending = Some((acc, n));
            return;
        }
        self.points.push(acc);
        if self.points.len() >= MAX_POINTS {
            self.points = self
                .points
                .chunks(2)
                .map(|c| {
                    let mut a = c[0];
                    if let Some(b) = c.get(1) {
                        a.merge(b);
                    }
                    a
                })
                .collect();
            self.stride *= 2;
        }
    }

    fn all(&self) -> Vec<Point> {
        let mut v = self.points.clone();
        if let Some((p, _)) = self.pending {
            v.push(p);
        }
        v
    }
}

/// Text safe inside HTML.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A time axis label: time of day, with the date when the run spans days.
fn time_label(ns: u64, span_ns: u64) -> String {
    let t = ts_text(ns);
    if span_ns > 86_400_000_000_000 {
        format!("{} {}", &t[..10], &t[11..16])
    } else {
        t[11..19].to_string()
    }
}

const W: f64 = 960.0;
const H: f64 = 240.0;
const LEFT: f64 = 95.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 20.0;
const BOTTOM: f64 = 40.0;

/// A chart's series: name, colour, (time, value) points.
type Series<'a> = (&'a str, &'a str, Vec<(u64, f64)>);

/// A line chart over time: one polyline per series, y from 0.
/// Six time labels along a chart's axis at height `y`, from `t0` over
/// `span`; `x` places a time.
fn time_ticks(s: &mut String, t0: u64, span: u64, y: f64, x: impl Fn(u64) -> f64) {
    for i in 0..=5 {
        let t = t0 + span / 5 * i;
        let _ = write!(
            s,
            "<text class=\"tick\" x=\"{:.1}\" y=\"{y}\" text-anchor=\"middle\">{}</text>",
            x(t),
            time_label(t, span)
        );
    }
}

fn line_chart(id: &str, unit: &str, t0: u64, t1: u64, series: &[Series<'_>]) -> String {
    let span = t1.saturating_sub(t0).max(1);
    let ymax = series
        .iter()
        .flat_map(|s| s.2.iter().map(|p| p.1))
        .fold(0.0f64, f64::max)
        .max(1e-9);
    let x = |t: u64| LEFT + (t.saturating_sub(t0)) as f64 / span as f64 * (W - LEFT - RIGHT);
    let y = |v: f64| TOP + (1.0 - v / ymax) * (H - TOP - BOTTOM);
    let mut s = format!(
        "<svg id=\"{id}\" class=\"chart\" viewBox=\"0 0 {W} {H}\" width=\"{W}\" height=\"{H}\" role=\"img\">"
    );
    for i in 0..=4 {
        let v = ymax * f64::from(i) / 4.0;
        let _ = write!(
            s,
            "<line class=\"grid\" x1=\"{LEFT}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\"/><text class=\"tick\" x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}{unit}</text>",
            W - RIGHT,
            LEFT - 6.0,
            y(v) + 4.0,
            esc(&si(v)),
            y = y(v)
        );
    }
    time_ticks(&mut s, t0, span, H - BOTTOM + 18.0, x);
    for (k, (name, color, pts)) in series.iter().enumerate() {
        let mut p = String::new();
        for (t, v) in pts {
            let _ = write!(p, "{:.1},{:.1} ", x(*t), y(*v));
        }
        let _ = write!(
            s,
            "<polyline class=\"series\" data-series=\"{}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"1.5\" points=\"{}\"/>",
            esc(name),
            p.trim_end()
        );
        let lx = LEFT + 10.0 + k as f64 * 130.0;
        let _ = write!(
            s,
            "<rect x=\"{lx}\" y=\"{}\" width=\"12\" height=\"4\" fill=\"{color}\"/><text class=\"legend\" x=\"{}\" y=\"{}\">{}</text>",
            H - 10.0,
            lx + 16.0,
            H - 5.0,
            esc(name)
        );
    }
    s.push_str("</svg>");
    s
}

/// Horizontal bars: the top talkers with their bounds.
fn bars(id: &str, items: &[(String, u64, u64, u64)], total: u64) -> String {
    let row = 22.0;
    let h = TOP + row * items.len().max(1) as f64 + 10.0;
    let vmax = items.iter().map(|i| i.1).max().unwrap_or(1).max(1) as f64;
    let key_w = 300.0;
    let bar_w = W - key_w - 260.0;
    let mut s = format!(
        "<svg id=\"{id}\" class=\"chart\" viewBox=\"0 0 {W} {h}\" width=\"{W}\" height=\"{h}\" role=\"img\">"
    );
    for (i, (key, v, lo, hi)) in items.iter().enumerate() {
        let y = TOP + row * i as f64;
        let len = *v as f64 / vmax * bar_w;
        let share = if total == 0 {
            0.0
        } else {
            *v as f64 * 100.0 / total as f64
        };
        let bound = if lo == hi {
            "exact".to_string()
        } else {
            format!("[{}, {}]", thousands(*lo), thousands(*hi))
        };
        let _ = write!(
            s,
            "<text class=\"key\" x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text><rect class=\"bar\" x=\"{key_w}\" y=\"{:.1}\" width=\"{len:.1}\" height=\"14\"/><text class=\"tick\" x=\"{:.1}\" y=\"{:.1}\">{} B ({share:.1}%) {}</text>",
            key_w - 8.0,
            y + 11.0,
            esc(key),
            y,
            key_w + len + 6.0,
            y + 11.0,
            thousands(*v),
            esc(&bound)
        );
    }
    s.push_str("</svg>");
    s
}

/// The alerts on the run's time axis: one bar per alert, start to end
/// (to the end of the run while still active).
fn alert_timeline(alerts: &[Value], t0: u64, t1: u64) -> String {
    let span = t1.saturating_sub(t0).max(1);
    let row = 22.0;
    let label_w = 330.0;
    let h = TOP + row * alerts.len().max(1) as f64 + BOTTOM;
    let x = |t: u64| {
        label_w + t.saturating_sub(t0).min(span) as f64 / span as f64 * (W - label_w - RIGHT)
    };
    let mut s = format!(
        "<svg id=\"alert-timeline\" class=\"chart\" viewBox=\"0 0 {W} {h}\" width=\"{W}\" height=\"{h}\" role=\"img\">"
    );
    for (i, a) in alerts.iter().enumerate() {
        let y = TOP + row * i as f64;
        let start = a["start_ts_ns"].as_u64().unwrap_or(t0);
        let end = a["end_ts_ns"].as_u64().unwrap_or(t1);
        let (x0, x1) = (x(start), x(end).max(x(start) + 2.0));
        let pps = a["evidence"]["pps"]["value"].as_f64();
        let _ = write!(
            s,
            "<text class=\"key\" x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{} {}{}</text><rect class=\"alert\" data-type=\"{}\" x=\"{x0:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"14\"><title>{} {} from {} to {}</title></rect>",
            label_w - 8.0,
            y + 11.0,
            esc(a["type"].as_str().unwrap_or("?")),
            esc(a["victim"].as_str().unwrap_or("?")),
            pps.map_or(String::new(), |p| format!(" ({}pps)", si(p))),
            esc(a["type"].as_str().unwrap_or("?")),
            x1 - x0,
            esc(a["type"].as_str().unwrap_or("?")),
            esc(a["victim"].as_str().unwrap_or("?")),
            ts_text(start),
            a["end_ts_ns"].as_u64().map_or("the end (active)".to_string(), ts_text),
        );
    }
    time_ticks(&mut s, t0, span, h - BOTTOM + 18.0, x);
    s.push_str("</svg>");
    s
}

const STYLE: &str = "body{font:14px system-ui,sans-serif;margin:24px;color:#222;background:#fff}\
h1{font-size:20px}h2{font-size:16px;margin-top:28px}\
table.facts td{padding:2px 12px 2px 0}\
.chart{display:block;max-width:100%;height:auto;border:1px solid #ddd;margin:6px 0}\
.grid{stroke:#eee}.tick,.legend,.key{font-size:11px;fill:#444}\
.bar{fill:#4c78a8}.alert{fill:#e45756}.note{color:#666;font-size:12px}";

/// The page.
pub fn page(
    title: &str,
    timeline: &Timeline,
    total: &Summary,
    k: usize,
    alerts: &[Value],
    facts: &[(String, String)],
) -> String {
    let pts = timeline.all();
    let (t0, t1) = match (pts.first(), pts.last()) {
        (Some(a), Some(b)) => (a.start_ns, b.end_ns),
        _ => (total.start_ns, total.end_ns),
    };
    let mid = |p: &Point| p.start_ns + (p.end_ns - p.start_ns) / 2;
    let rate = |f: &dyn Fn(&Point) -> f64| -> Vec<(u64, f64)> {
        pts.iter().map(|p| (mid(p), f(p))).collect()
    };
    let traffic = line_chart(
        "traffic-protocols",
        "pkt/s",
        t0,
        t1,
        &[
            ("TCP", "#4c78a8", rate(&|p| p.tcp as f64 / p.secs())),
            ("UDP", "#f58518", rate(&|p| p.udp as f64 / p.secs())),
            ("ICMP", "#54a24b", rate(&|p| p.icmp as f64 / p.secs())),
            (
                "other",
                "#b279a2",
                rate(&|p| p.packets.saturating_sub(p.tcp + p.udp + p.icmp) as f64 / p.secs()),
            ),
        ],
    );
    let bits = line_chart(
        "traffic-bits",
        "bit/s",
        t0,
        t1,
        &[(
            "IP-layer bit/s",
            "#4c78a8",
            rate(&|p| p.bytes as f64 * 8.0 / p.secs()),
        )],
    );
    let distinct = line_chart(
        "distinct-counts",
        "",
        t0,
        t1,
        &[
            ("sources", "#4c78a8", rate(&|p| p.distinct_src)),
            ("destinations", "#f58518", rate(&|p| p.distinct_dst)),
            ("flows", "#54a24b", rate(&|p| p.distinct_flows)),
        ],
    );
    let talkers = |d: Dimension| {
        let items: Vec<(String, u64, u64, u64)> = total
            .top(d, Metric::Bytes, k)
            .into_iter()
            .map(|t| (t.key, t.value, t.lower, t.upper))
            .collect();
        bars(
            &format!("top-{}", d.name()),
            &items,
            total.totals.proto.ip_bytes,
        )
    };
    let mut h = String::new();
    let _ = write!(
        h,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{STYLE}</style></head><body><h1>{}</h1><table class=\"facts\">",
        esc(title),
        esc(title)
    );
    for (k, v) in facts {
        let _ = write!(h, "<tr><td>{}</td><td>{}</td></tr>", esc(k), esc(v));
    }
    let per_point = if timeline.stride > 1 {
        format!(
            " (each point merges {} windows; distinct counts are their largest)",
            timeline.stride
        )
    } else {
        String::new()
    };
    let _ = write!(
        h,
        "</table><h2 id=\"traffic\">Traffic over time, per protocol</h2><p class=\"note\">packets per second in each window{per_point}</p>{traffic}{bits}\
         <h2 id=\"talkers\">Top talkers (whole run, IP-layer bytes)</h2><h3>sources</h3>{}<h3>destinations</h3>{}\
         <h2 id=\"distinct\">Distinct counts per window (estimates)</h2>{distinct}\
         <h2 id=\"alerts\">Alert timeline ({} alerts)</h2>{}</body></html>",
        talkers(Dimension::Src),
        talkers(Dimension::Dst),
        alerts.len(),
        alert_timeline(alerts, t0, t1)
    );
    h.push('\n');
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_timeline_stays_bounded_and_keeps_every_packet() {
        let mut t = Timeline::new();
        let mut total = 0;
        for i in 0..10_000u64 {
            t.push_point(Point {
                start_ns: i * 1_000_000_000,
                end_ns: (i + 1) * 1_000_000_000,
                packets: i % 7,
                ..Point::default()
            });
            total += i % 7;
        }
        let pts = t.all();
        assert!(pts.len() <= MAX_POINTS, "{}", pts.len());
        assert_eq!(pts.iter().map(|p| p.packets).sum::<u64>(), total);
        assert_eq!(pts[0].start_ns, 0);
        assert_eq!(pts.last().unwrap().end_ns, 10_000_000_000_000);
        // Points are in order and do not overlap.
        assert!(pts.windows(2).all(|w| w[0].end_ns <= w[1].start_ns));
    }

    #[test]
    fn keys_are_escaped() {
        assert_eq!(esc("a<b>&\"c"), "a&lt;b&gt;&amp;&quot;c");
    }
}
