//! A run's lease: renewed on every host it holds, each renewal bounded in
//! time, each host's result counted. A renewal that finds another holder
//! loses the host at once; one that gets no answer is tried again while the
//! lease, counted on the controller's clock from the last renewal sent,
//! leaves time for another try. A lost host is not renewed again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::answer::renewal_lost;
use super::{script, status_reason, LEASE};
use crate::config::Host;
use crate::context::Context;

/// How long one host may take to answer a renewal: a frozen host must not
/// hold up the renewal of the others past their lease.
const RENEW_TIMEOUT: Duration = Duration::from_secs(script::LEASE_SECS / 4);
/// How often the renewer looks for leases due (and for tries again).
const TICK: Duration = Duration::from_secs(script::LEASE_SECS / 12);
/// A lease is renewed once a third of it has passed: this much is left.
const DUE_WITHIN: Duration = Duration::from_secs(script::LEASE_SECS * 2 / 3);

/// Renewals of one host's lease.
#[derive(Clone, Debug, Default)]
pub(super) struct Renewals {
    pub(super) renewed: u32,
    pub(super) failed: u32,
    /// Why this run no longer counts on its lock there.
    pub(super) lost: Option<String>,
}

/// What a host answered to one renewal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Reply {
    Renewed,
    /// The lock is not this run's any more (another holder, removed, an
    /// answer that is not the renewal's).
    NotOurs(String),
    /// No answer in time, or the command failed: the lock may still be ours.
    NoAnswer(String),
}

/// What an answer means for the host's lease.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Verdict {
    /// Valid (on the controller's clock) until then.
    Renewed(Instant),
    /// Try again at the next tick: the lease lasts past that try's timeout.
    Again,
    Lost(String),
}

/// Judge one renewal sent at `sent` to a host whose lease is valid until
/// `valid_until`, answered (or timed out) at `now`. Pure: the table in the
/// tests below is the whole rule.
pub(super) fn judge(answer: Reply, sent: Instant, valid_until: Instant, now: Instant) -> Verdict {
    match answer {
        // The host counts its lease from when the script runs, after `sent`.
        Reply::Renewed => Verdict::Renewed(sent + LEASE),
        Reply::NotOurs(why) => Verdict::Lost(why),
        Reply::NoAnswer(_) if now + TICK + RENEW_TIMEOUT < valid_until => Verdict::Again,
        Reply::NoAnswer(why) => Verdict::Lost(format!(
            "{why}, and its lease runs out before another try could land"
        )),
    }
}

/// Whether a lease valid until `valid_until` is due for renewal at `now`
/// (half a tick early, so ticks that drift do not renew late).
fn due(valid_until: Instant, now: Instant) -> bool {
    valid_until.saturating_duration_since(now) <= DUE_WITHIN + TICK / 2
}

