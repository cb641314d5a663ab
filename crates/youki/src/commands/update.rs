use std::fs::File;
use std::io::{self, BufReader};
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use libcgroups::common::{CgroupManager, ControllerOpt};
use liboci_cli::Update;
use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxMemory, LinuxPids, LinuxResources};

use super::{cgroup_manager, load_container};

/// Changes the resource limits of a running container's cgroup.
pub fn update(args: Update, root_path: PathBuf) -> Result<()> {
    let container = load_container(&root_path, &args.container_id)?;
    let resources = match &args.resources {
        // runc's rule: a resources file replaces every other flag.
        Some(path) if path.as_os_str() == "-" => serde_json::from_reader(io::stdin().lock())
            .context("failed to parse resources from standard input")?,
        Some(path) => {
            let file = File::open(path)
                .with_context(|| format!("failed to open resources file {}", path.display()))?;
            serde_json::from_reader(BufReader::new(file))
                .with_context(|| format!("failed to parse resources file {}", path.display()))?
        }
        None => resources_from_flags(&args)?,
    };
    cgroup_manager(&container)?
        .apply(&ControllerOpt {
            resources: &resources,
            disable_oom_killer: false,
            oom_score_adj: None,
            freezer_state: None,
        })
        .with_context(|| {
            format!(
                "failed to update the cgroup of container {}",
                args.container_id
            )
        })
}

fn resources_from_flags(args: &Update) -> Result<LinuxResources> {
    if args.l3_cache_schema.is_some() || args.mem_bw_schema.is_some() {
        bail!("intel rdt updates (--l3-cache-schema, --mem-bw-schema) are not supported");
    }
    let mut resources = LinuxResources::default();

    if args.memory.is_some() || args.memory_reservation.is_some() || args.memory_swap.is_some() {
        let mut memory = LinuxMemory::default();
        memory.set_limit(args.memory.map(to_i64).transpose()?);
        memory.set_reservation(args.memory_reservation.map(to_i64).transpose()?);
        memory.set_swap(args.memory_swap);
        resources.set_memory(Some(memory));
    }

    let cpu_flags = [
        args.cpu_share,
        args.cpu_period,
        args.cpu_quota,
        args.cpu_rt_period,
        args.cpu_rt_runtime,
    ];
    if cpu_flags.iter().any(Option::is_some)
        || args.cpuset_cpus.is_some()
        || args.cpuset_mems.is_some()
    {
        let mut cpu = LinuxCpu::default();
        cpu.set_shares(args.cpu_share);
        cpu.set_period(args.cpu_period);
        cpu.set_quota(args.cpu_quota.map(to_i64).transpose()?);
        cpu.set_realtime_period(args.cpu_rt_period);
        cpu.set_realtime_runtime(args.cpu_rt_runtime.map(to_i64).transpose()?);
        cpu.set_cpus(args.cpuset_cpus.clone());
        cpu.set_mems(args.cpuset_mems.clone());
        resources.set_cpu(Some(cpu));
    }

    if let Some(limit) = args.pids_limit {
        let mut pids = LinuxPids::default();
        pids.set_limit(limit);
        resources.set_pids(Some(pids));
    }

    if let Some(weight) = args.blkio_weight {
        let weight = u16::try_from(weight)
            .ok()
            .filter(|w| (10..=1000).contains(w))
            .with_context(|| format!("invalid --blkio-weight {weight}: expected 10 to 1000"))?;
        let mut block_io = LinuxBlockIo::default();
        block_io.set_weight(Some(weight));
        resources.set_block_io(Some(block_io));
    }
    Ok(resources)
}

fn to_i64(value: u64) -> Result<i64> {
    i64::try_from(value).with_context(|| format!("value {value} is too large"))
}
