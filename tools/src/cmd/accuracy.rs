//! `netsketch accuracy`: each sketch against exact counts on Zipf streams,
//! at several memory budgets.

use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Result};
use datasketches::frequencies::{ErrorType, FrequentItemsSketch};
use rand::{RngExt, SeedableRng};
use rand_distr::Zipf;
use rand_xoshiro::Xoshiro256PlusPlus;
use serde_json::{json, Value};
use sketches::hash::{hash_u64, DEFAULT_SEED};
use sketches::{CountMin, HyperLogLog, SpaceSaving};

use crate::args::cli::AccuracyArgs;

const SKEWS: [f64; 3] = [0.8, 1.0, 1.2];
const HH_BUDGETS: [usize; 3] = [64 << 10, 256 << 10, 1 << 20];
const CM_EPS: [f64; 2] = [1e-3, 1e-4];
const CM_DELTA: f64 = 0.01;
const HLL_P: [u8; 3] = [10, 12, 14];

/// A Zipf stream of key numbers `1..=keys` and its exact counts.
fn stream(skew: f64, keys: u64, updates: u64, seed: u64) -> (Vec<u64>, Vec<u64>) {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let z = Zipf::new(keys as f64, skew).expect("valid Zipf parameters");
    let mut exact = vec![0u64; keys as usize + 1];
    let s: Vec<u64> = (0..updates)
        .map(|_| {
            let k = (rng.sample(z) as u64).clamp(1, keys);
            exact[k as usize] += 1;
            k
        })
        .collect();
    (s, exact)
}

/// What both heavy-hitter algorithms are measured on: one Zipf stream
/// (`n` updates, exact counts by key, the true top 100) at one memory
/// budget.
struct HhCase<'a> {
    skew: f64,
    budget: usize,
    n: u64,
    exact: &'a [u64],
    truth100: &'a [u64],
}

/// One heavy-hitter row of `algorithm` with `counters` counters: `all`
/// holds `(key, lower, upper)` by descending upper bound; the reported top
/// 100 is its head.
fn hh_row(case: &HhCase, algorithm: &str, counters: usize, all: &[(u64, u64, u64)]) -> Value {
    let HhCase {
        skew,
        budget,
        n,
        exact,
        truth100,
    } = *case;
    let got: Vec<u64> = all.iter().take(100).map(|h| h.0).collect();
    let hits = got.iter().filter(|k| truth100.contains(k)).count() as f64;
    let precision = hits / got.len().max(1) as f64;
    let recall = hits / truth100.len() as f64;
    let f1 = if hits == 0.0 {
        0.0
    } else {
        2.0 * precision * recall / (precision + recall)
    };
    let bound = n as f64 / counters as f64;
    let max_err = all
        .iter()
        .map(|h| h.2.abs_diff(exact[h.0 as usize]) as f64)
        .fold(0.0, f64::max);
    let width: f64 = all
        .iter()
        .take(100)
        .map(|h| (h.2 - h.1) as f64 / exact[h.0 as usize].max(1) as f64)
        .sum::<f64>()
        / got.len().max(1) as f64;
    let violations = all
        .iter()
        .filter(|h| !(h.1..=h.2).contains(&exact[h.0 as usize]))
        .count();
    json!({
        "algorithm": algorithm, "skew": skew, "budget_bytes": budget, "capacity": counters,
        "precision_top100": precision, "recall_top100": recall, "f1_top100": f1,
        "max_error_over_bound": max_err / bound,
        "bound_width_over_truth_top100": width,
        "bound_violations": violations,
    })
}

fn top_keys(exact: &[u64], n: usize) -> Vec<u64> {
    let mut idx: Vec<u64> = (1..exact.len() as u64).collect();
    idx.sort_by(|a, b| exact[*b as usize].cmp(&exact[*a as usize]).then(a.cmp(b)));
    idx.truncate(n);
    idx
}

fn quantile(mut v: Vec<f64>, q: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    let i = ((v.len() as f64 * q).ceil() as usize).clamp(1, v.len()) - 1;
    v[i]
}

