//! A running `pwreset serve` and a minimal HTTP/1.1 client over a std `TcpStream`, every read
//! bounded by a timeout.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Output};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use crate::support::{DEADLINE, TestEnv};

/// A started server: its process, its address and its stderr lines so far.
pub struct Server {
    child: Option<Child>,
    /// `http://ADDR/P` from the listening line.
    pub url: String,
    /// `ADDR`.
    pub addr: String,
    lines: Receiver<String>,
    seen: Vec<String>,
}

impl Server {
    /// Start `pwreset serve --bind 127.0.0.1:0 EXTRA...` and wait (bounded) for its listening line.
    pub fn start(env: &TestEnv, extra: &[&str]) -> Server {
        let mut args = vec!["serve", "--bind", "127.0.0.1:0"];
        args.extend_from_slice(extra);
        let mut child = env.spawn(&args);
        let stderr = child.stderr.take().expect("stderr piped");
        let (send, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        let mut server = Server {
            child: Some(child),
            url: String::new(),
            addr: String::new(),
            lines,
            seen: Vec::new(),
        };
        let line = server.wait_line("listening on http://");
        server.url = line["listening on ".len()..].to_string();
        let rest = &server.url["http://".len()..];
        server.addr = rest[..rest.find('/').unwrap_or(rest.len())].to_string();
        server
    }

    /// Wait (bounded) for a stderr line containing `needle`.
    pub fn wait_line(&mut self, needle: &str) -> String {
        if let Some(line) = self.seen.iter().find(|l| l.contains(needle)) {
            return line.clone();
        }
        let until = Instant::now() + DEADLINE;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(err) => panic!(
                    "no line with {needle:?} within {DEADLINE:?} ({err}); stderr so far:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }

    /// A connection to the server, with bounded reads and writes.
    pub fn connect(&self) -> TcpStream {
        let stream = TcpStream::connect(&self.addr).expect("connect");
        stream
            .set_read_timeout(Some(DEADLINE))
            .expect("read timeout");
        stream
            .set_write_timeout(Some(DEADLINE))
            .expect("write timeout");
        stream
    }

    /// Send a raw request (with `Connection: close`) and read the whole reply.
    pub fn request(&mut self, raw: &str) -> String {
        let mut stream = self.connect();
        stream.write_all(raw.as_bytes()).expect("send");
        read_all(&mut stream)
    }

    /// Send `sig` and wait (bounded) for the exit; stderr holds every line, read or not.
    pub fn stop(mut self, sig: Signal) -> Output {
        let child = self.child.take().expect("running");
        crate::concurrency::signal(&child, sig);
        let mut out = crate::support::finish(child);
        let until = Instant::now() + Duration::from_secs(5);
        while let Ok(line) = self
            .lines
            .recv_timeout(until.saturating_duration_since(Instant::now()))
        {
            self.seen.push(line);
        }
        out.stderr = self.seen.join("\n").into_bytes();
        out
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Read until the server closes the connection (bounded by the stream's read timeout).
pub fn read_all(stream: &mut TcpStream) -> String {
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes).expect("read the reply");
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Append `text` to the test's config file.
pub fn append_config(env: &TestEnv, text: &str) {
    let path = env.path("pwreset.toml");
    let mut config = std::fs::read_to_string(&path).expect("config");
    config.push_str(text);
    std::fs::write(&path, config).expect("write config");
}
