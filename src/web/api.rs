//! The web view's routes: its page and files, the HTTP API the page uses (`/api/tasks`,
//! `/api/tasks/ID`, its output events and diff, its actions, `/api/events`), and the guard in
//! front of them all (the token; no action when read-only).

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;

use super::{Web, assets, auth};
use crate::client::ClientError;
use crate::core::task::TaskSpec;
use crate::proto::{ErrorKind, ask};

type Shared = State<Arc<Web>>;

pub(super) fn router(web: Arc<Web>) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/{file}", get(file))
        .route("/api/tasks", get(list).post(submit))
        .route("/api/tasks/{id}", get(one))
        .route("/api/tasks/{id}/output", get(output))
        .route("/api/tasks/{id}/diff", get(diff))
        .route("/api/tasks/{id}/{action}", post(act))
        .route("/api/events", get(events))
        .layer(middleware::from_fn_with_state(web.clone(), guard))
        .with_state(web)
}

/// An error the page shows: `{"error": …}` with its status.
fn error(status: StatusCode, message: impl Into<String>) -> Response {
    let body = json!({ "error": message.into() });
    (status, [(header::CACHE_CONTROL, "no-store")], axum::Json(body)).into_response()
}

/// What the daemon's answer means for the page.
fn daemon_error(e: ClientError) -> Response {
    let status = match &e {
        ClientError::Daemon(b) => match b.kind {
            ErrorKind::UnknownId => StatusCode::NOT_FOUND,
            ErrorKind::AmbiguousId | ErrorKind::Invalid | ErrorKind::BadRequest => {
                StatusCode::BAD_REQUEST
            }
            ErrorKind::Exists | ErrorKind::Busy => StatusCode::CONFLICT,
            _ => StatusCode::BAD_GATEWAY,
        },
        _ => StatusCode::BAD_GATEWAY,
    };
    error(status, e.to_string())
}

fn reply<T: serde::Serialize>(r: Result<T, ClientError>) -> Response {
    match r {
        Ok(v) => ([(header::CACHE_CONTROL, "no-store")], axum::Json(v)).into_response(),
        Err(e) => daemon_error(e),
    }
}

/// The token of `?token=…` in a query.
fn query_token(query: Option<&str>) -> Option<&str> {
    query?.split('&').find_map(|kv| kv.strip_prefix("token="))
}

/// Every request: the token (the bearer header, else the cookie; an action only the header),
/// no action when read-only; the printed URL's token becomes the cookie.
async fn guard(State(web): Shared, req: Request, next: Next) -> Response {
    let headers = req.headers();
    let by_header = auth::bearer(headers).is_some_and(|t| auth::same(t, &web.token));
    let by_cookie = auth::cookie(headers).is_some_and(|t| auth::same(t, &web.token));
    let reads = matches!(*req.method(), Method::GET | Method::HEAD);
    if req.uri().path() == "/"
        && reads
        && let Some(t) = query_token(req.uri().query())
    {
        if !auth::same(t, &web.token) {
            return error(
                StatusCode::UNAUTHORIZED,
                "wrong token: open the URL `paneherd web` printed",
            );
        }
        // Into the cookie, out of the address bar (and of the history).
        let mut r = (StatusCode::SEE_OTHER, [(header::LOCATION, "/")]).into_response();
        if let Ok(v) = HeaderValue::from_str(&auth::set_cookie(&web.token)) {
            r.headers_mut().insert(header::SET_COOKIE, v);
        }
        return r;
    }
    let fine = by_header || (reads && by_cookie);
    if !fine {
        let why = match (reads, by_cookie) {
            (false, true) => "an action needs the token in an `Authorization: Bearer` header",
            _ => "no token or a wrong one: open the URL `paneherd web` printed",
        };
        return error(StatusCode::UNAUTHORIZED, why);
    }
    if !reads && web.read_only {
        return error(
            StatusCode::FORBIDDEN,
            "read-only: `paneherd web --read-only` refuses actions",
        );
    }
    let mut r = next.run(req).await;
    let h = r.headers_mut();
    for (k, v) in [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; \
             connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
        ),
    ] {
        h.insert(k, HeaderValue::from_static(v));
    }
    r
}

async fn index(State(web): Shared) -> Response {
    let page = assets::page(&web.token, web.read_only);
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8"), (header::CACHE_CONTROL, "no-store")],
        page,
    )
        .into_response()
}

/// One of the page's own files, by name (nothing from the request reaches the filesystem).
async fn file(Path(name): Path<String>) -> Response {
    match assets::file(&name) {
        Some((kind, body)) => ([(header::CONTENT_TYPE, kind)], body).into_response(),
        None => error(StatusCode::NOT_FOUND, format!("no {name:?} here")),
    }
}

async fn list(State(web): Shared) -> Response {
    reply(web.daemon.ask(ask::List { filter: Default::default() }).await)
}

async fn one(State(web): Shared, Path(id): Path<String>) -> Response {
    let asked = ask::Output { id, wait: false, timeout_ms: None, full: false, deliver: false };
    reply(web.daemon.ask(asked).await)
}

/// `POST /api/tasks`: a new task.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewTask {
    prompt: String,
    #[serde(default)]
    agent: Option<String>,
    #[serde(default)]
    category: Option<String>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    cwd: Option<String>,
}

/// The body of a request, as `T`, or what is wrong with it.
fn body_of<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, Response> {
    serde_json::from_slice(bytes)
        .map_err(|e| error(StatusCode::BAD_REQUEST, format!("the request's JSON body: {e}")))
}

