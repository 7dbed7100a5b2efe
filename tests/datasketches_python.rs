//! Sketches that leave netsketch are Apache DataSketches bytes: checked by
//! the Python `datasketches` package (PyPI), which reads netsketch's HLL and
//! frequent-items exports with the same registers and estimates and merges
//! them with sketches it builds from the same keys; and netsketch reads the
//! sketches Python writes. Ground truth per address comes from tshark.

mod common;

use common::{netsketch, output_ok, require, TempDir};
use serde_json::Value;
use sketches::datasketches::{hll_from_bytes, FrequentItems};
use std::process::Command;

fn python_has_datasketches() -> bool {
    Command::new("python3")
        .args(["-c", "import datasketches"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

#[test]
#[ignore = "needs python3 with `pip install datasketches` and tshark (.ci/run installs both)"]
fn python_datasketches_reads_merges_and_writes_what_netsketch_reads() {
    require("tshark", "tshark");
    assert!(
        python_has_datasketches(),
        "python3 cannot import datasketches: `python3 -m pip install datasketches`"
    );
    let dir = TempDir::new("datasketches");
    let pcap = dir.join("t.pcap");
    // Background (IPv4 and IPv6) plus floods from many sources, so the HLLs
    // are dense and the heavy hitters carry errors.
    let st = netsketch()
        .args([
            "gen",
            "--scenario",
            "baseline,distributed-flood,udp-amplification",
        ])
        .args(["-n", "250000", "-r", "40000", "-o"])
        .arg(&pcap)
        .status()
        .unwrap();
    assert!(st.success());
    let export = dir.join("export");
    let out = output_ok(
        netsketch()
            .args([
                "replay",
                "--json",
                "--top",
                "10",
                "--memory",
                "16",
                "--export-sketches",
            ])
            .arg(&export)
            .arg(&pcap),
    );
    std::fs::write(dir.join("summary.json"), &out.stdout).unwrap();
    let tsv = Command::new("tshark")
        .args(["-n", "-r"])
        .arg(&pcap)
        .args([
            "-T", "fields", "-e", "ip.src", "-e", "ipv6.src", "-e", "ip.len",
        ])
        .args(["-e", "ipv6.plen", "-e", "ip.dst", "-e", "ipv6.dst"])
        .output()
        .unwrap();
    assert!(tsv.status.success());
    std::fs::write(dir.join("packets.tsv"), &tsv.stdout).unwrap();

    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/python/datasketches_interop.py"
    );
    let py = Command::new("python3")
        .arg(script)
        .arg(&export)
        .arg(dir.join("packets.tsv"))
        .arg(dir.join("summary.json"))
        .arg(dir.join("python"))
        .output()
        .unwrap();
    assert!(
        py.status.success(),
        "Python DataSketches disagrees:\n{}{}",
        String::from_utf8_lossy(&py.stdout),
        String::from_utf8_lossy(&py.stderr)
    );

    // Back the other way: netsketch reads what Python wrote.
    let answers: Value =
        serde_json::from_slice(&std::fs::read(dir.join("python/python.json")).unwrap()).unwrap();
    for d in ["src", "dst"] {
        let theirs =
            hll_from_bytes(&std::fs::read(dir.join(&format!("python/python_{d}.hll"))).unwrap())
                .unwrap();
        let ours =
            hll_from_bytes(&std::fs::read(export.join(format!("distinct_{d}.hll"))).unwrap())
                .unwrap();
        // Python's HLL_4 of the exact keys holds netsketch's registers.
        assert!(
            theirs == ours,
            "{d}: Python's HLL_4 registers differ from ours"
        );
        let py_est = answers[format!("distinct_{d}")].as_f64().unwrap();
        let e = theirs.estimate();
        assert!(
            e.lower <= py_est && py_est <= e.upper,
            "{d}: Python estimates {py_est}, netsketch reads {e:?}"
        );
        for m in ["bytes", "packets"] {
            let name = format!("top_{d}_{m}");
            let fi = FrequentItems::from_bytes(
                &std::fs::read(dir.join(&format!("python/python_{name}.fi"))).unwrap(),
            )
            .unwrap();
            let listed = answers[&name].as_object().unwrap();
            assert!(!listed.is_empty());
            for (key, v) in listed {
                let want: Vec<u64> = v
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_u64().unwrap())
                    .collect();
                let (lo, hi) = fi.bounds(key);
                assert_eq!(vec![fi.estimate(key), lo, hi], want, "{name} {key}");
            }
        }
    }
}
