//! A point estimate with the interval it lies in.

/// An estimate with the interval it is guaranteed (or expected) to lie in.
///
/// `lower <= truth <= upper` holds with probability at least `confidence`
/// (1.0 for deterministic bounds).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    /// The point estimate.
    pub value: f64,
    /// Lower bound of the truth.
    pub lower: f64,
    /// Upper bound of the truth.
    pub upper: f64,
    /// Probability that the bounds hold.
    pub confidence: f64,
}

impl Estimate {
    /// An exact value.
    pub fn exact(v: f64) -> Estimate {
        Estimate {
            value: v,
            lower: v,
            upper: v,
            confidence: 1.0,
        }
    }

    /// Whether `truth` lies within the bounds.
    pub fn contains(&self, truth: f64) -> bool {
        self.lower <= truth && truth <= self.upper
    }
}
