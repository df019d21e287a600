//! `--perf C`: the gateway's CPU profile during its wrk run at concurrency C
//! (Linux perf, sampled at 1999 Hz), where the CPU per webhook goes: by
//! thread (the async workers, librdkafka's broker thread, rdkafka's polling
//! thread) and by function. Asked for only: perf is not part of CI.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

/// A running `perf record` on the gateway.
pub struct Recording {
    child: Child,
    data: PathBuf,
}

/// Starts sampling `pid` for `secs` into `target/e2e-perf/<label>.data`. A
/// missing perf fails the run: a profile asked for is never skipped silently.
pub fn start(pid: u32, label: &str, secs: f64) -> Recording {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/e2e-perf");
    std::fs::create_dir_all(&dir).unwrap();
    let data = dir.join(format!("{label}.data"));
    let child = Command::new("perf")
        .args(["record", "-F", "1999", "-p", &pid.to_string(), "-o"])
        .arg(&data)
        .args(["--", "sleep", &secs.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("--perf: cannot run perf ({e}): install it (Debian package linux-perf)")
        });
    Recording { child, data }
}

impl Recording {
    /// Stops sampling and prints the profile's top lines by thread and by function.
    pub fn report(mut self, title: &str) {
        let status = self.child.wait().unwrap();
        assert!(status.success(), "perf record failed: {status}");
        println!();
        println!("perf profile, {title} ({}):", self.data.display());
        for (sort, lines) in [("comm", 6), ("dso", 6), ("sym", 30)] {
            let out = Command::new("perf")
                .args(["report", "--stdio", "--sort", sort, "-i"])
                .arg(&self.data)
                .stderr(Stdio::null())
                .output()
                .expect("perf report");
            let text = String::from_utf8_lossy(&out.stdout);
            let top = text
                .lines()
                .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
                .take(lines);
            println!("```text");
            for line in top {
                println!("{}", line.trim_end());
            }
            println!("```");
        }
    }
}
