//! The engine's side of tasks in tmux panes: opening a pane for a task and wiring its wrapper,
//! pane events, focus, layout switches, dashboards' main panes, and re-adoption after a restart.

use super::*;

/// How long a new pane's wrapper may take to start the agent.
const WRAPPER_START: Duration = Duration::from_secs(15);

impl Engine {
    /// Takes back the pane tasks of a previous daemon whose panes still run their wrapper (same
    /// pane, same pid); the others are recorded as lost. Called once at start-up.
    pub async fn adopt_panes(self: &Arc<Self>) {
        let ids = std::mem::take(&mut self.lock().adoptable);
        for id in ids {
            let Some(task) = self.get(&id) else { continue };
            let (Some(origin), Some(pane), Some(pid)) = (&task.tmux, &task.pane_id, task.pid)
            else {
                continue;
            };
            let tmux = crate::tmux::Tmux::new(&origin.socket);
            let pane_there = matches!(tmux.pane_info(pane).await, Ok(Some(_)));
            if pane_there && runs_task(pid, &task.id) && self.adopt(&task, origin, pane, pid).await
            {
                tracing::info!(task = %id, pane = %pane, "re-adopted a running pane task");
                continue;
            }
            stop_orphan(&task);
            let mut t = task.clone();
            let lost = Outcome::Error {
                exit_code: None,
                reason: "lost: daemon restarted while it ran".into(),
            };
            if t.finish(lost, timefmt::now()).is_ok() {
                let result = read_output(&t.log_path);
                t.summary = text::task_summary(&result, &t.id, &t.prompt);
                let _ = self.writer.save_wait(t.clone(), Some(result), Durability::Now).await;
                self.lock().put(t.clone());
                self.emit(Event::TaskChanged { task: Box::new(t) });
            }
        }
    }

    /// Wires a still-running pane task to a new supervisor; its wrapper reports to us from now.
    pub(super) async fn adopt(
        self: &Arc<Self>,
        task: &Task,
        origin: &TmuxOrigin,
        pane: &str,
        pid: u32,
    ) -> bool {
        let geometry = self.tmux_settings().geometry;
        let tmux = crate::tmux::Tmux::new(&origin.socket);
        let visible = match tmux.pane_info(pane).await {
            Ok(Some(info)) => info.window_name != crate::tmux::adapter::OVERFLOW_WINDOW,
            _ => return false,
        };
        self.panes.adopt(&geometry, &origin.socket, &origin.pane, &task.id, pane, visible).await;
        let (stale, ttl) = self.config().timeouts_for(task.category.as_deref(), &task.agent);
        let ran = task.run_ms(timefmt::now()).unwrap_or(0).max(0) as u64;
        let ttl_left = Duration::from_secs(ttl).saturating_sub(Duration::from_millis(ran));
        let (exit_tx, exit_rx) = tokio::sync::oneshot::channel();
        let activity = Arc::new(runner::Activity::default());
        let launch = Launch {
            task_id: task.id.clone(),
            argv: vec![],
            base_env: None,
            env: vec![],
            cwd: task.cwd.clone(),
            log_path: task.log_path.clone(),
        };
        let (kill_tx, kill_rx) = mpsc::unbounded_channel();
        {
            let mut st = self.lock();
            let ctl =
                PaneCtl { launch, started: None, exit: Some(exit_tx), activity: activity.clone() };
            st.pane_ctl.insert(task.id.clone(), ctl);
            st.running.insert(task.id.clone(), kill_tx);
            let group = self.config().limits().group_for(task.model.as_deref());
            st.sched.mark_running(&task.id, &group);
        }
        let handle = runner::RunHandle { pid, exit: exit_rx, activity };
        let timers = supervisor::Timers {
            stale: Duration::from_secs(stale),
            ttl: ttl_left.max(Duration::from_secs(1)),
            idle: self.idle_of(&task.agent),
        };
        supervisor::spawn(self.clone(), task.id.clone(), handle, kill_rx, timers);
        true
    }

