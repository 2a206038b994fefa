//! `paneherd web` driven by real clients: curl for the HTTP API and its Server-Sent Events,
//! Debian's chromium (headless) for the page itself.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Env, config_with};

/// A running `paneherd web` on a free port of 127.0.0.1.
struct Web {
    child: Child,
    base: String,
    token: String,
}

impl Web {
    fn start(env: &Env, extra: &[&str]) -> Web {
        let mut args = vec!["web", "--listen", "127.0.0.1:0"];
        args.extend_from_slice(extra);
        let mut child = env.cmd(&args).stdout(Stdio::piped()).spawn().unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        // Whatever else it prints is read, never left to fill (or break) its pipe.
        std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
        let url = line.trim();
        let (base, token) = url.split_once("/?token=").unwrap_or_else(|| panic!("{url:?}"));
        Web { child, base: base.to_string(), token: token.to_string() }
    }

    /// `curl` with `args`, then the URL of `path`: (status, body).
    fn curl(&self, args: &[&str], path: &str) -> (u16, String) {
        let out = Command::new("curl")
            .args(["-s", "-o", "-", "-w", "\n%{http_code}", "--max-time", "10"])
            .args(args)
            .arg(format!("{}{path}", self.base))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, code) = text.rsplit_once('\n').unwrap();
        (code.parse().unwrap(), body.to_string())
    }

    fn bearer(&self) -> String {
        format!("Authorization: Bearer {}", self.token)
    }
}

