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
        crate::support::connect_bounded(&self.addr)
    }

    /// Send a raw request (with `Connection: close`) and read the whole reply.
    pub fn request(&mut self, raw: &str) -> String {
        let mut stream = self.connect();
        stream.write_all(raw.as_bytes()).expect("send");
        read_all(&mut stream)
    }

    /// The process.
    pub fn child_ref(&self) -> &Child {
        self.child.as_ref().expect("running")
    }

    /// Send `sig` and wait (bounded) for the exit; stderr holds every line, read or not.
    pub fn stop(self, sig: Signal) -> Output {
        crate::concurrency::signal(self.child_ref(), sig);
        self.stop_signalled()
    }

    /// Wait (bounded) for the exit of a server already signalled.
    pub fn stop_signalled(mut self) -> Output {
        let child = self.child.take().expect("running");
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

/// A parsed reply.
pub struct Reply {
    /// The status code.
    pub status: u16,
    head: String,
    /// The body.
    pub body: String,
}

impl Reply {
    /// Parse a raw HTTP/1.1 reply (a `100 Continue` before it is skipped).
    pub fn parse(raw: &str) -> Reply {
        let raw = raw
            .strip_prefix("HTTP/1.1 100 Continue\r\n\r\n")
            .unwrap_or(raw);
        let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((raw, ""));
        let status = head
            .get(9..12)
            .and_then(|code| code.parse().ok())
            .unwrap_or_else(|| panic!("not an HTTP reply: {raw}"));
        Reply {
            status,
            head: head.to_string(),
            body: body.to_string(),
        }
    }

    /// The value of header `name` (first one).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name).then(|| value.trim())
        })
    }

    /// `name=value` of the cookie `name` the reply sets.
    pub fn cookie(&self, name: &str) -> String {
        self.head
            .lines()
            .filter_map(|line| line.split_once(':'))
            .filter(|(key, _)| key.eq_ignore_ascii_case("set-cookie"))
            .map(|(_, value)| value.trim())
            .find(|value| value.starts_with(&format!("{name}=")))
            .map_or_else(
                || panic!("no {name} cookie in:\n{}", self.head),
                |value| value[..value.find(';').unwrap_or(value.len())].to_string(),
            )
    }

    /// The hidden `csrf` field's value.
    pub fn csrf(&self) -> String {
        let marker = "name=\"csrf\" value=\"";
        let at = self.body.find(marker).expect("a csrf field") + marker.len();
        self.body[at..at + 64].to_string()
    }
}

impl Server {
    /// A browser's GET of `target` with `cookie` (may be empty).
    pub fn get(&mut self, target: &str, cookie: &str) -> Reply {
        let cookie = if cookie.is_empty() {
            String::new()
        } else {
            format!("Cookie: {cookie}\r\n")
        };
        Reply::parse(&self.request(&format!(
            "GET {target} HTTP/1.1\r\nHost: x\r\nAccept: text/html\r\nSec-Fetch-Mode: navigate\r\n{cookie}Connection: close\r\n\r\n"
        )))
    }

    /// The head of a same-origin form POST of `body` to `target` with `cookie`.
    pub fn post_head(target: &str, cookie: &str, body: &str, expect: bool) -> String {
        let expect = if expect {
            "Expect: 100-continue\r\n"
        } else {
            ""
        };
        format!(
            "POST {target} HTTP/1.1\r\nHost: x\r\nSec-Fetch-Site: same-origin\r\nOrigin: null\r\nCookie: {cookie}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n{expect}Connection: close\r\n\r\n",
            body.len()
        )
    }
}

/// A form body.
pub fn form(fields: &[(&str, &str)]) -> String {
    fields
        .iter()
        .map(|(key, value)| {
            let value: String = value
                .bytes()
                .map(|b| match b {
                    b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => {
                        (b as char).to_string()
                    }
                    other => format!("%{other:02X}"),
                })
                .collect();
            format!("{key}={value}")
        })
        .collect::<Vec<_>>()
        .join("&")
}
