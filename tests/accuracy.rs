//! `netsketch accuracy` (issue 3) at a small scale: the report's shape and
//! the guarantees it measures.

mod common;

use common::{run, run_ok};

#[test]
fn accuracy_report_shows_the_guarantees_holding() {
    let out = run_ok(&[
        "accuracy",
        "--json",
        // Half the stream of the first version (300 k updates over 30 k
        // keys): every check below holds with room (HLL p = 14: p99
        // relative error 1.3 % against 3 %) at half the debug-build time.
        "--updates",
        "150000",
        "--keys",
        "15000",
        "--runs",
        "4",
        "--max-distinct",
        "100000",
    ]);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let hh = doc["heavy_hitters"].as_array().unwrap();
    assert_eq!(
        hh.len(),
        18,
        "Space-Saving and DataSketches x 3 skews x 3 budgets"
    );
    for r in hh {
        // Both: no reported count is further from the truth than N/k, and
        // every reported bound holds.
        assert!(r["max_error_over_bound"].as_f64().unwrap() <= 1.0, "{r}");
        assert_eq!(r["bound_violations"], 0, "{r}");
        for k in ["precision_top100", "recall_top100", "f1_top100"] {
            assert!((0.0..=1.0).contains(&r[k].as_f64().unwrap()));
        }
    }
    let big = hh
        .iter()
        .find(|r| {
            r["skew"] == 1.0 && r["budget_bytes"] == 1 << 20 && r["algorithm"] == "space_saving"
        })
        .unwrap();
    assert!(big["f1_top100"].as_f64().unwrap() >= 0.99, "{big}");
    // Why Space-Saving runs inside: its top-100 bounds are tighter than
    // DataSketches' frequent items at the same memory.
    for ss in hh.iter().filter(|r| r["algorithm"] == "space_saving") {
        let ds = hh
            .iter()
            .find(|r| {
                r["algorithm"] == "datasketches_frequent_items"
                    && r["skew"] == ss["skew"]
                    && r["budget_bytes"] == ss["budget_bytes"]
            })
            .unwrap();
        let w = |r: &serde_json::Value| r["bound_width_over_truth_top100"].as_f64().unwrap();
        assert!(w(ss) <= w(ds), "{ss} vs {ds}");
    }
    for r in doc["count_min"].as_array().unwrap() {
        assert!(
            r["within_bound_share"].as_f64().unwrap() >= 1.0 - r["delta"].as_f64().unwrap(),
            "{r}"
        );
        assert!(
            r["are_top1000"].as_f64().unwrap() >= 0.0,
            "Count-Min never underestimates: {r}"
        );
    }
    let hll = doc["hll"].as_array().unwrap();
    assert_eq!(hll.len(), 9, "p 10/12/14 x n 1e3/1e4/1e5");
    for r in hll.iter().filter(|r| r["p"] == 14) {
        assert!(r["rel_err_p99"].as_f64().unwrap() < 0.03, "{r}");
    }
    let bad = run(&["accuracy", "--keys", "10"]);
    assert_eq!(bad.status.code(), Some(1));
}
