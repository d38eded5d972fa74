//! `pwreset config show|check`: the resolved settings with where each came from, and a check
//! of everything a real run needs, reporting every problem at once.

use serde::Serialize;

use super::Context;
use crate::cli::CommandResult;
use crate::cli::exit::{Exit, Failure};
use crate::cli::output::{ListWriter, Record};
use crate::config::{LoadedConfig, Transport, settings_of};
use crate::db_url::StoreLocation;
use crate::settings::{
    self, PasswordOrigin, ReadableByOthers, SecretError, Source, secret_from_env,
};
use crate::store::Store;

/// Show or check the configuration
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Show every setting, its value, and where it came from (default, file, environment, flag)
    #[command(
        after_help = "Secrets are never shown: the SMTP password appears only as where it would come from.\n\nExamples:\n  pwreset config show\n  pwreset --db /tmp/test.db config show --format json"
    )]
    Show,
    /// Check the config, store, file modes, templates and mail settings; report all problems
    #[command(
        after_help = "Exits 0 when everything is ready for a real run, 8 otherwise.\n\nExamples:\n  pwreset config check\n  pwreset -c /etc/pwreset/config.toml config check"
    )]
    Check,
}

/// Run a `config` subcommand.
pub fn run(ctx: &Context, command: Command) -> CommandResult<Exit> {
    match command {
        Command::Show => show(ctx),
        Command::Check => check(ctx),
    }
}

#[derive(Serialize)]
struct SettingRow {
    key: String,
    value: String,
    source: &'static str,
}

impl Record for SettingRow {
    const HEADINGS: &'static [&'static str] = &["SETTING", "VALUE", "SOURCE"];
    fn cells(&self) -> Vec<String> {
        vec![self.key.clone(), self.value.clone(), self.source.into()]
    }
}

