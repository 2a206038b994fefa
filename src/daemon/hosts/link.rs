//! One host's link: `ssh -M … paneherd-full dial` — the host's one long-lived ssh process,
//! whose control socket other sessions share — with paneherd's own protocol through it to the
//! daemon there (started on demand by `dial`). The loop hands tasks over (each with its id
//! here, so that handing one over twice is harmless), follows them by event, and when the
//! connection drops, reconnects with backoff and catches up on every task it follows: an end
//! that came meanwhile is reported then, once.

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::AsyncBufReadExt;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::client::ClientError;
use crate::client::mux::Mux;
use crate::core::hosts::{Host, HostJob, HostReport, LinkState};
use crate::core::task::{Task, TaskSpec, TmuxOrigin};
use crate::engine::Input;
use crate::proto::{ErrorKind, Event, ask};
use crate::runner::programs::{self, SshRole};

/// Reconnection waits from this, doubling, up to `BACKOFF_MAX`.
const BACKOFF_MIN: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// How often a connected link asks the host something (its latency; a dead link found).
const PING_EVERY: Duration = Duration::from_secs(30);

type Report = Arc<dyn Fn(Input) + Send + Sync>;

/// A task the link follows.
#[derive(Debug, Default)]
struct Followed {
    /// Still to hand over (the host has not said it has it).
    spec: Option<Box<TaskSpec>>,
    /// Asked to cancel it (asked again after a reconnection, until it ends).
    cancel: bool,
}

/// Starts the link's loop; jobs go to the returned sender.
pub fn spawn(
    host: Host,
    control_dir: PathBuf,
    conns: super::Connections,
    report: Report,
) -> mpsc::UnboundedSender<HostJob> {
    let (tx, rx) = mpsc::unbounded_channel();
    let control = host.control(&control_dir);
    tokio::spawn(run(host, control, rx, conns, report));
    tx
}

/// Takes a job into the followed tasks; returns the task's id (none: the job opens the link).
fn take(tasks: &mut BTreeMap<String, Followed>, job: HostJob) -> Option<String> {
    match job {
        HostJob::Submit { id, spec, .. } => {
            tasks.entry(id.clone()).or_default().spec = Some(spec);
            Some(id)
        }
        HostJob::Watch { id, .. } => {
            tasks.entry(id.clone()).or_default();
            Some(id)
        }
        HostJob::Cancel { id, .. } => {
            tasks.entry(id.clone()).or_default().cancel = true;
            Some(id)
        }
        HostJob::Connect { .. } | HostJob::Attach { .. } => None,
    }
}

async fn run(
    host: Host,
    control: PathBuf,
    mut jobs: mpsc::UnboundedReceiver<HostJob>,
    conns: super::Connections,
    report: Report,
) {
    let mut tasks: BTreeMap<String, Followed> = BTreeMap::new();
    let mut backoff = BACKOFF_MIN;
    let state = |report: &Report, s: LinkState| {
        report(Input::HostLink { host: host.name.clone(), state: s });
    };
    loop {
        let why = match Conn::open(&host, &control).await {
            Ok(conn) => {
                backoff = BACKOFF_MIN;
                let version = Some(conn.mux.welcome.version.clone());
                state(
                    &report,
                    LinkState { reachable: true, version: version.clone(), ..Default::default() },
                );
                conns.set(&host.name, Some(conn.mux.clone()));
                let why = serve(&host, conn, &mut tasks, &mut jobs, &report).await;
                conns.set(&host.name, None);
                if jobs.is_closed() && why.is_none() {
                    return;
                }
                tracing::warn!(host = %host.name, "connection lost: {}", why.as_deref().unwrap_or("?"));
                why.unwrap_or_else(|| "the connection was lost".into())
            }
            Err(why) => why,
        };
        state(
            &report,
            LinkState { reachable: false, error: Some(why.clone()), ..Default::default() },
        );
        let waiting = |tasks: &BTreeMap<String, Followed>, id: &str| {
            if tasks.get(id).is_some_and(|f| f.spec.is_some()) {
                let why = format!("waiting for host {}: {why}", host.name);
                report(Input::Host(HostReport::Waiting { id: id.to_string(), why }));
            }
        };
        for id in tasks.keys() {
            waiting(&tasks, id);
        }
        // Wait out the backoff; a job meanwhile is taken (a submission is told it waits).
        let until = Instant::now() + backoff;
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(until) => break,
                job = jobs.recv() => match job {
                    None => return,
                    Some(job) => {
                        if let Some(id) = take(&mut tasks, job) {
                            waiting(&tasks, &id);
                        }
                    }
                },
            }
        }
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

