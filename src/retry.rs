//! How S3 requests are retried: per request, exponential backoff with full jitter for as long
//! as the request's patience lasts; for the whole client, a circuit that pauses new requests
//! while the endpoint is unreachable, so that an outage costs time, not objects.
//!
//! The SDK's own retries are off (its shared token bucket runs dry within a second of an
//! outage and then fails every request at once, and its adaptive rate limiter kept a whole run
//! at 1–3 requests a second long after throttling ended). Instead every request goes through
//! [`Retrier::run`]: a transport failure (connection refused or reset, timeout) opens the
//! circuit, and while it is open only one probe request goes out at a time; the first success
//! closes it. Throttling (503 SlowDown, 429) and server errors back off that request only.
//! See: issue "S3 at organization scale".

use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// What kind of failure a request met.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// The endpoint could not be reached or the connection broke: opens the circuit.
    Transport,
    /// 503 SlowDown or 429: back off this request.
    Throttled,
    /// 500, 502, 504: back off this request.
    Server,
    /// Anything else (403, 404, a bad request, no credentials): not retried.
    Final,
}

/// Retry settings.
#[derive(Clone, Copy, Debug)]
pub struct Patience {
    /// How long one request may keep retrying, from its first attempt.
    pub total: Duration,
    /// The first backoff; it doubles per attempt, with full jitter.
    pub base: Duration,
    /// The longest single backoff after a transport failure.
    pub cap: Duration,
    /// The longest single backoff after throttling or a server error: the endpoint answers,
    /// so a short wait lets the run recover as soon as S3 does.
    pub throttle_cap: Duration,
}

impl Default for Patience {
    fn default() -> Patience {
        Patience {
            total: Duration::from_secs(120),
            base: Duration::from_millis(200),
            cap: Duration::from_secs(5),
            throttle_cap: Duration::from_secs(1),
        }
    }
}

#[derive(Debug, Default)]
struct Circuit {
    /// While set and in the future, no request is sent.
    open_until: Option<Instant>,
    /// A probe is out while the circuit is open: the others wait for its answer.
    probing: bool,
    /// Transport failures in a row, for the circuit's own backoff.
    failures: u32,
}

/// The retry policy and the circuit shared by all requests to one endpoint.
#[derive(Debug, Default)]
pub struct Retrier {
    patience: Patience,
    circuit: Mutex<Circuit>,
}

/// How long to wait before attempt `n` (1-based): full jitter over an exponential ceiling.
fn backoff(p: &Patience, n: u32) -> Duration {
    let ceiling = p.base.saturating_mul(1 << n.min(16)).min(p.cap);
    let nanos = ceiling.as_nanos() as u64;
    Duration::from_nanos(jitter(nanos))
}

/// A pseudo-random number in `[nanos / 2, nanos]` (half jitter: never a busy loop): the clock's
/// nanoseconds and a call counter, mixed, so that requests that fail together wait apart.
fn jitter(nanos: u64) -> u64 {
    static CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let calls = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let clock = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::from(d.subsec_nanos()));
    let x = (clock ^ calls.rotate_left(32))
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .rotate_left(17);
    nanos / 2 + x % (nanos / 2 + 1)
}

impl Retrier {
    /// A retrier with this patience.
    pub fn new(patience: Patience) -> Retrier {
        Retrier {
            patience,
            circuit: Mutex::new(Circuit::default()),
        }
    }

    /// Runs `attempt` until it succeeds, fails for good, or its patience runs out. Returns the
    /// result and the number of attempts made.
    pub async fn run<T, E, F, Fut>(
        &self,
        mut attempt: F,
        classify: impl Fn(&E) -> Failure,
    ) -> (Result<T, E>, u32)
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let started = Instant::now();
        let mut n = 0;
        loop {
            let probe = self.wait_for_circuit().await;
            n += 1;
            let result = attempt().await;
            let failure = match &result {
                Ok(_) => {
                    self.closed();
                    return (result, n);
                }
                Err(e) => classify(e),
            };
            if probe {
                self.probe_failed(failure);
            }
            if failure == Failure::Final || started.elapsed() >= self.patience.total {
                return (result, n);
            }
            let wait = if failure == Failure::Transport {
                self.trip();
                backoff(&self.patience, n)
            } else {
                backoff(&self.patience, n).min(self.patience.throttle_cap)
            };
            tokio::time::sleep(wait).await;
        }
    }

    /// Waits while the circuit is open. Returns true when this request is the probe.
    async fn wait_for_circuit(&self) -> bool {
        loop {
            let wait = {
                let Ok(mut c) = self.circuit.lock() else {
                    return false;
                };
                match c.open_until {
                    None => return false,
                    Some(until) if Instant::now() < until => until - Instant::now(),
                    Some(_) if !c.probing => {
                        c.probing = true;
                        return true;
                    }
                    Some(_) => Duration::from_millis(50),
                }
            };
            tokio::time::sleep(wait.min(Duration::from_millis(250))).await;
        }
    }

    /// A transport failure: no new requests for a while (longer with each failure in a row).
    fn trip(&self) {
        if let Ok(mut c) = self.circuit.lock() {
            c.failures += 1;
            let pause = backoff(&self.patience, c.failures);
            let until = Instant::now() + pause;
            c.open_until = Some(c.open_until.map_or(until, |u| u.max(until)));
        }
    }

    fn probe_failed(&self, failure: Failure) {
        if let Ok(mut c) = self.circuit.lock() {
            c.probing = false;
            if failure != Failure::Transport {
                // The endpoint answered: it is up, even if this request failed.
                *c = Circuit::default();
            }
        }
    }

    fn closed(&self) {
        if let Ok(mut c) = self.circuit.lock()
            && (c.open_until.is_some() || c.failures > 0)
        {
            *c = Circuit::default();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn quick() -> Patience {
        Patience {
            total: Duration::from_secs(2),
            base: Duration::from_millis(5),
            cap: Duration::from_millis(40),
            throttle_cap: Duration::from_millis(20),
        }
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn transport_failures_are_retried_until_the_endpoint_is_back() {
        let retrier = Retrier::new(quick());
        let calls = AtomicU32::new(0);
        let (result, n) = runtime().block_on(retrier.run(
            || {
                let k = calls.fetch_add(1, Ordering::Relaxed);
                async move {
                    if k < 5 {
                        Err(Failure::Transport)
                    } else {
                        Ok(k)
                    }
                }
            },
            |f| *f,
        ));
        assert_eq!(result, Ok(5));
        assert_eq!(n, 6);
        assert!(
            retrier.circuit.lock().unwrap().open_until.is_none(),
            "closed again"
        );
    }

    #[test]
    fn final_failures_are_not_retried_and_patience_ends_the_rest() {
        let retrier = Retrier::new(quick());
        let rt = runtime();
        let (result, n) =
            rt.block_on(retrier.run(|| async { Err::<(), _>(Failure::Final) }, |f| *f));
        assert_eq!((result, n), (Err(Failure::Final), 1));
        let started = Instant::now();
        let (result, n) =
            rt.block_on(retrier.run(|| async { Err::<(), _>(Failure::Throttled) }, |f| *f));
        assert_eq!(result, Err(Failure::Throttled));
        assert!(n > 3, "{n} attempts");
        assert!(started.elapsed() < Duration::from_secs(4));
    }

    #[test]
    fn backoff_grows_to_its_cap_with_jitter() {
        let p = quick();
        for n in 1..20 {
            let b = backoff(&p, n);
            assert!(b <= p.cap, "{n}: {b:?}");
            assert!(b >= p.base.min(p.cap) / 2, "{n}: {b:?}");
        }
    }
}