pub fn run(args: &AccuracyArgs) -> Result<ExitCode> {
    if args.keys < 1000 || args.updates < args.keys || args.runs == 0 {
        bail!("need --keys >= 1000, --updates >= --keys and --runs >= 1");
    }
    let start = Instant::now();
    // Work in sketch updates: per skew the stream, six heavy-hitter passes
    // and two Count-Min passes; then every HyperLogLog run.
    let mut hll_work = 0u64;
    let mut n = 1000u64;
    while n <= args.max_distinct {
        hll_work += HLL_P.len() as u64 * u64::from(args.runs) * n;
        n *= 10;
    }
    let per_skew = args.updates * (1 + 2 * HH_BUDGETS.len() as u64 + CM_EPS.len() as u64);
    let bar = crate::progress::work_bar(
        per_skew * SKEWS.len() as u64 + hll_work,
        "sketch updates",
        args.no_progress,
    );
    let mut hh = Vec::new();
    let mut cm = Vec::new();
    for (i, &skew) in SKEWS.iter().enumerate() {
        bar.set_message(format!("Zipf {skew}: heavy hitters"));
        let (s, exact) = stream(skew, args.keys, args.updates, args.seed + i as u64);
        bar.inc(args.updates);
        let n = s.len() as u64;
        let truth100 = top_keys(&exact, 100);
        for &budget in &HH_BUDGETS {
            let cap = SpaceSaving::<u64>::capacity_for(budget);
            let mut ss = SpaceSaving::<u64>::new(cap, DEFAULT_SEED)?;
            for &k in &s {
                ss.update(k, 1);
            }
            bar.inc(args.updates);
            let all: Vec<(u64, u64, u64)> = ss
                .top(cap)
                .iter()
                .map(|h| (h.key, h.lower, h.upper))
                .collect();
            let case = HhCase {
                skew,
                budget,
                n,
                exact: &exact,
                truth100: &truth100,
            };
            hh.push(hh_row(&case, "space_saving", cap, &all));
            // DataSketches' frequent items (Misra-Gries with reverse purge)
            // at the same memory: a map of 2^j slots of 18 bytes holds 3/4
            // of them as counters.
            let slots = 1usize << (budget / 18).max(8).ilog2();
            let mut fi = FrequentItemsSketch::<u64>::new(slots)?;
            for &k in &s {
                fi.update(k);
            }
            bar.inc(args.updates);
            let mut rows: Vec<(u64, u64, u64)> = fi
                .frequent_items_with_threshold(ErrorType::NoFalseNegatives, 0)
                .iter()
                .map(|r| (*r.item(), r.lower_bound(), r.upper_bound()))
                .collect();
            rows.sort_by(|a, b| b.2.cmp(&a.2).then(b.1.cmp(&a.1)).then(a.0.cmp(&b.0)));
            let counters = slots * 3 / 4;
            hh.push(hh_row(
                &case,
                "datasketches_frequent_items",
                counters,
                &rows,
            ));
        }
        let top1000 = top_keys(&exact, 1000);
        bar.set_message(format!("Zipf {skew}: Count-Min"));
        for &eps in &CM_EPS {
            let mut sk = CountMin::with_error(eps, CM_DELTA, DEFAULT_SEED)?;
            for &k in &s {
                sk.update(hash_u64(k, DEFAULT_SEED), 1);
            }
            bar.inc(args.updates);
            let bound = sk.eps() * n as f64;
            let mut are = 0.0;
            let mut within = 0usize;
            for &k in &top1000 {
                let t = exact[k as usize] as f64;
                let e = sk.query(hash_u64(k, DEFAULT_SEED)) as f64;
                are += (e - t) / t;
                within += usize::from(e >= t && e <= t + bound);
            }
            cm.push(json!({
                "skew": skew, "eps": eps, "delta": CM_DELTA, "width": sk.width(), "depth": sk.depth(),
                "are_top1000": are / top1000.len() as f64,
                "within_bound_share": within as f64 / top1000.len() as f64,
            }));
        }
    }
    let mut hll = Vec::new();
    let mut n = 1000u64;
    while n <= args.max_distinct {
        bar.set_message(format!("HyperLogLog, {} keys", crate::render::thousands(n)));
        for &p in &HLL_P {
            let errs: Vec<f64> = (0..args.runs)
                .map(|r| {
                    let mut h = HyperLogLog::new(p, DEFAULT_SEED).expect("valid precision");
                    let base = (r as u64 + args.seed) << 40;
                    for k in 0..n {
                        h.update(hash_u64(base | k, DEFAULT_SEED));
                    }
                    bar.inc(n);
                    (h.estimate().value - n as f64).abs() / n as f64
                })
                .collect();
            let mean = errs.iter().sum::<f64>() / errs.len() as f64;
            hll.push(json!({"p": p, "n": n, "runs": args.runs, "rel_err_mean": mean, "rel_err_p99": quantile(errs, 0.99)}));
        }
        n *= 10;
    }
    bar.finish_and_clear();
    let doc = json!({
        "type": "accuracy",
        "updates": args.updates,
        "keys": args.keys,
        "heavy_hitters": hh,
        "hll": hll,
        "count_min": cm,
        "elapsed_s": start.elapsed().as_secs_f64(),
    });
    if args.json {
        println!("{doc}");
    } else {
        print_table(&doc);
    }
    Ok(ExitCode::SUCCESS)
}

