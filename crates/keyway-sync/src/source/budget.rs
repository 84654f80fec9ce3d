//! A vault's adaptive request budget: the configured number of requests per 10 seconds is a
//! ceiling, and the rate actually admitted follows the vault's answers (AIMD, as TCP's congestion
//! window does). A 429 or 503 halves it — once per burst: answers to tries admitted before the cut
//! were sent at the old rate and do not cut again — and `Retry-After` holds every try to the vault
//! until it passes; each full 10-s window without a throttle adds back 5 % of the ceiling, up to
//! the ceiling. A vault's budget is shared by every source of that vault (every identity reading
//! it), so a busy neighbour on the same vault makes keyway step back instead of both getting 429
//! storms.
//!
//! Every try is admitted, the SDK's retries and Key Vault's authentication challenge included:
//! [`RequestBudget::policy`] is an azure_core per-try pipeline policy (it runs after the SDK's retry
//! policy, once per try) that waits for the budget before each try and reads the answer's status.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use azure_core::http::headers::{RETRY_AFTER, RETRY_AFTER_MS, X_MS_RETRY_AFTER_MS};
use azure_core::http::policies::{Policy, PolicyResult, get_retry_after};
use azure_core::http::{Context, Method, Request};

/// The window the budget counts in: Key Vault's throttle counts per 10 seconds.
pub const BUDGET_WINDOW: Duration = Duration::from_secs(10);

/// The longest `Retry-After` honoured: a longer one (a hostile or broken answer) holds the vault
/// for this long, then tries resume at the reduced rate.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// The budget counts its tries over the window and this share of it more (10.5 s for Key
/// Vault's 10): tries reach the vault later than they are admitted by a delay that varies (a
/// new connection's TLS handshake, scheduling), so N tries admitted within 10 s can arrive
/// within less, and a budget equal to the vault's limit met the vault's throttle at the
/// window's edge (one 429, and the halved rate, took a first sync at 4,000 per 10 s from 26 s
/// towards 47). 5 % absorbs up to half a second of that variation.
pub const ARRIVAL_MARGIN: f64 = 0.05;

/// The share of the ceiling added back per window without a throttle (at least one request).
pub const RECOVERY_PER_WINDOW: f64 = 0.05;

/// The headers a throttled answer says how long to wait in, in the order the SDK reads them.
const RETRY_HEADERS: [azure_core::http::headers::HeaderName; 3] =
    [X_MS_RETRY_AFTER_MS, RETRY_AFTER_MS, RETRY_AFTER];

/// The AIMD arithmetic and the sliding window, on explicit instants so it is tested with a fake
/// clock.
#[derive(Debug)]
struct Aimd {
    ceiling: f64,
    window: Duration,
    /// Requests admitted per window now (at least 1, at most `ceiling`).
    rate: f64,
    /// When the tries of the current window were admitted.
    starts: VecDeque<Instant>,
    /// No try before this (the latest `Retry-After`).
    blocked_until: Option<Instant>,
    /// The last cut or recovery step: recovery counts full windows from here.
    calm_since: Instant,
    /// Bumped by each cut: a throttled answer to a try admitted in an older generation was sent
    /// at the old rate and does not cut again.
    generation: u64,
    admitted: u64,
    throttled: u64,
    unavailable: u64,
    cuts: u64,
}

impl Aimd {
    fn new(ceiling: u32, window: Duration, now: Instant) -> Aimd {
        let ceiling = f64::from(ceiling.max(1));
        Aimd {
            ceiling,
            window,
            rate: ceiling,
            starts: VecDeque::new(),
            blocked_until: None,
            calm_since: now,
            generation: 0,
            admitted: 0,
            throttled: 0,
            unavailable: 0,
            cuts: 0,
        }
    }

    /// The span tries are counted over: the window and [`ARRIVAL_MARGIN`] of it.
    fn span(&self) -> Duration {
        self.window.mul_f64(1.0 + ARRIVAL_MARGIN)
    }

    /// Requests admitted per window now.
    fn limit(&self) -> usize {
        self.rate.floor().max(1.0) as usize
    }