fn display(value: &toml::Value) -> String {
    match value {
        toml::Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

fn rows(ctx: &Context, config: &LoadedConfig) -> Vec<SettingRow> {
    let sources = ctx.settings.sources;
    let location = match sources.config {
        Source::Default => "search path",
        other => other.as_str(),
    };
    let mut rows = vec![SettingRow {
        key: "config".into(),
        value: config.path.display().to_string(),
        source: location,
    }];
    for (key, value) in settings_of(&config.config) {
        let source = if config.set_keys.contains(&key) {
            "file"
        } else {
            "default"
        };
        let row = match key.as_str() {
            "store.path" if sources.db != Source::Default => SettingRow {
                key,
                value: ctx
                    .settings
                    .db_override()
                    .map(store_display)
                    .unwrap_or_default(),
                source: sources.db.as_str(),
            },
            _ => SettingRow {
                key,
                value: display(&value),
                source,
            },
        };
        rows.push(row);
    }
    rows.push(SettingRow {
        key: "mail.smtp.password".into(),
        value: password_origin(config),
        source: "environment",
    });
    rows.push(SettingRow {
        key: "format".into(),
        value: format!("{:?}", ctx.settings.format).to_lowercase(),
        source: sources.format.as_str(),
    });
    rows
}

/// A store location as shown: the path, or the URL without a password (it never holds one).
fn store_display(location: &StoreLocation) -> String {
    match location {
        StoreLocation::Sqlite(path) => path.display().to_string(),
        StoreLocation::Postgres(target) => target.to_string(),
    }
}

/// Where the SMTP password would come from; never the password itself.
fn password_origin(config: &LoadedConfig) -> String {
    let smtp = &config.config.mail.smtp;
    if secret_from_env(&smtp.password_env).is_some() {
        return format!("(redacted; set in ${})", smtp.password_env);
    }
    match &smtp.password_file {
        Some(file) => format!("(redacted; from {})", config.resolve(file).display()),
        None => format!(
            "(not set; ${} or mail.smtp.password_file)",
            smtp.password_env
        ),
    }
}

fn show(ctx: &Context) -> CommandResult<Exit> {
    let config = ctx.config()?;
    let mut writer = ListWriter::new::<SettingRow>(
        ctx.settings.format,
        std::io::stdout().lock(),
        ctx.ui.stdout_is_terminal(),
    );
    for row in rows(ctx, &config) {
        writer.row(&row)?;
    }
    writer.finish()?;
    Ok(Exit::Ok)
}

fn check(ctx: &Context) -> CommandResult<Exit> {
    let config = ctx.config()?;
    let mut problems = Vec::new();
    let location = ctx.settings.store_location(&config)?;
    let mut private = vec![(config.path.clone(), "config file")];
    if let StoreLocation::Sqlite(db) = &location {
        private.push((db.clone(), "store"));
    }
    for (path, what) in private {
        if let Some(loose) = settings::readable_by_others(&path) {
            problems.push(format!("{}: chmod 600 it", loose.describe(what)));
        }
    }
    // The same checks a real run makes before it opens the store or builds a mailer.
    let opened = match &location {
        StoreLocation::Sqlite(db) => Store::open(db, config.config.store.busy_timeout_ms)
            .map(drop)
            .map_err(|err| super::error::message(&err.into()))
            .and(
                ctx.check_store_files(db)
                    .map_err(|e| super::error::message(e.error())),
            ),
        StoreLocation::Postgres(_) => ctx
            .store_opener(&config)
            .and_then(|opener| Ok(opener.open().map(drop)?))
            .map_err(|e| super::error::message(e.error())),
    };
    problems.extend(opened.err());
    let trust = [
        ctx.audit_key(&config).map(drop),
        ctx.check_mail_files(&config),
    ];
    for err in trust.into_iter().filter_map(Result::err) {
        problems.push(super::error::message(err.error()));
    }
    if config.config.links.base_url.is_none() {
        problems.push("links.base_url is not set: send-link and bulk --link need it".into());
    }
    for problem in ctx.templates(&config).check(&crate::templates::check_vars(
        &config.config,
        ctx.settings.now.as_second(),
    )) {
        problems.push(problem.to_string());
    }
    problems.extend(mail_problems(&config));
    for warning in warnings(&config) {
        ctx.ui.warn(&warning);
    }
    if problems.is_empty() {
        ctx.ui.status(&format!(
            "{} is ready: store, file modes, templates and mail settings check out",
            config.path.display()
        ));
        return Ok(Exit::Ok);
    }
    for problem in &problems {
        ctx.ui
            .status(&format!("problem: {}", crate::cli::ui::sanitize(problem)));
    }
    let count = if problems.len() == 1 {
        "1 problem".to_string()
    } else {
        format!("{} problems", problems.len())
    };
    Err(
        Failure::new(Exit::Config, format!("{count} in the configuration"))
            .hint("fix them and run `pwreset config check` again")
            .into(),
    )
}

/// What may be wrong but need not be (printed as warnings; the exit status stays 0): a page
/// published on another host while `serve` binds to loopback with no trusted proxies, which is
/// what a reverse proxy on this host whose `X-Forwarded-For` is ignored looks like (WEB-5).
fn warnings(config: &LoadedConfig) -> Vec<String> {
    let serve = &config.parsed.serve;
    if !serve.untrusted_local_proxy_likely(config.parsed.base_url.as_ref()) {
        return Vec::new();
    }
    let ip = serve.bind.ip();
    vec![format!(
        "serve.bind is {ip} and links.base_url is on another host, so a reverse proxy on this \
         host likely forwards the page, but serve.trusted_proxies is empty: every visitor would \
         count as one client for serve.max_failures_per_client; set serve.trusted_proxies = \
         [\"{ip}\"] (the proxy's address), or ignore this if nothing forwards to serve"
    )]
}

fn mail_problems(config: &LoadedConfig) -> Vec<String> {
    let mail = &config.config.mail;
    let mut problems = Vec::new();
    match mail.transport {
        Transport::File => {
            let dir = config.resolve(&mail.file.dir);
            let parent_exists = dir
                .parent()
                .is_none_or(|p| p.as_os_str().is_empty() || p.is_dir());
            if !dir.is_dir() && !parent_exists {
                problems.push(format!(
                    "mail.file.dir {} cannot be created: its parent does not exist",
                    dir.display()
                ));
            }
        }
        Transport::Sendmail => {
            let program = &mail.sendmail.path;
            if !program.is_file() {
                problems.push(format!(
                    "mail.sendmail.path {} does not exist",
                    program.display()
                ));
            }
        }
        Transport::Smtp => problems.extend(smtp_problems(config)),
    }
    problems
}

fn smtp_problems(config: &LoadedConfig) -> Vec<String> {
    let smtp = &config.config.mail.smtp;
    let mut problems = Vec::new();
    if smtp.username.is_some() {
        problems.extend(password_problem(config));
    }
    if let Some(file) = &smtp.ca_file {
        let path = config.resolve(file);
        let readable = std::fs::read(&path)
            .is_ok_and(|pem| lettre::transport::smtp::client::Certificate::from_pem(&pem).is_ok());
        if !readable {
            problems.push(format!(
                "mail.smtp.ca_file {} is not a readable PEM certificate",
                path.display()
            ));
        }
    }
    problems
}

/// What keeps the SMTP password from being read, as `config check` words it.
fn password_problem(config: &LoadedConfig) -> Option<String> {
    match settings::smtp_password_origin(config) {
        Err(SecretError::NotSet { variable }) => Some(format!(
            "mail.smtp.username is set but neither ${variable} nor password_file holds a password"
        )),
        Ok(PasswordOrigin::File(path))
        | Err(SecretError::ReadableByOthers(ReadableByOthers { path, .. }))
            if !path.is_file() =>
        {
            Some(format!(
                "mail.smtp.password_file {} does not exist",
                path.display()
            ))
        }
        Ok(PasswordOrigin::Environment(_) | PasswordOrigin::File(_))
        | Err(SecretError::Unreadable { .. }) => None,
        Err(SecretError::ReadableByOthers(loose)) => Some(format!(
            "{}: chmod 600 it",
            loose.describe("mail.smtp.password_file")
        )),
    }
}
