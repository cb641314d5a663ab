use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::Result;
use chrono::{DateTime, Utc};
use libcontainer::container::state::ContainerStatus;
use liboci_cli::State;
use serde::Serialize;

use super::{container_root, load_container, still_creating};

/// The state youki prints: the runtime-spec's state and `owner`, in the
/// order and with the keys upstream youki prints, absent ones left out.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Printed<'a> {
    oci_version: &'a str,
    id: &'a str,
    status: ContainerStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pid: Option<i32>,
    bundle: &'a Path,
    #[serde(skip_serializing_if = "Option::is_none")]
    annotations: Option<&'a HashMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    created: Option<&'a DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    owner: Option<u32>,
}

/// Prints the OCI state of a container as JSON; `creating` while its
/// `create` runs.
pub fn state(args: State, root_path: PathBuf) -> Result<()> {
    let dir = container_root(&root_path, &args.container_id)?;
    if let Some((creating, _)) = still_creating(&dir, &args.container_id) {
        return print(&creating);
    }
    let container = load_container(&root_path, &args.container_id)?;
    print(&container.state)
}

fn print(state: &libcontainer::container::state::State) -> Result<()> {
    let printed = Printed {
        oci_version: &state.oci_version,
        id: &state.id,
        status: state.status,
        pid: state.pid,
        bundle: &state.bundle,
        annotations: state.annotations.as_ref(),
        created: state.created.as_ref(),
        owner: state.creator,
    };
    println!("{}", serde_json::to_string_pretty(&printed)?);
    Ok(())
}
