//! A scripted model on 127.0.0.1 (`tests/python/scripted_model.py`) that a real agent CLI is
//! pointed at: it plays the model from a plan (call paneherd's tools, then answer) and logs
//! every request, so that a test sees what reached the model and when.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use serde_json::Value;

pub struct Model {
    child: Child,
    pub port: u16,
    log: PathBuf,
}

impl Model {
    /// Starts the server speaking `wire` (`responses`, `chat` or `anthropic`) with the plan's
    /// `steps`.
    pub fn start(dir: &Path, wire: &str, steps: Value) -> Model {
        Model::start_plan(dir, wire, serde_json::json!({ "steps": steps }))
    }

    /// Starts it with a whole plan (`{"steps": …}` or `{"cycle": …}`).
    pub fn start_plan(dir: &Path, wire: &str, plan_json: Value) -> Model {
        let plan = dir.join(format!("plan-{wire}.json"));
        std::fs::write(&plan, plan_json.to_string()).unwrap();
        let log = dir.join(format!("model-{wire}.jsonl"));
        let portfile = dir.join(format!("model-{wire}.port"));
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/scripted_model.py");
        let child = Command::new("python3")
            .arg(script)
            .args([Path::new(wire), &plan, &log, &portfile])
            .spawn()
            .expect("python3 runs the scripted model");
        let deadline = Instant::now() + Duration::from_secs(10);
        let port = loop {
            if let Ok(p) = std::fs::read_to_string(&portfile) {
                break p.trim().parse().unwrap();
            }
            assert!(Instant::now() < deadline, "the scripted model did not start");
            std::thread::sleep(Duration::from_millis(20));
        };
        Model { child, port, log }
    }

    /// Every request so far: `{"t": unix seconds, "path", "body"}`.
    pub fn requests(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

impl Drop for Model {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
