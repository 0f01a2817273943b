//! RECEIVE: the artifact into `releases/<id>` on one host, in one script
//! (streamed on its stdin, or fetched by the host from `--artifact-url`).

use crate::artifact::ArtifactSource;
use crate::executor::{Executor, TaskFailure};
use crate::release::ReleaseMeta;
use crate::ssh::Session;
use crate::steps::{fold, release as script};

use super::super::{now, Deployment};

/// Ship the release's artifact to the host (or have it fetched) and unpack
/// it as `releases/<id>`, with its metadata, in one script; `then`, the
/// switch, follows it in the same script (`steps::fold`). The script's stdout.
pub(super) async fn artifact(
    exec: &Executor,
    name: &str,
    session: &Session,
    deploy_to: &str,
    d: &Deployment,
    then: Option<&str>,
) -> Result<String, TaskFailure> {
    let meta = ReleaseMeta {
        id: d.release.clone(),
        artifact: d.artifact.name.clone(),
        sha256: d.artifact.sha256.clone(),
        deployed_by: d.run.deployer.clone(),
        deployed_at: now(),
        controller: d.run.controller.clone(),
        ferry_version: env!("CARGO_PKG_VERSION").into(),
        env: d.run.env.clone(),
        run_id: d.run.run_id.clone(),
        source_env: d.source_env.clone(),
        source_run: d.source_run.clone(),
    };
    let meta_json = serde_json::to_string(&meta).expect("plain data serializes");
    let receive = script::receive(&script::Receive {
        deploy_to,
        id: &d.release,
        sha256: &d.artifact.sha256,
        meta_json: &meta_json,
        linked_dirs: &d.linked_dirs,
        linked_files: &d.linked_files,
        tag: &d.run.run_id,
        fetch_url: match &d.artifact.source {
            ArtifactSource::Url(url) => Some(url),
            ArtifactSource::File { .. } => None,
        },
        compression: d.artifact.compression,
    });
    let receive = match then {
        Some(then) => fold::receive_then_switch(&receive, then),
        None => receive,
    };
    let mut input = match &d.artifact.source {
        ArtifactSource::File { bytes, .. } => bytes.clone(),
        ArtifactSource::Url(_) => {
            return exec
                .script(name, session, "fetch artifact", receive, None)
                .await;
        }
    };
    // Test hook: corrupt the bytes sent to one host, to prove the host-side check.
    if std::env::var("FERRY_TEST_CORRUPT_UPLOAD").is_ok_and(|h| h == name) {
        input = [&input[..], b"corruption"].concat().into();
    }
    exec.script(name, session, "receive artifact", receive, Some(input))
        .await
}
