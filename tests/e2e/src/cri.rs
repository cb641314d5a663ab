//! A CRI client that makes the kubelet's calls to containerd: the client
//! tests (tests/clients.rs) and the benchmark's per-pod mode (`cri-pods`)
//! share it.

use std::path::Path;

use anyhow::{Context, Result};
use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use k8s_cri::v1::{
    ContainerConfig, ContainerMetadata, ContainerStatusRequest, CreateContainerRequest, ImageSpec,
    KeyValue, LinuxPodSandboxConfig, LinuxSandboxSecurityContext, NamespaceMode, NamespaceOption,
    PodSandboxConfig, PodSandboxMetadata, PodSandboxStatusRequest, RunPodSandboxRequest,
    StartContainerRequest,
};
use tonic::transport::{Channel, Endpoint, Uri};

pub use k8s_cri::v1;

pub type Client = RuntimeServiceClient<Channel>;

/// A client on containerd's socket (one HTTP/2 connection; clones share it),
/// each of whose calls fails once it has taken `call_limit`.
pub async fn connect(socket: &Path, call_limit: std::time::Duration) -> Result<Client> {
    let socket = socket.to_owned();
    let path = socket.clone();
    let channel = Endpoint::try_from("http://[::]:50051")?
        .timeout(call_limit)
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let socket = socket.clone();
            async move {
                let stream = tokio::net::UnixStream::connect(socket).await?;
                Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(stream))
            }
        }))
        .await
        .with_context(|| format!("connect to containerd's CRI socket {}", path.display()))?;
    Ok(RuntimeServiceClient::new(channel))
}

fn key_values(pairs: &[(&str, &str)]) -> Vec<KeyValue> {
    pairs
        .iter()
        .map(|(key, value)| KeyValue {
            key: key.to_string(),
            value: value.to_string(),
        })
        .collect()
}

/// What the kubelet sends for a host-network pod (no CNI needed) with these
/// annotations; `uid` must be unique.
pub fn pod_config(
    name: &str,
    uid: &str,
    log_dir: &Path,
    annotations: &[(&str, &str)],
) -> PodSandboxConfig {
    PodSandboxConfig {
        metadata: Some(PodSandboxMetadata {
            name: name.to_owned(),
            uid: uid.to_owned(),
            namespace: "default".to_owned(),
            attempt: 0,
        }),
        // empty for host-network pods: no private UTS namespace
        hostname: String::new(),
        log_directory: log_dir.to_string_lossy().into_owned(),
        annotations: annotations
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        linux: Some(LinuxPodSandboxConfig {
            security_context: Some(LinuxSandboxSecurityContext {
                namespace_options: Some(NamespaceOption {
                    network: NamespaceMode::Node as i32,
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The pod's one container, "app", logging to `app.log` in the pod's log
/// directory.
pub fn app_container(image: &str, envs: &[(&str, &str)]) -> ContainerConfig {
    ContainerConfig {
        metadata: Some(ContainerMetadata {
            name: "app".to_owned(),
            attempt: 0,
        }),
        image: Some(ImageSpec {
            image: image.to_owned(),
            ..Default::default()
        }),
        envs: key_values(envs),
        log_path: "app.log".to_owned(),
        ..Default::default()
    }
}

/// A started pod.
#[derive(Debug, Clone)]
pub struct Pod {
    pub sandbox_id: String,
    pub container_id: String,
}

/// RunPodSandbox, CreateContainer and StartContainer, as the kubelet
/// starts a pod with one container under RuntimeClass `handler`. On an
/// error the sandbox, if made, is left for the caller to remove (by the
/// pod's name: [`sandboxes_named`]).
pub async fn start_pod(
    client: &mut Client,
    handler: &str,
    config: &PodSandboxConfig,
    container: ContainerConfig,
) -> Result<Pod> {
    let name = config.metadata.as_ref().map_or("", |m| m.name.as_str());
    let sandbox_id = client
        .run_pod_sandbox(RunPodSandboxRequest {
            config: Some(config.clone()),
            runtime_handler: handler.to_owned(),
        })
        .await
        .map_err(|status| anyhow::anyhow!("RunPodSandbox {name}: {}", status.message()))?
        .into_inner()
        .pod_sandbox_id;
    let container_id = client
        .create_container(CreateContainerRequest {
            pod_sandbox_id: sandbox_id.clone(),
            config: Some(container),
            sandbox_config: Some(config.clone()),
        })
        .await
        .map_err(|status| anyhow::anyhow!("CreateContainer {name}: {}", status.message()))?
        .into_inner()
        .container_id;
    client
        .start_container(StartContainerRequest {
            container_id: container_id.clone(),
        })
        .await
        .map_err(|status| anyhow::anyhow!("StartContainer {name}: {}", status.message()))?;
    Ok(Pod {
        sandbox_id,
        container_id,
    })
}

/// The process id in a verbose status's `info` JSON.
fn info_pid(info: &std::collections::HashMap<String, String>) -> Result<i64> {
    let info: serde_json::Value =
        serde_json::from_str(info.get("info").context("no info in the verbose status")?)?;
    info["pid"].as_i64().context("no pid in the verbose status")
}

/// The pid of a pod's sandbox (pause) process.
pub async fn sandbox_pid(client: &mut Client, sandbox_id: &str) -> Result<i64> {
    let status = client
        .pod_sandbox_status(PodSandboxStatusRequest {
            pod_sandbox_id: sandbox_id.to_owned(),
            verbose: true,
        })
        .await
        .map_err(|status| anyhow::anyhow!("PodSandboxStatus: {}", status.message()))?
        .into_inner();
    info_pid(&status.info)
}

/// The pid of a container's init process.
pub async fn container_pid(client: &mut Client, container_id: &str) -> Result<i64> {
    let status = client
        .container_status(ContainerStatusRequest {
            container_id: container_id.to_owned(),
            verbose: true,
        })
        .await
        .map_err(|status| anyhow::anyhow!("ContainerStatus: {}", status.message()))?
        .into_inner();
    info_pid(&status.info)
}

/// StopPodSandbox and RemovePodSandbox: the pod's containers go with it.
pub async fn remove_pod(client: &mut Client, sandbox_id: &str) -> Result<()> {
    client
        .stop_pod_sandbox(v1::StopPodSandboxRequest {
            pod_sandbox_id: sandbox_id.to_owned(),
        })
        .await
        .map_err(|status| anyhow::anyhow!("StopPodSandbox {sandbox_id}: {}", status.message()))?;
    client
        .remove_pod_sandbox(v1::RemovePodSandboxRequest {
            pod_sandbox_id: sandbox_id.to_owned(),
        })
        .await
        .map_err(|status| anyhow::anyhow!("RemovePodSandbox {sandbox_id}: {}", status.message()))?;
    Ok(())
}

/// The ids of the pod sandboxes whose name starts with `prefix`.
pub async fn sandboxes_named(client: &mut Client, prefix: &str) -> Result<Vec<String>> {
    let list = client
        .list_pod_sandbox(v1::ListPodSandboxRequest { filter: None })
        .await
        .map_err(|status| anyhow::anyhow!("ListPodSandbox: {}", status.message()))?
        .into_inner();
    Ok(list
        .items
        .into_iter()
        .filter(|pod| {
            pod.metadata
                .as_ref()
                .is_some_and(|m| m.name.starts_with(prefix))
        })
        .map(|pod| pod.id)
        .collect())
}