fn print_table(doc: &Value) {
    let f = |v: &Value| v.as_f64().unwrap_or(f64::NAN);
    println!(
        "netsketch accuracy: {} Zipf updates over {} keys",
        doc["updates"], doc["keys"]
    );
    println!("  heavy hitters, top 100 (SS: Space-Saving, ours; DS: DataSketches frequent items):");
    println!(
        "    {:>3} {:>5} {:>9} {:>8} {:>9} {:>7} {:>7} {:>13} {:>11}",
        "",
        "skew",
        "budget",
        "counters",
        "precision",
        "recall",
        "F1",
        "maxerr/bound",
        "width/truth"
    );
    for r in doc["heavy_hitters"].as_array().into_iter().flatten() {
        let alg = if r["algorithm"] == "space_saving" {
            "SS"
        } else {
            "DS"
        };
        println!(
            "    {:>3} {:>5.1} {:>8}K {:>8} {:>9.3} {:>7.3} {:>7.3} {:>13.4} {:>11.4}",
            alg,
            f(&r["skew"]),
            r["budget_bytes"].as_u64().unwrap_or(0) >> 10,
            r["capacity"].as_u64().unwrap_or(0),
            f(&r["precision_top100"]),
            f(&r["recall_top100"]),
            f(&r["f1_top100"]),
            f(&r["max_error_over_bound"]),
            f(&r["bound_width_over_truth_top100"])
        );
    }
    println!("  Count-Min (conservative), 1,000 largest keys:");
    println!(
        "    {:>5} {:>8} {:>6} {:>12} {:>14}",
        "skew", "eps", "delta", "avg rel err", "within bound"
    );
    for r in doc["count_min"].as_array().into_iter().flatten() {
        println!(
            "    {:>5.1} {:>8} {:>6} {:>12.6} {:>14.4}",
            f(&r["skew"]),
            f(&r["eps"]),
            f(&r["delta"]),
            f(&r["are_top1000"]),
            f(&r["within_bound_share"])
        );
    }
    println!(
        "  HyperLogLog, relative error over {} runs:",
        doc["hll"][0]["runs"]
    );
    println!("    {:>3} {:>11} {:>9} {:>9}", "p", "n", "mean", "p99");
    for r in doc["hll"].as_array().into_iter().flatten() {
        let (p, n) = (r["p"].as_u64().unwrap_or(0), r["n"].as_u64().unwrap_or(0));
        println!(
            "    {p:>3} {n:>11} {:>8.3}% {:>8.3}%",
            f(&r["rel_err_mean"]) * 100.0,
            f(&r["rel_err_p99"]) * 100.0
        );
    }
}
