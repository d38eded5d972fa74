//! `users import`: CSV rows to users, validated row by row, written one transaction per batch.
//!
//! A bad row never stops the others; it is reported with its line number and reason. A row whose
//! email already exists is counted as present and left alone, so importing twice is harmless.

use std::collections::HashMap;
use std::io::Read;

use crate::store::sql::{Conn, DbError};
use jiff::Timestamp;

use crate::audit::{self, Actor, Event, Outcome};
use crate::input::{self, LimitError, Tape, true_line};
use crate::store::users::{self as sql, NewUser};
use crate::store::{Store, StoreError};
use crate::user::{check_email, check_name, check_username, locale, username_from_email};

/// Rows written per transaction.
pub const BATCH: usize = 500;

/// The longest field accepted (an email is at most 254 bytes, a name 200 characters).
const MAX_FIELD: usize = 1024;

/// A problem with the file as a whole.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The header row is missing or wrong.
    #[error("bad CSV header: {0}")]
    Header(String),
    /// The input could not be read.
    #[error("cannot read CSV: {0}")]
    Read(#[from] csv::Error),
    /// The input is past a size limit ([`input::TEXT_FILE`]).
    #[error(transparent)]
    Input(#[from] LimitError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Writing the audit row failed.
    #[error(transparent)]
    Audit(#[from] audit::AuditError),
}

impl From<DbError> for ImportError {
    fn from(err: DbError) -> Self {
        ImportError::Store(StoreError::Db(err))
    }
}

/// A row that was not imported, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    /// 1-based line number in the file.
    pub line: u64,
    /// What is wrong with it.
    pub reason: String,
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Users created.
    pub imported: u64,
    /// Rows whose email already existed (left unchanged).
    pub present: u64,
    /// Rows refused.
    pub rejected: Vec<Rejected>,
}

#[derive(Debug, Clone, Copy)]
struct Columns {
    email: usize,
    username: Option<usize>,
    name: Option<usize>,
    active: Option<usize>,
    locale: Option<usize>,
    count: usize,
}

fn columns(header: &csv::ByteRecord) -> Result<Columns, ImportError> {
    let mut found: HashMap<String, usize> = HashMap::new();
    for (i, raw) in header.iter().enumerate() {
        let name = String::from_utf8_lossy(raw)
            .trim()
            .trim_start_matches('\u{feff}')
            .to_lowercase();
        if !matches!(
            name.as_str(),
            "email" | "username" | "name" | "active" | "locale"
        ) {
            let name = input::quoted(&name);
            return Err(ImportError::Header(format!("unknown column {name}")));
        }
        if found.insert(name.clone(), i).is_some() {
            return Err(ImportError::Header(format!(
                "column {name:?} appears twice"
            )));
        }
    }
    let email = *found
        .get("email")
        .ok_or_else(|| ImportError::Header("no email column".into()))?;
    Ok(Columns {
        email,
        username: found.get("username").copied(),
        name: found.get("name").copied(),
        active: found.get("active").copied(),
        locale: found.get("locale").copied(),
        count: header.len(),
    })
}

/// A row that parsed and passed validation, not yet checked against the store.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Candidate {
    line: u64,
    user: NewUser,
}

fn field(record: &csv::ByteRecord, index: Option<usize>) -> Result<Option<String>, String> {
    let Some(raw) = index.and_then(|i| record.get(i)) else {
        return Ok(None);
    };
    if raw.len() > MAX_FIELD {
        // No valid field is this long, and a reason quoting it would not be one short line.
        return Err(format!("a field is longer than {MAX_FIELD} bytes"));
    }
    let text = std::str::from_utf8(raw).map_err(|_| "invalid UTF-8".to_string())?;
    if text.chars().any(char::is_control) {
        return Err("contains CR/LF or control characters".into());
    }
    let text = text.trim();
    Ok((!text.is_empty()).then(|| text.to_string()))
}

fn parse_active(text: Option<String>) -> Result<bool, String> {
    match text.as_deref().map(str::to_lowercase).as_deref() {
        None | Some("true" | "yes" | "y" | "1") => Ok(true),
        Some("false" | "no" | "n" | "0") => Ok(false),
        Some(other) => Err(format!("active must be true or false, not {other:?}")),
    }
}

fn candidate(record: &csv::ByteRecord, cols: Columns) -> Result<NewUser, String> {
    if record.len() > cols.count {
        return Err(format!(
            "has {} fields, the header has {}",
            record.len(),
            cols.count
        ));
    }
    let email = field(record, Some(cols.email))?.ok_or("email is empty")?;
    check_email(&email)?;
    let username = field(record, cols.username)?.unwrap_or_else(|| username_from_email(&email));
    check_username(&username)?;
    let display_name = field(record, cols.name)?;
    if let Some(name) = &display_name {
        check_name(name)?;
    }
    let active = parse_active(field(record, cols.active)?)?;
    let locale = field(record, cols.locale)?
        .map(|tag| locale::parse(&tag).map_err(|err| format!("locale {err}")))
        .transpose()?;
    Ok(NewUser {
        username,
        email: Some(email),
        display_name,
        active,
        locale: locale.map(|l| l.to_string()),
    })
}