async fn submit(State(web): Shared, body: axum::body::Bytes) -> Response {
    let new: NewTask = match body_of(&body) {
        Ok(n) => n,
        Err(r) => return r,
    };
    if new.prompt.trim().is_empty() {
        return error(StatusCode::BAD_REQUEST, "an empty prompt");
    }
    let nonempty = |s: Option<String>| s.filter(|s| !s.trim().is_empty());
    let cwd = nonempty(new.cwd).map(std::path::PathBuf::from);
    if let Some(c) = cwd.as_ref().filter(|c| !c.is_absolute()) {
        return error(
            StatusCode::BAD_REQUEST,
            format!("cwd {}: not an absolute path", c.display()),
        );
    }
    let spec = TaskSpec {
        prompt: new.prompt,
        agent: nonempty(new.agent),
        category: nonempty(new.category),
        title: nonempty(new.title),
        cwd: Some(cwd.unwrap_or_else(|| web.cwd.clone())),
        env: Some(crate::paths::client_env()),
        ..Default::default()
    };
    reply(web.daemon.ask(ask::Submit { spec: Box::new(spec) }).await)
}

/// `{"prompt": …}` of a continue.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FollowUp {
    prompt: String,
}

/// `{"text": …}` typed into a task's pane (an answer to its question), then Enter.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Answer {
    text: String,
}

async fn act(
    State(web): Shared,
    Path((id, action)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Response {
    match action.as_str() {
        "cancel" => {
            let r = web.daemon.ask(ask::Cancel { ids: vec![id], all: false }).await;
            reply(r.map(|mut ts| ts.pop()))
        }
        "retry" => {
            let env = Some(crate::paths::client_env());
            reply(web.daemon.ask(ask::Retry { id, env }).await)
        }
        "continue" => {
            let f: FollowUp = match body_of(&body) {
                Ok(f) => f,
                Err(r) => return r,
            };
            if f.prompt.trim().is_empty() {
                return error(StatusCode::BAD_REQUEST, "an empty follow-up");
            }
            let env = Some(crate::paths::client_env());
            reply(web.daemon.ask(ask::Continue { id, prompt: f.prompt, earlier: None, env }).await)
        }
        "input" => {
            let a: Answer = match body_of(&body) {
                Ok(a) => a,
                Err(r) => return r,
            };
            reply(web.daemon.ask(ask::Input { id, text: a.text }).await.map(|()| json!({})))
        }
        other => error(
            StatusCode::NOT_FOUND,
            format!("no action {other:?} (allowed: cancel, retry, continue, input)"),
        ),
    }
}

/// `GET /api/events`: the daemon's events as they come, one SSE `message` each (its data the
/// event's JSON, as `paneherd events --json` prints it).
async fn events(State(web): Shared) -> Response {
    let rx = web.events.subscribe();
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        use tokio::sync::broadcast::error::RecvError;
        let line = match rx.recv().await {
            Ok(line) => line,
            // Behind: the page lists again, as after the daemon's own `lagged`.
            Err(RecvError::Lagged(n)) => json!({ "kind": "lagged", "missed": n }).to_string(),
            Err(RecvError::Closed) => return None,
        };
        Some((Ok::<_, std::convert::Infallible>(SseEvent::default().data(line)), rx))
    });
    Sse::new(stream).keep_alive(KeepAlive::default()).into_response()
}

/// The task `id`, or the response that says why not (404: there is none).
async fn task(web: &Web, id: &str) -> Result<crate::core::task::Task, Response> {
    match web.daemon.ask(ask::Get { id: id.to_string() }).await {
        Ok(Some(t)) => Ok(t),
        Ok(None) => Err(error(StatusCode::NOT_FOUND, format!("no task {id:?}"))),
        Err(e) => Err(daemon_error(e)),
    }
}

/// `GET /api/tasks/ID/output`: Server-Sent Events, one for each time the task wrote output (its
/// `output` event; at most about one a second), while the page watches it.
async fn output(State(web): Shared, Path(id): Path<String>) -> Response {
    if let Err(r) = task(&web, &id).await {
        return r;
    }
    let watching = match web.watch_output().await {
        Ok(w) => w,
        Err(e) => return error(StatusCode::BAD_GATEWAY, format!("{e:#}")),
    };
    let stream = futures_util::stream::unfold((watching, id), |(mut w, id)| async move {
        use tokio::sync::broadcast::error::RecvError;
        loop {
            let line = match w.rx.recv().await {
                Ok(ev) if ev.0 == id => ev.1.clone(),
                Ok(_) => continue,
                Err(RecvError::Lagged(n)) => json!({ "kind": "lagged", "missed": n }).to_string(),
                Err(RecvError::Closed) => return None,
            };
            return Some((
                Ok::<_, std::convert::Infallible>(SseEvent::default().data(line)),
                (w, id),
            ));
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::default()).into_response()
}

/// `GET /api/tasks/ID/diff`: what a worktree task changed against its base, as a patch
/// (`text/plain`; its worktree's state, or its branch once merged or discarded).
async fn diff(State(web): Shared, Path(id): Path<String>) -> Response {
    let t = match task(&web, &id).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    if let Some(host) = &t.host {
        return error(
            StatusCode::BAD_REQUEST,
            format!("task {id} runs on host {host}: its worktree is there (paneherd diff {id})"),
        );
    }
    let (Some(wt), Some(repo), Some(branch)) = (t.worktree, t.repo, t.branch) else {
        return error(StatusCode::BAD_REQUEST, format!("task {id} has no worktree"));
    };
    let base = t.base.unwrap_or_default();
    let made = tokio::task::spawn_blocking(move || {
        crate::worktree::state::task_diff(&wt, &repo, &base, &branch, false, false)
    })
    .await;
    match made {
        Ok(Ok(patch)) => {
            ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], patch).into_response()
        }
        Ok(Err(e)) => error(StatusCode::CONFLICT, format!("its diff: {e}")),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, format!("its diff: {e}")),
    }
}