/// A connection to the host's daemon.
struct Conn {
    child: tokio::process::Child,
    mux: Arc<Mux>,
    events: mpsc::UnboundedReceiver<Event>,
    /// The last lines ssh (or the shell there) wrote on its standard error.
    said: Arc<Mutex<VecDeque<String>>>,
}

impl Conn {
    async fn open(host: &Host, control: &Path) -> Result<Conn, String> {
        // A socket a previous daemon's ssh left: ssh would refuse to make it again.
        let _ = std::fs::remove_file(control);
        let dial = programs::paneherd_there(host, &["dial"]);
        let mut cmd = programs::async_command(programs::ssh(host, control, SshRole::Master, &dial));
        cmd.stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child =
            cmd.spawn().map_err(|e| format!("cannot run ssh: {e} (is OpenSSH installed?)"))?;
        let (Some(stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err("ssh's standard streams could not be had".into());
        };
        let said = Arc::new(Mutex::new(VecDeque::new()));
        let keep = said.clone();
        tokio::spawn(async move {
            let mut lines = tokio::io::BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if let Ok(mut s) = keep.lock() {
                    if s.len() == 8 {
                        s.pop_front();
                    }
                    s.push_back(line);
                }
            }
        });
        let me = format!("host-link {}", env!("CARGO_PKG_VERSION"));
        match Mux::handshake(stdout, stdin, &me).await {
            Ok((mux, events)) => {
                if mux.welcome.protocol != crate::proto::PROTOCOL_VERSION {
                    return Err(format!(
                        "paneherd {} there speaks protocol {}, this one {}: `paneherd hosts setup {}` installs this version there",
                        mux.welcome.version,
                        mux.welcome.protocol,
                        crate::proto::PROTOCOL_VERSION,
                        host.name
                    ));
                }
                Ok(Conn { child, mux: Arc::new(mux), events, said })
            }
            Err(e) => Err(ended(host, &mut child, &said, &e).await),
        }
    }

    /// Why the connection closed, in ssh's words when it said any.
    async fn closed(&mut self, host: &Host) -> String {
        let e = ClientError::Unreachable("the connection closed".into());
        ended(host, &mut self.child, &self.said, &e).await
    }
}

/// What became of an ssh that ended (or failed its handshake with `e`): its exit and last
/// words, explained.
async fn ended(
    host: &Host,
    child: &mut tokio::process::Child,
    said: &Mutex<VecDeque<String>>,
    e: &ClientError,
) -> String {
    let status = tokio::time::timeout(Duration::from_secs(3), child.wait()).await;
    let code = status.ok().and_then(Result::ok).and_then(|s| s.code());
    let said: Vec<String> = said.lock().map(|s| s.iter().cloned().collect()).unwrap_or_default();
    explain(host, code, &said, e)
}

/// What a failed connection means, for the user: ssh's own last words, and what to do.
fn explain(host: &Host, code: Option<i32>, said: &[String], e: &ClientError) -> String {
    let last = said.iter().rev().find(|l| !l.trim().is_empty()).map(|l| l.trim().to_string());
    let all = said.join(" ");
    if all.contains("Host key verification failed")
        || all.contains("REMOTE HOST IDENTIFICATION HAS CHANGED")
    {
        return format!(
            "ssh {}: host key verification failed — its key is not the one in your known_hosts (check it, then fix known_hosts)",
            host.ssh
        );
    }
    if code == Some(127)
        || all.contains("paneherd-full: not found")
        || all.contains("paneherd-full: command not found")
    {
        return format!(
            "paneherd is not installed on {} (`paneherd hosts setup {}` installs it)",
            host.name, host.name
        );
    }
    match (code, last) {
        (Some(255), Some(l)) => format!("ssh {}: {l}", host.ssh),
        (_, Some(l)) => format!("{l} ({e})"),
        (Some(c), None) => format!("ssh {} exited with {c} ({e})", host.ssh),
        (None, None) => e.to_string(),
    }
}

