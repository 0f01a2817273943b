//! A run's lease: renewed on every host it holds, each renewal bounded in
//! time, each host's result counted; a host whose renewal fails or finds
//! another holder is lost for the rest of the run.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::answer::renewal_lost;
use super::{script, status_reason, LEASE};
use crate::config::Host;
use crate::context::Context;

/// How long one host may take to answer a renewal: a frozen host must not
/// hold up the renewal of the others past their lease.
const RENEW_TIMEOUT: Duration = Duration::from_secs(script::LEASE_SECS / 4);

/// Renewals of one host's lease.
#[derive(Clone, Debug, Default)]
pub(super) struct Renewals {
    pub(super) renewed: u32,
    pub(super) failed: u32,
    /// Why this run no longer counts on its lock there.
    pub(super) lost: Option<String>,
}

/// Renew the lease on every host still held, each within [`RENEW_TIMEOUT`].
/// A host whose renewal fails, or finds the lock not ours, is lost: it is
/// not renewed again, and its lease runs out on its own clock, which the
/// switch's fence checks.
pub(super) async fn renew_forever(
    ctx: Arc<Context>,
    hosts: Vec<Host>,
    dirs: HashMap<String, String>,
    run_id: String,
    prefix: String,
    renewals: Arc<Mutex<HashMap<String, Renewals>>>,
) {
    loop {
        tokio::time::sleep(LEASE / 3).await;
        let held: Vec<Host> = {
            let renewals = renewals.lock().expect("renewals lock");
            hosts
                .iter()
                .filter(|h| renewals.get(&h.name).is_none_or(|r| r.lost.is_none()))
                .cloned()
                .collect()
        };
        let scripts: Arc<HashMap<String, String>> = Arc::new(
            held.iter()
                .map(|h| {
                    let s = script::renew(&dirs[&h.name], &run_id, &prefix);
                    (h.name.clone(), s)
                })
                .collect(),
        );
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
        for (host, answer) in answers {
            let lost = match answer {
                Ok(Ok(Ok(out))) => renewal_lost(&out),
                Ok(Ok(Err(failure))) => Some(format!("its renewal failed: {}", failure.reason)),
                Ok(Err(_)) => Some(format!(
                    "its renewal got no answer within {RENEW_TIMEOUT:?}"
                )),
                Err(status) => Some(format!("its renewal failed: {}", status_reason(&status))),
            };
            let mut renewals = renewals.lock().expect("renewals lock");
            let entry = renewals.entry(host.name.clone()).or_default();
            match lost {
                None => entry.renewed += 1,
                Some(why) => {
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
