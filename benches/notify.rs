//! From a task's end to the Notify call on the bus, outside a coalescing window (target p99
//! ≤ 50 ms): a private dbus-daemon, a recording notification server, the real binary.
//! `cargo bench --bench notify`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use zbus::OwnedVariant;

const BIN: &str = env!("CARGO_BIN_EXE_paneherd");

#[derive(Clone, Default)]
struct Recorder {
    at: Arc<Mutex<Vec<(String, f64)>>>,
}

#[zbus::interface(name = "org.freedesktop.Notifications")]
impl Recorder {
    #[allow(clippy::too_many_arguments)]
    fn notify(
        &self,
        _app: String,
        _replaces: u32,
        _icon: String,
        _summary: String,
        body: String,
        _actions: Vec<String>,
        _hints: std::collections::HashMap<String, OwnedVariant>,
        _timeout: i32,
    ) -> u32 {
        let ms = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs_f64() * 1000.0;
        let id = body.lines().last().unwrap_or("").to_string();
        let mut v = self.at.lock().unwrap();
        v.push((id, ms));
        v.len() as u32
    }
    fn get_capabilities(&self) -> Vec<String> {
        vec!["body".into(), "actions".into()]
    }
    fn get_server_information(&self) -> (String, String, String, String) {
        ("recorder".into(), "paneherd bench".into(), "1".into(), "1.2".into())
    }
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let cfg = dir.path().join("config.toml");
    std::fs::write(&cfg, "[notify]\ncoalesce_ms = 100\n").unwrap();
    // A private bus with no service directories: nothing of the machine's is activated on it.
    let bus_conf = dir.path().join("bus.conf");
    std::fs::write(
        &bus_conf,
        format!(
            "<busconfig><type>session</type><listen>unix:path={}</listen>\
             <policy context=\"default\"><allow send_destination=\"*\" eavesdrop=\"true\"/>\
             <allow eavesdrop=\"true\"/><allow own=\"*\"/></policy></busconfig>",
            dir.path().join("bus").display()
        ),
    )
    .unwrap();
    let mut bus = Command::new("dbus-daemon")
        .args(["--nofork", "--print-address=1"])
        .arg(format!("--config-file={}", bus_conf.display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("dbus-daemon");
    let mut addr = String::new();
    BufReader::new(bus.stdout.take().unwrap()).read_line(&mut addr).unwrap();
    let addr = addr.trim().to_string();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let rec = Recorder::default();
    let _conn = rt.block_on(async {
        zbus::connection::Builder::address(addr.as_str())
            .name("org.freedesktop.Notifications")
            .serve_at("/org/freedesktop/Notifications", rec.clone())
            .build()
            .await
            .unwrap()
    });
    let run = |args: &[&str]| {
        Command::new(BIN)
            .args(args)
            .env("PANEHERD_CONFIG", &cfg)
            .env("PANEHERD_DATA_DIR", dir.path().join("data"))
            .env("PANEHERD_RUNTIME_DIR", dir.path().join("rt"))
            .env("DBUS_SESSION_BUS_ADDRESS", &addr)
            .output()
            .unwrap()
    };
    let mut lat = vec![];
    for _ in 0..60 {
        let out = run(&["run", "--agent", "shell", "--wait", "--json", "true"]);
        let t: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let id = t["id"].as_str().unwrap().to_string();
        let fin = chrono::DateTime::parse_from_rfc3339(t["finished_at"].as_str().unwrap()).unwrap();
        let fin_ms = fin.timestamp_millis() as f64;
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        let at = loop {
            if let Some((_, at)) = rec.at.lock().unwrap().iter().find(|(i, _)| *i == id) {
                break *at;
            }
            assert!(std::time::Instant::now() < deadline, "no notification for {id}");
            std::thread::sleep(Duration::from_millis(5));
        };
        lat.push(at - fin_ms);
        // Leave the coalescing window before the next task ends.
        std::thread::sleep(Duration::from_millis(150));
    }
    lat.sort_by(|a, b| a.total_cmp(b));
    let p = |q: f64| lat[((lat.len() - 1) as f64 * q).round() as usize];
    let ok = if p(0.99) <= 50.0 { "ok" } else { "MISSED" };
    println!(
        "task end → Notify on the bus, 60 tasks: p50 {:.1} ms, p99 {:.1} ms (target ≤ 50) {ok}, max {:.1} ms",
        p(0.5),
        p(0.99),
        lat[lat.len() - 1]
    );
    let _ = run(&["daemon", "stop"]);
    let _ = bus.kill();
    let _ = bus.wait();
}
