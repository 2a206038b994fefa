//! A private OpenSSH server on 127.0.0.1 for the host tests: its own host key, config and
//! authorized key in a temp dir; it logs in a second local user (`paneherd-remote`, made when
//! missing — as root) or, when the tests do not run as root, the user itself. Either way the
//! "remote" gets its own HOME and paneherd dirs (sshd's `SetEnv`), so the two sides share
//! nothing but the network. The local side reaches it as host `box` through an ssh config
//! file of its own (`ssh -F`), with the server's key in its own known_hosts.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const REMOTE_USER: &str = "paneherd-remote";
const SSHD: &str = "/usr/sbin/sshd";

pub struct Sshd {
    dir: tempfile::TempDir,
    pub port: u16,
    child: Option<Child>,
    pub user: String,
    /// The remote's HOME (its paneherd dirs are in it).
    pub home: PathBuf,
}

fn run(cmd: &mut Command) -> bool {
    cmd.stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
}

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// The user the server logs in: the second user (made if need be) as root, else oneself.
fn login_user() -> Option<String> {
    if !is_root() {
        return std::env::var("USER").ok().or_else(|| {
            nix::unistd::User::from_uid(nix::unistd::getuid()).ok().flatten().map(|u| u.name)
        });
    }
    // One test at a time makes the user (useradd locks /etc/passwd).
    static MAKING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = MAKING.lock().unwrap_or_else(|e| e.into_inner());
    if nix::unistd::User::from_name(REMOTE_USER).ok().flatten().is_none() {
        // `-p '*'`: no password, yet not a locked account (sshd refuses those).
        let made = run(Command::new("useradd").args([
            "--create-home",
            "--shell",
            "/bin/sh",
            "-p",
            "*",
            REMOTE_USER,
        ]));
        assert!(made, "useradd {REMOTE_USER} failed");
    }
    let user = nix::unistd::User::from_name(REMOTE_USER).ok().flatten();
    Some(user.expect("the remote user, just made").name)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Sshd {
    /// Starts the server; `path_there`: directories put first on the remote's `PATH` (the
    /// built paneherd, or none when a test installs it with `hosts setup`). `None` (and why,
    /// said on stderr) when OpenSSH's server is not installed here.
    pub fn start(path_there: &[&Path]) -> Option<Sshd> {
        if !Path::new(SSHD).exists() {
            // `.ci/run` installs it: in CI its absence is a failure, not a skip.
            assert!(
                std::env::var_os("CI").is_none(),
                "no {SSHD}: .ci/run should have installed it"
            );
            eprintln!("skipped: no {SSHD} (Debian's openssh-server; .ci/run installs it)");
            return None;
        }
        let user = login_user()?;
        let dir = tempfile::Builder::new().prefix("paneherd-sshd").tempdir().unwrap();
        // The remote user walks into its home under it.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let home = dir.path().join("remote");
        std::fs::create_dir_all(&home).unwrap();
        if is_root() {
            run(Command::new("chown").arg(&user).arg(&home));
            // Privilege separation needs it (a container may lack it).
            let _ = std::fs::create_dir_all("/run/sshd");
        }
        let keygen = |name: &str| {
            let key = dir.path().join(name);
            assert!(run(Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-f"])
                .arg(&key)));
            key
        };
        let host_key = keygen("host_key");
        let user_key = keygen("user_key");
        std::fs::copy(dir.path().join("user_key.pub"), dir.path().join("authorized_keys")).unwrap();
        std::fs::set_permissions(
            dir.path().join("authorized_keys"),
            std::fs::Permissions::from_mode(0o644),
        )
        .unwrap();
        let mut path: Vec<String> = path_there.iter().map(|p| p.display().to_string()).collect();
        path.extend(["/usr/local/bin", "/usr/bin", "/bin"].map(String::from));
        let port = free_port();
        let r = |d: &str| home.join(d).display().to_string();
        let config = format!(
            "ListenAddress 127.0.0.1\nPort {port}\nHostKey {hk}\nPidFile {pid}\n\
             AuthorizedKeysFile {ak}\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n\
             UsePAM no\nStrictModes no\nAllowUsers {user}\n\
             SetEnv HOME={home} PANEHERD_DATA_DIR={data} PANEHERD_RUNTIME_DIR={rt} \
             PANEHERD_CONFIG={cfg} PATH={path}\n",
            hk = host_key.display(),
            pid = dir.path().join("sshd.pid").display(),
            ak = dir.path().join("authorized_keys").display(),
            home = home.display(),
            data = r("data"),
            rt = r("rt"),
            cfg = r("config.toml"),
            path = path.join(":"),
        );
        std::fs::write(dir.path().join("sshd_config"), config).unwrap();
        let pub_key = std::fs::read_to_string(dir.path().join("host_key.pub")).unwrap();
        let key_only: Vec<&str> = pub_key.split_whitespace().take(2).collect();
        std::fs::write(
            dir.path().join("known_hosts"),
            format!("[127.0.0.1]:{port} {}\n", key_only.join(" ")),
        )
        .unwrap();
        std::fs::write(
            dir.path().join("ssh_config"),
            format!(
                "Host box\n  HostName 127.0.0.1\n  Port {port}\n  User {user}\n  IdentityFile {key}\n  \
                 IdentitiesOnly yes\n  UserKnownHostsFile {known}\n  GlobalKnownHostsFile /dev/null\n  \
                 StrictHostKeyChecking yes\n",
                key = user_key.display(),
                known = dir.path().join("known_hosts").display(),
            ),
        )
        .unwrap();
        let mut s = Sshd { dir, port, child: None, user, home };
        s.restart();
        Some(s)
    }

    /// The `[hosts.box]` table that reaches this server.
    pub fn host_toml(&self) -> String {
        format!(
            "[hosts.box]\nssh = \"box\"\nssh_args = [\"-F\", \"{}\"]\n",
            self.ssh_config().display()
        )
    }

    pub fn ssh_config(&self) -> PathBuf {
        self.dir.path().join("ssh_config")
    }

    pub fn known_hosts(&self) -> PathBuf {
        self.dir.path().join("known_hosts")
    }

    /// Stops the server (its listener: sessions already open go on).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it (again) on the same port, and waits until it accepts connections.
    pub fn restart(&mut self) {
        self.stop();
        let child = Command::new(SSHD)
            .args(["-D", "-e", "-f"])
            .arg(self.dir.path().join("sshd_config"))
            .stderr(std::fs::File::create(self.dir.path().join("sshd.log")).unwrap())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "sshd did not start: {}", self.log());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("sshd.log")).unwrap_or_default()
    }

    /// The pid of the paneherd daemon running there, if one does.
    pub fn remote_daemon(&self) -> Option<i32> {
        let s = std::fs::read_to_string(self.home.join("data/daemon.lock")).ok()?;
        let pid: i32 = s.trim().parse().ok()?;
        super::pid_alive(pid as i64).then_some(pid)
    }

    /// Runs `paneherd ARGS` there as the remote user would, in its environment.
    pub fn paneherd_there(&self, args: &[&str]) -> std::process::Output {
        let mut c = Command::new("ssh");
        c.arg("-F").arg(self.ssh_config()).args([
            "-T",
            "-o",
            "BatchMode=yes",
            "box",
            "paneherd-full",
        ]);
        c.args(args);
        c.output().unwrap()
    }
}

/// Every process that names `dir` in its command line or environment (the remote's daemon,
/// the tmux server it made, that server's panes and agents): what a test leaves behind there.
fn processes_of(dir: &Path) -> Vec<i32> {
    let needle = dir.to_string_lossy().into_owned().into_bytes();
    let me = std::process::id() as i32;
    let mut found = vec![];
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else { continue };
        if pid == me {
            continue;
        }
        let names = |f: &str| {
            std::fs::read(e.path().join(f))
                .is_ok_and(|b| b.windows(needle.len()).any(|w| w == needle.as_slice()))
        };
        if names("cmdline") || names("environ") {
            found.push(pid);
        }
    }
    found
}

impl Drop for Sshd {
    fn drop(&mut self) {
        self.stop();
        // Twice: a dashboard there may start a daemon again between the two looks.
        for _ in 0..2 {
            for pid in processes_of(self.dir.path()) {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}
