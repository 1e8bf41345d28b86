//! Tiny backends for health checks, served from a thread that lives inside a namespace, and a
//! one-shot HTTP GET from inside a namespace.
//!
//! A [`Backend`] is switchable at run time: healthy (HTTP 200, or a TCP accept), unhealthy
//! (HTTP 503) or dead (the listening socket is closed, so connects are refused).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use super::Netns;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Mode {
    /// HTTP 200 to every request.
    Healthy = 0,
    /// HTTP 503 to every request.
    Unhealthy = 1,
    /// Not listening: connection refused.
    Dead = 2,
    /// Accepts and reads, never answers (the connection is held until the client gives up).
    Hang = 3,
}

impl Mode {
    fn from_u8(v: u8) -> Mode {
        match v {
            0 => Mode::Healthy,
            1 => Mode::Unhealthy,
            3 => Mode::Hang,
            _ => Mode::Dead,
        }
    }
}

/// An HTTP/TCP server on `[::]:port` (IPv4 and IPv6) inside a namespace; stopped on drop.
pub struct Backend {
    mode: Arc<AtomicU8>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    /// Requests served (any status), so a test can see the checks arrive.
    served: Arc<std::sync::atomic::AtomicUsize>,
    /// The head (request line and headers) of the last request answered.
    last_request: Arc<Mutex<String>>,
}

/// Moves the calling thread into namespace `name`.
fn enter(name: &str) {
    let f = std::fs::File::open(format!("/var/run/netns/{name}")).expect("open netns");
    nix::sched::setns(&f, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
}

impl Backend {
    /// Starts serving at once (healthy); returns when the socket listens.
    pub fn start(ns: &Netns, port: u16) -> Backend {
        let mode = Arc::new(AtomicU8::new(Mode::Healthy as u8));
        let stop = Arc::new(AtomicBool::new(false));
        let served = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let last_request = Arc::new(Mutex::new(String::new()));
        let (ready_tx, ready_rx) = mpsc::channel();
        let name = ns.name().to_string();
        let thread = {
            let (mode, stop, served) = (mode.clone(), stop.clone(), served.clone());
            let last = last_request.clone();
            std::thread::Builder::new()
                .name(format!("backend-{name}-{port}"))
                .spawn(move || {
                    enter(&name);
                    serve(port, &mode, &stop, &served, &last, ready_tx);
                })
                .expect("spawn backend thread")
        };
        ready_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("backend listening");
        Backend {
            mode,
            stop,
            thread: Some(thread),
            served,
            last_request,
        }
    }

    /// Switches the behaviour; takes effect for the next connection (a dead backend closes
    /// its listening socket within a few milliseconds).
    pub fn set(&self, mode: Mode) {
        self.mode.store(mode as u8, Ordering::SeqCst);
    }

    pub fn served(&self) -> usize {
        self.served.load(Ordering::SeqCst)
    }

    /// The request line and headers of the last request answered ("" before the first).
    pub fn last_request(&self) -> String {
        self.last_request.lock().unwrap().clone()
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn listen(port: u16) -> TcpListener {
    // std sets SO_REUSEADDR on Unix, so re-binding after "dead" works at once.
    // [::] takes IPv4 (mapped) as well as IPv6 connections: bindv6only is 0 in a new
    // namespace.
    let l = TcpListener::bind(SocketAddr::from((std::net::Ipv6Addr::UNSPECIFIED, port)))
        .expect("backend bind");
    l.set_nonblocking(true).expect("nonblocking");
    l
}

/// Accept loop, polling every few milliseconds so mode switches and stop act quickly.
fn serve(
    port: u16,
    mode: &AtomicU8,
    stop: &AtomicBool,
    served: &std::sync::atomic::AtomicUsize,
    last_request: &Mutex<String>,
    ready: mpsc::Sender<()>,
) {
    let mut listener = Some(listen(port));
    let _ = ready.send(());
    while !stop.load(Ordering::SeqCst) {
        let m = Mode::from_u8(mode.load(Ordering::SeqCst));
        if m == Mode::Dead {
            listener = None;
        } else if listener.is_none() {
            listener = Some(listen(port));
        }
        let Some(l) = &listener else {
            std::thread::sleep(Duration::from_millis(10));
            continue;
        };
        match l.accept() {
            Ok((conn, _)) if m == Mode::Hang => {
                served.fetch_add(1, Ordering::SeqCst);
                // Held by its own thread until the client closes it (or 60 s).
                std::thread::spawn(move || {
                    let mut conn = conn;
                    let _ = conn.set_nonblocking(false);
                    let _ = conn.set_read_timeout(Some(Duration::from_secs(60)));
                    let mut sink = [0u8; 1024];
                    while matches!(conn.read(&mut sink), Ok(n) if n > 0) {}
                });
            }
            Ok((conn, _)) => {
                answer(conn, m, last_request);
                served.fetch_add(1, Ordering::SeqCst);
            }
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
}

/// Reads a request head (if the client sends one) and answers 200 or 503. A TCP check that
/// connects and closes without sending anything just sees the connection accepted.
fn answer(mut conn: TcpStream, mode: Mode, last_request: &Mutex<String>) {
    let _ = conn.set_nonblocking(false);
    let _ = conn.set_read_timeout(Some(Duration::from_millis(500)));
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        match conn.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    *last_request.lock().unwrap() = String::from_utf8_lossy(&buf).into_owned();
    let (code, text) = match mode {
        Mode::Healthy => (200, "OK"),
        _ => (503, "Service Unavailable"),
    };
    let body = format!("{code}\n");
    let _ = write!(
        conn,
        "HTTP/1.1 {code} {text}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

/// `GET path` against `addr` from inside namespace `ns` (HTTP/1.0, whole body read).
/// Returns the status code and the body.
pub fn http_get(ns: &Netns, addr: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    let name = ns.name().to_string();
    let path = path.to_string();
    std::thread::spawn(move || {
        enter(&name);
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
        s.set_read_timeout(Some(Duration::from_secs(10)))?;
        write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n")?;
        let mut resp = String::new();
        s.read_to_string(&mut resp)?;
        let code = resp
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let body = resp
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default();
        Ok((code, body))
    })
    .join()
    .expect("http_get thread")
}