    /// Adds back [`RECOVERY_PER_WINDOW`] of the ceiling for each full window since the last cut
    /// or step.
    fn recover(&mut self, now: Instant) {
        if self.rate >= self.ceiling {
            self.calm_since = now;
            return;
        }
        let calm = now.saturating_duration_since(self.calm_since);
        let windows = (calm.as_nanos() / self.window.as_nanos().max(1)) as u32;
        if windows > 0 {
            let step = (self.ceiling * RECOVERY_PER_WINDOW).max(1.0);
            self.rate = (self.rate + step * f64::from(windows)).min(self.ceiling);
            self.calm_since += self.window * windows;
        }
    }

    /// Admits one try (its generation), or says when to ask again.
    fn try_admit(&mut self, now: Instant) -> std::result::Result<u64, Instant> {
        self.recover(now);
        match self.blocked_until {
            Some(until) if now < until => return Err(until),
            Some(_) => self.blocked_until = None,
            None => {}
        }
        let span = self.span();
        while self
            .starts
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= span)
        {
            self.starts.pop_front();
        }
        let limit = self.limit();
        if self.starts.len() < limit {
            self.starts.push_back(now);
            self.admitted += 1;
            return Ok(self.generation);
        }
        // The try that must leave the window before one more fits.
        let oldest_to_leave = self.starts[self.starts.len() - limit];
        Err(oldest_to_leave + span)
    }

    /// A try of `generation` was answered `status`, with `retry_after` if the answer said so.
    /// Returns whether the rate was cut.
    fn answered(
        &mut self,
        now: Instant,
        generation: u64,
        status: u16,
        retry_after: Option<Duration>,
    ) -> bool {
        match status {
            429 => self.throttled += 1,
            503 => self.unavailable += 1,
            _ => return false,
        }
        if let Some(wait) = retry_after {
            let until = now + wait.min(MAX_RETRY_AFTER);
            self.blocked_until = Some(self.blocked_until.map_or(until, |b| b.max(until)));
        }
        if generation != self.generation {
            return false;
        }
        self.recover(now);
        self.rate = (self.rate / 2.0).max(1.0);
        self.generation += 1;
        self.calm_since = now;
        self.cuts += 1;
        true
    }

    fn per_10s(&self) -> u32 {
        let per_window = self.limit() as f64;
        (per_window * BUDGET_WINDOW.as_secs_f64() / self.window.as_secs_f64()).round() as u32
    }
}

/// What a budget has done so far, for metrics and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BudgetStats {
    /// The configured requests per 10 seconds: the most ever admitted.
    pub ceiling_per_10s: u32,
    /// The requests per 10 seconds admitted now (the budget in force).
    pub per_10s: u32,
    /// Tries admitted so far (every try on the wire, retries and challenges included).
    pub admitted: u64,
    /// Answers `429 Too Many Requests`.
    pub throttled: u64,
    /// Answers `503 Service Unavailable`.
    pub unavailable: u64,
    /// How many times the rate was halved.
    pub cuts: u64,
    /// Tries waiting for the budget right now.
    pub waiting: usize,
    /// How much longer the latest `Retry-After` holds every try (`None`: not held).
    pub held_for: Option<Duration>,
}

/// A vault's request budget: at most the rate in force of request starts in any 10-second window
/// (a sliding window, as Key Vault's throttle counts); the rate is the configured ceiling until
/// the vault throttles, then adapts (see the module's documentation). Share one between every
/// source of a vault, and give every SDK client of the vault its [`RequestBudget::policy`].
pub struct RequestBudget {
    aimd: Mutex<Aimd>,
    ceiling: u32,
    waiting: AtomicUsize,
    /// Tries by operation and status class.
    tries: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
}

impl fmt::Debug for RequestBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestBudget")
            .field("ceiling_per_10s", &self.ceiling)
            .field("per_10s", &self.per_10s())
            .finish()
    }
}

