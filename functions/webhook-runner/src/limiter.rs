//! A token bucket: `rate` tokens a second up to `capacity`. Over any interval of T seconds at
//! most `capacity + rate·T` requests pass: with capacity 1, `requests_per_minute` is a steady
//! spacing, never a burst at the top of each minute. (The original counted characters.)

use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct TokenBucket {
    rate: f64,
    capacity: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    pub fn per_minute(requests: u32) -> TokenBucket {
        TokenBucket::new(f64::from(requests) / 60.0, 1.0)
    }

    pub fn new(rate: f64, capacity: f64) -> TokenBucket {
        TokenBucket {
            rate,
            capacity,
            tokens: capacity,
            last: Instant::now(),
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.capacity);
        self.last = now;
    }

    /// How long to wait before a token is available; takes it when the answer is zero.
    pub fn try_take(&mut self, now: Instant) -> Duration {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return Duration::ZERO;
        }
        Duration::from_secs_f64((1.0 - self.tokens) / self.rate)
    }

    pub async fn take(&mut self) {
        loop {
            let wait = self.try_take(Instant::now());
            if wait.is_zero() {
                return;
            }
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spaces_requests_at_the_rate_without_bursts() {
        let start = Instant::now();
        let mut b = TokenBucket::new(2.0, 1.0);
        assert_eq!(b.try_take(start), Duration::ZERO);
        let wait = b.try_take(start);
        assert!((wait.as_secs_f64() - 0.5).abs() < 1e-9, "{wait:?}");
        assert_eq!(
            b.try_take(start + Duration::from_millis(500)),
            Duration::ZERO
        );
        // idle time does not bank more than the capacity
        let later = start + Duration::from_secs(60);
        assert_eq!(b.try_take(later), Duration::ZERO);
        assert!(b.try_take(later) > Duration::ZERO);
    }

    #[test]
    fn simulated_minute_never_exceeds_capacity_plus_rate() {
        let start = Instant::now();
        let mut b = TokenBucket::per_minute(120);
        let mut now = start;
        let mut sent = Vec::new();
        while now < start + Duration::from_secs(120) {
            let wait = b.try_take(now);
            if wait.is_zero() {
                sent.push(now);
            } else {
                now += wait;
            }
        }
        for (i, t) in sent.iter().enumerate() {
            let in_window = sent[i..]
                .iter()
                .take_while(|u| **u < *t + Duration::from_secs(60))
                .count();
            assert!(in_window <= 121, "{in_window} requests in one minute");
        }
        assert!(sent.len() >= 239, "{} sent in two minutes", sent.len());
    }
}
