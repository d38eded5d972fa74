//! `pwreset serve` as a process for the browser tests: a temp dir whose config points the link
//! at a free port, the link mail read back from `outbox/`, the server started and waited for
//! (its `listening on` line, with a deadline) and stopped with SIGTERM. It drives no browser.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::Ipv4Addr;
use std::process::{Child, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::{DEADLINE, TestEnv, text_part};

use super::harness::free_port;

/// The path of `links.base_url`, as in the quick start.
pub const PATH: &str = "/reset-password";

/// A temp dir with the sample users whose links point at `http://127.0.0.1:PORT/reset-password`.
pub struct Site {
    /// The temp dir with config, store and outbox.
    pub env: TestEnv,
    port: u16,
}

/// What a link mail carries for the page.
pub struct LinkMail {
    /// The reset link, `...reset-password?token=...`.
    pub link: String,
    /// The "this wasn't me" link, `.../cancel?cancel=...`.
    pub cancel: String,
    /// The one-time code, `XXXX-XXXX`, when codes are on.
    pub code: Option<String>,
}

impl Site {
    /// `pwreset init --sample-users`, then `links.base_url` and `[serve] bind` on a free port.
    pub fn new() -> Self {
        let env = TestEnv::with_samples();
        let port = free_port();
        let config = std::fs::read_to_string(env.path("pwreset.toml")).expect("read the config");
        let default_url = "base_url = \"http://localhost:8080/reset-password\"";
        assert!(
            config.contains(default_url),
            "init wrote the default base_url"
        );
        let config = config.replace(
            default_url,
            &format!("base_url = \"http://127.0.0.1:{port}{PATH}\""),
        ) + &format!("\n[serve]\nbind = \"127.0.0.1:{port}\"\n");
        env.write("pwreset.toml", &config);
        Site { env, port }
    }

    /// The port `pwreset serve` listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:PORT/reset-password` followed by `rest`.
    pub fn url(&self, rest: &str) -> String {
        format!("http://127.0.0.1:{}{PATH}{rest}", self.port)
    }

    /// Send `user` a link (file transport) and read it back from the new mail's text part.
    pub fn send_link(&self, user: &str) -> LinkMail {
        let before = self.env.outbox().len();
        self.env.ok(&["send-link", user, "--force"]);
        let mails = self.env.outbox();
        assert_eq!(mails.len(), before + 1, "one new mail");
        link_mail(&text_part(mails.last().expect("a mail")))
    }

    /// Start `pwreset serve` with its clock at `now` and wait for its `listening on` line.
    pub fn serve_at(&self, now: &str) -> Serving {
        let mut child = self
            .env
            .process(&["serve"])
            .env("PWRESET_TEST_NOW", now)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start pwreset serve");
        let (lines, seen) = read_lines(child.stderr.take().expect("piped stderr"));
        let serving = Serving { child, lines };
        let expected = format!("listening on http://127.0.0.1:{}{PATH}", self.port);
        let until = Instant::now() + DEADLINE;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            match seen.recv_timeout(left) {
                Ok(line) if line == expected => return serving,
                Ok(_) => {}
                Err(why) => panic!(
                    "pwreset serve did not print {expected:?} within {DEADLINE:?} ({why}); \
                     stderr:\n{}",
                    serving.stderr()
                ),
            }
        }
    }
}

/// The reset link, the cancel link and the code in a link mail's text.
fn link_mail(text: &str) -> LinkMail {
    let words: Vec<&str> = text
        .split_whitespace()
        .map(|w| w.trim_matches(|c: char| "<>()[].,;\"'".contains(c)))
        .collect();
    let links: Vec<&str> = words
        .iter()
        .copied()
        .filter(|w| w.starts_with("http") && (w.contains("?token=") || w.contains("?cancel=")))
        .collect();
    let pick = |cancel: bool| {
        links
            .iter()
            .find(|w| w.contains("/cancel?cancel=") == cancel)
            .unwrap_or_else(|| {
                panic!(
                    "no {} link in the mail:\n{text}",
                    ["reset", "cancel"][usize::from(cancel)]
                )
            })
            .to_string()
    };
    LinkMail {
        link: pick(false),
        cancel: pick(true),
        code: words.iter().find(|w| is_code(w)).map(|w| (*w).to_string()),
    }
}

/// `K7QF-M2XD`: two groups of four Crockford base32 characters.
fn is_code(word: &str) -> bool {
    let crockford = |c: char| c.is_ascii_digit() || (c.is_ascii_uppercase() && !"ILOU".contains(c));
    word.len() == 9
        && word
            .chars()
            .enumerate()
            .all(|(i, c)| if i == 4 { c == '-' } else { crockford(c) })
}

/// Collect a pipe's lines (for [`Serving::stderr`]) and pass each on as it comes.
fn read_lines(pipe: impl Read + Send + 'static) -> (Arc<Mutex<Vec<String>>>, Receiver<String>) {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let (send, seen) = mpsc::channel();
    let kept = Arc::clone(&lines);
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            kept.lock().expect("stderr lines").push(line.clone());
            let _ = send.send(line);
        }
    });
    (lines, seen)
}

/// A running `pwreset serve`, sent SIGTERM when dropped.
pub struct Serving {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Serving {
    /// Everything it wrote on stderr so far.
    pub fn stderr(&self) -> String {
        self.lines.lock().expect("stderr lines").join("\n")
    }

    /// Send SIGTERM and wait for it to exit; returns its status and stderr. Fails the test if
    /// it is still running [`DEADLINE`] after the signal.
    pub fn stop(mut self) -> (ExitStatus, String) {
        let status = self
            .terminate()
            .unwrap_or_else(|| panic!("pwreset serve did not stop within {DEADLINE:?} of SIGTERM"));
        // The reader thread ends with the pipe; give it a moment to hand over the last lines.
        std::thread::sleep(Duration::from_millis(100));
        (status, self.stderr())
    }

    /// SIGTERM, then wait up to [`DEADLINE`]; past it, kill it and return `None`.
    fn terminate(&mut self) -> Option<ExitStatus> {
        let pid = nix::unistd::Pid::from_raw(i32::try_from(self.child.id()).expect("a pid"));
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let until = Instant::now() + DEADLINE;
        while Instant::now() < until {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        None
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.terminate();
        }
    }
}

/// A request as a mail scanner makes it (no browser headers); returns the status code.
pub fn scanner_request(port: u16, method: &str, path_and_query: &str) -> u16 {
    let mut stream = crate::support::connect_bounded((Ipv4Addr::LOCALHOST, port));
    write!(
        stream,
        "{method} {path_and_query} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\
         User-Agent: LinkScanner/1.0\r\nAccept: */*\r\nConnection: close\r\n\r\n"
    )
    .expect("send the request");
    let mut head = String::new();
    BufReader::new(stream)
        .read_line(&mut head)
        .expect("read the status line");
    head.split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP status line: {head:?}"))
}