/// Keeps [`BudgetStats::waiting`] right when a waiting try is dropped.
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl RequestBudget {
    /// At most `per_10s` requests per 10 seconds (at least one): the ceiling the adaptive rate
    /// starts at and recovers to.
    pub fn new(per_10s: u32) -> RequestBudget {
        RequestBudget::with_window(per_10s, BUDGET_WINDOW)
    }

    /// At most `requests` per `window` (at least one): for a service that counts over another
    /// window, or a test whose outcome must not depend on the machine's speed (with an hour's
    /// window no admitted try leaves it while the test runs). Recovery steps once per `window`;
    /// the `per_10s` figures are scaled from it and rounded.
    pub fn with_window(requests: u32, window: Duration) -> RequestBudget {
        let window = window.max(Duration::from_millis(1));
        let ceiling = (f64::from(requests.max(1)) * BUDGET_WINDOW.as_secs_f64()
            / window.as_secs_f64())
        .round() as u32;
        RequestBudget {
            aimd: Mutex::new(Aimd::new(requests, window, Instant::now())),
            ceiling,
            waiting: AtomicUsize::new(0),
            tries: Mutex::new(BTreeMap::new()),
        }
    }

    fn aimd(&self) -> MutexGuard<'_, Aimd> {
        self.aimd.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits until one more request fits the budget, and counts it. (The SDK clients of a
    /// source are admitted per try by [`RequestBudget::policy`]; call this only for requests
    /// sent some other way.)
    pub async fn acquire(&self) {
        self.admit().await;
    }

    /// Waits for the budget; the admitted try's generation.
    async fn admit(&self) -> u64 {
        loop {
            let until = match self.aimd().try_admit(Instant::now()) {
                Ok(generation) => return generation,
                Err(until) => until,
            };
            self.waiting.fetch_add(1, Ordering::Relaxed);
            let _waiting = Waiting(&self.waiting);
            tokio::time::sleep_until(tokio::time::Instant::from_std(until)).await;
        }
    }

    /// Tells the budget how a try admitted in `generation` was answered: `status` (`None`: no
    /// answer) and the answer's `Retry-After`.
    fn answered(
        &self,
        operation: &'static str,
        generation: u64,
        status: Option<u16>,
        retry_after: Option<Duration>,
    ) {
        if let Some(status) = status {
            let cut = self
                .aimd()
                .answered(Instant::now(), generation, status, retry_after);
            if cut {
                tracing::info!(
                    status,
                    per_10s = self.per_10s(),
                    "the vault throttled: request budget halved"
                );
            }
        }
        let class = match status {
            None => "none",
            Some(200..=299) => "2xx",
            Some(300..=399) => "3xx",
            Some(400..=499) => "4xx",
            Some(500..=599) => "5xx",
            Some(_) => "other",
        };
        *self
            .tries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry((operation, class))
            .or_default() += 1;
    }

    /// The configured requests per 10 seconds.
    pub fn ceiling_per_10s(&self) -> u32 {
        self.ceiling
    }

    /// The requests per 10 seconds admitted now: the ceiling, or less after the vault throttled.
    pub fn per_10s(&self) -> u32 {
        let mut aimd = self.aimd();
        // An idle vault recovers too: the gauge shows the rate the next try meets.
        aimd.recover(Instant::now());
        aimd.per_10s()
    }

    /// What the budget has done so far.
    pub fn stats(&self) -> BudgetStats {
        let now = Instant::now();
        let mut aimd = self.aimd();
        aimd.recover(now);
        BudgetStats {
            ceiling_per_10s: self.ceiling,
            per_10s: aimd.per_10s(),
            admitted: aimd.admitted,
            throttled: aimd.throttled,
            unavailable: aimd.unavailable,
            cuts: aimd.cuts,
            waiting: self.waiting.load(Ordering::Relaxed),
            held_for: aimd
                .blocked_until
                .filter(|until| *until > now)
                .map(|until| until - now),
        }
    }

    /// Tries so far by operation (`list`, `versions`, `get`, `list_keys`, `get_key`, `other`)
    /// and status class (`2xx`, `3xx`, `4xx`, `5xx`, `other`, `none` for no answer). Key Vault's
    /// authentication challenge is a `4xx` (401) try of the operation it precedes.
    pub fn tries(&self) -> Vec<(&'static str, &'static str, u64)> {
        self.tries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|((operation, class), n)| (*operation, *class, *n))
            .collect()
    }

    /// The per-try pipeline policy that admits every try of an SDK client through this budget and
    /// reports its answer: put it in `ClientOptions::per_try_policies` of every client of the
    /// vault ([`crate::KeyVaultSource`] does).
    pub fn policy(self: &Arc<Self>) -> Arc<dyn Policy> {
        Arc::new(BudgetPolicy {
            budget: self.clone(),
        })
    }
}

/// Admits each try through a [`RequestBudget`] and reports its answer.
#[derive(Debug)]
struct BudgetPolicy {
    budget: Arc<RequestBudget>,
}