/// Serves a connection until it drops: returns why (`None`: the daemon is stopping).
async fn serve(
    host: &Host,
    mut conn: Conn,
    tasks: &mut BTreeMap<String, Followed>,
    jobs: &mut mpsc::UnboundedReceiver<HostJob>,
    report: &Report,
) -> Option<String> {
    let mux = conn.mux.clone();
    let asked = Instant::now();
    if let Err(e) = mux.ask(ask::Subscribe { no_output: false }).await {
        return Some(e.to_string());
    }
    report(Input::HostLink {
        host: host.name.clone(),
        state: LinkState {
            reachable: true,
            version: Some(mux.welcome.version.clone()),
            error: None,
            latency_ms: Some(asked.elapsed().as_millis() as u64),
        },
    });
    // Where its tasks run there: beside its daemon's own tmux session (none: headless; an
    // older paneherd there does not know the question).
    let there = match mux.ask(ask::HostTmux).await {
        Ok(t) => t,
        Err(ClientError::Daemon(_)) => None,
        Err(e) => return Some(e.to_string()),
    };

    // Catch up on every task followed: handed over, still running, or ended meanwhile.
    let ids: Vec<String> = tasks.keys().cloned().collect();
    for id in ids {
        if let Err(e) = sync(host, &mux, &there, &id, tasks, report).await {
            return Some(e);
        }
    }
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.tick().await;
    loop {
        tokio::select! {
            job = jobs.recv() => {
                let job = job?;
                let Some(id) = take(tasks, job) else { continue };
                if let Err(e) = sync(host, &mux, &there, &id, tasks, report).await {
                    return Some(e);
                }
            }
            ev = conn.events.recv() => match ev {
                None => return Some(conn.closed(host).await),
                Some(Event::TaskCreated { task } | Event::TaskChanged { task }) => {
                    let handed = tasks.get(&task.id).is_some_and(|f| f.spec.is_none());
                    if !handed {
                        continue;
                    }
                    if task.status.is_terminal() {
                        if let Err(e) = finish(&mux, &task.id, tasks, report).await {
                            return Some(e);
                        }
                    } else {
                        report(Input::Host(HostReport::Changed { id: task.id.clone(), task }));
                    }
                }
                Some(Event::Output { id, bytes, .. }) if tasks.contains_key(&id) => {
                    report(Input::Host(HostReport::Output { id, bytes }));
                }
                // Events were missed: ask again about every task followed.
                Some(Event::Lagged { .. }) => {
                    let ids: Vec<String> = tasks.keys().cloned().collect();
                    for id in ids {
                        if let Err(e) = sync(host, &mux, &there, &id, tasks, report).await {
                            return Some(e);
                        }
                    }
                }
                Some(_) => {}
            },
            _ = ping.tick() => {
                let t = Instant::now();
                match mux.ask(ask::Status { main: None }).await {
                    Ok(_) => {
                        let latency_ms = Some(t.elapsed().as_millis() as u64);
                        let version = Some(mux.welcome.version.clone());
                        report(Input::HostLink {
                            host: host.name.clone(),
                            state: LinkState { reachable: true, version, error: None, latency_ms },
                        });
                    }
                    Err(e) => return Some(e.to_string()),
                }
            }
        }
    }
}

