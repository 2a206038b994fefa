//! A git worktree per task, against real git repositories in temp dirs (HOME and
//! GIT_CONFIG_GLOBAL are the test's, so no user config is read): parallel agents editing the
//! same file in their own worktrees, merges (the second conflicting, the repository left as it
//! was), discard's refusals and what it allows, `.worktreeinclude`, a failing `worktree_setup`,
//! retry in the same worktree, `--worktree` outside a repository, `diff --stat` against git's.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use common::{BIN, Env, config_with};
use serde_json::Value;

struct Repo {
    env: Env,
    repo: PathBuf,
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

impl Repo {
    fn new(extra_config: &str) -> Repo {
        let mut env = Env::new(&config_with(extra_config));
        let gitconfig = env.path().join("home/.gitconfig");
        std::fs::write(
            &gitconfig,
            "[user]\n\tname = Test\n\temail = test@example.com\n[init]\n\tdefaultBranch = main\n",
        )
        .unwrap();
        env.extra.push(("GIT_CONFIG_GLOBAL".into(), gitconfig.display().to_string()));
        env.extra.push(("GIT_CONFIG_NOSYSTEM".into(), "1".into()));
        let repo = env.path().join("app");
        std::fs::create_dir_all(repo.join("src")).unwrap();
        let r = Repo { env, repo };
        r.git(&["init", "-q"]);
        std::fs::write(r.repo.join("shared.txt"), "one\ntwo\nthree\n").unwrap();
        std::fs::write(r.repo.join("src/lib.rs"), "pub fn f() {}\n").unwrap();
        r.git(&["add", "-A"]);
        r.git(&["commit", "-qm", "init"]);
        r
    }

    fn git(&self, args: &[&str]) -> String {
        self.git_in(&self.repo, args)
    }

    fn git_in(&self, dir: &Path, args: &[&str]) -> String {
        let mut c = Command::new("git");
        c.arg("-C").arg(dir).args(args);
        self.env.apply(&mut c);
        let out = c.output().unwrap();
        assert!(out.status.success(), "git {args:?}: {}", text(&out));
        String::from_utf8(out.stdout).unwrap()
    }

    fn paneherd(&self, args: &[&str]) -> Output {
        self.paneherd_in(&self.repo, args)
    }

    fn paneherd_in(&self, dir: &Path, args: &[&str]) -> Output {
        let mut c = Command::new(BIN);
        c.args(args);
        self.env.apply(&mut c);
        c.current_dir(dir);
        c.output().unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.paneherd(args);
        assert!(out.status.success(), "paneherd {args:?}: {}", text(&out));
        String::from_utf8(out.stdout).unwrap()
    }

    fn run(&self, script: &str) -> String {
        self.ok(&["run", "--worktree", "--agent", "shell", "--", script]).trim().to_string()
    }

    fn ended(&self, id: &str) -> Value {
        self.ok(&["wait", id]);
        self.env.task(id)
    }

