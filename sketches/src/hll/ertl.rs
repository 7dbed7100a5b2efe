//! Ertl's improved raw estimator for dense HyperLogLog registers.

/// Ertl's improved raw estimator ("New cardinality estimation algorithms
/// for HyperLogLog sketches", 2017, algorithm 6).
/// `q` is the number of hash bits values are drawn from: values run 0..=q+1.
pub(super) fn ertl(regs: &[u8], q: u32) -> f64 {
    let m = regs.len() as f64;
    let mut hist = [0u32; 66];
    for &r in regs {
        hist[r as usize] += 1;
    }
    let mut z = m * tau(1.0 - hist[q as usize + 1] as f64 / m);
    for k in (1..=q as usize).rev() {
        z = 0.5 * (z + hist[k] as f64);
    }
    z += m * sigma(hist[0] as f64 / m);
    let alpha_inf = 1.0 / (2.0 * std::f64::consts::LN_2);
    alpha_inf * m * m / z
}

fn sigma(mut x: f64) -> f64 {
    if x == 1.0 {
        return f64::INFINITY;
    }
    let mut y = 1.0;
    let mut z = x;
    loop {
        x *= x;
        let prev = z;
        z += x * y;
        y += y;
        if z == prev {
            return z;
        }
    }
}

fn tau(mut x: f64) -> f64 {
    if x == 0.0 || x == 1.0 {
        return 0.0;
    }
    let mut y = 1.0;
    let mut z = 1.0 - x;
    loop {
        x = x.sqrt();
        let prev = z;
        y *= 0.5;
        z -= (1.0 - x).powi(2) * y;
        if z == prev {
            return z / 3.0;
        }
    }
}
