//! Instructions per webhook for the CPU work after the body is read (verify ->
//! normalize -> record), counted by callgrind: deterministic, so CI can hold a
//! regression guard on a shared machine where seconds mean little.
//!
//! ```text
//! cargo bench --bench instructions              # count; fail past +10 % of the baseline
//! cargo bench --bench instructions -- --bless   # count and write the baseline
//! cargo test --benches                          # smoke: each workload once, natively
//! ```
//!
//! The count must not follow the host's CPU. sha2 picks SHA extensions at run
//! time, and glibc picks its memcpy by CPU; valgrind's synthetic CPU has no SHA
//! extensions, which pins sha2 to its portable code, and every workload is
//! held as a ratio to a reference workload counted in the same run (SHA-256, a
//! JSON scan and a copy of the same bytes), which cancels what is left of the
//! host. The absolute counts are printed too, for before/after comparisons on
//! one machine.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, UNIX_EPOCH};

use http::HeaderMap;
use sha2::{Digest, Sha256};
use webhook_gateway::engine::normalize::RequestMeta;
use webhook_gateway::engine::pipeline;
use webhook_gateway::engine::provider::Provider;

#[path = "support/mod.rs"]
mod support;
use support::body;

/// Iterations per counted run: enough that set-up outside the loop is noise.
const ITERATIONS: u64 = 200;
/// A workload may cost this much more than its baseline ratio before the guard fails.
const TOLERANCE: f64 = 0.10;
const REFERENCE: &str = "reference-1k";
const CHILD_ENV: &str = "WEBHOOK_GATEWAY_INSTRUCTIONS_WORKLOAD";
/// Fixed instants: the count must not depend on the clock.
const SIGNED_AT: u64 = 1_790_000_000;

/// The inputs of one workload, prepared outside the counted loop.
struct Input {
    /// Compiled as the gateway compiles it (its topics and `dataschema`s
    /// resolved): start-up work, outside the count.
    provider: Provider,
    body: Vec<u8>,
    headers: HeaderMap,
}

/// The workloads: the built-ins at the common 1 KiB and at 16 KiB, a
/// configured provider (defined by hand, see `support::CONFIGURED`) at 1 KiB,
/// and one per scheme family the HMACs do not cover (Ed25519, ECDSA P-256, a
/// token), each at 1 KiB.
fn workloads() -> Vec<(&'static str, &'static str, usize)> {
    vec![
        ("m2m-1k", "m2m", 1024),
        ("transfers-1k", "transfers", 1024),
        ("transfers-16k", "transfers", 16 * 1024),
        ("configured-1k", "acme", 1024),
        ("ed25519-1k", "edkey", 1024),
        ("ecdsa-p256-1k", "eckey", 1024),
        ("token-1k", "tokeny", 1024),
    ]
}

fn input(provider: &str, size: usize) -> Input {
    let def = support::definition(provider);
    let body = body(provider, size);
    let headers = support::signed(&def, &body, SIGNED_AT);
    Input {
        provider: support::provider(&def.name),
        body,
        headers,
    }
}

/// One accepted request's CPU work after the body is read, the gateway's
/// pipeline (verify -> normalize -> record): the counted loop.
#[inline(never)]
fn measured_pipeline(input: &Input, iterations: u64) -> usize {
    let meta = RequestMeta {
        content_type: Some("application/json".into()),
        traceparent: None,
    };
    let now = UNIX_EPOCH + Duration::from_secs(SIGNED_AT);
    let mut bytes = 0;
    for _ in 0..iterations {
        let request = pipeline::Request {
            line: webhook_gateway::engine::verify::Line::POST,
            headers: black_box(&input.headers),
            meta: &meta,
            received_at: now,
        };
        let processed = pipeline::process(
            &input.provider,
            black_box(&input.body[..]),
            request,
            support::LIMITS,
        )
        .expect("signed");
        bytes += black_box(processed.records)[0].record.value.len();
    }
    bytes
}

/// The reference: what any webhook handler does with the same bytes (a digest,
/// a JSON scan, a copy), so that host differences cancel in the ratio.
#[inline(never)]
fn measured_reference(input: &Input, iterations: u64) -> usize {
    let mut bytes = 0;
    for _ in 0..iterations {
        let body = black_box(&input.body[..]);
        let digest = Sha256::digest(body);
        serde_json::from_slice::<serde::de::IgnoredAny>(body).expect("JSON");
        let copy = body.to_vec();
        bytes += black_box(copy.len()) + digest[0] as usize;
    }
    bytes
}

fn run(name: &str, iterations: u64) -> usize {
    if name == REFERENCE {
        return measured_reference(&input("transfers", 1024), iterations);
    }
    let (_, provider, size) = workloads()
        .into_iter()
        .find(|(n, _, _)| *n == name)
        .unwrap_or_else(|| panic!("no workload {name}"));
    measured_pipeline(&input(provider, size), iterations)
}

