//! Bounded reading of the text files people hand to pwreset: bulk selections and CSV imports.
//!
//! [`Bounded`] wraps a reader: it drops a leading UTF-8 byte-order mark (what Excel writes) and
//! refuses input past [`Limits`] (total size, number of lines, length of one line) with an I/O
//! error carrying a [`LimitError`], so memory stays bounded whatever the input (`/dev/zero`
//! ends at the first over-long line). It never reads more than the size limit plus one byte.
//! [`Tape`] finds the true line of a CSV record for messages. What the lines mean is the
//! caller's business; nothing here prints or names an exit code.

use std::io::{self, Read, Take};

/// How much input is accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The most bytes in all.
    pub bytes: u64,
    /// The most lines.
    pub lines: u64,
    /// The most bytes on one line, without its line ending.
    pub line_bytes: u64,
}

/// The limits of a bulk selection file and of a CSV import: 16 MiB, 1,000,000 lines, 64 KiB a
/// line.
pub const TEXT_FILE: Limits = Limits {
    bytes: 16 * 1024 * 1024,
    lines: 1_000_000,
    line_bytes: 64 * 1024,
};

/// Input refused for being too big.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    /// More bytes than [`Limits::bytes`].
    #[error("the input is larger than {}", size(*.0))]
    TooLarge(u64),
    /// More lines than [`Limits::lines`].
    #[error("the input has more than {0} lines")]
    TooManyLines(u64),
    /// A line longer than [`Limits::line_bytes`].
    #[error("line {line} is longer than {}", size(*.max))]
    LineTooLong {
        /// The 1-based line number.
        line: u64,
        /// The limit.
        max: u64,
    },
}

impl LimitError {
    /// The limit error inside `err`, or `err` itself when it is another I/O error.
    pub fn split(err: io::Error) -> Result<LimitError, io::Error> {
        match err.get_ref().and_then(|e| e.downcast_ref::<LimitError>()) {
            Some(limit) => Ok(limit.clone()),
            None => Err(err),
        }
    }
}

/// `16777216` as `16 MiB`, `65536` as `64 KiB`.
fn size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 20 && b % (1 << 20) == 0 => format!("{} MiB", b >> 20),
        b if b >= 1 << 10 && b % (1 << 10) == 0 => format!("{} KiB", b >> 10),
        b => format!("{b} bytes"),
    }
}

/// `text` quoted for a one-line message: at most its first 40 characters, escaped, with `...`
/// when cut.
pub fn quoted(text: &str) -> String {
    let shown: String = text.chars().take(40).collect();
    let more = if shown.len() < text.len() { "..." } else { "" };
    format!("{shown:?}{more}")
}

const BOM: &[u8] = b"\xef\xbb\xbf";

/// A reader that strips a leading BOM and enforces [`Limits`] (see the module doc).
pub struct Bounded<R> {
    inner: Take<R>,
    limits: Limits,
    /// Bytes read ahead while looking for a BOM, not yet handed out.
    head: Vec<u8>,
    started: bool,
    total: u64,
    line: u64,
    line_len: u64,
    failed: Option<LimitError>,
}

impl<R: Read> Bounded<R> {
    /// Wrap `inner`.
    pub fn new(inner: R, limits: Limits) -> Bounded<R> {
        Bounded {
            inner: inner.take(limits.bytes.saturating_add(1)),
            limits,
            head: Vec::new(),
            started: false,
            total: 0,
            line: 1,
            line_len: 0,
            failed: None,
        }
    }

    fn start(&mut self) -> io::Result<()> {
        self.started = true;
        let mut head = [0; 3];
        let mut filled = 0;
        while filled < head.len() {
            match self.inner.read(&mut head[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if &head[..filled] != BOM {
            self.head.extend_from_slice(&head[..filled]);
        }
        Ok(())
    }

    /// Count `bytes` against the limits.
    fn check(&mut self, bytes: &[u8]) -> Result<(), LimitError> {
        self.total += bytes.len() as u64;
        if self.total > self.limits.bytes {
            return Err(LimitError::TooLarge(self.limits.bytes));
        }
        for &b in bytes {
            if self.line > self.limits.lines {
                return Err(LimitError::TooManyLines(self.limits.lines));
            }
            if b == b'\n' {
                self.line += 1;
                self.line_len = 0;
                continue;
            }
            self.line_len += 1;
            if self.line_len > self.limits.line_bytes + 1
                || (self.line_len > self.limits.line_bytes && b != b'\r')
            {
                return Err(LimitError::LineTooLong {
                    line: self.line,
                    max: self.limits.line_bytes,
                });
            }
        }
        Ok(())
    }
}

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if let Some(err) = &self.failed {
            return Err(io::Error::new(io::ErrorKind::InvalidData, err.clone()));
        }
        if !self.started {
            self.start()?;
        }
        let n = if self.head.is_empty() {
            self.inner.read(out)?
        } else {
            let n = self.head.len().min(out.len());
            out[..n].copy_from_slice(&self.head[..n]);
            self.head.drain(..n);
            n
        };
        if let Err(err) = self.check(&out[..n]) {
            self.failed = Some(err.clone());
            return Err(io::Error::new(io::ErrorKind::InvalidData, err));
        }
        Ok(n)
    }
}

/// Read all of `input` within `limits`, without a leading BOM.
pub fn read_all(input: impl Read, limits: Limits) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    Bounded::new(input, limits).read_to_end(&mut out)?;
    Ok(out)
}

/// The input as the CSV reader sees it, keeping the bytes read but not yet passed so the true
/// line of a record can be found: the csv crate reports a record at the start of any blank lines
/// it skipped before it. Memory stays bounded by the reader's read-ahead.
pub struct Tape<R> {
    inner: R,
    start: u64,
    buf: Vec<u8>,
}

impl<R: Read> Read for Tape<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(out)?;
        self.buf.extend_from_slice(&out[..n]);
        Ok(n)
    }
}

impl<R> Tape<R> {
    /// Wrap `inner`.
    pub fn new(inner: R) -> Tape<R> {
        Tape {
            inner,
            start: 0,
            buf: Vec::new(),
        }
    }

    /// The 1-based line on which the record at `pos` really starts.
    pub fn line(&mut self, pos: &csv::Position) -> u64 {
        let from = usize::try_from(pos.byte().saturating_sub(self.start)).unwrap_or(usize::MAX);
        self.buf.drain(..from.min(self.buf.len()));
        self.start = pos.byte().max(self.start);
        let blank = self
            .buf
            .iter()
            .take_while(|b| matches!(b, b'\n' | b'\r'))
            .filter(|b| **b == b'\n');
        pos.line() + blank.count() as u64
    }
}

/// The 1-based line on which the record at `pos` really starts (0 if unknown).
pub fn true_line<R: Read>(reader: &mut csv::Reader<Tape<R>>, pos: Option<&csv::Position>) -> u64 {
    pos.map_or(0, |pos| reader.get_mut().line(pos))
}

#[cfg(test)]
mod tests;
