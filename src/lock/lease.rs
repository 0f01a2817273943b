//! A run's lease: renewed on every host it holds, each host on its own,
//! each host's result counted. A renewal that finds another holder loses the
//! host at once, and it is not renewed again. One that fails early is tried
//! again while the lease (counted on the controller's clock from the last
//! renewal sent) leaves time for another try; one still unanswered when the
//! lease runs out leaves the lock unconfirmed there: the run says so and
//! keeps trying, and a later renewal, or the release at the end, that finds
//! the lock still this run's confirms it (no other run can have taken it
//! over: a take-over rewrites the holder). Meanwhile every switch on the
//! host still checks the lease on the host's own clock.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::answer::renewal_lost;
use super::{script, status_reason, LEASE};
use crate::config::Host;
use crate::context::Context;

/// How long after a failed renewal the next is sent, and how long at least
/// that one must have to land before the lease runs out.
const AGAIN: Duration = Duration::from_secs(script::LEASE_SECS / 12);
/// A lease is renewed once a third of it has passed: this much is left.
const DUE_WITHIN: Duration = Duration::from_secs(script::LEASE_SECS * 2 / 3);

/// Renewals of one host's lease.
#[derive(Clone, Debug, Default)]
pub(super) struct Renewals {
    pub(super) renewed: u32,
    pub(super) failed: u32,
    /// Why this run no longer counts on its lock there.
    pub(super) lost: Option<String>,
    /// Why the lock is unconfirmed there (renewals unanswered past the
    /// lease): lost unless a later renewal or the release finds it ours.
    pub(super) unsure: Option<String>,
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
    /// Try again after [`AGAIN`]: the lease leaves that try time to land.
    Again,
    /// The lease ran out with no answer: the lock is unconfirmed; try again
    /// after [`AGAIN`].
    Unsure(String),
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
        Reply::NoAnswer(_) if now + AGAIN * 2 <= valid_until => Verdict::Again,
        Reply::NoAnswer(why) => Verdict::Unsure(format!(
            "{why}, and its lease runs out before another try could land"
        )),
    }
}

/// When a lease valid until `valid_until` is renewed: once a third of it has
/// passed.
fn renew_at(valid_until: Instant) -> Instant {
    valid_until.checked_sub(DUE_WITHIN).unwrap_or(valid_until)
}

/// Renew the lease on every host still held, once a third of it has passed:
/// each host on its own, so a slow or frozen host holds up no other's
/// renewal, and each renewal waited for until the lease it renews runs out
/// (a host short of CPU may answer late, but in time). `taken_at`: when the
/// lock's scripts were sent, from which the first leases count.
pub(super) async fn renew_forever(
    ctx: Arc<Context>,
    hosts: Vec<Host>,
    dirs: HashMap<String, String>,
    run_id: String,
    prefix: String,
    renewals: Arc<Mutex<HashMap<String, Renewals>>>,
    taken_at: Instant,
) {
    let mut each = tokio::task::JoinSet::new();
    for host in hosts {
        let script = script::renew(&dirs[&host.name], &run_id, &prefix);
        each.spawn(renew_host(
            ctx.clone(),
            host,
            script,
            renewals.clone(),
            taken_at + LEASE,
        ));
    }
    while each.join_next().await.is_some() {}
}

/// Renew one host's lease, valid until `valid`, until it is lost.
async fn renew_host(
    ctx: Arc<Context>,
    host: Host,
    script: String,
    renewals: Arc<Mutex<HashMap<String, Renewals>>>,
    mut valid: Instant,
) {
    let mut at = renew_at(valid);
    loop {
        tokio::time::sleep_until(at.into()).await;
        let sent = Instant::now();
        // Waited for until the lease runs out; once it has (unconfirmed),
        // as long as a renewal's due time.
        let deadline = valid.max(sent + DUE_WITHIN);
        let answer =
            match tokio::time::timeout_at(deadline.into(), renew(&ctx, &host, &script)).await {
                Ok(answer) => answer,
                Err(_) if valid > sent => Reply::NoAnswer(format!(
                    "its renewal got no answer in the {} s its lease had left",
                    valid.duration_since(sent).as_secs()
                )),
                Err(_) => Reply::NoAnswer(format!(
                    "its renewal got no answer within {} s",
                    DUE_WITHIN.as_secs()
                )),
            };
        let now = Instant::now();
        let printer = ctx.reporter.printer();
        let mut renewals = renewals.lock().expect("renewals lock");
        let entry = renewals.entry(host.name.clone()).or_default();
        match judge(answer, sent, valid, now) {
            Verdict::Renewed(until) => {
                entry.renewed += 1;
                valid = until;
                at = renew_at(valid);
                if entry.unsure.take().is_some() {
                    printer.host_event(
                        &host.name,
                        "the lock is confirmed again: still this run's, no other run took it",
                    );
                }
            }
            Verdict::Again => {
                entry.failed += 1;
                at = now + AGAIN;
            }
            Verdict::Unsure(why) => {
                entry.failed += 1;
                at = now + AGAIN;
                if entry.unsure.is_none() {
                    printer.host_event(
                        &host.name,
                        &format!(
                            "warning: the lock is unconfirmed: {why}; trying again (a switch there still checks the lease on the host)"
                        ),
                    );
                    entry.unsure = Some(why);
                }
            }
            Verdict::Lost(why) => {
                entry.failed += 1;
                ctx.reporter.emit(&crate::events::Event::LockLost {
                    host: host.name.clone(),
                    reason: why.clone(),
                });
                entry.lost = Some(why);
                return;
            }
        }
    }
}