/// Tracks emails and usernames seen earlier in the file.
#[derive(Debug, Default)]
struct Seen {
    emails: HashMap<String, u64>,
    usernames: HashMap<String, u64>,
}

impl Seen {
    fn check(&mut self, line: u64, user: &NewUser) -> Result<(), String> {
        let email = user.email.as_deref().unwrap_or_default().to_lowercase();
        if let Some(first) = self.emails.get(&email) {
            return Err(format!("duplicate email, first seen on line {first}"));
        }
        let username = user.username.to_lowercase();
        if let Some(first) = self.usernames.get(&username) {
            return Err(format!(
                "duplicate username {:?}, first seen on line {first}",
                user.username
            ));
        }
        self.emails.insert(email, line);
        self.usernames.insert(username, line);
        Ok(())
    }
}

/// Import users from CSV. Bad rows are reported in the returned [`Report`]; only a bad header,
/// unreadable input, input past [`input::TEXT_FILE`] (refused before anything is written) or a
/// store failure is an error. A leading byte-order mark is dropped; lines may end in LF or CRLF.
pub fn import(
    store: &mut Store,
    input: impl Read,
    actor: &Actor,
    now: Timestamp,
) -> Result<Report, ImportError> {
    // Read it all first (bounded), so input past a limit is refused before any row is written.
    let bytes = input::read_all(input, input::TEXT_FILE).map_err(|err| {
        LimitError::split(err).map_or_else(|io| ImportError::Read(io.into()), ImportError::Input)
    })?;
    let tape = Tape::new(bytes.as_slice());
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(tape);
    let mut record = csv::ByteRecord::new();
    if !reader.read_byte_record(&mut record)? {
        return Err(ImportError::Header("the file is empty".into()));
    }
    let cols = columns(&record)?;
    let (mut report, mut seen, mut batch) = (
        Report::default(),
        Seen::default(),
        Vec::with_capacity(BATCH),
    );
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(err) if err.is_io_error() => return Err(err.into()),
            Err(err) => {
                let line = true_line(&mut reader, err.position());
                report.rejected.push(Rejected {
                    line,
                    reason: format!("malformed CSV: {err}"),
                });
                continue;
            }
        }
        let line = true_line(&mut reader, record.position());
        if record.iter().all(<[u8]>::is_empty) {
            continue;
        }
        match candidate(&record, cols).and_then(|user| seen.check(line, &user).map(|()| user)) {
            Ok(user) => batch.push(Candidate { line, user }),
            Err(reason) => report.rejected.push(Rejected { line, reason }),
        }
        if batch.len() == BATCH {
            write_batch(store, &mut batch, &mut report, actor, now)?;
        }
    }
    write_batch(store, &mut batch, &mut report, actor, now)?;
    report.rejected.sort_by_key(|r| r.line);
    record_summary(store, &report, actor, now)?;
    Ok(report)
}

fn write_batch(
    store: &mut Store,
    batch: &mut Vec<Candidate>,
    report: &mut Report,
    actor: &Actor,
    now: Timestamp,
) -> Result<(), ImportError> {
    if batch.is_empty() {
        return Ok(());
    }
    let tx = store.write()?;
    for Candidate { line, user } in batch.drain(..) {
        match place(&tx, &user)? {
            Placement::Present => report.present += 1,
            Placement::Conflict(reason) => report.rejected.push(Rejected { line, reason }),
            Placement::New => {
                let id = sql::insert(&tx, &user, now.as_second())?;
                let created = sql::by_id(&tx, id)?.ok_or_else(DbError::no_rows)?;
                let event = Event::new("user.add", Outcome::Ok)
                    .target(&created)
                    .detail(Some(format!("import line {line}")));
                audit::append(&tx, actor, now, &event)?;
                report.imported += 1;
            }
        }
    }
    tx.commit().map_err(StoreError::from)?;
    Ok(())
}

enum Placement {
    New,
    Present,
    Conflict(String),
}

fn place(conn: &Conn, user: &NewUser) -> Result<Placement, ImportError> {
    if sql::by_email(conn, user.email.as_deref().unwrap_or_default())?.is_some() {
        return Ok(Placement::Present);
    }
    if let Some(other) = sql::by_username(conn, &user.username)? {
        return Ok(Placement::Conflict(format!(
            "username {:?} is taken by another user (#{}); add a username column",
            user.username, other.id
        )));
    }
    Ok(Placement::New)
}

fn record_summary(
    store: &mut Store,
    report: &Report,
    actor: &Actor,
    now: Timestamp,
) -> Result<(), ImportError> {
    let outcome = if report.rejected.is_empty() {
        Outcome::Ok
    } else {
        Outcome::Failed
    };
    let detail = format!(
        "imported {}, already present {}, rejected {}",
        report.imported,
        report.present,
        report.rejected.len()
    );
    let event = Event::new("user.import", outcome).detail(Some(detail));
    audit::record(store, actor, now, &event)?;
    Ok(())
}

#[cfg(test)]
mod tests;
