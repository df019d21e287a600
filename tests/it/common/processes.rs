//! The processes tests and benches run, written once for both (the benches
//! include this file by `#[path]`): a free local port, a tansu broker, and a
//! process's memory and CPU time as /proc reports them.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// tansu's storage engines: in memory, or on sqlite in the broker's directory.
const MEMORY: &str = "memory://tansu/";
const SQLITE: &str = "sqlite://tansu.db";

/// Partitions of every topic a broker here creates.
pub const PARTITIONS: i32 = 3;

/// A port free on 127.0.0.1 a moment ago (the listener is closed on return).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A tansu broker process, killed when dropped. Fails loudly when tansu is
/// missing: a suite that skips its real-broker tests is a failed suite.
pub struct Broker {
    pub port: u16,
    /// The port clients are told to use (a proxy's, when one sits in front).
    pub advertised: u16,
    child: Option<Child>,
    dir: PathBuf,
    storage: String,
    /// Started with `--authentication`: only SASL/SCRAM-SHA-512 clients are served.
    authenticating: bool,
}

impl Broker {
    /// A broker keeping its data in memory.
    pub fn start() -> Broker {
        Broker::start_with(MEMORY, std::env::temp_dir(), free_port(), None)
    }

    /// A broker keeping its data in `dir/tansu.db`, on a given port, so a test
    /// can restart it with its data.
    pub fn start_sqlite(dir: PathBuf, port: u16) -> Broker {
        Broker::start_with(SQLITE, dir, port, None)
    }

    /// A broker in memory that tells clients to connect through `advertised`
    /// (a proxy's port).
    pub fn start_behind(advertised: u16) -> Broker {
        Broker::start_with(MEMORY, std::env::temp_dir(), free_port(), Some(advertised))
    }

    /// A broker that serves only `user` with `password` over SASL/SCRAM-SHA-512
    /// (the only mechanism tansu 0.6 speaks), its data in `dir/tansu.db`,
    /// telling clients to connect through `advertised` (a TLS proxy's port)
    /// when given. tansu takes users only while it runs without
    /// authentication: the user is created first, then the broker restarts
    /// on the same store with `--authentication`.
    pub fn start_scram(
        dir: PathBuf,
        advertised: Option<u16>,
        user: &str,
        password: &str,
    ) -> Broker {
        let mut broker = Broker::start_with(SQLITE, dir, free_port(), advertised);
        let status = Command::new(tansu())
            .args(["user", "create", user, password])
            .args(["--broker", &format!("tcp://127.0.0.1:{}", broker.port)])
            .stdout(Stdio::null())
            .status()
            .expect("tansu user create");
        assert!(status.success(), "creating the SCRAM user {user}");
        broker.authenticating = true;
        broker.restart();
        broker
    }

    /// Listening on `port`, telling clients to come to `advertised` (default: `port`).
    fn start_with(storage: &str, dir: PathBuf, port: u16, advertised: Option<u16>) -> Broker {
        let mut broker = Broker {
            port,
            advertised: advertised.unwrap_or(port),
            child: None,
            dir,
            storage: storage.to_owned(),
            authenticating: false,
        };
        broker.spawn();
        broker
    }

    fn spawn(&mut self) {
        let url = format!("tcp://127.0.0.1:{}", self.port);
        let advertised = format!("tcp://127.0.0.1:{}", self.advertised);
        let child = Command::new(tansu())
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &advertised,
            ])
            .args(["--storage-engine", &self.storage])
            .args(self.authenticating.then_some("--authentication"))
            .current_dir(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start tansu ({e}): run the README's test command, which installs it")
            });
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(15);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "tansu did not listen on {} within 15 s",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Where clients connect (the advertised address).
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.advertised)
    }

    pub fn pid(&self) -> i32 {
        self.child.as_ref().expect("broker running").id() as i32
    }

    pub fn create_topic(&self, name: &str) {
        let status = Command::new(tansu())
            .args([
                "topic",
                "create",
                name,
                "--broker",
                &format!("tcp://127.0.0.1:{}", self.port),
            ])
            .args(["--partitions", &PARTITIONS.to_string()])
            .stdout(Stdio::null())
            .status()
            .expect("tansu topic create");
        assert!(status.success(), "creating topic {name}");
    }

    /// Stops the broker (SIGSTOP) and returns once every one of its threads
    /// is stopped: kill(2) returns before the signal has reached a thread
    /// that is running on the other core, which could still answer a request
    /// sent just after.
    pub fn freeze(&self) {
        signal(self.pid(), libc::SIGSTOP);
        let deadline = Instant::now() + Duration::from_secs(5);
        while !all_threads_stopped(self.pid()) {
            assert!(Instant::now() < deadline, "tansu did not stop within 5 s");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    pub fn thaw(&self) {
        signal(self.pid(), libc::SIGCONT);
    }

    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Some(child) = &self.child {
            signal(child.id() as i32, libc::SIGCONT);
        }
        self.kill();
    }
}

