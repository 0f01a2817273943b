//! `ferry verify`: the playbook's health checks, and nothing else, on every
//! selected host's current release, under the environment's lock (a deploy
//! switching meanwhile would make the result about the wrong release). Each
//! result is recorded in the host's history as a deploy's health check is,
//! so promote's gate and `status` read the newest one.

use std::sync::Arc;

use crate::deploy::{self, RunInfo, Verdict};
use crate::exit::ExitStatus;
use crate::failure::{Failure, Invalid};
use crate::settings::VerifySettings;

use super::release_context;

pub(super) async fn verify(args: VerifySettings) -> Result<ExitStatus, Failure> {
    let (ctx, hosts) = release_context(&args.common, args.playbook.as_deref())?;
    if ctx.playbook.health.is_empty() {
        return Err(Invalid::NoHealthChecks(ctx.playbook.path.clone()).into());
    }
    let printer = ctx.executor.printer().clone();
    let run = RunInfo::new(&ctx.inventory.env_name);
    let ctx = Arc::new(ctx);
    let dirs = deploy::deploy_dirs(&ctx, &hosts)?;
    let info = super::lock::run_lock(&run, "verify");
    let (guard, known) =
        deploy::lock_and_read_state(&ctx, &hosts, &dirs, info, args.lock_wait).await?;
    let verdicts = deploy::verify(ctx.clone(), &hosts, &dirs, Arc::new(run), &known).await;
    let released = guard.release(&ctx).await;
    ctx.executor.close_all().await;
    let verdicts = verdicts?;
    let (lines, status) = summarize(&verdicts);
    for line in &lines {
        printer.note(line);
    }
    Ok(super::lock::report_lost(&printer, &released, status))
}

/// One line per host, the summary, and the exit status: 1 when any host is
/// not healthy (failed, unreachable, or nothing deployed).
fn summarize(verdicts: &[(String, Verdict)]) -> (Vec<String>, ExitStatus) {
    let mut lines = Vec::with_capacity(verdicts.len() + 1);
    let healthy = verdicts.iter().filter(|(_, v)| v.is_healthy()).count();
    for (host, verdict) in verdicts {
        let what = match verdict {
            Verdict::Healthy(release) => format!("healthy on {release}"),
            Verdict::Unhealthy { release, reason } => {
                format!(
                    "UNHEALTHY on {release}: {}",
                    crate::report::one_line(reason)
                )
            }
            Verdict::NothingDeployed => "failed: nothing deployed".into(),
            Verdict::Unreachable(reason) => crate::report::one_line(reason),
        };
        lines.push(format!("{host}: {what}"));
    }
    let failed = verdicts.len() - healthy;
    lines.push(format!(
        "verify: {healthy} healthy, {failed} not healthy, of {} hosts",
        verdicts.len()
    ));
    let status = if failed == 0 {
        ExitStatus::Success
    } else {
        ExitStatus::Failed
    };
    (lines, status)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::release::ReleaseId;

    #[test]
    fn any_host_not_healthy_exits_1() {
        let r1 = ReleaseId::parse("r1").unwrap();
        let ok = ("a".to_string(), Verdict::Healthy(r1.clone()));
        let bad = (
            "b".to_string(),
            Verdict::Unhealthy {
                release: r1,
                reason: "check `http` failed\nbody".into(),
            },
        );
        let none = ("c".to_string(), Verdict::NothingDeployed);
        let (lines, status) = summarize(std::slice::from_ref(&ok));
        assert_eq!(status, ExitStatus::Success);
        assert_eq!(
            lines,
            [
                "a: healthy on r1",
                "verify: 1 healthy, 0 not healthy, of 1 hosts"
            ]
        );
        let (lines, status) = summarize(&[ok, bad, none]);
        assert_eq!(status, ExitStatus::Failed);
        assert_eq!(
            lines[1],
            "b: UNHEALTHY on r1: check `http` failed\\u000abody"
        );
        assert_eq!(lines[2], "c: failed: nothing deployed");
    }
}
