//! `shim-wait <youki> <state root> <bundle> <id>`: creates and starts a
//! container the way containerd's shim does, as a child subreaper, so that
//! the container's init, orphaned when `youki create` exits, becomes its
//! child; waits for it and prints its exit status (128 + signal for a
//! killed one). A separate process, so that the test process itself does
//! not collect other tests' orphans.

use std::process::{Command, Stdio};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [youki, root, bundle, id] = args.as_slice() else {
        eprintln!("usage: shim-wait <youki> <state root> <bundle> <id>");
        std::process::exit(2);
    };
    nix::sys::prctl::set_child_subreaper(true).expect("become a child subreaper");
    let youki_run = |args: &[&str]| {
        let out = Command::new(youki)
            .arg("--root")
            .arg(root)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .output()
            .expect("run youki");
        assert!(out.status.success(), "youki {args:?} failed");
        out.stdout
    };
    // The init inherits our stdio; create's stdout must not be a pipe we wait on.
    let status = Command::new(youki)
        .arg("--root")
        .arg(root)
        .args(["create", "--bundle", bundle, id])
        .stdin(Stdio::null())
        .status()
        .expect("run youki create");
    assert!(status.success(), "youki create failed");
    let state: serde_json::Value =
        serde_json::from_slice(&youki_run(&["state", id])).expect("state is JSON");
    let pid = nix::unistd::Pid::from_raw(state["pid"].as_i64().expect("a pid") as i32);
    youki_run(&["start", id]);
    let code = match nix::sys::wait::waitpid(pid, None).expect("wait for the init") {
        nix::sys::wait::WaitStatus::Exited(_, code) => code,
        nix::sys::wait::WaitStatus::Signaled(_, signal, _) => 128 + signal as i32,
        other => panic!("unexpected wait status {other:?}"),
    };
    println!("{code}");
}
