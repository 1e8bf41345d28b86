//! Request routing: one function from a request to a response; never fails, never panics.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{ALLOW, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use tokio::sync::oneshot;

use super::{auth, Action, ApiCommand, ApiContext, ApiError};

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
    let path = req.uri().path().trim_end_matches('/').to_string();
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    let post = |action, vip| Route::Post(action, vip);
    let route = match segments.as_slice() {
        ["healthz"] => Route::Get(Page::Healthz),
        ["status"] => Route::Get(Page::Status),
        ["metrics"] => Route::Get(Page::Metrics),
        ["drain"] => post(Action::Drain, None),
        ["undrain"] => post(Action::Undrain, None),
        ["reload"] => post(Action::Reload, None),
        ["vips", vip, verb @ ("drain" | "undrain")] => {
            let Ok(vip) = vip.parse::<IpAddr>() else {
                return Ok(text(
                    StatusCode::NOT_FOUND,
                    format!("{vip:?} is not an IP address"),
                ));
            };
            let action = if *verb == "drain" {
                Action::Drain
            } else {
                Action::Undrain
            };
            post(action, Some(vip))
        }
        _ => return Ok(text(StatusCode::NOT_FOUND, "not found".into())),
    };
    Ok(match route {
        Route::Get(page) if req.method() == Method::GET || req.method() == Method::HEAD => {
            get(page, &ctx)
        }
        Route::Post(action, vip) if req.method() == Method::POST => {
            let token = ctx.token.as_deref();
            if !auth::allowed(peer, req.headers(), token) {
                tracing::info!(%peer, path, "api: refused a POST without a valid token");
                text(
                    StatusCode::FORBIDDEN,
                    "forbidden: POST needs a loopback client or Authorization: Bearer <api.token>"
                        .into(),
                )
            } else {
                command(action, vip, &ctx).await
            }
        }
        Route::Get(_) => method_not_allowed("GET, HEAD"),
        Route::Post(..) => method_not_allowed("POST"),
    })
}

enum Route {
    Get(Page),
    Post(Action, Option<IpAddr>),
}

enum Page {
    Healthz,
    Status,
    Metrics,
}

fn get(page: Page, ctx: &ApiContext) -> Response<Full<Bytes>> {
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
    }
}

async fn command(action: Action, vip: Option<IpAddr>, ctx: &ApiContext) -> Response<Full<Bytes>> {
    let (reply, answer) = oneshot::channel();
    let sent = ctx.commands.send(ApiCommand { action, vip, reply });
    let outcome = tokio::time::timeout(COMMAND_TIMEOUT, async {
        sent.await.ok()?;
        answer.await.ok()
    })
    .await;
    match outcome {
        Ok(Some(Ok(message))) => text(StatusCode::OK, message),
        Ok(Some(Err(e))) => {
            let status = match e {
                ApiError::NotFound(_) => StatusCode::NOT_FOUND,
                ApiError::Rejected(_) => StatusCode::BAD_REQUEST,
                ApiError::Failed(_) => StatusCode::INTERNAL_SERVER_ERROR,
            };
            text(status, e.to_string())
        }
        Ok(None) => text(
            StatusCode::SERVICE_UNAVAILABLE,
            "the daemon loop is not running".into(),
        ),
        Err(_) => text(
            StatusCode::GATEWAY_TIMEOUT,
            "the daemon loop did not answer in time".into(),
        ),
    }
}

fn method_not_allowed(allow: &'static str) -> Response<Full<Bytes>> {
    let mut r = text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed".into());
    r.headers_mut()
        .insert(ALLOW, hyper::header::HeaderValue::from_static(allow));
    r
}

fn text(status: StatusCode, mut body: String) -> Response<Full<Bytes>> {
    if !body.ends_with('\n') {
        body.push('\n');
    }
    respond(status, TEXT, body)
}

fn respond(status: StatusCode, content_type: &'static str, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(content_type),
    );
    r
}
