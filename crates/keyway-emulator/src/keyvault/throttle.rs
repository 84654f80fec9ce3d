//! Per-vault throttling as Key Vault applies it: a budget of secret creates and one of all other
//! operations per sliding window, and `429 Throttled` with `Retry-After` beyond it.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use axum::response::Response;

use super::wire;

/// The throttling budget of a vault. `Default` is the real service's: per 10 seconds, 300
/// secret creates and 4,000 other operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleLimits {
    /// `SetSecret` calls per window.
    pub creates: u32,
    /// Every other call per window.
    pub others: u32,
    /// The window.
    pub window: Duration,
}

impl Default for ThrottleLimits {
    fn default() -> Self {
        ThrottleLimits {
            creates: 300,
            others: 4000,
            window: Duration::from_secs(10),
        }
    }
}

/// The requests admitted within the current window, creates and others apart.
#[derive(Debug, Default)]
pub(crate) struct Throttle {
    creates: VecDeque<Instant>,
    others: VecDeque<Instant>,
}

impl Throttle {
    /// Admits a request, or says how many seconds until one would be admitted.
    pub fn admit(
        &mut self,
        create: bool,
        limits: ThrottleLimits,
        now: Instant,
    ) -> std::result::Result<(), u32> {
        let (queue, limit) = if create {
            (&mut self.creates, limits.creates)
        } else {
            (&mut self.others, limits.others)
        };
        while queue
            .front()
            .is_some_and(|t| now.duration_since(*t) >= limits.window)
        {
            queue.pop_front();
        }
        if queue.len() as u32 >= limit {
            let oldest = queue.front().copied().unwrap_or(now);
            let wait = limits.window.saturating_sub(now.duration_since(oldest));
            return Err(wait.as_secs_f64().ceil().max(1.0) as u32);
        }
        queue.push_back(now);
        Ok(())
    }
}

/// Key Vault's answer to a request beyond the budget.
pub(crate) fn throttled(retry_after: u32) -> Response {
    let response = wire::error(
        StatusCode::TOO_MANY_REQUESTS,
        "Throttled",
        "Request was not processed because too many requests were received. Reason: VaultRequestTypeLimitReached",
        None,
    );
    wire::with_retry_after(response, retry_after)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttle_admits_the_budget_then_says_when() {
        let limits = ThrottleLimits {
            creates: 2,
            others: 3,
            window: Duration::from_secs(10),
        };
        let mut t = Throttle::default();
        let start = Instant::now();
        assert!(t.admit(true, limits, start).is_ok());
        assert!(t.admit(true, limits, start).is_ok());
        assert_eq!(
            t.admit(true, limits, start + Duration::from_secs(3)),
            Err(7)
        );
        assert!(t.admit(false, limits, start).is_ok());
        assert!(
            t.admit(true, limits, start + Duration::from_secs(10))
                .is_ok()
        );
    }
}
