//! Request routing: one function from a request to a response; never fails, never panics.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{
    HeaderValue, ALLOW, CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, ETAG, IF_MATCH, IF_NONE_MATCH,
};
use hyper::{Method, Request, Response, StatusCode};
use tokio::sync::{mpsc, oneshot};

use super::{auth, objects, Action, ApiCommand, ApiContext, ApiError, EditCommand, Limits};
use crate::config::edit::{Change, Target};

/// How long a POST waits for the daemon loop's answer.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

const TEXT: &str = "text/plain; charset=utf-8";
const METRICS: &str = "text/plain; version=0.0.4; charset=utf-8";
const JSON: &str = "application/json";

pub(super) async fn handle(
    req: Request<Incoming>,
    peer: SocketAddr,
    ctx: Arc<ApiContext>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let token = auth::token_use(req.headers(), ctx.token.as_deref());
    let reply = route(req, peer, &ctx).await;
    ctx.counters.request(&method, reply.status.as_u16());
    if is_mutation(&method) {
        audit(peer, token, &method, &path, &reply);
    }
    Ok(reply.into_response())
}

/// Requests that (may) change something: audited, accepted or not.
fn is_mutation(method: &Method) -> bool {
    !matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    )
}

/// One structured record per mutation: who, what, and how it ended. Never the token itself.
fn audit(peer: SocketAddr, token: auth::TokenUse, method: &Method, path: &str, reply: &Reply) {
    tracing::info!(
        target: "anycastd::api::audit",
        %peer,
        token = token.as_str(),
        method = method.as_str(),
        path,
        status = reply.status.as_u16(),
        outcome = reply.body.trim_end(),
        diff = reply.diff.as_deref(),
        "api audit",
    );
}

async fn route(req: Request<Incoming>, peer: SocketAddr, ctx: &ApiContext) -> Reply {
    let path = req.uri().path().trim_end_matches('/').to_string();
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    let post = |action, vip| Route::Post(action, vip);
    let route = match segments.as_slice() {
        ["healthz"] => Route::Get(Page::Healthz),
        ["status"] => Route::Get(Page::Status),
        ["metrics"] => Route::Get(Page::Metrics),
        ["config"] => Route::Get(Page::Config),
        ["drain"] => post(Action::Drain, None),
        ["undrain"] => post(Action::Undrain, None),
        ["reload"] => post(Action::Reload, None),
        ["vips", vip, verb @ ("drain" | "undrain")] => {
            let Ok(vip) = vip.parse::<IpAddr>() else {
                return text(
                    StatusCode::NOT_FOUND,
                    format!("{vip:?} is not an IP address"),
                );
            };
            let action = if *verb == "drain" {
                Action::Drain
            } else {
                Action::Undrain
            };
            post(action, Some(vip))
        }
        ["vips", ..] => match object_target(&segments) {
            Ok(target) => Route::Object(target),
            Err(why) => return text(StatusCode::NOT_FOUND, why),
        },
        _ => return text(StatusCode::NOT_FOUND, "not found".into()),
    };
    let method = req.method().clone();
    match route {
        Route::Get(page) if method == Method::GET || method == Method::HEAD => {
            let if_none_match = req
                .headers()
                .get(IF_NONE_MATCH)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            if let Err(refused) = read_body(req, &ctx.limits).await {
                return refused;
            }
            get(page, ctx, if_none_match.as_deref())
        }
        Route::Post(action, vip) if method == Method::POST => {
            if !auth::allowed(peer, req.headers(), ctx.token.as_deref()) {
                return text(
                    StatusCode::FORBIDDEN,
                    "forbidden: POST needs a loopback client or Authorization: Bearer <api.token>"
                        .into(),
                );
            }
            if let Err(refused) = read_body(req, &ctx.limits).await {
                return refused;
            }
            command(action, vip, ctx).await
        }
        Route::Object(target) if method == Method::GET || method == Method::HEAD => {
            if let Err(refused) = read_body(req, &ctx.limits).await {
                return refused;
            }
            get_object(&target, ctx)
        }
        Route::Object(target)
            if method == Method::PUT
                || method == Method::DELETE
                || (method == Method::PATCH && matches!(target, Target::Backend { .. })) =>
        {
            if !auth::allowed(peer, req.headers(), ctx.token.as_deref()) {
                return text(
                    StatusCode::FORBIDDEN,
                    "forbidden: a write needs a loopback client or Authorization: Bearer <api.token>"
                        .into(),
                );
            }
            if !ctx.writable {
                return text(
                    StatusCode::CONFLICT,
                    "API writes are off ([api] writable = false): change the config file instead"
                        .into(),
                );
            }
            let if_match = req
                .headers()
                .get(IF_MATCH)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let body = match read_body(req, &ctx.limits).await {
                Ok(b) => b,
                Err(refused) => return refused,
            };
            let change = match change_from(&method, &body) {
                Ok(c) => c,
                Err(why) => return json_errors(StatusCode::BAD_REQUEST, &why),
            };
            edit(target, change, if_match, ctx).await
        }
        Route::Get(_) => method_not_allowed("GET, HEAD"),
        Route::Post(..) => method_not_allowed("POST"),
        Route::Object(Target::Backend { .. }) => {
            method_not_allowed("GET, HEAD, PUT, PATCH, DELETE")
        }
        Route::Object(_) => method_not_allowed("GET, HEAD, PUT, DELETE"),
    }
}

