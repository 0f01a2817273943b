//! A bounded load generator for the zero-downtime test: threads sending
//! `GET /` through the balancer (loopback only), some over one keep-alive
//! connection, some with a new connection per request, some slow (the app
//! answers after [`SLOW`]), counting every response. A request fails
//! unless it gets a 200 whose body is a release page; a broken connection
//! fails the request it carried.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Each thread sends at most this many requests; the load stops then even
/// if nobody stops it.
const MAX_PER_THREAD: usize = 20_000;
/// Between two requests of a thread.
const GAP: Duration = Duration::from_millis(3);
const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a slow request takes (the app's `?slow=`).
const SLOW: Duration = Duration::from_millis(1500);

/// How a thread sends its requests.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    KeepAlive,
    Fresh,
    Slow,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    pub requests: usize,
    pub failed: usize,
}

pub(crate) struct Load {
    stop: Arc<AtomicBool>,
    requests: Arc<AtomicUsize>,
    failed: Arc<AtomicUsize>,
    /// The first few failures, for the assertion message.
    seen: Arc<std::sync::Mutex<Vec<String>>>,
    threads: Vec<JoinHandle<()>>,
    started: Instant,
}

impl Load {
    /// `keep_alive` threads on one connection each, `fresh` threads with a
    /// new connection per request, `slow` threads of slow requests (keep-alive
    /// too), all to `addr`.
    pub(crate) fn start(addr: SocketAddr, keep_alive: usize, fresh: usize, slow: usize) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(AtomicUsize::new(0));
        let failed = Arc::new(AtomicUsize::new(0));
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let kinds = std::iter::repeat_n(Kind::KeepAlive, keep_alive)
            .chain(std::iter::repeat_n(Kind::Fresh, fresh))
            .chain(std::iter::repeat_n(Kind::Slow, slow));
        let threads = kinds
            .map(|kind| {
                let (stop, requests, failed, seen) =
                    (stop.clone(), requests.clone(), failed.clone(), seen.clone());
                std::thread::spawn(move || {
                    let mut conn: Option<BufReader<TcpStream>> = None;
                    for _ in 0..MAX_PER_THREAD {
                        if stop.load(Ordering::SeqCst) {
                            break;
                        }
                        let result = request(addr, &mut conn, kind);
                        requests.fetch_add(1, Ordering::SeqCst);
                        if let Err(why) = result {
                            failed.fetch_add(1, Ordering::SeqCst);
                            conn = None;
                            let mut seen = seen.lock().unwrap();
                            if seen.len() < 5 {
                                seen.push(why);
                            }
                        }
                        std::thread::sleep(GAP);
                    }
                })
            })
            .collect();
        Load {
            stop,
            requests,
            failed,
            seen,
            threads,
            started: Instant::now(),
        }
    }

    /// Stop every thread (each ends its request in flight) and count.
    pub(crate) fn finish(self) -> (Counts, Duration, Vec<String>) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads {
            t.join().unwrap();
        }
        let counts = Counts {
            requests: self.requests.load(Ordering::SeqCst),
            failed: self.failed.load(Ordering::SeqCst),
        };
        let seen = self.seen.lock().unwrap().clone();
        (counts, self.started.elapsed(), seen)
    }
}

/// One request; `Err` says why it failed.
fn request(
    addr: SocketAddr,
    conn: &mut Option<BufReader<TcpStream>>,
    kind: Kind,
) -> Result<(), String> {
    let reuse = kind != Kind::Fresh;
    if conn.is_none() || !reuse {
        let stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT).map_err(|e| e.to_string())?;
        stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
        *conn = Some(BufReader::new(stream));
    }
    let r = conn.as_mut().unwrap();
    let close = if reuse { "keep-alive" } else { "close" };
    let target = if kind == Kind::Slow {
        format!("/?slow={}", SLOW.as_millis())
    } else {
        "/".to_string()
    };
    let req = format!("GET {target} HTTP/1.1\r\nHost: app\r\nConnection: {close}\r\n\r\n");
    r.get_mut()
        .write_all(req.as_bytes())
        .map_err(|e| format!("write: {e}"))?;
    let mut status = String::new();
    r.read_line(&mut status).map_err(|e| format!("read: {e}"))?;
    let mut length = None;
    let mut server_closes = false;
    loop {
        let mut line = String::new();
        r.read_line(&mut line).map_err(|e| format!("read: {e}"))?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let lower = line.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("content-length:") {
            length = v.trim().parse::<usize>().ok();
        }
        if lower == "connection: close" {
            server_closes = true;
        }
    }
    let mut body = Vec::new();
    if let Some(n) = length {
        body.resize(n, 0);
        r.read_exact(&mut body).map_err(|e| format!("body: {e}"))?;
    } else {
        r.read_to_end(&mut body).map_err(|e| format!("body: {e}"))?;
        server_closes = true;
    }
    if server_closes {
        *conn = None;
    }
    let code = status.split_whitespace().nth(1).unwrap_or("");
    if code == "200" && body.starts_with(b"release ") {
        Ok(())
    } else {
        Err(format!(
            "{} {:?}",
            status.trim_end(),
            String::from_utf8_lossy(&body)
        ))
    }
}
