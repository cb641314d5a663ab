use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::Result;
use chrono::{DateTime, Utc};
use libcontainer::container::state::ContainerStatus;
use liboci_cli::State;
use serde::Serialize;

use super::load_container;

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

/// Prints the OCI state of a container as JSON.
pub fn state(args: State, root_path: PathBuf) -> Result<()> {
    let container = load_container(&root_path, &args.container_id)?;
    let state = &container.state;
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
