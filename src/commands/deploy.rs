//! `ferry deploy`: ship an artifact as a release to every selected host.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;

use crate::cli::DeployArgs;
use crate::deploy::{self, Artifact, Deployment, RunInfo};
use crate::exit::ExitStatus;
use crate::release::ReleaseId;

use super::{release_context, report_results, InvalidInput, RenderErrors};

pub async fn deploy(args: DeployArgs) -> anyhow::Result<ExitStatus> {
    // The release id is checked before anything is read or connected.
    let given_id = args
        .release
        .as_deref()
        .map(ReleaseId::parse)
        .transpose()
        .map_err(|e| InvalidInput(e.to_string()))?;
    let (ctx, hosts) = release_context(&args.common, args.playbook.as_deref())?;
    let artifact = match (&args.artifact, &args.artifact_url, &args.sha256) {
        (Some(path), _, _) => {
            if !path.is_file() {
                return Err(
                    InvalidInput(format!("artifact {} is not a file", path.display())).into(),
                );
            }
            Artifact::open(path)
                .await
                .with_context(|| format!("cannot read artifact {}", path.display()))?
        }
        (None, Some(url), Some(sha)) => {
            if sha.len() != 64 || !sha.chars().all(|c| c.is_ascii_hexdigit()) {
                return Err(InvalidInput(format!("--sha256 `{sha}` is not 64 hex digits")).into());
            }
            Artifact::remote(url, sha)
        }
        _ => {
            return Err(InvalidInput(
                "give --artifact PATH, or --artifact-url URL with --sha256 HEX".into(),
            )
            .into())
        }
    };
    let release = match given_id {
        Some(id) => id,
        None => ReleaseId::derive(&artifact.name, &artifact.sha256)
            .map_err(|e| InvalidInput(e.to_string()))?,
    };
    let printer = ctx.executor.printer().clone();
    printer.note(&format!(
        "deploying {} (sha256 {}) as release {release} to {} hosts of {}",
        artifact.name,
        &artifact.sha256[..12],
        hosts.len(),
        ctx.inventory.env_name
    ));
    let deployment = Arc::new(Deployment {
        release: release.clone(),
        artifact,
        run: RunInfo::new(&ctx.inventory.env_name),
        source_env: None,
        keep: args.keep.unwrap_or(ctx.playbook.keep_releases),
        linked_dirs: ctx.playbook.linked_dirs.clone(),
        linked_files: ctx.playbook.linked_files.clone(),
    });
    let started = Instant::now();
    let executor = ctx.executor.clone();
    let results = deploy::deploy(Arc::new(ctx), &hosts, deployment)
        .await
        .map_err(RenderErrors)?;
    executor.close_all().await;
    Ok(report_results(
        &printer,
        &results,
        &format!("release {release}"),
        Some(&release),
        started,
    ))
}
