//! A one-page web site served by the test itself on 127.0.0.1: every request gets the same
//! fixed HTML. It proves the harness without pwreset and plays the attacker's site in the
//! cross-site test; it must not grow into a web server (no routing, no state).

use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

/// How long one client may take to send its request.
const READ_LIMIT: Duration = Duration::from_secs(5);

/// The site, answering until dropped.
pub struct StaticSite {
    port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl StaticSite {
    /// Serve `html` (a whole document) on a free port of 127.0.0.1.
    pub fn serve(html: &str) -> Self {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0");
        listener.set_nonblocking(true).expect("non-blocking accept");
        let port = listener.local_addr().expect("local address").port();
        let stop = Arc::new(AtomicBool::new(false));
        let response = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n\
             Content-Length: {}\r\nConnection: close\r\nCache-Control: no-store\r\n\r\n{html}",
            html.len()
        );
        let thread = {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || accept_until(&listener, &stop, response.as_bytes()))
        };
        StaticSite {
            port,
            stop,
            thread: Some(thread),
        }
    }

    /// The port it listens on (reach it as `127.0.0.1` or `localhost`).
    pub fn port(&self) -> u16 {
        self.port
    }
}

impl Drop for StaticSite {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn accept_until(listener: &TcpListener, stop: &AtomicBool, response: &[u8]) {
    while !stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, _)) => answer(stream, response),
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

/// Read the request head (bounded by [`READ_LIMIT`]) and send the page.
fn answer(stream: TcpStream, response: &[u8]) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(READ_LIMIT));
    let _ = stream.set_write_timeout(Some(READ_LIMIT));
    let mut reader = BufReader::new(&stream);
    let mut line = String::new();
    for _ in 0..100 {
        line.clear();
        match reader.read_line(&mut line) {
            Ok(n) if n > 0 && line != "\r\n" => {}
            _ => break,
        }
    }
    let _ = (&stream).write_all(response);
}