impl Drop for Web {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn every_call_needs_the_token_and_read_only_refuses_every_action() {
    let env = Env::new(&config_with(""));
    let web = Web::start(&env, &[]);
    let auth = web.bearer();
    // No token, a wrong one: 401, for the page, its files, the API and the events.
    for path in ["/", "/app.js", "/api/tasks", "/api/events", "/manifest.webmanifest"] {
        assert_eq!(web.curl(&[], path).0, 401, "{path}");
        assert_eq!(web.curl(&["-H", "Authorization: Bearer nope"], path).0, 401, "{path}");
    }
    assert_eq!(web.curl(&[], "/?token=wrong").0, 401);
    // The printed URL: its token becomes a cookie, the address loses it.
    let out = Command::new("curl")
        .args(["-s", "-i", &format!("{}/?token={}", web.base, web.token)])
        .output()
        .unwrap();
    let head = String::from_utf8_lossy(&out.stdout);
    assert!(head.starts_with("HTTP/1.1 303") && head.contains("location: /"), "{head}");
    assert!(head.contains("HttpOnly") && head.contains("SameSite=Strict"), "{head}");
    let cookie = format!("Cookie: paneherd_token={}", web.token);
    let (code, page) = web.curl(&["-H", &cookie], "/");
    assert_eq!(code, 200);
    assert!(page.contains("<title>paneherd</title>"));
    // Reading with the cookie; an action with the cookie alone is refused (no CSRF by a link
    // or a form of another site), with the header it is done.
    let (code, body) = web.curl(&["-H", &cookie], "/api/tasks");
    assert_eq!((code, body.as_str()), (200, "[]"));
    let submit = ["-X", "POST", "-H", "Content-Type: application/json", "-d"];
    let new = r#"{"prompt":"sleep 30","agent":"shell"}"#;
    let mut with_cookie: Vec<&str> = submit.to_vec();
    with_cookie.extend([new, "-H", &cookie]);
    assert_eq!(web.curl(&with_cookie, "/api/tasks").0, 401);
    assert!(env.list().is_empty(), "nothing was submitted");
    let mut with_header: Vec<&str> = submit.to_vec();
    with_header.extend([new, "-H", &auth]);
    let (code, body) = web.curl(&with_header, "/api/tasks");
    assert_eq!(code, 200, "{body}");
    let t: serde_json::Value = serde_json::from_str(&body).unwrap();
    let id = t["id"].as_str().unwrap().to_string();
    // Bad input: what is wrong, said.
    let mut bad: Vec<&str> = submit.to_vec();
    bad.extend([r#"{"prompt":"x","agnt":"shell"}"#, "-H", &auth]);
    let (code, body) = web.curl(&bad, "/api/tasks");
    assert_eq!(code, 400);
    assert!(body.contains("unknown field `agnt`"), "{body}");
    let (code, body) = web.curl(&["-X", "POST", "-H", &auth], "/api/tasks/no-such-task/cancel");
    assert_eq!(code, 404, "{body}");
    let (code, body) = web.curl(&["-X", "POST", "-H", &auth], &format!("/api/tasks/{id}/explode"));
    assert_eq!(code, 404);
    assert!(body.contains("allowed: cancel, retry, continue, input"), "{body}");
    // A headless task has no terminal to answer in: said, not pretended.
    let answer = [
        "-X",
        "POST",
        "-H",
        &auth,
        "-H",
        "Content-Type: application/json",
        "-d",
        r#"{"text":"yes"}"#,
    ];
    let (code, body) = web.curl(&answer, &format!("/api/tasks/{id}/input"));
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("runs headless"), "{body}");
    // No file but the page's own.
    assert_eq!(web.curl(&["-H", &auth, "--path-as-is"], "/../Cargo.toml").0, 404);
    assert_eq!(web.curl(&["-H", &auth], "/Cargo.toml").0, 404);

    // Read-only: every action refused, reading still works.
    let ro = Web::start(&env, &["--read-only"]);
    let auth = ro.bearer();
    let (code, body) = ro.curl(&["-X", "POST", "-H", &auth], &format!("/api/tasks/{id}/cancel"));
    assert_eq!(code, 403, "{body}");
    let mut ro_submit: Vec<&str> = submit.to_vec();
    ro_submit.extend([new, "-H", &auth]);
    assert_eq!(ro.curl(&ro_submit, "/api/tasks").0, 403);
    assert_eq!(env.task(&id)["status"], "running", "not cancelled");
    let (code, body) = ro.curl(&["-H", &auth], &format!("/api/tasks/{id}"));
    assert_eq!(code, 200);
    let d: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(d["task"]["id"], id.as_str());
    // Cancelled through the API that may act.
    let (code, _) =
        web.curl(&["-X", "POST", "-H", &web.bearer()], &format!("/api/tasks/{id}/cancel"));
    assert_eq!(code, 200);
    env.wait_status(&id, "cancelled", Duration::from_secs(10));
}

#[test]
fn the_events_tell_a_tasks_end_within_a_second() {
    let env = Env::new(&config_with(""));
    let web = Web::start(&env, &[]);
    let (mut curl, rx) = sse(&web, "/api/events");
    // The stream is open before the task is handed off.
    std::thread::sleep(Duration::from_millis(300));
    let id = env.submit(&["--agent", "shell", "--", "sleep 0.5; echo done"]);
    let deadline = Instant::now() + Duration::from_secs(15);
    let (seen, ev) = loop {
        let (at, ev) = rx.recv_timeout(deadline - Instant::now()).expect("the task's end came");
        if ev["kind"] == "task_changed"
            && ev["task"]["id"] == id.as_str()
            && ev["task"]["status"] == "completed"
        {
            break (at, ev);
        }
    };
    let _ = curl.kill();
    let _ = curl.wait();
    assert_eq!(ev["task"]["summary"], "done");
    let ended =
        chrono::DateTime::parse_from_rfc3339(ev["task"]["finished_at"].as_str().unwrap()).unwrap();
    let now = chrono::Utc::now();
    let lag =
        now.signed_duration_since(ended) - chrono::Duration::from_std(seen.elapsed()).unwrap();
    assert!(lag < chrono::Duration::seconds(1), "seen {lag} after its end");
}

/// A headless chromium with its DevTools port, and a profile of its own.
struct Browser {
    child: Child,
    port: u16,
    _profile: tempfile::TempDir,
}

impl Browser {
    fn start() -> Option<Browser> {
        let profile = tempfile::tempdir().unwrap();
        let child = Command::new("chromium")
            .args(["--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run"])
            .args(["--remote-debugging-port=0", "--hide-scrollbars", "--lang=en-US"])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let child = match child {
            Ok(c) => c,
            Err(e) => {
                assert!(std::env::var_os("CI").is_none(), "chromium: {e} (.ci/run installs it)");
                eprintln!("skipped: no chromium here ({e})");
                return None;
            }
        };
        let file = profile.path().join("DevToolsActivePort");
        let deadline = Instant::now() + Duration::from_secs(30);
        let port = loop {
            if let Some(p) =
                std::fs::read_to_string(&file).ok().and_then(|s| s.lines().next()?.parse().ok())
            {
                break p;
            }
            assert!(Instant::now() < deadline, "chromium did not open its DevTools port");
            std::thread::sleep(Duration::from_millis(50));
        };
        Some(Browser { child, port, _profile: profile })
    }