    /// Opens a pane for the task beside its main pane (or in the overflow window) whose
    /// wrapper fetches `launch`, starts the agent on a terminal of its own and reports its pid;
    /// returns once the agent runs.
    pub(super) async fn launch_in_pane(
        self: &Arc<Self>,
        launch: &Launch,
        origin: &TmuxOrigin,
        task: &Task,
    ) -> Result<(runner::RunHandle, String), String> {
        use crate::tmux::adapter::shell_quote;
        let (exit_tx, exit_rx) = tokio::sync::oneshot::channel();
        let (started_tx, started_rx) = tokio::sync::oneshot::channel();
        let activity = Arc::new(runner::Activity::default());
        let ctl = PaneCtl {
            launch: launch.clone(),
            started: Some(started_tx),
            exit: Some(exit_tx),
            activity: activity.clone(),
        };
        self.lock().pane_ctl.insert(task.id.clone(), ctl);
        let exe = shell_quote(&self.exe.to_string_lossy());
        let sock = shell_quote(&self.paths.socket().to_string_lossy());
        let run = format!("exec {exe} pane-run --socket {sock} --task {}", task.id);
        let geometry = self.tmux_settings().geometry;
        let hook = format!(
            "{exe} tmux-resized --socket {sock} --tmux {}",
            shell_quote(&origin.socket.to_string_lossy())
        );
        let mark = self.paths.socket().to_string_lossy().into_owned();
        let open = crate::daemon::panes::Open {
            socket: &origin.socket,
            main_pane: &origin.pane,
            task_id: &task.id,
            cwd: &launch.cwd,
            command: &run,
            resize_hook: &hook,
            hook_mark: &mark,
        };
        let placed = self.panes.open(&geometry, &open).await;
        self.emit(Event::PanesChanged);
        let placed = match placed {
            Ok(p) => p,
            Err(e) => {
                self.lock().pane_ctl.remove(&task.id);
                return Err(format!("cannot open a tmux pane: {e:#}"));
            }
        };
        let tmux = crate::tmux::Tmux::new(&origin.socket);
        let _ = tmux.set_title(&placed.pane, &task.title).await;
        let started = chrono::Utc::now().timestamp().to_string();
        let fields =
            [("id", task.id.as_str()), ("status", "▶ running"), ("started", started.as_str())];
        let _ = tmux.mark(&placed.pane, &fields).await;
        let pid = match tokio::time::timeout(WRAPPER_START, started_rx).await {
            Ok(Ok(Ok(pid))) => pid,
            failed => {
                let why = match failed {
                    Ok(Ok(Err(why))) => why,
                    Ok(_) => "the pane closed before its agent started".to_string(),
                    Err(_) => format!(
                        "the pane's wrapper did not start the agent within {} s",
                        WRAPPER_START.as_secs()
                    ),
                };
                self.lock().pane_ctl.remove(&task.id);
                let _ = self.panes.close(&geometry, &task.id).await;
                return Err(why);
            }
        };
        tracing::info!(task = %task.id, pane = %placed.pane, visible = placed.visible, pid, "pane opened");
        Ok((runner::RunHandle { pid, exit: exit_rx, activity }, placed.pane))
    }

    /// What a pane wrapper runs for `task_id`.
    pub async fn pane_attach(&self, task_id: &str) -> Result<crate::proto::PaneLaunch, ErrorBody> {
        let st = self.lock();
        let ctl = st.pane_ctl.get(task_id).ok_or_else(|| {
            ErrorBody::new(ErrorKind::UnknownId, format!("no pane task {task_id:?} is running"))
        })?;
        let l = &ctl.launch;
        let (clear_env, mut env) = match &l.base_env {
            Some(base) => (true, base.clone()),
            None => (false, vec![]),
        };
        env.extend(l.env.iter().cloned());
        Ok(crate::proto::PaneLaunch {
            argv: l.argv.clone(),
            env,
            clear_env,
            cwd: l.cwd.clone(),
            log_path: l.log_path.clone(),
        })
    }

    /// A pane wrapper started its agent (or could not).
    pub fn pane_started(&self, task_id: &str, started: Result<u32, String>) {
        if let Some(tx) = self.lock().pane_ctl.get_mut(task_id).and_then(|c| c.started.take()) {
            let _ = tx.send(started);
        }
    }

    /// A pane wrapper says its agent exited.
    pub async fn pane_exited(&self, task_id: &str, exit: runner::Exit) {
        // A hang-up: the agent's terminal went away — its pane was closed, or its whole tmux
        // server went; say which, rather than "killed by signal 1".
        if exit.signal == Some(1)
            && let Some(t) = self.get(task_id)
            && let Some(r) = hangup_reason(&t).await
            && let Some(tx) = self.lock().running.get(task_id)
        {
            let _ = tx.send(r);
        }
        if let Some(tx) = self.lock().pane_ctl.get_mut(task_id).and_then(|c| c.exit.take()) {
            let _ = tx.send(exit);
        }
    }

    /// A pane's wrapper saw output.
    pub fn pane_output(&self, task_id: &str, bytes: u64) {
        if let Some(c) = self.lock().pane_ctl.get(task_id) {
            c.activity.record(bytes as usize);
        }
    }

    /// A pane wrapper's connection closed before it reported an exit: its pane was closed, or
    /// the whole tmux server went away.
    pub async fn pane_gone(self: &Arc<Self>, task_id: &str) {
        let Some(task) = self.get(task_id) else { return };
        let open = self.lock().pane_ctl.get(task_id).is_some_and(|c| c.exit.is_some());
        if !open || task.status != TaskStatus::Running {
            return;
        }
        let reason = hangup_reason(&task).await.unwrap_or(KillReason::Cancel("pane closed".into()));
        if let Some(tx) = self.lock().running.get(task_id) {
            let _ = tx.send(reason);
        }
        let geometry = self.tmux_settings().geometry;
        let _ = self.panes.forget(&geometry, task_id).await;
        self.emit(Event::PanesChanged);
        if let Some(tx) = self.lock().pane_ctl.get_mut(task_id).and_then(|c| c.exit.take()) {
            let _ = tx.send(runner::Exit { code: None, signal: Some(1) });
        }
    }

