//! `anycastd status`, `config`, `drain` and `undrain`, and the transport of every client
//! command: a minimal HTTP/1 client for the daemon's API.
//!
//! The base URL comes from `--api`, else from the config's `api.listen` (an unspecified
//! listen address such as 0.0.0.0 is reached over loopback), else the default
//! http://127.0.0.1:9180. Exit codes: 0 success, 1 unreachable, refused or failed.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::header::{AUTHORIZATION, CONNECTION, CONTENT_TYPE, ETAG, HOST, IF_MATCH, USER_AGENT};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::ApiArgs;
use crate::config::DEFAULT_API_LISTEN;
use crate::status::Status;

const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Bodies larger than this are not what our daemon sends.
const MAX_BODY: usize = 16 * 1024 * 1024;

/// `anycastd status [--json]`.
pub fn status_command(api: &ApiArgs, json: bool) -> i32 {
    let target = resolve(api);
    let body = match run(get(&target, "/status")) {
        Ok((200, body)) => body,
        Ok((code, body)) => return fail(&target, &format!("HTTP {code}: {}", body.trim())),
        Err(e) => return fail(&target, &e),
    };
    if json {
        print!("{body}");
        if !body.ends_with('\n') {
            println!();
        }
        return 0;
    }
    match serde_json::from_str::<Status>(&body) {
        Ok(status) => {
            print!("{}", super::table::render(&status));
            0
        }
        Err(e) => fail(&target, &format!("unexpected /status document: {e}")),
    }
}

/// `anycastd config`: the running configuration as the daemon serves it (`GET /config`).
pub fn config_command(api: &ApiArgs) -> i32 {
    let target = resolve(api);
    match run(get(&target, "/config")) {
        Ok((200, body)) => {
            print!("{body}");
            0
        }
        Ok((code, body)) => fail(&target, &format!("HTTP {code}: {}", body.trim())),
        Err(e) => fail(&target, &e),
    }
}

/// `anycastd drain [VIP…]` / `anycastd undrain [VIP…]`: all VIPs when none are named.
pub fn drain_command(api: &ApiArgs, vips: &[IpAddr], drain: bool) -> i32 {
    let target = resolve(api);
    let verb = if drain { "drain" } else { "undrain" };
    let paths: Vec<String> = if vips.is_empty() {
        vec![format!("/{verb}")]
    } else {
        vips.iter().map(|v| format!("/vips/{v}/{verb}")).collect()
    };
    let mut code = 0;
    for path in paths {
        match run(post(&target, &path)) {
            Ok((200, body)) => print!("{}", with_newline(body)),
            Ok((code_http, body)) => {
                code = fail(&target, &format!("HTTP {code_http}: {}", body.trim()));
            }
            Err(e) => return fail(&target, &e),
        }
    }
    code
}

/// Where and how to reach the daemon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiTarget {
    /// host:port to connect to.
    pub authority: String,
    /// Path prefix from the URL ("" for none), without a trailing slash.
    pub prefix: String,
    pub token: Option<String>,
}

/// --api, else the config's api.listen, else the default (with a note on stderr).
pub fn resolve(api: &ApiArgs) -> ApiTarget {
    let config = crate::config::load(&api.config);
    let config_token = config.as_ref().ok().and_then(|c| c.api.token.clone());
    let token = api.token.clone().or(config_token);
    let url = match (&api.api, &config) {
        (Some(url), _) => url.clone(),
        (None, Ok(c)) => url_for_listen(c.api.listen),
        (None, Err(e)) => {
            let url = format!("http://{DEFAULT_API_LISTEN}");
            eprintln!("anycastd: note: cannot read the config ({e}); using {url}");
            url
        }
    };
    match parse_url(&url) {
        Ok((authority, prefix)) => ApiTarget {
            authority,
            prefix,
            token,
        },
        Err(e) => {
            eprintln!("anycastd: --api {url:?}: {e}; using http://{DEFAULT_API_LISTEN}");
            ApiTarget {
                authority: DEFAULT_API_LISTEN.into(),
                prefix: String::new(),
                token,
            }
        }
    }
}