/// Brings one followed task up to date with the host: hands it over if it is still to be,
/// asks for it to be cancelled if it was, and reports how it is there. An error: the
/// connection failed (the task stays followed).
async fn sync(
    host: &Host,
    mux: &Arc<Mux>,
    there: &Option<TmuxOrigin>,
    id: &str,
    tasks: &mut BTreeMap<String, Followed>,
    report: &Report,
) -> Result<(), String> {
    let Some(f) = tasks.get_mut(id) else { return Ok(()) };
    if let Some(spec) = f.spec.clone() {
        let mut spec = *spec;
        spec.id = Some(id.to_string());
        if spec.cwd.is_none() {
            spec.client_cwd = mux.welcome.home.clone();
        }
        spec.tmux = there.clone();
        match mux.ask(ask::Submit { spec: Box::new(spec) }).await {
            Ok(task) => {
                f.spec = None;
                report(Input::Host(HostReport::Changed {
                    id: id.to_string(),
                    task: Box::new(task),
                }));
            }
            // Handed over before (the reply was lost with the connection): follow it.
            Err(ClientError::Daemon(e)) if e.kind == ErrorKind::Exists => f.spec = None,
            Err(ClientError::Daemon(e)) => {
                tasks.remove(id);
                let why = format!("host {} refused it: {}", host.name, e.message);
                report(Input::Host(HostReport::Refused { id: id.to_string(), why }));
                return Ok(());
            }
            Err(e) => return Err(e.to_string()),
        }
    }
    if tasks.get(id).is_some_and(|f| f.cancel) {
        // Answered only once the task has ended: not waited for here.
        let (m, ids) = (mux.clone(), vec![id.to_string()]);
        tokio::spawn(async move {
            if let Err(e) = m.ask(ask::Cancel { ids, all: false }).await {
                tracing::warn!(error = %e, "cancel on a host");
            }
        });
    }
    match mux.ask(ask::Get { id: id.to_string() }).await {
        Ok(Some(task)) if task.status.is_terminal() => finish(mux, id, tasks, report).await,
        Ok(Some(task)) => {
            report(Input::Host(HostReport::Changed { id: id.to_string(), task: Box::new(task) }));
            Ok(())
        }
        Ok(None) | Err(ClientError::Daemon(_)) => {
            tasks.remove(id);
            let why = format!(
                "host {} has no record of it (was its paneherd data dir changed or removed?)",
                host.name
            );
            report(Input::Host(HostReport::Refused { id: id.to_string(), why }));
            Ok(())
        }
        Err(e) => Err(e.to_string()),
    }
}

/// A followed task ended there: its result is read there and reported with its record.
async fn finish(
    mux: &Arc<Mux>,
    id: &str,
    tasks: &mut BTreeMap<String, Followed>,
    report: &Report,
) -> Result<(), String> {
    let out = mux
        .ask(ask::Output {
            id: id.to_string(),
            wait: false,
            timeout_ms: None,
            full: false,
            deliver: false,
        })
        .await
        .map_err(|e| e.to_string())?;
    tasks.remove(id);
    let task: Box<Task> = Box::new(out.task);
    report(Input::Host(HostReport::Ended { id: id.to_string(), task, result: out.result }));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host() -> Host {
        Host { name: "box".into(), ssh: "ssh://me@box".into(), ssh_args: vec![], data_dir: None }
    }

    #[test]
    fn a_failed_connection_is_said_with_ssh_s_words_and_what_to_do() {
        let closed = ClientError::Unreachable("the daemon closed the connection".into());
        let said = |lines: &[&str]| lines.iter().map(|l| l.to_string()).collect::<Vec<_>>();
        // (exit code, what ssh wrote) → what the user reads.
        let cases: [(Option<i32>, Vec<String>, &str); 5] = [
            (
                Some(255),
                said(&["@@@@@@@", "Host key verification failed."]),
                "ssh ssh://me@box: host key verification failed — its key is not the one in your known_hosts",
            ),
            (
                Some(127),
                said(&["sh: 1: exec: paneherd-full: not found"]),
                "paneherd is not installed on box (`paneherd hosts setup box` installs it)",
            ),
            (
                Some(255),
                said(&["ssh: connect to host box port 22: Connection refused"]),
                "ssh ssh://me@box: ssh: connect to host box port 22: Connection refused",
            ),
            (Some(1), vec![], "ssh ssh://me@box exited with 1 (the daemon closed the connection)"),
            (None, vec![], "the daemon closed the connection"),
        ];
        for (code, lines, want) in cases {
            let got = explain(&host(), code, &lines, &closed);
            assert!(got.starts_with(want), "{code:?} {lines:?}: {got}");
        }
    }
}