    /// The repository's state: HEAD, status, and the shared file.
    fn snapshot(&self) -> (String, String, String) {
        (
            self.git(&["rev-parse", "HEAD"]),
            self.git(&["status", "--porcelain", "--untracked-files=all"]),
            std::fs::read_to_string(self.repo.join("shared.txt")).unwrap(),
        )
    }
}

#[test]
fn parallel_agents_edit_the_same_file_and_merge_one_after_the_other() {
    let r = Repo::new("");
    let base = r.git(&["rev-parse", "HEAD"]).trim().to_string();
    let a = r.run(
        "sleep 0.3; printf 'one\\nTWO by a\\nthree\\n' > shared.txt; git add -A; git commit -qm a",
    );
    let b =
        r.run("sleep 0.3; printf 'one\\nTWO by b\\nthree\\n' > shared.txt; echo b > b-only.txt");
    let (ta, tb) = (r.ended(&a), r.ended(&b));
    for (t, id) in [(&ta, &a), (&tb, &b)] {
        assert_eq!(t["status"], "completed", "{t}");
        assert_eq!(t["branch"], id.as_str(), "the branch is named after the task");
        assert_eq!(t["base"], base.as_str());
        assert_eq!(t["repo"], r.repo.display().to_string());
        let wt = PathBuf::from(t["worktree"].as_str().unwrap());
        assert_eq!(wt, r.env.path().join(format!("app.paneherd/{id}")), "beside the repository");
        assert_eq!(t["cwd"], wt.display().to_string(), "the task ran in it");
    }
    // Both results intact, each in its own worktree; the user's checkout untouched.
    let shared = |t: &Value| {
        std::fs::read_to_string(Path::new(t["worktree"].as_str().unwrap()).join("shared.txt"))
            .unwrap()
    };
    assert_eq!(shared(&ta), "one\nTWO by a\nthree\n");
    assert_eq!(shared(&tb), "one\nTWO by b\nthree\n");
    assert_eq!(std::fs::read_to_string(r.repo.join("shared.txt")).unwrap(), "one\ntwo\nthree\n");

    // diff --stat: git's own figures.
    let ours = r.ok(&["diff", &a, "--stat"]);
    let wt_a = PathBuf::from(ta["worktree"].as_str().unwrap());
    assert_eq!(ours, r.git_in(&wt_a, &["diff", "--stat", &base]));
    assert!(r.ok(&["diff", &a]).contains("+TWO by a"));
    // b's uncommitted work and new file count too.
    let stat_b = r.ok(&["diff", &b, "--stat"]);
    assert!(stat_b.contains("b-only.txt") && stat_b.contains("shared.txt"), "{stat_b}");

    // The first merges; the second conflicts, is aborted, and leaves the repository as it was.
    let said = r.ok(&["merge", &a]);
    assert!(said.contains("merged into main"), "{said}");
    assert!(!wt_a.exists(), "its worktree removed after the merge");
    assert!(r.git(&["branch", "--list", &a]).contains(&a), "its branch kept");
    assert_eq!(
        std::fs::read_to_string(r.repo.join("shared.txt")).unwrap(),
        "one\nTWO by a\nthree\n"
    );
    let before = r.snapshot();
    let out = r.paneherd(&["merge", &b]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("conflicts in shared.txt"), "{}", text(&out));
    assert_eq!(r.snapshot(), before, "the repository is exactly as before");
    assert!(!r.repo.join(".git/MERGE_HEAD").exists());
    let note = r.env.task(&b)["worktree_note"].as_str().unwrap().to_string();
    assert!(note.contains("shared.txt"), "the task says what conflicted: {note}");
    assert!(Path::new(tb["worktree"].as_str().unwrap()).is_dir(), "b's worktree stays");

    // A dirty checkout: merge refused before anything is done.
    std::fs::write(r.repo.join("src/lib.rs"), "pub fn g() {}\n").unwrap();
    let out = r.paneherd(&["merge", &b, "--squash"]);
    assert_eq!(out.status.code(), Some(1), "a refusal");
    assert!(text(&out).contains("uncommitted changes"), "{}", text(&out));
}

#[test]
fn discard_never_loses_work() {
    let r = Repo::new("");
    let dirty = r.run("echo wip > wip.txt");
    let unmerged = r.run("echo x > x.txt; git add -A; git commit -qm x");
    let squashed =
        r.run("echo s > s.txt; git add -A; git commit -qm s1; echo t >> s.txt; git commit -qam s2");
    for id in [&dirty, &unmerged, &squashed] {
        r.ended(id);
    }
    let refused = |id: &str, why: &str| {
        let out = r.paneherd(&["discard", id]);
        assert_eq!(out.status.code(), Some(1), "a refusal: {}", text(&out));
        assert!(text(&out).contains(why), "{}", text(&out));
        assert!(Path::new(r.env.task(id)["worktree"].as_str().unwrap()).is_dir());
    };
    refused(&dirty, "uncommitted work (wip.txt)");
    refused(&unmerged, "1 commit(s) that main does not have");

    // Squash-merged by hand: its commits are not ancestors of main, but main has all it did.
    r.git(&["merge", "--squash", &squashed]);
    r.git(&["commit", "-qm", "squashed"]);
    let said = r.ok(&["discard", &squashed, "--delete-branch"]);
    assert!(
        said.contains("removed") && said.contains(&format!("deleted branch {squashed}")),
        "{said}"
    );
    assert!(!r.git(&["branch", "--list"]).contains(&squashed));

    // --force throws the work away but keeps the branch.
    let said = r.ok(&["discard", &unmerged, "--force"]);
    assert!(said.contains(&format!("kept branch {unmerged}")), "{said}");
    assert!(r.git(&["branch", "--list"]).contains(&unmerged));
    let w = r.ok(&["worktrees", "--json"]);
    let rows: Vec<Value> = serde_json::from_str(&w).unwrap();
    let row = |id: &str| rows.iter().find(|x| x["task"] == id).unwrap().clone();
    assert_eq!(row(&unmerged)["state"], "discarded");
    assert_eq!(row(&dirty)["state"], "dirty");
    assert_eq!(row(&squashed)["state"], "discarded, branch deleted");
    let table = r.ok(&["worktrees"]);
    assert!(!table.contains("fatal:"), "git's complaint is not the table's: {table}");

    // A worktree removed by hand is reported, not remade; one without a task is reported too.
    let wt = r.env.task(&dirty)["worktree"].as_str().unwrap().to_string();
    r.git(&["worktree", "remove", "--force", &wt]);
    let stray = r.env.path().join("app.paneherd/stray");
    r.git(&["worktree", "add", "-q", "-b", "stray", &stray.display().to_string()]);
    let rows: Vec<Value> = serde_json::from_str(&r.ok(&["worktrees", "--json"])).unwrap();
    let gone = rows.iter().find(|x| x["task"] == dirty.as_str()).unwrap();
    assert_eq!(gone["state"], "gone (removed by hand)");
    let orphan = rows.iter().find(|x| x["path"] == stray.display().to_string()).unwrap();
    assert_eq!(orphan["state"], "orphan (no task record)");
    let status = r.ok(&["daemon", "status"]);
    assert!(
        status.contains("1 removed by hand, 1 without a task (see `paneherd worktrees`)"),
        "{status}"
    );
    let out = r.paneherd(&["retry", &dirty]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("is gone") && text(&out).contains("not made again"),
        "{}",
        text(&out)
    );
    assert!(!Path::new(&wt).exists());
}

#[test]
fn retry_reuses_the_worktree_and_branch() {
    let r = Repo::new("");
    let first = r.run("echo $PWD >> runs.txt; git rev-parse --abbrev-ref HEAD >> runs.txt");
    let t1 = r.ended(&first);
    let again = r.ok(&["retry", &first]).trim().to_string();
    let t2 = r.ended(&again);
    assert_eq!(t2["worktree"], t1["worktree"]);
    assert_eq!(t2["branch"], t1["branch"]);
    assert_eq!(t2["cwd"], t1["cwd"]);
    let runs =
        std::fs::read_to_string(Path::new(t1["worktree"].as_str().unwrap()).join("runs.txt"))
            .unwrap();
    let wt = t1["worktree"].as_str().unwrap();
    assert_eq!(runs, format!("{wt}\n{first}\n{wt}\n{first}\n"), "both runs in the one worktree");
}

#[test]
fn set_up_copies_included_files_and_a_failing_setup_is_shown() {
    let r =
        Repo::new("[worktree]\nsetup = [\"sh\", \"-c\", \"echo npm ci exploded >&2; exit 3\"]\n");
    std::fs::write(r.repo.join(".gitignore"), ".env\nnode_modules/\n").unwrap();
    std::fs::write(r.repo.join(".worktreeinclude"), ".env\n").unwrap();
    std::fs::write(r.repo.join(".env"), "TOKEN=secret\n").unwrap();
    std::fs::create_dir_all(r.repo.join("node_modules/x")).unwrap();
    std::fs::write(r.repo.join("node_modules/x/big.js"), "x").unwrap();
    r.git(&["add", ".gitignore", ".worktreeinclude"]);
    r.git(&["commit", "-qm", "ignore"]);
    // Submitted from a subdirectory: it runs in the same subdirectory of its worktree.
    let out = r.paneherd_in(
        &r.repo.join("src"),
        &[
            "run",
            "--worktree",
            "--agent",
            "shell",
            "--",
            "cat ../.env; pwd; ls ../node_modules 2>&1 || true",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let id = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let t = r.ended(&id);
    assert_eq!(t["status"], "completed", "a failing set-up does not stop the task: {t}");
    let note = t["worktree_note"].as_str().unwrap();
    assert!(note.contains("exploded") && note.contains("exit status: 3"), "{note}");
    let result = r.ok(&["output", &id]);
    assert!(result.contains("TOKEN=secret"), ".env copied: {result}");
    assert!(result.contains(&format!("app.paneherd/{id}/src")), "{result}");
    assert!(result.contains("No such file"), "only what .worktreeinclude names: {result}");
}

#[test]
fn worktree_outside_a_repository_or_with_a_bad_base_is_refused() {
    let r = Repo::new("");
    let outside = r.env.path().join("plain");
    std::fs::create_dir_all(&outside).unwrap();
    let out = r.paneherd_in(&outside, &["run", "--worktree", "--agent", "shell", "--", "true"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("not in a git repository"), "{}", text(&out));
    let out =
        r.paneherd(&["run", "--worktree", "--base", "nope", "--agent", "shell", "--", "true"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("--base nope: not a commit"), "{}", text(&out));
    let out = r.paneherd(&["run", "--worktree=missing", "--agent", "shell", "--", "true"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("no branch \"missing\""), "{}", text(&out));
    let out = r.paneherd(&["run", "--worktree=main", "--agent", "shell", "--", "true"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("checked out in"), "{}", text(&out));
    assert!(r.env.list().is_empty(), "nothing was submitted");

    // An explicit base and branch name; and an existing branch attached.
    r.git(&["branch", "feature"]);
    let id = r.ok(&[
        "run",
        "--worktree",
        "--base",
        "main",
        "--branch",
        "fix-login",
        "--agent",
        "shell",
        "--",
        "git rev-parse --abbrev-ref HEAD",
    ]);
    let t = r.ended(id.trim());
    assert_eq!(t["branch"], "fix-login");
    let id = r.ok(&[
        "run",
        "--worktree=feature",
        "--agent",
        "shell",
        "--",
        "git rev-parse --abbrev-ref HEAD",
    ]);
    let t = r.ended(id.trim());
    assert_eq!(t["branch"], "feature");
    assert!(r.ok(&["output", id.trim()]).contains("feature"));
    // An attached branch is never deleted.
    let said = r.ok(&["discard", id.trim(), "--delete-branch"]);
    assert!(said.contains("kept feature"), "{said}");
    let _ = Duration::ZERO;
}

#[test]
fn the_main_worktree_and_foreign_directories_are_never_removed_even_with_force() {
    let r = Repo::new("");
    let id = r.run("echo x > x.txt");
    let t = r.ended(&id);
    let wt = t["worktree"].as_str().unwrap().to_string();
    let file = r.env.data().join(format!("tasks/{id}.md"));
    let record = std::fs::read_to_string(&file).unwrap();
    let foreign = r.env.path().join("elsewhere");
    std::fs::create_dir_all(&foreign).unwrap();
    std::fs::write(foreign.join("keep.txt"), "mine").unwrap();
    for (target, why) in [
        (r.repo.display().to_string(), "main worktree: never removed"),
        (foreign.display().to_string(), "is not a worktree of"),
    ] {
        // A record that names it (edited by hand, or gone wrong).
        r.env.stop_daemon();
        let edited =
            record.replace(&format!("worktree = \"{wt}\""), &format!("worktree = \"{target}\""));
        assert_ne!(edited, record);
        std::fs::write(&file, edited).unwrap();
        let out = r.paneherd(&["discard", &id, "--force", "--delete-branch"]);
        assert_eq!(out.status.code(), Some(1), "a refusal: {}", text(&out));
        assert!(text(&out).contains(why), "{}", text(&out));
    }
    assert!(r.repo.join(".git").is_dir() && r.repo.join("shared.txt").is_file());
    assert_eq!(std::fs::read_to_string(foreign.join("keep.txt")).unwrap(), "mine");
    assert!(r.git(&["branch", "--list", &id]).contains(&id), "the branch stays");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mcp_task_takes_isolation_worktree() {
    use rmcp::ServiceExt;
    use rmcp::model::CallToolRequestParams;
    let r = Repo::new("");
    let mut cmd = Command::new(BIN);
    cmd.arg("mcp");
    r.env.apply(&mut cmd);
    cmd.current_dir(&r.repo);
    let transport =
        rmcp::transport::TokioChildProcess::new(tokio::process::Command::from(cmd)).unwrap();
    let client = ().serve(transport).await.unwrap();
    let call = |args: serde_json::Value| {
        CallToolRequestParams::new("task").with_arguments(args.as_object().unwrap().clone())
    };
    let res = client
        .call_tool(call(serde_json::json!({
            "prompt": "echo isolated > iso.txt", "subagent_type": "shell",
            "isolation": "worktree", "branch": "from-mcp"
        })))
        .await
        .unwrap();
    let text = res.content[0].as_text().unwrap().text.clone();
    let id = text.split_whitespace().nth(1).unwrap().to_string();
    let t = r.ended(&id);
    assert_eq!(t["branch"], "from-mcp", "{t}");
    assert!(Path::new(t["worktree"].as_str().unwrap()).join("iso.txt").is_file());
    assert!(!r.repo.join("iso.txt").exists());
    let bad = client
        .call_tool(call(serde_json::json!({
            "prompt": "x", "subagent_type": "shell", "isolation": "sandbox"
        })))
        .await
        .unwrap();
    assert_eq!(bad.is_error, Some(true));
    assert!(bad.content[0].as_text().unwrap().text.contains("isolation \"sandbox\""));
    client.cancel().await.unwrap();
}

#[test]
fn squash_and_rebase_merges_and_worktree_from_the_config() {
    let r = Repo::new(
        "[worktree]\nbranch_prefix = \"ph/\"\n[categories.coding]\nagent = \"shell\"\nworktree = true\n",
    );
    // `worktree = true` on a category: no flag needed; the branch gets the configured prefix.
    let a = r
        .ok(&[
            "run",
            "--category",
            "coding",
            "--",
            "echo a > a.txt; git add -A; git commit -qm a1; echo aa >> a.txt; git commit -qam a2",
        ])
        .trim()
        .to_string();
    let b = r.run("echo b > b.txt; git add -A; git commit -qm b");
    let ta = r.ended(&a);
    r.ended(&b);
    assert_eq!(ta["branch"], format!("ph/{a}"));
    assert!(ta["worktree"].as_str().unwrap().ends_with(&format!("app.paneherd/{a}")));

    // --squash: one commit on main with all of a's changes; a's branch kept and seen as merged.
    let before = r.git(&["rev-list", "--count", "HEAD"]);
    let said = r.ok(&["merge", &a, "--squash"]);
    assert!(said.contains("squash-merged into main"), "{said}");
    let after = r.git(&["rev-list", "--count", "HEAD"]);
    assert_eq!(after.trim().parse::<u32>().unwrap(), before.trim().parse::<u32>().unwrap() + 1);
    assert_eq!(std::fs::read_to_string(r.repo.join("a.txt")).unwrap(), "a\naa\n");
    let rows: Vec<Value> = serde_json::from_str(&r.ok(&["worktrees", "--json"])).unwrap();
    let row = rows.iter().find(|x| x["task"] == a.as_str()).unwrap();
    assert_eq!(row["state"], "merged", "a squash-merged branch counts as merged: {row}");

    // --rebase: b's commit replayed onto main, then fast-forwarded (no merge commit).
    let said = r.ok(&["merge", &b, "--rebase"]);
    assert!(said.contains("rebased and fast-forwarded into main"), "{said}");
    assert_eq!(r.git(&["log", "-1", "--format=%s"]).trim(), "b");
    assert!(r.repo.join("b.txt").is_file());
    // Both branches are in main by content: their branches may go.
    for id in [&a, &b] {
        let said = r.ok(&["discard", id, "--delete-branch"]);
        assert!(said.contains("deleted branch"), "{said}");
    }
}

/// git's `worktree add` is not safe against another one at the same time (it reads the other's
/// half-written entry: "failed to read …/commondir"): paneherd makes a repository's worktrees
/// one at a time, under a lock in its git dir that clients removing worktrees take too.
#[test]
fn worktrees_of_one_repository_are_made_one_at_a_time() {
    let r = Repo::new("[concurrency]\ndefault = 8\n");
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(r.repo.join(".git/paneherd-worktrees.lock"))
        .unwrap();
    let held = nix::fcntl::Flock::lock(lock, nix::fcntl::FlockArg::LockExclusive).unwrap();
    let first = r.run("true");
    std::thread::sleep(Duration::from_millis(500));
    let t = r.env.task(&first);
    assert_eq!(t["status"], "pending", "no worktree is made while another is: {t}");
    assert!(!r.env.path().join(format!("app.paneherd/{first}")).exists());
    drop(held);
    assert_eq!(r.ended(&first)["status"], "completed");
    // Eight at once, all made.
    let ids: Vec<String> = (0..8).map(|i| r.run(&format!("echo {i} > mine.txt"))).collect();
    for id in &ids {
        let t = r.ended(id);
        assert_eq!(t["status"], "completed", "{t}");
    }
}

#[test]
fn a_merge_git_will_not_start_says_gits_reason_and_the_file() {
    let r = Repo::new("");
    // A file in the task's branch is untracked in the repository: git refuses to overwrite it.
    let id = r.run("echo theirs > notes.txt; git add -A; git commit -qm notes");
    r.ended(&id);
    std::fs::write(r.repo.join("notes.txt"), "mine, untracked\n").unwrap();
    let before = r.snapshot();
    for how in [&["--squash"][..], &[][..], &["--rebase"][..]] {
        let mut args = vec!["merge", id.as_str()];
        args.extend_from_slice(how);
        let out = r.paneherd(&args);
        let said = text(&out);
        assert_eq!(out.status.code(), Some(1), "{how:?}: {said}");
        if how != ["--rebase"] {
            assert!(
                said.contains("untracked working tree files would be overwritten")
                    && said.contains("notes.txt"),
                "{how:?}: git's reason and the file: {said}"
            );
        }
        assert!(!said.contains("conflicts in :"), "{said}");
        assert_eq!(r.snapshot(), before, "{how:?}: the repository as it was");
        assert_eq!(std::fs::read_to_string(r.repo.join("notes.txt")).unwrap(), "mine, untracked\n");
    }
}