/// The URL to reach a listen address: 0.0.0.0 / :: are reached over loopback.
pub fn url_for_listen(listen: SocketAddr) -> String {
    let ip = match listen.ip() {
        IpAddr::V4(a) if a.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(a) if a.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    format!("http://{}", SocketAddr::new(ip, listen.port()))
}

/// "http://host[:port][/prefix]" or "host:port" → ("host:port", "/prefix").
pub fn parse_url(url: &str) -> Result<(String, String), String> {
    let rest = if let Some(rest) = url.strip_prefix("http://") {
        rest
    } else if url.starts_with("https://") {
        return Err("https is not supported; the API speaks plain HTTP".into());
    } else if url.contains("://") {
        return Err("only http:// URLs are supported".into());
    } else {
        url
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    if authority.is_empty() {
        return Err("no host in the URL".into());
    }
    let has_port = match authority.rfind(']') {
        Some(end) => authority[end..].contains(':'),
        None => authority.contains(':'),
    };
    let authority = if has_port {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    Ok((authority, path.trim_end_matches('/').to_string()))
}

pub(super) fn fail(target: &ApiTarget, message: &str) -> i32 {
    eprintln!("anycastd: http://{}: {message}", target.authority);
    1
}

fn with_newline(mut s: String) -> String {
    if !s.ends_with('\n') {
        s.push('\n');
    }
    s
}

pub(super) fn run<T, F: std::future::Future<Output = Result<T, String>>>(
    f: F,
) -> Result<T, String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the I/O runtime: {e}"))?;
    rt.block_on(async {
        tokio::time::timeout(REQUEST_TIMEOUT, f)
            .await
            .unwrap_or_else(|_| Err(format!("no answer within {}s", REQUEST_TIMEOUT.as_secs())))
    })
}

async fn get(target: &ApiTarget, path: &str) -> Result<(u16, String), String> {
    request(target, Call::new(Method::GET, path))
        .await
        .map(Answer::pair)
}

async fn post(target: &ApiTarget, path: &str) -> Result<(u16, String), String> {
    request(target, Call::new(Method::POST, path))
        .await
        .map(Answer::pair)
}

/// One request to the API.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: Method,
    pub path: String,
    /// A JSON body.
    pub body: Option<String>,
    /// `If-Match`: the write applies only to this version of the config.
    pub if_match: Option<String>,
}

impl Call {
    pub fn new(method: Method, path: &str) -> Call {
        Call {
            method,
            path: path.to_string(),
            body: None,
            if_match: None,
        }
    }
}

/// What the daemon answered.
#[derive(Debug, Clone)]
pub struct Answer {
    pub code: u16,
    pub body: String,
    pub etag: Option<String>,
}

impl Answer {
    fn pair(self) -> (u16, String) {
        (self.code, self.body)
    }
}

/// One request on a fresh connection. Every method but GET carries the token, if any.
pub async fn request(target: &ApiTarget, call: Call) -> Result<Answer, String> {
    let stream = TcpStream::connect(target.authority.as_str())
        .await
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::ConnectionRefused => {
                "connection refused (is anycastd running?)".to_string()
            }
            _ => format!("cannot connect: {e}"),
        })?;
    let mut builder = Request::builder()
        .method(call.method.clone())
        .uri(format!("{}{}", target.prefix, call.path))
        .header(HOST, target.authority.as_str())
        .header(USER_AGENT, concat!("anycastd/", env!("CARGO_PKG_VERSION")))
        .header(CONNECTION, "close");
    if let (Some(token), false) = (&target.token, call.method == Method::GET) {
        builder = builder.header(AUTHORIZATION, format!("Bearer {token}"));
    }
    if let Some(tag) = &call.if_match {
        builder = builder.header(IF_MATCH, tag.as_str());
    }
    if call.body.is_some() {
        builder = builder.header(CONTENT_TYPE, "application/json");
    }
    let request = builder
        .body(Full::new(Bytes::from(call.body.unwrap_or_default())))
        .map_err(|e| format!("invalid request: {e}"))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("HTTP error: {e}"))?;
    let driver = tokio::spawn(conn);
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| format!("HTTP error: {e}"))?;
    let code = response.status().as_u16();
    let etag = response
        .headers()
        .get(ETAG)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = http_body_util::Limited::new(response.into_body(), MAX_BODY)
        .collect()
        .await
        .map_err(|e| format!("reading the answer: {e}"))?
        .to_bytes();
    driver.abort();
    Ok(Answer {
        code,
        body: String::from_utf8_lossy(&body).into_owned(),
        etag,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_with_and_without_scheme_port_and_prefix() {
        assert_eq!(
            parse_url("http://127.0.0.1:9180").unwrap(),
            ("127.0.0.1:9180".into(), "".into())
        );
        assert_eq!(
            parse_url("http://127.0.0.1:9180/").unwrap(),
            ("127.0.0.1:9180".into(), "".into())
        );
        assert_eq!(
            parse_url("http://lb1.example/anycastd/").unwrap(),
            ("lb1.example:80".into(), "/anycastd".into())
        );
        assert_eq!(
            parse_url("[::1]:9180").unwrap(),
            ("[::1]:9180".into(), "".into())
        );
        assert_eq!(
            parse_url("http://[::1]").unwrap(),
            ("[::1]:80".into(), "".into())
        );
        assert!(parse_url("https://127.0.0.1:9180").is_err());
        assert!(parse_url("http:///status").is_err());
    }

    #[test]
    fn unspecified_listen_addresses_are_reached_over_loopback() {
        assert_eq!(
            url_for_listen("0.0.0.0:9180".parse().unwrap()),
            "http://127.0.0.1:9180"
        );
        assert_eq!(
            url_for_listen("[::]:9180".parse().unwrap()),
            "http://[::1]:9180"
        );
        assert_eq!(
            url_for_listen("10.0.0.1:9180".parse().unwrap()),
            "http://10.0.0.1:9180"
        );
    }
}
