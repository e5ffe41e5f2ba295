//! Exponential backoff with jitter, for deliveries and for jobs.
use std::time::Duration;

use rand::Rng;

/// The wait before attempt `attempt + 1`: `base · 2^(attempt-1)`, capped, plus up to 10%
/// jitter so that many failures at once do not retry in lockstep.
pub fn delay(base: Duration, cap: Duration, attempt: u32) -> Duration {
    let exponent = attempt.saturating_sub(1).min(30);
    let raw = base.saturating_mul(1u32 << exponent).min(cap);
    let jitter = rand::rng().random_range(0.0..0.1);
    raw + raw.mul_f64(jitter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_until_the_cap() {
        let base = Duration::from_millis(100);
        let cap = Duration::from_secs(1);
        let within = |d: Duration, expected: u64| {
            d >= Duration::from_millis(expected) && d <= Duration::from_millis(expected * 11 / 10)
        };
        assert!(within(delay(base, cap, 1), 100));
        assert!(within(delay(base, cap, 2), 200));
        assert!(within(delay(base, cap, 3), 400));
        assert!(within(delay(base, cap, 10), 1000));
        assert!(within(delay(base, cap, 1000), 1000));
    }
}
