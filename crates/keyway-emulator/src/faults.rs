//! Fault injection: fail the next N requests of an operation with a status, add latency, drop
//! connections, make the issuer unreachable. (Clock skew lives on the emulator's clock.)

use std::sync::Mutex;
use std::time::Duration;

use crate::counters::Service;

/// What to do to one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Injected {
    /// Answer with this status (and `Retry-After` seconds for 429/503).
    Fail {
        status: u16,
        retry_after: Option<u32>,
    },
    /// Close the connection without an answer.
    Drop,
}

#[derive(Debug, Clone)]
struct Rule {
    service: Service,
    operation: Option<String>,
    action: Injected,
    remaining: u32,
}

#[derive(Debug, Clone)]
struct Latency {
    service: Service,
    operation: Option<String>,
    delay: Duration,
}

#[derive(Debug, Default)]
struct State {
    rules: Vec<Rule>,
    latencies: Vec<Latency>,
    issuer_unreachable: bool,
    next_link: Option<String>,
}

/// The fault injector shared by every emulated service.
#[derive(Debug, Default)]
pub struct Faults {
    state: Mutex<State>,
}

impl Faults {
    fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        f(&mut self.state.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// The next `count` requests of `service` (and `operation`, if given) answer `status`, with
    /// `Retry-After: 1` for 429 and 503.
    pub fn fail_next(&self, service: Service, operation: Option<&str>, status: u16, count: u32) {
        let retry_after = matches!(status, 429 | 503).then_some(1);
        self.fail_next_with_retry_after(service, operation, status, count, retry_after);
    }

    /// As [`Faults::fail_next`], with an explicit `Retry-After` in seconds.
    pub fn fail_next_with_retry_after(
        &self,
        service: Service,
        operation: Option<&str>,
        status: u16,
        count: u32,
        retry_after: Option<u32>,
    ) {
        self.with(|s| {
            s.rules.push(Rule {
                service,
                operation: operation.map(str::to_string),
                action: Injected::Fail {
                    status,
                    retry_after,
                },
                remaining: count,
            })
        });
    }

    /// The next `count` requests of `service` (and `operation`) get their connection closed
    /// with no answer.
    pub fn drop_next(&self, service: Service, operation: Option<&str>, count: u32) {
        self.with(|s| {
            s.rules.push(Rule {
                service,
                operation: operation.map(str::to_string),
                action: Injected::Drop,
                remaining: count,
            })
        });
    }

    /// Every request of `service` (and `operation`) waits `delay` before it is answered;
    /// `Duration::ZERO` removes the latency.
    pub fn set_latency(&self, service: Service, operation: Option<&str>, delay: Duration) {
        self.with(|s| {
            s.latencies
                .retain(|l| !(l.service == service && l.operation.as_deref() == operation));
            if !delay.is_zero() {
                s.latencies.push(Latency {
                    service,
                    operation: operation.map(str::to_string),
                    delay,
                });
            }
        });
    }

    /// Makes the OIDC issuer drop every connection (Entra then answers AADSTS90061), or
    /// reachable again.
    pub fn set_issuer_unreachable(&self, unreachable: bool) {
        self.with(|s| s.issuer_unreachable = unreachable);
    }

    /// Makes every Key Vault list page answer with `link` as its `nextLink` (a vault that pages
    /// to another host, or to itself forever), or pages normally again with `None`.
    pub fn force_next_link(&self, link: Option<&str>) {
        self.with(|s| s.next_link = link.map(str::to_string));
    }

    /// The forced `nextLink`, if any.
    pub(crate) fn forced_next_link(&self) -> Option<String> {
        self.with(|s| s.next_link.clone())
    }

    /// Removes every fault.
    pub fn clear(&self) {
        self.with(|s| *s = State::default());
    }

    /// Consumes the fault (if any) for one request, and returns the latency to add.
    pub(crate) fn take(&self, service: Service, operation: &str) -> (Option<Injected>, Duration) {
        self.with(|s| {
            let latency = s
                .latencies
                .iter()
                .filter(|l| {
                    l.service == service && l.operation.as_deref().is_none_or(|o| o == operation)
                })
                .map(|l| l.delay)
                .max()
                .unwrap_or_default();
            if service == Service::Issuer && s.issuer_unreachable {
                return (Some(Injected::Drop), latency);
            }
            let rule = s.rules.iter_mut().find(|r| {
                r.remaining > 0
                    && r.service == service
                    && r.operation.as_deref().is_none_or(|o| o == operation)
            });
            let injected = rule.map(|r| {
                r.remaining -= 1;
                r.action.clone()
            });
            s.rules.retain(|r| r.remaining > 0);
            (injected, latency)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_are_consumed_in_order_and_scoped() {
        let f = Faults::default();
        f.fail_next(Service::KeyVault, Some("GetSecret"), 503, 2);
        assert_eq!(f.take(Service::KeyVault, "GetSecrets").0, None);
        assert_eq!(
            f.take(Service::KeyVault, "GetSecret").0,
            Some(Injected::Fail {
                status: 503,
                retry_after: Some(1)
            })
        );
        assert!(f.take(Service::KeyVault, "GetSecret").0.is_some());
        assert_eq!(f.take(Service::KeyVault, "GetSecret").0, None);
        f.set_issuer_unreachable(true);
        assert_eq!(f.take(Service::Issuer, "Jwks").0, Some(Injected::Drop));
        f.set_latency(Service::Entra, None, Duration::from_millis(5));
        assert_eq!(f.take(Service::Entra, "Token").1, Duration::from_millis(5));
        f.clear();
        assert_eq!(f.take(Service::Issuer, "Jwks"), (None, Duration::ZERO));
    }
}