    /// Runs `steps` (see `tests/python/cdp.py`); each step's result.
    fn steps(&self, steps: serde_json::Value) -> Vec<serde_json::Value> {
        let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/cdp.py");
        let out = Command::new("python3")
            .arg(script)
            .arg(self.port.to_string())
            .arg(steps.to_string())
            .output()
            .unwrap();
        assert!(out.status.success(), "cdp.py: {}", String::from_utf8_lossy(&out.stderr));
        // PANEHERD_CDP_TIMES=1: how long each step took.
        eprint!("{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// No horizontal scroll: the page is no wider than the window.
const FITS: &str = "document.documentElement.scrollWidth <= window.innerWidth";

#[test]
fn the_page_in_a_real_browser_lists_cancels_and_fits_a_phone_and_a_desk() {
    let Some(browser) = Browser::start() else { return };
    let mut env = Env::new(&config_with(""));
    env.extra.push(("GIT_CONFIG_GLOBAL".into(), "/dev/null".into()));
    let done = env.submit(&["--agent", "shell", "--title", "build the docs", "--", "echo built"]);
    env.wait_status(&done, "completed", Duration::from_secs(10));
    let running = env.submit(&["--agent", "shell", "--title", "a long refactor", "--", "sleep 60"]);
    env.wait_status(&running, "running", Duration::from_secs(10));
    let web = Web::start(&env, &[]);
    let shots = std::env::var("PANEHERD_WEB_SHOTS").ok();
    let shot = |name: &str| {
        let dir = shots.clone().unwrap_or_else(|| env.path().display().to_string());
        serde_json::json!({ "shot": format!("{dir}/{name}") })
    };
    let row = |id: &str| format!(".task[data-id=\"{id}\"]");
    let r = browser.steps(serde_json::json!([
        {"size": [1280, 800]},
        {"goto": format!("{}/?token={}", web.base, web.token)},
        {"wait": format!("document.querySelector('{}')", row(&done).replace('\'', "\\'"))},
        {"eval": format!("document.querySelector('{}').textContent", row(&done).replace('\'', "\\'"))},
        {"eval": "location.search"},
        {"eval": FITS},
        {"click": row(&running)},
        {"wait": "[...document.querySelectorAll('#detail button')].some(b => b.textContent === 'Cancel')"},
        shot("web-1280x800.png"),
        {"click": "#detail button.danger"},
        {"wait": format!("document.querySelector('{} .glyph')?.getAttribute('aria-label') === 'cancelled'", row(&running).replace('\'', "\\'")), "timeout": 10},
    ]));
    let text = r[3].as_str().unwrap();
    assert!(text.contains("build the docs") && text.contains("built"), "the row: {text}");
    assert_eq!(r[4], "", "the token left the address");
    assert_eq!(r[5], true, "no horizontal scroll at 1280×800");
    assert_eq!(r[7], true, "the running task's detail offers Cancel");
    assert_eq!(r[10], true, "the list saw it cancelled, by its event");
    env.wait_status(&running, "cancelled", Duration::from_secs(10));
    // A phone: the list, then a task's detail over it; neither scrolls sideways.
    let r = browser.steps(serde_json::json!([
        {"size": [360, 740]},
        {"goto": format!("{}/", web.base)},
        {"wait": format!("document.querySelector('{}')", row(&done).replace('\'', "\\'"))},
        {"eval": FITS},
        {"click": row(&done)},
        {"wait": "!document.getElementById('detail').hidden && document.querySelector('#detail pre')?.textContent === 'built'"},
        {"eval": FITS},
        shot("web-360x740.png"),
        {"eval": "getComputedStyle(document.querySelector('#detail .back')).display !== 'none'"},
    ]));
    assert_eq!(r[3], true, "no horizontal scroll at 360×740");
    assert_eq!(r[5], true, "the result shows");
    assert_eq!(r[6], true, "the detail fits 360 px too");
    assert_eq!(r[8], true, "a way back to the list on a phone");

    // Output as a terminal left it (colours gone); more as it comes (its output events); a
    // worktree task's changes.
    let colours = env.submit(&[
        "--agent",
        "shell",
        "--",
        "printf '\\033[31mred\\033[0m plain\\n'; sleep 2; echo later; sleep 60",
    ]);
    let repo = env.path().join("repo");
    common::git_repo(&repo);
    let cwd = repo.display().to_string();
    let wt =
        env.submit(&["--agent", "shell", "--worktree", "--cwd", &cwd, "--", "echo new > new.txt"]);
    env.wait_status(&wt, "completed", Duration::from_secs(15));
    let red = "document.querySelector('#detail pre.output')?.textContent.startsWith('red plain')";
    let r = browser.steps(serde_json::json!([
        {"size": [1280, 800]},
        {"goto": format!("{}/#{colours}", web.base)},
        {"wait": red},
        {"eval": "document.querySelector('#detail pre.output').textContent.includes('\\u001b')"},
        {"wait": "document.querySelector('#detail pre.output').textContent.includes('later')", "timeout": 10},
        {"click": row(&wt)},
        {"wait": "document.querySelector('#detail details.changes summary')"},
        {"click": "#detail details.changes summary"},
        {"wait": "[...document.querySelectorAll('#detail .d-add')].some(s => s.textContent === '+new')", "timeout": 10},
        {"eval": FITS},
    ]));
    assert_eq!(r[2], true, "its output as a terminal showed it");
    assert_eq!(r[3], false, "no escape sequence left in the text");
    assert_eq!(r[4], true, "its later output came");
    assert_eq!(r[8], true, "the worktree's diff, its added line coloured");
    assert_eq!(r[9], true, "the diff fits too");
    let _ = env.run(&["cancel", &colours]);
}

/// The answer to a pane agent's question, from the page's API: typed into its pane byte for
/// byte (nothing in it read as a key name, an option or by a shell), then Enter.
#[test]
fn an_answer_from_the_web_reaches_the_agent_in_its_pane() {
    let env = Env::new(&config_with(""));
    let tmux = common::tmux::Tmux::start(&env, 120, 35, "sh", &[]);
    let id =
        tmux.run_from(&env, &["--agent", "shell", "--", "read -p 'deploy? ' a; echo \"got [$a]\""]);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let t = env.task(&id);
        if t["needs_input"].is_string() {
            break;
        }
        assert!(Instant::now() < deadline, "never needed input: {t:#}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let web = Web::start(&env, &[]);
    let answer = r#"{"text":"-l yes; $(touch pwned) Enter C-c"}"#;
    let args = ["-X", "POST", "-H", "Content-Type: application/json", "-d", answer];
    let auth = web.bearer();
    let mut with_auth: Vec<&str> = args.to_vec();
    with_auth.extend(["-H", &auth]);
    let (code, body) = web.curl(&with_auth, &format!("/api/tasks/{id}/input"));
    assert_eq!(code, 200, "{body}");
    let t = env.wait_status(&id, "completed", Duration::from_secs(10));
    assert_eq!(
        t["result"].as_str().unwrap().lines().last().unwrap(),
        "got [-l yes; $(touch pwned) Enter C-c]"
    );
    assert!(!env.path().join("pwned").exists());
    // Control characters are refused, said why.
    let mut bad: Vec<&str> =
        ["-X", "POST", "-H", "Content-Type: application/json", "-d", r#"{"text":"a\u0003"}"#]
            .to_vec();
    bad.extend(["-H", &auth]);
    let (code, body) = web.curl(&bad, &format!("/api/tasks/{id}/input"));
    assert_eq!(code, 400);
    assert!(body.contains("control character") || body.contains("is completed"), "{body}");
}

/// The stream of `path` (Server-Sent Events): each `data:` line as JSON, with when it came.
fn sse(web: &Web, path: &str) -> (Child, std::sync::mpsc::Receiver<(Instant, serde_json::Value)>) {
    let mut curl = Command::new("curl")
        .args(["-sN", "-H", &web.bearer(), &format!("{}{path}", web.base)])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = BufReader::new(curl.stdout.take().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in lines.lines() {
            let Ok(line) = line else { break };
            let Some(data) = line.strip_prefix("data: ") else { continue };
            if tx.send((Instant::now(), serde_json::from_str(data).unwrap())).is_err() {
                break;
            }
        }
    });
    (curl, rx)
}

/// How many sockets process `pid` holds.
fn sockets(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|l| l.to_string_lossy().starts_with("socket:"))
        .count()
}

/// The list's stream carries no `output` events (most of the events under load, and the list
/// needs none); a page watching one task's output gets that task's, and no other's.
#[test]
fn a_page_watching_a_task_gets_its_output_and_the_list_none() {
    let env = Env::new(&config_with(""));
    let web = Web::start(&env, &[]);
    let printing = "for i in 1 2 3 4 5 6 7 8; do echo line $i; sleep 0.3; done";
    let watched = env.submit(&["--agent", "shell", "--", printing]);
    let other = env.submit(&["--agent", "shell", "--", printing]);
    let (mut list, list_rx) = sse(&web, "/api/events");
    std::thread::sleep(Duration::from_millis(300));
    let unwatched = sockets(web.child.id());
    let (mut out, out_rx) = sse(&web, &format!("/api/tasks/{watched}/output"));
    env.wait_status(&watched, "completed", Duration::from_secs(15));
    env.wait_status(&other, "completed", Duration::from_secs(15));
    std::thread::sleep(Duration::from_millis(300));
    // Watching: its HTTP connection and the daemon connection of the output events.
    assert_eq!(sockets(web.child.id()), unwatched + 2);
    let _ = out.kill();
    let _ = out.wait();
    // The last page gone: both closed (the next event or keep-alive finds it gone).
    let deadline = Instant::now() + Duration::from_secs(20);
    let printer =
        env.submit(&["--agent", "shell", "--", "for i in $(seq 40); do echo $i; sleep 0.5; done"]);
    while sockets(web.child.id()) != unwatched {
        assert!(Instant::now() < deadline, "the output connection stayed open");
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = env.run(&["cancel", &printer]);
    let _ = list.kill();
    let _ = list.wait();
    let list: Vec<serde_json::Value> = list_rx.try_iter().map(|(_, v)| v).collect();
    let outputs: Vec<serde_json::Value> = out_rx.try_iter().map(|(_, v)| v).collect();
    assert!(
        list.iter().any(|e| e["kind"] == "task_changed" && e["task"]["id"] == watched.as_str()),
        "the list heard of it: {list:?}"
    );
    assert!(list.iter().all(|e| e["kind"] != "output"), "no output events for the list: {list:?}");
    assert!(!outputs.is_empty(), "its output was told to the page watching it");
    assert!(
        outputs.iter().all(|e| e["kind"] == "output" && e["id"] == watched.as_str()),
        "only its own: {outputs:?}"
    );
    assert_eq!(web.curl(&["-H", &web.bearer()], "/api/tasks/nope/output").0, 404);
    // The daemon's own protocol: a subscription without output events gets none.
    let quiet = env.cmd(&["events", "--json", "--no-output"]).stdout(Stdio::piped()).spawn();
    let mut quiet = quiet.unwrap();
    let lines = BufReader::new(quiet.stdout.take().unwrap());
    let printer = env.submit(&["--agent", "shell", "--", printing]);
    env.wait_status(&printer, "completed", Duration::from_secs(15));
    std::thread::sleep(Duration::from_millis(300));
    let _ = quiet.kill();
    let _ = quiet.wait();
    let seen: Vec<String> = lines.lines().map_while(Result::ok).collect();
    assert!(seen.iter().any(|l| l.contains(&printer)), "{seen:?}");
    assert!(seen.iter().all(|l| !l.contains("\"kind\":\"output\"")), "{seen:?}");
}

/// A worktree task's changes, as a patch; a task without a worktree says it has none.
#[test]
fn a_worktree_tasks_diff_is_served() {
    let mut env = Env::new(&config_with(""));
    env.extra.push(("GIT_CONFIG_GLOBAL".into(), "/dev/null".into()));
    let repo = env.path().join("repo");
    common::git_repo(&repo);
    let cwd = repo.display().to_string();
    let id = env.submit(&[
        "--agent",
        "shell",
        "--worktree",
        "--cwd",
        &cwd,
        "--",
        "echo new > new.txt; echo b >> a.txt",
    ]);
    env.wait_status(&id, "completed", Duration::from_secs(15));
    let plain = env.submit(&["--agent", "shell", "--", "true"]);
    env.wait_status(&plain, "completed", Duration::from_secs(15));
    let web = Web::start(&env, &[]);
    let (code, patch) = web.curl(&["-H", &web.bearer()], &format!("/api/tasks/{id}/diff"));
    assert_eq!(code, 200, "{patch}");
    assert!(patch.contains("+++ b/new.txt") && patch.contains("\n+new"), "{patch}");
    assert!(patch.contains("+++ b/a.txt") && patch.contains("\n+b"), "{patch}");
    let (code, body) = web.curl(&["-H", &web.bearer()], &format!("/api/tasks/{plain}/diff"));
    assert_eq!(code, 400);
    assert!(body.contains("has no worktree"), "{body}");
    // Its worktree discarded (its uncommitted work with it): what its branch holds, nothing.
    env.ok(&["discard", &id, "--force"]);
    let (code, body) = web.curl(&["-H", &web.bearer()], &format!("/api/tasks/{id}/diff"));
    assert_eq!((code, body.trim()), (200, ""));
}

/// A token of one's own must be long, and fit a URL, a header and a cookie as it is.
#[test]
fn a_token_too_short_or_with_odd_characters_is_refused() {
    let env = Env::new(&config_with(""));
    for (token, said) in [
        ("short", "at least 16 characters"),
        ("0123456789abcdef; Path=/evil", "';' is not allowed"),
        ("0123456789abcdef\r\nX: y", "'\\r' is not allowed"),
    ] {
        let out = env
            .cmd(&["web", "--listen", "127.0.0.1:0"])
            .env("PANEHERD_WEB_TOKEN", token)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{token:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(said), "{token:?}: {err}");
    }
}