/// A TLS terminator (Debian's stunnel4) on `port` in front of a plain TCP
/// port, serving a certificate for `IP:127.0.0.1` that is its own CA
/// ([`self_signed`]); killed when dropped. tansu 0.6's own TLS listener did
/// not answer TLS clients here, and a managed Kafka is reached over TLS.
pub struct TlsProxy {
    /// The certificate clients must trust (`ssl.ca.location`).
    pub ca: PathBuf,
    child: Child,
}

impl TlsProxy {
    pub fn start(dir: &Path, port: u16, upstream: u16) -> TlsProxy {
        let (cert, key) = self_signed(dir, "proxy");
        let conf = dir.join("stunnel.conf");
        std::fs::write(
            &conf,
            format!(
                "foreground = yes\npid =\n[kafka]\naccept = 127.0.0.1:{port}\n\
                 connect = 127.0.0.1:{upstream}\ncert = {}\nkey = {}\n",
                cert.display(),
                key.display()
            ),
        )
        .unwrap();
        let child = Command::new("stunnel4")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start stunnel4 ({e}): run the README's test command, which installs it"
                )
            });
        let deadline = Instant::now() + Duration::from_secs(15);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "stunnel4 did not listen on {port} within 15 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        TlsProxy { ca: cert, child }
    }
}

impl Drop for TlsProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A fresh key and a self-signed certificate for `IP:127.0.0.1` in `dir`
/// (`NAME.crt`, `NAME.key`), made by the openssl command. Each call makes
/// another: one certificate is not trusted for another's.
pub fn self_signed(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let (cert, key) = (
        dir.join(format!("{name}.crt")),
        dir.join(format!("{name}.key")),
    );
    let out = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-days", "1", "-subj", "/CN=127.0.0.1"])
        .args(["-addext", "subjectAltName=IP:127.0.0.1"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run openssl ({e}): run the README's test command, which installs it")
        });
    assert!(
        out.status.success(),
        "openssl req: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (cert, key)
}

/// Whether every thread of `pid` is stopped (`T` in /proc/<pid>/task/*/stat).
fn all_threads_stopped(pid: i32) -> bool {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return false;
    };
    tasks.flatten().all(|task| {
        std::fs::read_to_string(task.path().join("stat"))
            .ok()
            .and_then(|stat| {
                // The state follows the command name, which may hold spaces.
                let state = stat.rsplit_once(')')?.1.split_whitespace().next()?;
                Some(state == "T" || state == "t")
            })
            // A thread that ended between the listing and the read is no reply.
            .unwrap_or(true)
    })
}

pub fn signal(pid: i32, sig: i32) {
    // SAFETY: plain kill(2) on a child we started.
    let rc = unsafe { libc::kill(pid, sig) };
    assert_eq!(rc, 0, "kill({pid}, {sig})");
}

fn tansu() -> String {
    std::env::var("TANSU").unwrap_or_else(|_| "tansu".into())
}

/// A `kB` line of /proc/<pid>/status (`VmRSS`, `VmHWM`), in KiB; `None` once
/// the process is gone.
fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))?;
    line.trim().trim_end_matches("kB").trim().parse().ok()
}

/// Resident set size in KiB.
pub fn rss_kib(pid: u32) -> Option<u64> {
    status_kib(pid, "VmRSS")
}