/// The operation a Key Vault request is, from its method and path (names and versions never
/// leave this function).
fn operation_of(method: Method, path: &str) -> &'static str {
    if method != Method::Get {
        return "other";
    }
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match segments.as_slice() {
        ["secrets"] => "list",
        ["secrets", _, "versions"] => "versions",
        ["secrets", _] | ["secrets", _, _] => "get",
        ["keys"] => "list_keys",
        ["keys", _, "versions"] => "other",
        ["keys", _] | ["keys", _, _] => "get_key",
        _ => "other",
    }
}

#[async_trait::async_trait]
impl Policy for BudgetPolicy {
    async fn send(
        &self,
        ctx: &Context,
        request: &mut Request,
        next: &[Arc<dyn Policy>],
    ) -> PolicyResult {
        let operation = operation_of(request.method(), request.url().path());
        let generation = self.budget.admit().await;
        let result = next[0].send(ctx, request, &next[1..]).await;
        match &result {
            Ok(response) => {
                let retry_after = get_retry_after(
                    response.headers(),
                    time::OffsetDateTime::now_utc,
                    &RETRY_HEADERS,
                )
                .map(|d| {
                    Duration::from_millis(d.whole_milliseconds().clamp(0, u64::MAX.into()) as u64)
                });
                self.budget.answered(
                    operation,
                    generation,
                    Some(u16::from(response.status())),
                    retry_after,
                );
            }
            Err(_) => self.budget.answered(operation, generation, None, None),
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use azure_core::http::headers::Headers;
    use azure_core::http::{
        AsyncRawResponse, ClientOptions, Pipeline, RetryOptions, StatusCode, Transport,
    };

    const W: Duration = BUDGET_WINDOW;
    /// The span tries are counted over: 10.5 s.
    const S: Duration = Duration::from_millis(10_500);

    /// A budget over another window admits its own number per window and reports the 10-s
    /// equivalent.
    #[test]
    fn a_budget_over_another_window_reports_its_10_s_equivalent() {
        let budget = RequestBudget::with_window(60, Duration::from_secs(60));
        assert_eq!(budget.ceiling_per_10s(), 10);
        assert_eq!(budget.per_10s(), 10);
        let mut aimd = budget.aimd();
        assert_eq!(fill(&mut aimd, Instant::now()), 60);
    }

    /// Admits as many tries as fit at `now`.
    fn fill(aimd: &mut Aimd, now: Instant) -> usize {
        let mut n = 0;
        while aimd.try_admit(now).is_ok() {
            n += 1;
        }
        n
    }

    #[test]
    fn a_429_burst_halves_the_admitted_rate_once() {
        let t0 = Instant::now();
        let mut aimd = Aimd::new(100, W, t0);
        assert_eq!(fill(&mut aimd, t0), 100, "the ceiling at first");
        // All 100 in flight get 429: one cut, not 100.
        let cuts = (0..100).filter(|_| aimd.answered(t0, 0, 429, None)).count();
        assert_eq!(cuts, 1);
        assert_eq!(aimd.per_10s(), 50);
        assert_eq!(fill(&mut aimd, t0), 0, "the window is full");
        assert_eq!(
            fill(&mut aimd, t0 + W),
            0,
            "still within the span of 10.5 s"
        );
        // The next span admits half, plus one window's recovery (5 % of 100).
        assert_eq!(fill(&mut aimd, t0 + S), 55);
        // A 503 to a try admitted after the cut cuts again.
        assert!(aimd.answered(t0 + W, 1, 503, None));
        assert_eq!(aimd.per_10s(), 27);
        assert_eq!((aimd.throttled, aimd.unavailable, aimd.cuts), (100, 1, 2));
        // Other answers change nothing.
        assert!(!aimd.answered(t0 + W, 2, 404, None));
        assert!(!aimd.answered(t0 + W, 2, 500, None));
        assert_eq!(aimd.per_10s(), 27);
    }

    #[test]
    fn the_rate_never_falls_below_one_request_per_window() {
        let t0 = Instant::now();
        let mut aimd = Aimd::new(4, W, t0);
        for generation in 0..10 {
            aimd.answered(t0, generation, 429, None);
        }
        assert_eq!(aimd.per_10s(), 1);
        assert_eq!(fill(&mut aimd, t0), 1);
    }

    #[test]
    fn recovery_is_additive_up_to_the_ceiling() {
        let t0 = Instant::now();
        let mut aimd = Aimd::new(2000, W, t0);
        assert!(aimd.answered(t0, 0, 429, None));
        assert_eq!(aimd.per_10s(), 1000);
        // Less than a full window without a throttle: no change.
        aimd.recover(t0 + W - Duration::from_millis(1));
        assert_eq!(aimd.per_10s(), 1000);
        // Each full window adds 5 % of the ceiling (100).
        aimd.recover(t0 + W);
        assert_eq!(aimd.per_10s(), 1100);
        aimd.recover(t0 + W * 3 + Duration::from_secs(5));
        assert_eq!(aimd.per_10s(), 1300);
        // A throttle restarts the count: halve, then +100 per window again.
        assert!(aimd.answered(t0 + W * 4, 1, 429, None));
        assert_eq!(aimd.per_10s(), 700, "1,400 (one more window) halved");
        aimd.recover(t0 + W * 5);
        assert_eq!(aimd.per_10s(), 800);
        // Never over the ceiling.
        aimd.recover(t0 + W * 100);
        assert_eq!(aimd.per_10s(), 2000);
        assert_eq!(fill(&mut aimd, t0 + W * 100), 2000);
    }

    #[test]
    fn retry_after_holds_every_try_until_it_passes() {
        let t0 = Instant::now();
        let mut aimd = Aimd::new(10, W, t0);
        assert!(aimd.try_admit(t0).is_ok());
        aimd.answered(t0, 0, 429, Some(Duration::from_secs(3)));
        let held = t0 + Duration::from_secs(3);
        // The rate allows 4 more, but nothing goes before Retry-After passes.
        assert_eq!(aimd.try_admit(t0), Err(held));
        assert_eq!(aimd.try_admit(held - Duration::from_millis(1)), Err(held));
        assert!(aimd.try_admit(held).is_ok());
        // A shorter Retry-After does not shorten a longer one; an absurd one is capped.
        aimd.answered(held, 5, 429, Some(Duration::from_secs(9)));
        aimd.answered(held, 5, 429, Some(Duration::from_secs(1)));
        assert_eq!(aimd.try_admit(held), Err(held + Duration::from_secs(9)));
        aimd.answered(held, 5, 503, Some(Duration::from_secs(86_400)));
        assert_eq!(aimd.try_admit(held), Err(held + MAX_RETRY_AFTER));
    }

    #[test]
    fn a_full_window_says_when_the_next_try_fits() {
        let t0 = Instant::now();
        let mut aimd = Aimd::new(3, W, t0);
        let s = Duration::from_secs(1);
        assert!(aimd.try_admit(t0).is_ok());
        assert!(aimd.try_admit(t0 + s).is_ok());
        assert!(aimd.try_admit(t0 + s * 2).is_ok());
        assert_eq!(aimd.try_admit(t0 + s * 3), Err(t0 + S));
        assert!(aimd.try_admit(t0 + W).is_err(), "10 s are not enough");
        assert!(aimd.try_admit(t0 + S).is_ok());
        // After a cut to 1 with 3 in the span, the next fits when only 0 remain.
        aimd.answered(t0 + S, 0, 429, None);
        assert_eq!(aimd.per_10s(), 1);
        assert_eq!(aimd.try_admit(t0 + S), Err(t0 + S + S));
    }

    #[test]
    fn operations_are_named_without_names() {
        assert_eq!(operation_of(Method::Get, "/secrets"), "list");
        assert_eq!(operation_of(Method::Get, "/secrets/"), "list");
        assert_eq!(operation_of(Method::Get, "/secrets/a/versions"), "versions");
        assert_eq!(operation_of(Method::Get, "/secrets/a"), "get");
        assert_eq!(operation_of(Method::Get, "/secrets/a/0123"), "get");
        assert_eq!(operation_of(Method::Get, "/keys"), "list_keys");
        assert_eq!(operation_of(Method::Get, "/keys/k/v1"), "get_key");
        assert_eq!(operation_of(Method::Put, "/secrets/a"), "other");
        assert_eq!(operation_of(Method::Get, "/deletedsecrets"), "other");
    }

    /// Answers each try with the next status of a script (then 200), counting tries.
    #[derive(Debug)]
    struct Scripted {
        statuses: Mutex<VecDeque<(u16, Option<&'static str>)>>,
        tries: AtomicUsize,
    }

    #[async_trait::async_trait]
    impl Policy for Scripted {
        async fn send(&self, _: &Context, _: &mut Request, _: &[Arc<dyn Policy>]) -> PolicyResult {
            self.tries.fetch_add(1, Ordering::Relaxed);
            let (status, retry_after) = self
                .statuses
                .lock()
                .unwrap()
                .pop_front()
                .unwrap_or((200, None));
            let mut headers = Headers::new();
            if let Some(seconds) = retry_after {
                headers.insert(RETRY_AFTER, seconds);
            }
            Ok(AsyncRawResponse::from_bytes(
                StatusCode::from(status),
                headers,
                b"{}".to_vec(),
            ))
        }
    }

    fn pipeline(budget: &Arc<RequestBudget>, script: Arc<Scripted>) -> Pipeline {
        let options = ClientOptions {
            per_try_policies: vec![budget.policy()],
            transport: Some(Transport::with_policy(script)),
            retry: RetryOptions::fixed(azure_core::http::FixedRetryOptions {
                delay: azure_core::time::Duration::milliseconds(1),
                max_retries: 5,
                ..Default::default()
            }),
            ..Default::default()
        };
        Pipeline::new(None, None, options, Vec::new(), Vec::new(), None)
    }

    async fn get(pipeline: &Pipeline, path: &str) -> u16 {
        let url = format!("https://v.vault.azure.net{path}").parse().unwrap();
        let mut request = Request::new(url, Method::Get);
        match pipeline.send(&Context::default(), &mut request, None).await {
            Ok(response) => u16::from(response.status()),
            Err(e) => u16::from(e.http_status().unwrap_or(StatusCode::Ok)),
        }
    }

    /// The SDK's retries are tries like any other: each one is admitted, counted and read.
    #[tokio::test]
    async fn every_retry_is_admitted_and_a_throttle_cuts_the_rate() {
        let budget = Arc::new(RequestBudget::new(40));
        let script = Arc::new(Scripted {
            statuses: Mutex::new([(503, Some("0")), (429, Some("0"))].into()),
            tries: AtomicUsize::new(0),
        });
        let pipeline = pipeline(&budget, script.clone());
        assert_eq!(get(&pipeline, "/secrets/a").await, 200);
        assert_eq!(script.tries.load(Ordering::Relaxed), 3, "two retries");
        let stats = budget.stats();
        assert_eq!(stats.admitted, 3, "every try admitted: {stats:?}");
        assert_eq!((stats.throttled, stats.unavailable), (1, 1));
        assert_eq!(stats.per_10s, 10, "40 halved twice");
        assert_eq!(
            budget.tries(),
            vec![("get", "2xx", 1), ("get", "4xx", 1), ("get", "5xx", 1)]
        );
    }

    /// Waits (counting turns, not time) until `done` holds.
    async fn until(mut done: impl FnMut() -> bool) {
        for _ in 0..10_000 {
            if done() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        panic!("never happened");
    }

    /// A call whose retries would exceed the budget waits for it instead: no try is sent above it.
    #[tokio::test]
    async fn retries_never_go_above_the_budget() {
        let budget = Arc::new(RequestBudget::new(3));
        // Two 500s (retried, no cut) then success: 3 tries fit. A second call's first try is the
        // fourth and must wait for the window.
        let script = Arc::new(Scripted {
            statuses: Mutex::new([(500, None), (500, None)].into()),
            tries: AtomicUsize::new(0),
        });
        let pipeline = Arc::new(pipeline(&budget, script.clone()));
        assert_eq!(get(&pipeline, "/secrets").await, 200);
        let second = tokio::spawn({
            let pipeline = pipeline.clone();
            async move { get(&pipeline, "/secrets/a").await }
        });
        until(|| budget.stats().waiting == 1).await;
        assert_eq!(script.tries.load(Ordering::Relaxed), 3, "nothing above 3");
        assert_eq!(budget.stats().admitted, 3);
        second.abort();
        let _ = second.await;
        assert_eq!(budget.stats().waiting, 0, "a dropped wait is not counted");
        assert_eq!(budget.tries(), vec![("list", "2xx", 1), ("list", "5xx", 2)]);
    }
}
