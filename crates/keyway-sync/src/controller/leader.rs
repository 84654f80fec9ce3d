//! Leader election on a coordination.k8s.io Lease, the way client-go does it: the holder renews
//! the Lease every `renew_every`; a candidate takes it over once it has seen the same record
//! unchanged for `lease_duration` (times are observed locally, so clock skew between nodes does
//! not matter); writes use the Lease's resourceVersion, so two candidates never both win; the
//! holder releases it on shutdown so the other takes over at once.

use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::PostParams;
use kube::{Api, Client};
use tokio::sync::Mutex;

use crate::error::{Result, SyncError};

/// How long a Lease is held without renewal, and how often it is renewed.
#[derive(Debug, Clone)]
pub struct LeaseTiming {
    /// A holder silent this long has lost the Lease (client-go's default: 15 s).
    pub lease_duration: Duration,
    /// How often the holder renews, and a candidate retries (2 s).
    pub renew_every: Duration,
}

impl Default for LeaseTiming {
    fn default() -> Self {
        LeaseTiming {
            lease_duration: Duration::from_secs(15),
            renew_every: Duration::from_secs(2),
        }
    }
}

/// The last Lease record seen, and when it was first seen locally.
struct Observed {
    record: (Option<String>, Option<MicroTime>),
    since: Instant,
}

/// One candidate for a Lease.
pub struct LeaderElection {
    api: Api<Lease>,
    name: String,
    identity: String,
    timing: LeaseTiming,
    observed: Mutex<Option<Observed>>,
}

impl std::fmt::Debug for LeaderElection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeaderElection")
            .field("lease", &self.name)
            .field("identity", &self.identity)
            .finish_non_exhaustive()
    }
}

fn lease_error(e: kube::Error) -> SyncError {
    SyncError::sink("the leader-election Lease", e.to_string()).with_cause(e)
}

impl LeaderElection {
    /// A candidate `identity` (the Pod's name) for Lease `namespace/name`.
    pub fn new(
        client: Client,
        namespace: &str,
        name: &str,
        identity: &str,
        timing: LeaseTiming,
    ) -> LeaderElection {
        LeaderElection {
            api: Api::namespaced(client, namespace),
            name: name.into(),
            identity: identity.into(),
            timing,
            observed: Mutex::new(None),
        }
    }

    /// The timing in use.
    pub fn timing(&self) -> &LeaseTiming {
        &self.timing
    }

    fn spec(&self, previous: Option<&LeaseSpec>, now: MicroTime) -> LeaseSpec {
        let ours = previous.and_then(|s| s.holder_identity.as_deref()) == Some(&self.identity);
        let transitions = previous.and_then(|s| s.lease_transitions).unwrap_or(0);
        LeaseSpec {
            holder_identity: Some(self.identity.clone()),
            lease_duration_seconds: Some(self.timing.lease_duration.as_secs().max(1) as i32),
            acquire_time: if ours {
                previous.and_then(|s| s.acquire_time.clone())
            } else {
                Some(now.clone())
            },
            renew_time: Some(now),
            lease_transitions: Some(if ours || previous.is_none() {
                transitions
            } else {
                transitions + 1
            }),
            ..Default::default()
        }
    }

    /// Acquires the Lease if it is free, expired or already ours (renewing it). Returns whether
    /// this candidate holds it now. A conflict with another writer is `Ok(false)`.
    pub async fn try_acquire_or_renew(&self) -> Result<bool> {
        let now = MicroTime(k8s_openapi::jiff::Timestamp::now());
        let Some(mut lease) = self.api.get_opt(&self.name).await.map_err(lease_error)? else {
            let mut lease = Lease::default();
            lease.metadata.name = Some(self.name.clone());
            lease.spec = Some(self.spec(None, now));
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(true),
                Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
                Err(e) => Err(lease_error(e)),
            };
        };
        let spec = lease.spec.clone().unwrap_or_default();
        let holder = spec.holder_identity.clone().filter(|h| !h.is_empty());
        if holder.is_some() && holder.as_deref() != Some(&self.identity) {
            // Someone else's: take it only once its record has stood still for a lease.
            let record = (holder, spec.renew_time.clone());
            let mut observed = self.observed.lock().await;
            let unchanged_for = match observed.as_ref() {
                Some(seen) if seen.record == record => seen.since.elapsed(),
                _ => {
                    *observed = Some(Observed {
                        record,
                        since: Instant::now(),
                    });
                    Duration::ZERO
                }
            };
            let duration = spec
                .lease_duration_seconds
                .map_or(self.timing.lease_duration, |s| {
                    Duration::from_secs(s.max(1) as u64)
                });
            if unchanged_for < duration {
                return Ok(false);
            }
        }
        lease.spec = Some(self.spec(Some(&spec), now));
        match self
            .api
            .replace(&self.name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
            Err(e) => Err(lease_error(e)),
        }
    }

    /// Gives the Lease up if this candidate holds it, so another takes over at once.
    pub async fn release(&self) -> Result<()> {
        let Some(mut lease) = self.api.get_opt(&self.name).await.map_err(lease_error)? else {
            return Ok(());
        };
        let spec = lease.spec.get_or_insert_with(Default::default);
        if spec.holder_identity.as_deref() != Some(&self.identity) {
            return Ok(());
        }
        spec.holder_identity = None;
        spec.lease_duration_seconds = Some(1);
        spec.renew_time = Some(MicroTime(k8s_openapi::jiff::Timestamp::now()));
        match self
            .api
            .replace(&self.name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(()),
            Err(e) => Err(lease_error(e)),
        }
    }

    /// Waits until this candidate holds the Lease (retrying every `renew_every`).
    pub async fn acquire(&self) {
        let mut told = false;
        loop {
            match self.try_acquire_or_renew().await {
                Ok(true) => return,
                Ok(false) if !told => {
                    // A standby says once that it is alive and why it does nothing.
                    let holder = self
                        .observed
                        .lock()
                        .await
                        .as_ref()
                        .and_then(|seen| seen.record.0.clone());
                    tracing::info!(
                        lease = %self.name,
                        holder = holder.as_deref().unwrap_or("another replica"),
                        "standby: another replica holds the Lease; taking over when it stops renewing"
                    );
                    told = true;
                }
                Ok(false) => {}
                Err(error) => tracing::warn!(%error, "leader election"),
            }
            tokio::time::sleep(self.timing.renew_every).await;
        }
    }

    /// Renews the Lease every `renew_every` and returns once it is lost: another holder took it,
    /// or no renewal succeeded within the renew deadline — two thirds of the lease, as
    /// client-go's 10 s of 15 s — so this replica stops writing before a standby may take over.
    /// Each attempt is bounded by the time left to the deadline, so a hung request cannot keep
    /// a deposed leader writing.
    pub async fn hold(&self) {
        let deadline = self.timing.lease_duration.mul_f64(2.0 / 3.0);
        let mut last_renewed = Instant::now();
        loop {
            tokio::time::sleep(self.timing.renew_every).await;
            let left = deadline.saturating_sub(last_renewed.elapsed());
            match tokio::time::timeout(left, self.try_acquire_or_renew()).await {
                Ok(Ok(true)) => last_renewed = Instant::now(),
                Ok(Ok(false)) => return,
                Ok(Err(error)) => tracing::warn!(%error, "renewing the Lease"),
                Err(_) => tracing::warn!("renewing the Lease timed out"),
            }
            if last_renewed.elapsed() >= deadline {
                return;
            }
        }
    }
}