/// `/vips/{address}[/services/{name}[/backends/{ip}:{port}]]` as the object it names.
fn object_target(segments: &[&str]) -> Result<Target, String> {
    let vip = |s: &str| {
        s.parse::<IpAddr>()
            .map_err(|_| format!("{s:?} is not an IP address"))
    };
    match segments {
        ["vips", v] => Ok(Target::Vip(vip(v)?)),
        ["vips", v, "services", name] => Ok(Target::Service {
            vip: vip(v)?,
            name: name.to_string(),
        }),
        ["vips", v, "services", name, "backends", b] => Ok(Target::Backend {
            vip: vip(v)?,
            service: name.to_string(),
            backend: b
                .parse::<SocketAddr>()
                .map_err(|_| format!("{b:?} is not IP:PORT (an IPv6 backend is [ADDR]:PORT)"))?,
        }),
        _ => Err("not found".into()),
    }
}

/// The change a request asks for: a PUT's object, a PATCH's `{"weight": N}`, a DELETE.
fn change_from(method: &Method, body: &[u8]) -> Result<Change, String> {
    if *method == Method::DELETE {
        return Ok(Change::Delete);
    }
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("the body is not JSON: {e}"))?;
    let serde_json::Value::Object(object) = value else {
        return Err("the body must be a JSON object with the keys of the TOML table".into());
    };
    if *method == Method::PUT {
        let mut object = object;
        objects::strip_live(&mut object);
        return Ok(Change::Put(object));
    }
    match (object.len(), object.get("weight").and_then(|w| w.as_u64())) {
        (1, Some(w)) => u32::try_from(w)
            .map(Change::Weight)
            .map_err(|_| format!("weight: {w} is out of range")),
        _ => Err("PATCH takes {\"weight\": N} and nothing else".into()),
    }
}

/// `{"errors": [{"path", "message"}]}`, one per line of `text` (`path: message`, as the
/// config's validation words them).
fn json_errors(status: StatusCode, text: &str) -> Reply {
    let errors: Vec<serde_json::Value> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| match crate::config::naming::split_path(line) {
            Some((path, message)) => serde_json::json!({ "path": path, "message": message }),
            None => serde_json::json!({ "path": "", "message": line }),
        })
        .collect();
    let mut body = serde_json::json!({ "errors": errors }).to_string();
    body.push('\n');
    respond(status, JSON, body)
}

async fn edit(target: Target, change: Change, if_match: Option<String>, ctx: &ApiContext) -> Reply {
    let asked = ask(&ctx.edits, |reply| EditCommand {
        target,
        change,
        if_match,
        reply,
    });
    match asked.await {
        Ok(done) => {
            let status = if done.created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            let mut r = respond(status, JSON, done.json);
            r.etag = Some(done.etag);
            r.diff = Some(done.diff);
            r
        }
        Err(refused) => refused,
    }
}

/// Sends a request to the daemon loop and waits (at most [`COMMAND_TIMEOUT`]) for its
/// answer. A refusal, or a loop that is gone or too slow, comes back as the reply to send.
async fn ask<C, T>(
    queue: &mpsc::Sender<C>,
    request: impl FnOnce(oneshot::Sender<Result<T, ApiError>>) -> C,
) -> Result<T, Reply> {
    let (reply, answer) = oneshot::channel();
    let sent = queue.send(request(reply));
    let outcome = tokio::time::timeout(COMMAND_TIMEOUT, async {
        sent.await.ok()?;
        answer.await.ok()
    })
    .await;
    match outcome {
        Ok(Some(Ok(answer))) => Ok(answer),
        Ok(Some(Err(ApiError::Invalid(errors)))) => {
            Err(json_errors(StatusCode::BAD_REQUEST, &errors))
        }
        Ok(Some(Err(e))) => Err(text(error_status(&e), e.to_string())),
        Ok(None) => Err(text(
            StatusCode::SERVICE_UNAVAILABLE,
            "the daemon loop is not running".into(),
        )),
        Err(_) => Err(text(
            StatusCode::GATEWAY_TIMEOUT,
            "the daemon loop did not answer in time".into(),
        )),
    }
}

