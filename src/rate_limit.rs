//! Rate limits on public registration, per client address and per conference.
//!
//! GCRA (the generic cell rate algorithm, as in `governor` or redis-cell): each key keeps one
//! instant, its theoretical arrival time, so a key costs a few bytes and a check is O(1).
//! The state lives in the memory of each API process: with N replicas behind a balancer a
//! client gets up to N times the rate. That is the price of needing no shared store; the
//! per-conference limit still bounds the total.
use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::config::RegistrationRate;

/// Keys kept before expired ones are swept.
const SWEEP_AT: usize = 10_000;

#[derive(Clone, Debug, Hash, PartialEq, Eq)]
enum Key {
    Client(IpAddr),
    Conference(String),
}

/// One limit: `per_minute` events, bursts of up to `burst`.
#[derive(Clone, Copy, Debug)]
struct Rate {
    interval: Duration,
    tolerance: Duration,
}

impl Rate {
    fn new(per_minute: u32, burst: u32) -> Self {
        let interval = Duration::from_secs(60) / per_minute.max(1);
        Self {
            interval,
            tolerance: interval * burst.max(1),
        }
    }
}

/// The registration limits of one API process.
#[derive(Debug)]
pub struct RegistrationLimiter {
    client: Option<Rate>,
    conference: Option<Rate>,
    arrivals: Mutex<HashMap<Key, Instant>>,
}

impl RegistrationLimiter {
    /// `None` when both limits are off.
    pub fn new(rate: RegistrationRate) -> Option<Self> {
        let client = rate.per_client.map(|r| Rate::new(r, rate.client_burst));
        let conference = rate
            .per_conference
            .map(|r| Rate::new(r, rate.conference_burst));
        (client.is_some() || conference.is_some()).then(|| Self {
            client,
            conference,
            arrivals: Mutex::new(HashMap::new()),
        })
    }

    /// Admits one registration per entry of `conferences` from `client`, or says how long to
    /// wait. Either every key is charged or none is.
    pub fn acquire(&self, client: Option<IpAddr>, conferences: &[String]) -> Result<(), Duration> {
        self.acquire_at(Instant::now(), client, conferences)
    }

    fn acquire_at(
        &self,
        now: Instant,
        client: Option<IpAddr>,
        conferences: &[String],
    ) -> Result<(), Duration> {
        let mut keys: Vec<(Key, Rate)> = Vec::new();
        for _ in conferences {
            if let Some(rate) = self.client {
                let address = client.unwrap_or(IpAddr::from([0, 0, 0, 0]));
                keys.push((Key::Client(grouped(address)), rate));
            }
        }
        if let Some(rate) = self.conference {
            keys.extend(
                conferences
                    .iter()
                    .map(|c| (Key::Conference(c.clone()), rate)),
            );
        }
        let mut arrivals = self.arrivals.lock().unwrap_or_else(|e| e.into_inner());
        if arrivals.len() >= SWEEP_AT {
            arrivals.retain(|_, tat| *tat > now);
        }
        // Work out every key's next arrival time first, so a refusal charges nothing.
        let mut planned: Vec<(Key, Instant)> = Vec::with_capacity(keys.len());
        let mut wait = Duration::ZERO;
        for (key, rate) in keys {
            let previous = planned
                .iter()
                .rev()
                .find(|(k, _)| *k == key)
                .map(|(_, t)| *t)
                .or_else(|| arrivals.get(&key).copied());
            let tat = previous.filter(|t| *t > now).unwrap_or(now) + rate.interval;
            let ahead = tat - now;
            if ahead > rate.tolerance {
                wait = wait.max(ahead - rate.tolerance);
            }
            planned.push((key, tat));
        }
        if wait > Duration::ZERO {
            return Err(wait);
        }
        arrivals.extend(planned);
        Ok(())
    }
}

/// IPv6 clients are counted by /64: one host usually holds a whole /64.
fn grouped(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both limits with the same burst, except a generous per-conference limit.
    fn limiter(per_client: u32, per_conference: u32, burst: u32) -> RegistrationLimiter {
        RegistrationLimiter::new(RegistrationRate {
            per_client: Some(per_client),
            client_burst: burst,
            per_conference: Some(per_conference),
            conference_burst: if per_conference >= 1000 { 1000 } else { burst },
        })
        .unwrap()
    }

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 2));

    #[test]
    fn a_client_gets_its_burst_then_waits_one_interval() {
        let l = limiter(60, 1000, 3);
        let now = Instant::now();
        let conf = ["c".to_owned()];
        for _ in 0..3 {
            l.acquire_at(now, Some(A), &conf).unwrap();
        }
        let wait = l.acquire_at(now, Some(A), &conf).unwrap_err();
        assert_eq!(wait, Duration::from_secs(1));
        // Another client is not affected; after the wait, A may register again.
        l.acquire_at(now, Some(B), &conf).unwrap();
        l.acquire_at(now + wait, Some(A), &conf).unwrap();
    }

    #[test]
    fn a_conference_limit_holds_across_clients_and_a_refusal_charges_nothing() {
        let l = limiter(1000, 60, 2);
        let now = Instant::now();
        let conf = ["c".to_owned()];
        l.acquire_at(now, Some(A), &conf).unwrap();
        l.acquire_at(now, Some(B), &conf).unwrap();
        assert!(l.acquire_at(now, Some(A), &conf).is_err());
        // Another conference still takes A's registration: the refusal above charged A nothing.
        l.acquire_at(now, Some(A), &["d".to_owned()]).unwrap();
    }

    #[test]
    fn ipv6_clients_are_grouped_by_slash_64() {
        let one: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let two: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        assert_eq!(grouped(one), grouped(two));
        let l = limiter(60, 1000, 1);
        let now = Instant::now();
        l.acquire_at(now, Some(one), &["c".to_owned()]).unwrap();
        assert!(l.acquire_at(now, Some(two), &["c".to_owned()]).is_err());
    }

    #[test]
    fn zero_turns_both_limits_off() {
        assert!(
            RegistrationLimiter::new(RegistrationRate {
                per_client: None,
                client_burst: 1,
                per_conference: None,
                conference_burst: 1,
            })
            .is_none()
        );
    }
}
