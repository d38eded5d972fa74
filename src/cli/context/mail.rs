//! The mail side of a command's context: the templates, the configured transport and the SMTP
//! settings with their password, each checked (files trusted, secrets private) before use.

use std::time::SystemTime;

use super::{Context, secret_error};
use crate::cli::CommandResult;
use crate::config::{ConfigError, LoadedConfig, Transport};
use crate::mail::{FileMailer, Mailer, SendmailMailer, SmtpMailer, SmtpSettings};
use crate::secret::Secret;
use crate::settings::{self, PasswordOrigin};
use crate::templates::Templates;

impl Context {
    /// The templates: built-ins overridden by `templates.dir`, for readers of
    /// `mail.default_locale` unless they have a language of their own.
    pub fn templates(&self, config: &LoadedConfig) -> Templates {
        let dir = config
            .config
            .templates
            .dir
            .as_deref()
            .map(|dir| config.resolve(dir));
        Templates::new(dir.as_deref()).with_default_locale(config.parsed.default_locale.clone())
    }

    /// The configured mail transport, once the files the mail is made of are trusted. Its
    /// mails are dated (and the file transport's names stamped) when it is built: by the clock,
    /// so that `serve`'s notices carry their own time, not the time `serve` started.
    pub fn mailer(&self, config: &LoadedConfig) -> CommandResult<Box<dyn Mailer>> {
        self.check_mail_files(config)?;
        let mail = &config.config.mail;
        let (from, reply_to) = (config.parsed.from.clone(), config.parsed.reply_to.clone());
        let now = SystemTime::from(self.settings.clock());
        Ok(match mail.transport {
            Transport::File => {
                let dir = config.resolve(&mail.file.dir);
                self.ui
                    .detail(&format!("mail: .eml files in {}", dir.display()));
                Box::new(FileMailer::new(dir, from, reply_to, now))
            }
            Transport::Sendmail => Box::new(SendmailMailer::new(
                mail.sendmail.path.clone(),
                mail.sendmail.timeout.0,
                from,
                reply_to,
                now,
            )),
            Transport::Smtp => Box::new(SmtpMailer::new(
                self.smtp_settings(config)?,
                from,
                reply_to,
                now,
            )?),
        })
    }

    /// The SMTP mailer itself (for `smtp test`).
    pub fn smtp_mailer(&self, config: &LoadedConfig) -> CommandResult<SmtpMailer> {
        let (from, reply_to) = (config.parsed.from.clone(), config.parsed.reply_to.clone());
        Ok(SmtpMailer::new(
            self.smtp_settings(config)?,
            from,
            reply_to,
            SystemTime::from(self.settings.now),
        )?)
    }

    fn smtp_settings(&self, config: &LoadedConfig) -> CommandResult<SmtpSettings> {
        let smtp = &config.config.mail.smtp;
        let credentials = match &smtp.username {
            Some(user) => {
                if let Ok(PasswordOrigin::File(path)) = settings::smtp_password_origin(config) {
                    self.trusted("SMTP password file", &path)?;
                }
                Some((user.clone(), smtp_password(config)?))
            }
            None => None,
        };
        let extra_ca = match &smtp.ca_file {
            Some(file) => {
                let path = config.resolve(file);
                // A CA planted by another user would let them read the SMTP login.
                self.trusted("SMTP CA file", &path)?;
                Some(
                    std::fs::read(&path)
                        .map_err(|e| ConfigError::Unreadable { path, source: e })?,
                )
            }
            None => None,
        };
        self.ui.detail(&format!(
            "mail: SMTP {}:{} ({:?})",
            smtp.host,
            smtp.port(),
            smtp.tls
        ));
        Ok(SmtpSettings {
            host: smtp.host.clone(),
            port: smtp.port(),
            tls: smtp.tls,
            credentials,
            extra_ca,
            timeout: smtp.timeout.0,
        })
    }
}

/// The SMTP password (see [`settings::smtp_password`]), its failures worded as config errors.
fn smtp_password(config: &LoadedConfig) -> CommandResult<Secret> {
    settings::smtp_password(config).map_err(|err| {
        secret_error(config, "mail.smtp.password_file", err, |variable| {
            format!(
                "mail.smtp.username is set, but neither {variable} nor password_file holds a \
                 password"
            )
        })
        .into()
    })
}
