//! The emulator's clock: system time plus an adjustable skew, so tests can make the emulated
//! cloud run ahead of or behind the client.

use std::sync::atomic::{AtomicI64, Ordering};

use time::{Duration, OffsetDateTime};

/// System time plus a skew in milliseconds.
#[derive(Debug, Default)]
pub struct Clock {
    skew_ms: AtomicI64,
}

impl Clock {
    /// The emulated now.
    pub fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc() + Duration::milliseconds(self.skew_ms.load(Ordering::Relaxed))
    }

    /// The emulated now, as Unix seconds.
    pub fn unix(&self) -> i64 {
        self.now().unix_timestamp()
    }

    /// Sets the skew (positive: the emulated services run ahead of real time).
    pub fn set_skew(&self, skew: Duration) {
        self.skew_ms.store(
            skew.whole_milliseconds()
                .clamp(i64::MIN as i128, i64::MAX as i128) as i64,
            Ordering::Relaxed,
        );
    }
}