fn error_status(e: &ApiError) -> StatusCode {
    match e {
        ApiError::NotFound(_) => StatusCode::NOT_FOUND,
        ApiError::Rejected(_) | ApiError::Invalid(_) => StatusCode::BAD_REQUEST,
        ApiError::Conflict(_) => StatusCode::CONFLICT,
        ApiError::Stale(_) => StatusCode::PRECONDITION_FAILED,
        ApiError::Failed(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// Reads the whole body within the limits: 413 beyond `max_body` (at once when Content-Length
/// says so, else as soon as the bytes exceed it, chunked or not), 408 when it is too slow.
/// Either way the connection is closed after the answer, the rest of the body unread.
async fn read_body(req: Request<Incoming>, limits: &Limits) -> Result<Bytes, Reply> {
    let too_large = || {
        text(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "request body too large: at most {} bytes ({} KiB)",
                limits.max_body,
                limits.max_body / 1024
            ),
        )
        .closing()
    };
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > limits.max_body as u64) {
        return Err(too_large());
    }
    let body = Limited::new(req.into_body(), limits.max_body);
    match tokio::time::timeout(limits.body_read_timeout, body.collect()).await {
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => Err(too_large()),
        Ok(Err(e)) => Err(text(
            StatusCode::BAD_REQUEST,
            format!("could not read the request body: {e}"),
        )
        .closing()),
        Err(_) => Err(text(
            StatusCode::REQUEST_TIMEOUT,
            format!(
                "request body not received within {}s",
                limits.body_read_timeout.as_secs()
            ),
        )
        .closing()),
    }
}

enum Route {
    Get(Page),
    Post(Action, Option<IpAddr>),
    /// A VIP, service or backend: PUT, DELETE (and PATCH for a backend).
    Object(Target),
}

enum Page {
    Healthz,
    Status,
    Metrics,
    Config,
}

fn get(page: Page, ctx: &ApiContext, if_none_match: Option<&str>) -> Reply {
    match page {
        // Exactly "ok": scripts compare the body.
        Page::Healthz if ctx.alive.is_alive() => respond(StatusCode::OK, TEXT, "ok".into()),
        Page::Healthz => text(
            StatusCode::SERVICE_UNAVAILABLE,
            match ctx.alive.failure() {
                Some(task) => format!("{task} ended: the daemon is exiting for a restart"),
                None => "daemon loop is not responding".into(),
            },
        ),
        Page::Status => match serde_json::to_string_pretty(&(ctx.status)()) {
            Ok(mut json) => {
                json.push('\n');
                respond(StatusCode::OK, JSON, json)
            }
            Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, format!("status: {e}")),
        },
        Page::Metrics => respond(StatusCode::OK, METRICS, (ctx.metrics)()),
        Page::Config => {
            let running = (ctx.config)();
            let mut r = if if_none_match
                .is_some_and(|tags| super::etag_listed(tags, &running.etag, super::Compare::Weak))
            {
                respond(StatusCode::NOT_MODIFIED, JSON, String::new())
            } else {
                respond(StatusCode::OK, JSON, running.json.clone())
            };
            r.etag = Some(running.etag.clone());
            r
        }
    }
}

/// A configured VIP, service or backend with its live state, tagged with the config's ETag
/// (the tag a following write's `If-Match` names).
fn get_object(target: &Target, ctx: &ApiContext) -> Reply {
    let running = (ctx.config)();
    let Some(object) = objects::view(&running, &(ctx.status)(), target) else {
        return text(StatusCode::NOT_FOUND, target.not_found());
    };
    let mut json = serde_json::to_string_pretty(&object).unwrap_or_default();
    json.push('\n');
    let mut r = respond(StatusCode::OK, JSON, json);
    r.etag = Some(running.etag.clone());
    r
}

async fn command(action: Action, vip: Option<IpAddr>, ctx: &ApiContext) -> Reply {
    match ask(&ctx.commands, |reply| ApiCommand { action, vip, reply }).await {
        Ok(message) => text(StatusCode::OK, message),
        Err(refused) => refused,
    }
}

fn method_not_allowed(allow: &'static str) -> Reply {
    let mut r = text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed".into());
    r.allow = Some(allow);
    r
}

fn text(status: StatusCode, mut body: String) -> Reply {
    if !body.ends_with('\n') {
        body.push('\n');
    }
    respond(status, TEXT, body)
}

fn respond(status: StatusCode, content_type: &'static str, body: String) -> Reply {
    Reply {
        status,
        content_type,
        body,
        allow: None,
        close: false,
        etag: None,
        diff: None,
    }
}

/// An answer before it becomes a response: the audit record needs its status and text.
struct Reply {
    status: StatusCode,
    content_type: &'static str,
    body: String,
    /// `Allow`, for 405.
    allow: Option<&'static str>,
    /// `Connection: close`: the request body was left unread.
    close: bool,
    /// `ETag`, for `GET /config`, object reads and writes.
    etag: Option<String>,
    /// An accepted write's change to the config file, for the audit record only.
    diff: Option<String>,
}

impl Reply {
    fn closing(mut self) -> Reply {
        self.close = true;
        self
    }

    fn into_response(self) -> Response<Full<Bytes>> {
        let mut r = Response::new(Full::new(Bytes::from(self.body)));
        *r.status_mut() = self.status;
        let headers = r.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(self.content_type));
        if let Some(allow) = self.allow {
            headers.insert(ALLOW, HeaderValue::from_static(allow));
        }
        if self.close {
            headers.insert(CONNECTION, HeaderValue::from_static("close"));
        }
        if let Some(tag) = self.etag.and_then(|t| HeaderValue::from_str(&t).ok()) {
            headers.insert(ETAG, tag);
        }
        r
    }
}
