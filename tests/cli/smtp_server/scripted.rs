//! A small SMTP server written out by hand, for the faults mailin cannot produce: stalls (at
//! the greeting, after RCPT, after the end of DATA), a 421 greeting, a connection dropped in
//! the middle of DATA, a 552 to the message, and QUIT left unanswered. It speaks enough SMTP for lettre (EHLO, MAIL,
//! RCPT, DATA, RSET, NOOP, QUIT; no TLS, no AUTH) and stores what it accepts in the same
//! [`Shared`] as the mailin server, so tests read it the same way.
//!
//! A stall reads and discards whatever the client sends until the client hangs up (pwreset
//! drops a connection that timed out) or [`SESSION_LIMIT`] passes: no thread outlives a test by
//! more than that.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use super::{Fault, Received, Shared};

/// How long a session may sit without the client saying anything: also the longest a stall
/// lasts once the client stopped talking without hanging up.
const SESSION_LIMIT: Duration = Duration::from_secs(60);

/// Whether this fault needs the hand-written server.
pub(super) fn needs_script(fault: &Fault) -> bool {
    matches!(
        fault,
        Fault::StallAtGreeting { .. }
            | Fault::RefuseAtGreeting { .. }
            | Fault::StallAfterRcpt { .. }
            | Fault::DropDuringData { .. }
            | Fault::StallAfterDataEnd { .. }
            | Fault::RejectAfterData { .. }
            | Fault::StallAtQuit
    )
}

/// Serve `listener` on a thread of its own, a thread per connection.
pub(super) fn spawn(listener: TcpListener, shared: Arc<Shared>) {
    let connections = AtomicUsize::new(0);
    thread::Builder::new()
        .name("smtp-scripted".to_owned())
        .spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let nth = connections.fetch_add(1, Ordering::SeqCst) + 1;
                let shared = Arc::clone(&shared);
                let _ = thread::Builder::new()
                    .name(format!("smtp-scripted-{nth}"))
                    .spawn(move || {
                        let _ = Session::new(&shared, stream).and_then(|s| s.serve(nth));
                    });
            }
        })
        .expect("spawn the scripted SMTP server thread");
}

/// One connection.
struct Session<'s> {
    shared: &'s Shared,
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    from: String,
    to: Vec<String>,
}

impl<'s> Session<'s> {
    fn new(shared: &'s Shared, stream: TcpStream) -> io::Result<Self> {
        stream.set_read_timeout(Some(SESSION_LIMIT))?;
        Ok(Session {
            shared,
            reader: BufReader::new(stream.try_clone()?),
            writer: stream,
            from: String::new(),
            to: Vec::new(),
        })
    }

    fn has(&self, fault: &Fault) -> bool {
        self.shared.faults.contains(fault)
    }

    /// The fault for mail to the current recipients, if one matches.
    fn data_fault(&self) -> Option<&'s Fault> {
        self.shared.faults.iter().find(|fault| match fault {
            Fault::DropDuringData { to }
            | Fault::StallAfterDataEnd { to }
            | Fault::RejectAfterData { to, .. } => {
                self.to.iter().any(|t| t.eq_ignore_ascii_case(to))
            }
            _ => false,
        })
    }

    fn reply(&mut self, text: &str) -> io::Result<()> {
        self.writer.write_all(text.as_bytes())?;
        self.writer.write_all(b"\r\n")
    }

    /// Read and drop everything until the client hangs up or goes quiet for the session limit.
    fn stall(mut self) -> io::Result<()> {
        let mut sink = [0_u8; 1024];
        while self.reader.read(&mut sink)? > 0 {}
        Ok(())
    }

    fn serve(mut self, connection: usize) -> io::Result<()> {
        if self.has(&Fault::StallAtGreeting { connection }) {
            return self.stall();
        }
        if self.has(&Fault::RefuseAtGreeting { connection }) {
            return self.reply("421 4.3.2 localhost busy, try again later (injected fault)");
        }
        self.reply("220 localhost ESMTP scripted test server")?;
        let mut line = String::new();
        loop {
            line.clear();
            if self.reader.read_line(&mut line)? == 0 {
                return Ok(());
            }
            let verb = line.get(..4).unwrap_or_default().to_ascii_uppercase();
            match verb.as_str() {
                "EHLO" => self.reply("250-localhost\r\n250-8BITMIME\r\n250 PIPELINING")?,
                "HELO" | "RSET" | "NOOP" => self.reply("250 OK")?,
                "MAIL" => {
                    self.from = address_in(&line);
                    self.to.clear();
                    self.reply("250 OK")?;
                }
                "RCPT" => {
                    let to = address_in(&line);
                    self.shared.rcpt_seen.fetch_add(1, Ordering::SeqCst);
                    self.reply("250 OK")?;
                    if self.has(&Fault::StallAfterRcpt { to: to.clone() }) {
                        return self.stall();
                    }
                    self.to.push(to);
                }
                "DATA" => {
                    if !self.data()? {
                        return Ok(());
                    }
                }
                "QUIT" if self.has(&Fault::StallAtQuit) => return self.stall(),
                "QUIT" => return self.reply("221 Bye"),
                _ => self.reply("502 Command not implemented")?,
            }
        }
    }

    /// DATA: the message, then the answer. False when the session ends here.
    fn data(&mut self) -> io::Result<bool> {
        self.reply("354 End data with <CR><LF>.<CR><LF>")?;
        let fault = self.data_fault();
        if let Some(Fault::DropDuringData { .. }) = fault {
            let mut first = String::new();
            self.reader.read_line(&mut first)?;
            self.writer.shutdown(std::net::Shutdown::Both)?;
            return Ok(false);
        }
        let data = self.message()?;
        match fault {
            Some(Fault::RejectAfterData { code, .. }) => {
                self.reply(&format!("{code} 5.3.4 Message too big (injected fault)"))?;
                return Ok(true);
            }
            Some(Fault::StallAfterDataEnd { .. }) => {
                // The whole message arrived; only the answer is lost. Kept, as a real server
                // that stalls here may well deliver it.
                self.store(data);
                let mut sink = [0_u8; 1024];
                while self.reader.read(&mut sink)? > 0 {}
                return Ok(false);
            }
            _ => {}
        }
        self.store(data);
        self.reply("250 2.0.0 OK: queued")?;
        Ok(true)
    }

    /// The message up to the lone dot, dot-unstuffed, CRLF line ends kept.
    fn message(&mut self) -> io::Result<Vec<u8>> {
        let mut data = Vec::new();
        let mut line = Vec::new();
        loop {
            line.clear();
            if self.reader.read_until(b'\n', &mut line)? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            if line == b".\r\n" {
                return Ok(data);
            }
            let unstuffed = if line.starts_with(b"..") {
                &line[1..]
            } else {
                &line[..]
            };
            data.extend_from_slice(unstuffed);
        }
    }

    fn store(&mut self, data: Vec<u8>) {
        let received = Received {
            from: std::mem::take(&mut self.from),
            to: std::mem::take(&mut self.to),
            data,
            auth_user: None,
        };
        self.shared.messages().push(received);
        self.shared.arrived.notify_all();
    }
}

/// The address between `<` and `>` in a MAIL or RCPT line.
fn address_in(line: &str) -> String {
    line.split_once('<')
        .and_then(|(_, rest)| rest.split_once('>'))
        .map(|(address, _)| address.to_owned())
        .unwrap_or_default()
}