    /// Brings a task's pane into view and selects it.
    pub async fn focus(&self, id: &str) -> Result<Task, ErrorBody> {
        let id = self.resolve(id)?;
        let task = self.get(&id).ok_or_else(|| ErrorBody::new(ErrorKind::UnknownId, id.clone()))?;
        let geometry = self.tmux_settings().geometry;
        let focused = self.panes.focus(&geometry, &id).await;
        self.emit(Event::PanesChanged);
        match focused {
            Ok(true) => Ok(task),
            Ok(false) => {
                Err(invalid(format!("task {id} has no tmux pane (it runs headless or has ended)")))
            }
            Err(e) => Err(ErrorBody::new(ErrorKind::Internal, format!("{e:#}"))),
        }
    }

    /// tmux resized a window: re-plan the panes in it.
    pub async fn tmux_resized(&self, socket: &std::path::Path, window: &str) {
        let geometry = self.tmux_settings().geometry;
        let resized = self.panes.resized(&geometry, socket, window).await;
        self.emit(Event::PanesChanged);
        if let Err(e) = resized {
            tracing::warn!(error = %format!("{e:#}"), "cannot re-plan after a resize");
        }
    }

    /// After a pane task ended: its pane closes after `close_after_secs`, and a waiting agent
    /// takes its place.
    pub(super) fn schedule_pane_close(self: &Arc<Self>, task: &Task) {
        if task.pane_id.is_none() {
            return;
        }
        self.lock().pane_ctl.remove(&task.id);
        if let (Some(origin), Some(pane)) = (&task.tmux, &task.pane_id) {
            let tmux = crate::tmux::Tmux::new(&origin.socket);
            let status = match &task.reason {
                Some(r) => format!("{} {} ({r})", task.status.symbol(), task.status),
                None => format!("{} {}", task.status.symbol(), task.status),
            };
            let took = task.run_ms(timefmt::now()).map(timefmt::human_duration).unwrap_or_default();
            let pane = pane.clone();
            tokio::spawn(async move {
                let _ =
                    tmux.mark(&pane, &[("status", status.as_str()), ("took", took.as_str())]).await;
            });
        }
        let close_after = self.tmux_settings().close_after;
        let secs = match close_after {
            crate::tmux::presets::CloseAfter::Secs(s) => s,
            crate::tmux::presets::CloseAfter::Keep => return,
        };
        let engine = self.clone();
        let id = task.id.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(secs)).await;
            let geometry = engine.tmux_settings().geometry;
            let closed = engine.panes.close(&geometry, &id).await;
            engine.emit(Event::PanesChanged);
            if let Err(e) = closed {
                tracing::warn!(task = %id, error = %format!("{e:#}"), "cannot close the pane");
            }
        });
    }

    /// Closes the panes of the given tasks that have ended, now.
    pub async fn close_panes(&self, ids: &[String]) {
        let geometry = self.tmux_settings().geometry;
        for id in ids {
            if self.get(id).is_some_and(|t| t.status.is_terminal())
                && let Err(e) = self.panes.close(&geometry, id).await
            {
                tracing::warn!(task = %id, error = %format!("{e:#}"), "cannot close the pane");
            }
        }
        self.emit(Event::PanesChanged);
    }

    /// The tmux settings in force (the dashboard may have switched the layout).
    pub fn tmux_settings(&self) -> crate::tmux::TmuxSettings {
        let name = self.lock().layout.clone();
        match name {
            Some(n) => self.config().tmux_settings_for(&n),
            None => self.config().tmux_settings(),
        }
    }

    /// The layout preset in force.
    pub fn layout_name(&self) -> String {
        self.lock().layout.clone().unwrap_or_else(|| self.config().layout_name().to_string())
    }

    /// Switches the layout preset and re-plans every window with agents.
    pub async fn set_layout(&self, name: &str) -> Result<(), ErrorBody> {
        if !self.config().presets.0.contains_key(name) {
            return Err(invalid(format!("unknown layout preset {name:?}")));
        }
        self.lock().layout = Some(name.to_string());
        let geometry = self.tmux_settings().geometry;
        self.panes.relayout_all(&geometry).await;
        self.emit(Event::PanesChanged);
        Ok(())
    }

    /// A dashboard's pane becomes the main pane (until `unregister_main`).
    pub fn register_main(&self, conn: u64, origin: TmuxOrigin) {
        let mut st = self.lock();
        st.mains.retain(|(c, _)| *c != conn);
        st.mains.push((conn, origin));
    }

    pub fn unregister_main(&self, conn: u64) {
        self.lock().mains.retain(|(c, _)| *c != conn);
    }
}

/// Why a pane task's agent lost its terminal: its tmux server went away (an error), or its pane
/// was closed (cancelled); `None` while the pane is still there.
async fn hangup_reason(task: &Task) -> Option<KillReason> {
    let (Some(o), Some(pane)) = (&task.tmux, &task.pane_id) else { return None };
    match crate::tmux::Tmux::new(&o.socket).pane_info(pane).await {
        Err(_) => Some(KillReason::Fail("the tmux server went away".into())),
        Ok(None) => Some(KillReason::Cancel("pane closed".into())),
        Ok(Some(_)) => None,
    }
}
