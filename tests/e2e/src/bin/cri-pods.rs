//! `cri-pods`: starts and removes many pods through containerd's CRI, with
//! the calls the kubelet makes. The benchmark's per-pod mode
//! (experiment/bench.py) runs it.
//!
//! ```text
//! cri-pods start --socket S --handler H --image I --prefix P --count N
//!                --log-dir D [--parallelism J] [--annotation K=V]... [--env K=V]...
//! cri-pods remove --socket S --prefix P [--parallelism J]
//! ```
//!
//! `start` runs N host-network pods named `P0` .. `P(N-1)`, each with one
//! container "app" from image I, J at a time: RunPodSandbox (RuntimeClass
//! handler H, the annotations on the pod), CreateContainer, StartContainer.
//! The container logs to `D/<pod>/app.log`. It prints one JSON line per pod
//! (name, log, sandbox_pid, container_pid) and exits; on the first failure
//! it prints the error and exits 1, leaving the pods to `remove`.
//! `remove` stops and removes every pod whose name starts with P.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use tokio::sync::Semaphore;
use youki_e2e::cri;

#[derive(Default)]
struct Args {
    command: String,
    socket: PathBuf,
    handler: String,
    image: String,
    prefix: String,
    count: usize,
    log_dir: PathBuf,
    parallelism: usize,
    annotations: Vec<(String, String)>,
    envs: Vec<(String, String)>,
}

fn pair(value: &str) -> Result<(String, String)> {
    let (key, value) = value
        .split_once('=')
        .with_context(|| format!("{value:?} is not KEY=VALUE"))?;
    Ok((key.to_owned(), value.to_owned()))
}

fn parse(mut argv: impl Iterator<Item = String>) -> Result<Args> {
    let mut args = Args {
        command: argv.next().context("no command: start or remove")?,
        parallelism: 8,
        ..Default::default()
    };
    while let Some(flag) = argv.next() {
        let value = argv
            .next()
            .with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--socket" => args.socket = value.into(),
            "--handler" => args.handler = value,
            "--image" => args.image = value,
            "--prefix" => args.prefix = value,
            "--count" => args.count = value.parse().context("--count")?,
            "--log-dir" => args.log_dir = value.into(),
            "--parallelism" => args.parallelism = value.parse().context("--parallelism")?,
            "--annotation" => args.annotations.push(pair(&value)?),
            "--env" => args.envs.push(pair(&value)?),
            _ => bail!("unknown option {flag}"),
        }
    }
    if args.socket.as_os_str().is_empty() || args.prefix.is_empty() || args.parallelism == 0 {
        bail!("--socket and --prefix are required, and --parallelism must be positive");
    }
    match args.command.as_str() {
        "start" if args.handler.is_empty() || args.image.is_empty() => {
            bail!("start needs --handler and --image")
        }
        "start" if args.log_dir.as_os_str().is_empty() => bail!("start needs --log-dir"),
        "start" if args.count == 0 => bail!("start needs a positive --count"),
        "start" | "remove" => Ok(args),
        other => bail!("unknown command {other:?}: start or remove"),
    }
}

fn pairs(list: &[(String, String)]) -> Vec<(&str, &str)> {
    list.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

async fn start_one(args: &Args, client: &mut cri::Client, index: usize) -> Result<String> {
    let name = format!("{}{index}", args.prefix);
    let log_dir = args.log_dir.join(&name);
    std::fs::create_dir_all(&log_dir).with_context(|| format!("create {}", log_dir.display()))?;
    let config = cri::pod_config(&name, &name, &log_dir, &pairs(&args.annotations));
    let container = cri::app_container(&args.image, &pairs(&args.envs));
    let pod = cri::start_pod(client, &args.handler, &config, container).await?;
    let sandbox_pid = cri::sandbox_pid(client, &pod.sandbox_id).await?;
    let container_pid = cri::container_pid(client, &pod.container_id).await?;
    Ok(serde_json::json!({
        "name": name,
        "log": log_dir.join("app.log"),
        "sandbox_pid": sandbox_pid,
        "container_pid": container_pid,
    })
    .to_string())
}

/// Runs `job` on every item, `parallelism` at a time; the first error wins.
async fn for_each<T, F, Fut>(items: Vec<T>, parallelism: usize, job: F) -> Result<Vec<String>>
where
    T: Send + 'static,
    F: Fn(T) -> Fut,
    Fut: std::future::Future<Output = Result<String>> + Send + 'static,
{
    let slots = Arc::new(Semaphore::new(parallelism));
    let mut tasks = Vec::new();
    for item in items {
        let slot = slots.clone().acquire_owned().await?;
        let work = job(item);
        tasks.push(tokio::spawn(async move {
            let result = work.await;
            drop(slot);
            result
        }));
    }
    let mut out = Vec::new();
    for task in tasks {
        out.push(task.await??);
    }
    Ok(out)
}

async fn main_async(args: Args) -> Result<()> {
    // A call that takes this long is stuck: the run fails instead of hanging.
    let client = cri::connect(&args.socket, std::time::Duration::from_secs(600)).await?;
    let args = Arc::new(args);
    let lines = if args.command == "start" {
        let (count, parallelism) = (args.count, args.parallelism);
        for_each((0..count).collect(), parallelism, |index| {
            let (args, mut client) = (args.clone(), client.clone());
            async move { start_one(&args, &mut client, index).await }
        })
        .await?
    } else {
        let ids = cri::sandboxes_named(&mut client.clone(), &args.prefix).await?;
        let removed = for_each(ids, args.parallelism, |id| {
            let mut client = client.clone();
            async move { cri::remove_pod(&mut client, &id).await.map(|()| id) }
        })
        .await?;
        vec![format!("removed {} pods", removed.len())]
    };
    for line in lines {
        println!("{line}");
    }
    Ok(())
}

fn main() {
    let result = parse(std::env::args().skip(1)).and_then(|args| {
        tokio::runtime::Runtime::new()
            .context("start the async runtime")?
            .block_on(main_async(args))
    });
    if let Err(error) = result {
        eprintln!("cri-pods: {error:#}");
        std::process::exit(1);
    }
}