/// Peak resident set size in KiB (the high-water mark).
pub fn peak_rss_kib(pid: u32) -> Option<u64> {
    status_kib(pid, "VmHWM")
}

/// CPU time (user + system, every thread) a process has used so far, from
/// /proc/<pid>/stat; `None` once the process is gone.
#[allow(dead_code)] // the e2e bench's (CPU per webhook); no test reads it yet
pub fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces: count fields after its ')'.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // SAFETY: sysconf reads a constant.
    let per_sec = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
    Some(Duration::from_micros(ticks * 1_000_000 / per_sec))
}

/// How a process's threads were scheduled, summed over its threads
/// (/proc/<pid>/task/*): context switches, voluntary (a thread waits: for a
/// socket, a lock, a wake-up) and not (preempted), the time its threads were
/// ready to run but waited for a core (schedstat's run delay), and the CPU
/// time of each kind of thread (schedstat's, in ns; threads named alike, such
/// as tokio's workers, summed under the name without digits).
#[allow(dead_code)] // the e2e bench's (where CPU and latency go); no test reads it
#[derive(Clone, Debug, Default)]
pub struct Scheduling {
    pub switches: u64,
    pub run_queue_wait: Duration,
    pub cpu_by_thread: std::collections::BTreeMap<String, Duration>,
}

#[allow(dead_code)]
impl Scheduling {
    /// The threads alive now; `None` once the process is gone.
    pub fn of(pid: u32) -> Option<Scheduling> {
        let mut total = Scheduling::default();
        for task in std::fs::read_dir(format!("/proc/{pid}/task"))
            .ok()?
            .flatten()
        {
            let path = task.path();
            // A thread may end between the listing and the reads: skip it.
            let (Ok(status), Ok(schedstat), Ok(comm)) = (
                std::fs::read_to_string(path.join("status")),
                std::fs::read_to_string(path.join("schedstat")),
                std::fs::read_to_string(path.join("comm")),
            ) else {
                continue;
            };
            total.switches += status
                .lines()
                .filter(|l| l.contains("ctxt_switches:"))
                .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
                .sum::<u64>();
            let ns: Vec<u64> = schedstat
                .split_whitespace()
                .filter_map(|n| n.parse().ok())
                .collect();
            let (on_cpu, waited) = (ns.first().copied(), ns.get(1).copied());
            total.run_queue_wait += Duration::from_nanos(waited.unwrap_or(0));
            let kind: String = comm
                .trim()
                .chars()
                .filter(|c| !c.is_ascii_digit())
                .collect();
            *total.cpu_by_thread.entry(kind).or_default() +=
                Duration::from_nanos(on_cpu.unwrap_or(0));
        }
        Some(total)
    }

    /// Switches and run-queue wait (µs) per one of `n` events.
    pub fn per(&self, n: u64) -> (f64, f64) {
        let n = n.max(1) as f64;
        (
            self.switches as f64 / n,
            self.run_queue_wait.as_secs_f64() * 1e6 / n,
        )
    }

    /// CPU µs per one of `n` events, by kind of thread, busiest first.
    pub fn cpu_per(&self, n: u64) -> Vec<(String, f64)> {
        let n = n.max(1) as f64;
        let mut kinds: Vec<(String, f64)> = self
            .cpu_by_thread
            .iter()
            .map(|(k, d)| (k.clone(), d.as_secs_f64() * 1e6 / n))
            .collect();
        kinds.sort_by(|a, b| b.1.total_cmp(&a.1));
        kinds
    }

    /// What happened after `before` (threads started since count in full).
    pub fn since(&self, before: &Scheduling) -> Scheduling {
        let mut cpu_by_thread = self.cpu_by_thread.clone();
        for (kind, d) in &before.cpu_by_thread {
            if let Some(now) = cpu_by_thread.get_mut(kind) {
                *now = now.saturating_sub(*d);
            }
        }
        Scheduling {
            switches: self.switches.saturating_sub(before.switches),
            run_queue_wait: self.run_queue_wait.saturating_sub(before.run_queue_wait),
            cpu_by_thread,
        }
    }
}