/// One renewal of `host`'s lease, and what it answered.
async fn renew(ctx: &Context, host: &Host, script: &str) -> Reply {
    let script = script.to_string();
    let mut answers = ctx
        .executor
        .each_host(
            vec![host.clone()],
            1,
            |_| true,
            move |exec, host, session| {
                let script = script.clone();
                async move {
                    let session = session.expect("each_host connects");
                    exec.script(&host.name, &session, "renew lock", script, None)
                        .await
                }
            },
        )
        .await;
    match answers.pop().map(|(_, answer)| answer) {
        Some(Ok(Ok(out))) => renewal_lost(&out).map_or(Reply::Renewed, Reply::NotOurs),
        Some(Ok(Err(failure))) => {
            Reply::NoAnswer(format!("its renewal failed: {}", failure.reason))
        }
        Some(Err(status)) => {
            Reply::NoAnswer(format!("its renewal failed: {}", status_reason(&status)))
        }
        None => Reply::NoAnswer("its renewal was not sent".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(secs: u64) -> Duration {
        Duration::from_secs(secs)
    }

    /// Each answer, at each point of a 60 s lease taken at t0 (renewed after
    /// 20 s, a failed try sent again after 5 s with at least 5 s to land).
    #[test]
    fn each_answer_at_each_point_of_the_lease() {
        let t0 = Instant::now();
        let valid = t0 + LEASE;
        let late =
            || Reply::NoAnswer("its renewal got no answer in the 40 s its lease had left".into());
        let failed = || Reply::NoAnswer("its renewal failed: exit 1".into());
        let too_late = |why: &str| {
            Verdict::Unsure(format!(
                "{why}, and its lease runs out before another try could land"
            ))
        };
        let table = [
            // (sent, answered, answer, verdict)
            (20, 21, Reply::Renewed, Verdict::Renewed(t0 + s(80))),
            // A host short of CPU answers late, but before the lease runs out.
            (20, 55, Reply::Renewed, Verdict::Renewed(t0 + s(80))),
            (
                20,
                21,
                Reply::NotOurs("it was removed".into()),
                Verdict::Lost("it was removed".into()),
            ),
            (
                20,
                59,
                Reply::NotOurs("it was removed".into()),
                Verdict::Lost("it was removed".into()),
            ),
            // Failed early: tried again while a try sent 5 s later has 5 s to land.
            (20, 21, failed(), Verdict::Again),
            (45, 50, failed(), Verdict::Again),
            (45, 51, failed(), too_late("its renewal failed: exit 1")),
            // No answer until the lease ran out.
            (
                20,
                60,
                late(),
                too_late("its renewal got no answer in the 40 s its lease had left"),
            ),
            // Once it has run out (unconfirmed): a renewal answered confirms
            // the lock, one that finds another holder loses it, silence keeps
            // it unconfirmed.
            (65, 70, Reply::Renewed, Verdict::Renewed(t0 + s(125))),
            (
                65,
                66,
                Reply::NotOurs("it was removed".into()),
                Verdict::Lost("it was removed".into()),
            ),
            (
                65,
                105,
                Reply::NoAnswer("its renewal got no answer within 40 s".into()),
                too_late("its renewal got no answer within 40 s"),
            ),
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
    fn a_lease_is_renewed_once_a_third_has_passed() {
        let t0 = Instant::now();
        assert_eq!(renew_at(t0 + LEASE), t0 + s(20));
        assert_eq!(renew_at(t0 + s(80)), t0 + s(40));
    }
}