/// Renew the lease on every host still held, each within [`RENEW_TIMEOUT`],
/// once a third of it has passed. `taken_at`: when the lock's scripts were
/// sent, from which the first leases count.
pub(super) async fn renew_forever(
    ctx: Arc<Context>,
    hosts: Vec<Host>,
    dirs: HashMap<String, String>,
    run_id: String,
    prefix: String,
    renewals: Arc<Mutex<HashMap<String, Renewals>>>,
    taken_at: Instant,
) {
    let mut valid: HashMap<String, Instant> = hosts
        .iter()
        .map(|h| (h.name.clone(), taken_at + LEASE))
        .collect();
    loop {
        tokio::time::sleep(TICK).await;
        let now = Instant::now();
        let held: Vec<Host> = {
            let renewals = renewals.lock().expect("renewals lock");
            hosts
                .iter()
                .filter(|h| renewals.get(&h.name).is_none_or(|r| r.lost.is_none()))
                .filter(|h| due(valid[&h.name], now))
                .cloned()
                .collect()
        };
        if held.is_empty() {
            continue;
        }
        let scripts: Arc<HashMap<String, String>> = Arc::new(
            held.iter()
                .map(|h| {
                    let s = script::renew(&dirs[&h.name], &run_id, &prefix);
                    (h.name.clone(), s)
                })
                .collect(),
        );
        let sent = Instant::now();
        let answers = ctx
            .executor
            .each_host(
                held,
                ctx.forks,
                |_| true,
                move |exec, host, session| {
                    let scripts = scripts.clone();
                    async move {
                        let session = session.expect("each_host connects");
                        let renew = exec.script(
                            &host.name,
                            &session,
                            "renew lock",
                            scripts[&host.name].clone(),
                            None,
                        );
                        tokio::time::timeout(RENEW_TIMEOUT, renew).await
                    }
                },
            )
            .await;
        let now = Instant::now();
        for (host, answer) in answers {
            let answer = match answer {
                Ok(Ok(Ok(out))) => renewal_lost(&out).map_or(Reply::Renewed, Reply::NotOurs),
                Ok(Ok(Err(failure))) => {
                    Reply::NoAnswer(format!("its renewal failed: {}", failure.reason))
                }
                Ok(Err(_)) => Reply::NoAnswer(format!(
                    "its renewal got no answer within {RENEW_TIMEOUT:?}"
                )),
                Err(status) => {
                    Reply::NoAnswer(format!("its renewal failed: {}", status_reason(&status)))
                }
            };
            let mut renewals = renewals.lock().expect("renewals lock");
            let entry = renewals.entry(host.name.clone()).or_default();
            match judge(answer, sent, valid[&host.name], now) {
                Verdict::Renewed(until) => {
                    entry.renewed += 1;
                    valid.insert(host.name.clone(), until);
                }
                Verdict::Again => entry.failed += 1,
                Verdict::Lost(why) => {
                    entry.failed += 1;
                    ctx.reporter.emit(&crate::events::Event::LockLost {
                        host: host.name.clone(),
                        reason: why.clone(),
                    });
                    entry.lost = Some(why);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(secs: u64) -> Duration {
        Duration::from_secs(secs)
    }

    /// Each answer, at each point of a 60 s lease taken at t0 (ticks of 5 s,
    /// renewal timeout 15 s, renewed after 20 s).
    #[test]
    fn each_answer_at_each_point_of_the_lease() {
        let t0 = Instant::now();
        let valid = t0 + LEASE;
        let no = || Reply::NoAnswer("its renewal got no answer within 15s".into());
        let table = [
            // (sent, answered, answer, verdict)
            (20, 21, Reply::Renewed, Verdict::Renewed(t0 + s(80))),
            (20, 35, Reply::Renewed, Verdict::Renewed(t0 + s(80))),
            (20, 21, Reply::NotOurs("it was removed".into()), Verdict::Lost("it was removed".into())),
            // No answer: tried again while a try (tick + timeout) still lands in the lease.
            (20, 35, no(), Verdict::Again),
            (25, 39, no(), Verdict::Again),
            (40, 40, no(), Verdict::Lost("its renewal got no answer within 15s, and its lease runs out before another try could land".into())),
            (40, 55, no(), Verdict::Lost("its renewal got no answer within 15s, and its lease runs out before another try could land".into())),
            (20, 35, Reply::NoAnswer("its renewal failed: exit 1".into()), Verdict::Again),
        ];
        for (sent, answered, answer, verdict) in table {
            let got = judge(answer.clone(), t0 + s(sent), valid, t0 + s(answered));
            assert_eq!(
                got, verdict,
                "sent at {sent}s, answered at {answered}s: {answer:?}"
            );
        }
    }

    #[test]
    fn a_lease_is_due_once_a_third_has_passed_half_a_tick_early() {
        let t0 = Instant::now();
        let valid = t0 + LEASE;
        for (at, is_due) in [
            (0, false),
            (15, false),
            (17, false),
            (18, true),
            (20, true),
            (59, true),
            (61, true),
        ] {
            assert_eq!(due(valid, t0 + s(at)), is_due, "at {at}s");
        }
    }
}