/// Instructions per iteration of `name`, counted by callgrind inside the
/// `measured_*` functions only (start-up and set-up are not counted).
fn count(name: &str, out_dir: &Path) -> Result<u64, String> {
    let out = out_dir.join(format!("{name}.callgrind"));
    let status = Command::new("valgrind")
        .args([
            "--tool=callgrind",
            "--collect-atstart=no",
            "--toggle-collect=*measured_*",
        ])
        .arg(format!("--callgrind-out-file={}", out.display()))
        .arg(std::env::current_exe().map_err(|e| e.to_string())?)
        .env(CHILD_ENV, name)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .map_err(|e| {
            format!("cannot run valgrind ({e}): install it (Debian's valgrind package)")
        })?;
    if !status.success() {
        return Err(format!("valgrind {name}: {status}"));
    }
    let text = std::fs::read_to_string(&out).map_err(|e| e.to_string())?;
    let total: u64 = text
        .lines()
        .find_map(|l| {
            l.strip_prefix("summary: ")
                .or_else(|| l.strip_prefix("totals: "))
        })
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| format!("no instruction total in {}", out.display()))?;
    if total == 0 {
        return Err(format!(
            "{name}: nothing counted: the toggle matched no function"
        ));
    }
    Ok(total / ITERATIONS)
}

fn baseline_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/instructions.baseline")
}

/// `name ratio instructions` per line; `#` starts a comment.
fn read_baseline() -> Result<BTreeMap<String, f64>, String> {
    let text = std::fs::read_to_string(baseline_path()).map_err(|e| {
        format!(
            "{}: {e} (write it with -- --bless)",
            baseline_path().display()
        )
    })?;
    Ok(text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let mut parts = l.split_whitespace();
            Some((parts.next()?.to_owned(), parts.next()?.parse().ok()?))
        })
        .collect())
}

fn guard(bless: bool) -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let reference = count(REFERENCE, dir.path())?;
    let mut rows = Vec::new();
    for (name, _, _) in workloads() {
        let n = count(name, dir.path())?;
        rows.push((name, n, n as f64 / reference as f64));
    }
    println!("instructions per webhook (callgrind, {ITERATIONS} iterations each)");
    println!("{:<16} {:>12} {:>10}", "workload", "instructions", "ratio");
    println!("{:<16} {:>12} {:>10}", REFERENCE, reference, "1.000");
    for (name, n, ratio) in &rows {
        println!("{name:<16} {n:>12} {ratio:>10.3}");
    }
    if bless {
        let mut text = String::from(
            "# Instructions per webhook, as a ratio to the reference workload counted in the\n# same run (benches/instructions.rs); written by `cargo bench --bench instructions -- --bless`.\n# workload ratio instructions-on-the-blessing-machine\n",
        );
        for (name, n, ratio) in &rows {
            text.push_str(&format!("{name} {ratio:.4} {n}\n"));
        }
        std::fs::write(baseline_path(), text).map_err(|e| e.to_string())?;
        println!("baseline written to {}", baseline_path().display());
        return Ok(());
    }
    let baseline = read_baseline()?;
    let mut failures = Vec::new();
    for (name, _, ratio) in &rows {
        let Some(base) = baseline.get(*name) else {
            failures.push(format!("{name}: not in the baseline (bless it)"));
            continue;
        };
        let change = ratio / base - 1.0;
        println!("{name:<16} {:+.1} % against the baseline", change * 100.0);
        if change > TOLERANCE {
            failures.push(format!(
                "{name}: {:+.1} % instructions (ratio {ratio:.3}, baseline {base:.3}), more than {:.0} %",
                change * 100.0,
                TOLERANCE * 100.0
            ));
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures.join("\n"))
    }
}

fn main() {
    if let Ok(name) = std::env::var(CHILD_ENV) {
        black_box(run(&name, ITERATIONS));
        return;
    }
    let args: Vec<String> = std::env::args().collect();
    // `cargo bench` passes --bench; `cargo test --benches` does not: smoke mode.
    if !args.iter().any(|a| a == "--bench") {
        for name in std::iter::once(REFERENCE).chain(workloads().into_iter().map(|w| w.0)) {
            assert!(run(name, 1) > 0, "{name} produced nothing");
        }
        println!("instructions: smoke run of every workload passed (counts: cargo bench --bench instructions)");
        return;
    }
    if let Err(failure) = guard(args.iter().any(|a| a == "--bless")) {
        eprintln!("instruction-count guard failed:\n{failure}");
        std::process::exit(1);
    }
}
