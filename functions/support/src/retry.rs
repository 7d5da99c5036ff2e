//! Exponential backoff with full jitter, honouring `Retry-After`.

use std::time::Duration;

pub const BASE: Duration = Duration::from_millis(250);
pub const CAP: Duration = Duration::from_secs(20);

/// The wait before retry `attempt` (1-based): the server's `Retry-After` seconds when given,
/// else a random wait up to `BASE·2^(attempt-1)`, capped.
pub fn delay(attempt: u32, retry_after: Option<&str>) -> Duration {
    if let Some(secs) = retry_after.and_then(|v| v.trim().parse::<u64>().ok()) {
        return Duration::from_secs(secs).min(Duration::from_secs(300));
    }
    let ceiling = BASE
        .saturating_mul(1 << attempt.saturating_sub(1).min(16))
        .min(CAP);
    ceiling.mul_f64(fastrand::f64())
}

/// Statuses worth another try.
pub fn retryable(status: u16) -> bool {
    status == 429 || (500..600).contains(&status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_is_capped_and_respects_retry_after() {
        for attempt in 1..=20 {
            let d = delay(attempt, None);
            let ceiling = BASE.saturating_mul(1 << (attempt - 1).min(16)).min(CAP);
            assert!(d <= ceiling, "attempt {attempt}: {d:?}");
        }
        assert_eq!(delay(1, Some("7")), Duration::from_secs(7));
        assert!(delay(1, Some("Wed, 21 Oct 2015 07:28:00 GMT")) <= BASE);
        assert!(retryable(429) && retryable(503) && !retryable(400) && !retryable(404));
    }
}
