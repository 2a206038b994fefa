//! The `demo` agent: a stand-in for an AI CLI that streams plausible work for a few seconds and
//! sometimes fails, so paneherd can be tried with nothing else installed.

use std::io::Write;
use std::time::Duration;

use rand::RngExt;

const STEPS: [&str; 12] = [
    "Reading the repository layout",
    "Searching for relevant files",
    "Opening src/main.rs",
    "Opening src/lib.rs",
    "Thinking about the approach",
    "Running a quick check",
    "Comparing two candidate explanations",
    "Following a call chain through 3 modules",
    "Collecting references",
    "Cross-checking the findings",
    "Writing notes",
    "Double-checking edge cases",
];

/// Runs the simulated agent; returns its exit code. `PANEHERD_DEMO_SECS` fixes its duration and
/// `PANEHERD_DEMO_FAIL=0|1` whether it fails (for tests and recordings).
pub fn run(task: Option<&str>, prompt: &str) -> i32 {
    let mut rng = rand::rng();
    let secs: f64 = std::env::var("PANEHERD_DEMO_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| rng.random_range(3.0..12.0));
    let fail = match std::env::var("PANEHERD_DEMO_FAIL").as_deref() {
        Ok("1") => true,
        Ok("0") => false,
        _ => rng.random_bool(0.2),
    };
    let steps = rng.random_range(4..9usize);
    let pause = Duration::from_secs_f64((secs / steps as f64).max(0.0));
    let mut out = std::io::stdout();
    let _ = writeln!(out, "\x1b[1mdemo agent\x1b[0m {}", task.unwrap_or(""));
    let _ = writeln!(out, "task: {prompt}");
    for i in 0..steps {
        std::thread::sleep(pause);
        let step = STEPS[rng.random_range(0..STEPS.len())];
        let _ = writeln!(out, "\x1b[36m▸\x1b[0m [{}/{steps}] {step}…", i + 1);
        let _ = out.flush();
    }
    if fail {
        let _ = writeln!(
            out,
            "\x1b[31merror:\x1b[0m the simulated agent gave up (this happens 1 time in 5)"
        );
        return 1;
    }
    let found = rng.random_range(2..7);
    let _ = writeln!(out, "\nDone. {found} findings for: {prompt}");
    for n in 1..=found {
        let _ =
            writeln!(out, "  {n}. finding {n} with a file reference src/module_{n}.rs:{}", 10 * n);
    }
    0
}
