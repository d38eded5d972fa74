//! Tests of bulk runs, by topic; the shared fixtures (a store of users, a recording mailer, a
//! plan and a run) are here.
#![expect(
    clippy::disallowed_methods,
    reason = "tests draw real tokens, salts and passwords from the OS RNG"
)]

mod plan;
mod resume;
mod run;

use std::sync::atomic::AtomicBool;
use std::time::Duration;

use super::*;
use crate::audit::Actor;
use crate::config::{PasswordConfig, Supersede};
use crate::generate::GenerateSettings;
use crate::links::LinkSettings;
use crate::mail::{Delivered, MailError, Mailer, Outgoing, Pipelined};
use crate::store::Store;
use crate::store::bulk as sql;
use crate::store::testing::{Backend, TestStore, on_both_backends};
use crate::store::users::NewUser;
use crate::templates::Templates;

const T0: i64 = 1_800_000_000;

fn at() -> jiff::Timestamp {
    jiff::Timestamp::from_second(T0).expect("time")
}

fn actor() -> Actor {
    Actor {
        os_user: "root".into(),
        actor: None,
        reason: None,
        key: crate::keys::AuditKey::for_tests(),
    }
}

/// Records mail; fails the given recipients (transiently for the first `flaky` attempts).
#[derive(Default)]
struct Recorder {
    sent: Vec<String>,
    reject: Vec<String>,
    flaky: usize,
    /// Offer pipelining (depth 1), as SMTP does.
    pipelined: bool,
    /// Messages submitted and not yet collected (pipelining).
    on_the_wire: std::collections::VecDeque<String>,
    /// SQL run on another connection to the store as the first mail goes out (`?1`: its
    /// address): a change made by someone else while the run goes.
    meanwhile: Option<(Store, &'static str)>,
}

impl Recorder {
    /// A mail to `to` goes out: the first one runs `meanwhile`.
    fn going_out(&mut self, to: &str) {
        if let Some((other, sql)) = self.meanwhile.take() {
            other
                .conn()
                .execute(sql, &crate::vals![to])
                .expect("change meanwhile");
        }
    }

    fn deliver(&mut self, to: &str) -> Result<Delivered, MailError> {
        if self.reject.iter().any(|r| r == to) {
            return Err(MailError::Refused {
                server: "t".into(),
                reply: "550 no".into(),
                transient: false,
            });
        }
        if self.flaky > 0 {
            self.flaky -= 1;
            return Err(MailError::Refused {
                server: "t".into(),
                reply: "451 later".into(),
                transient: true,
            });
        }
        self.sent.push(to.to_string());
        Ok(Delivered {
            detail: "ok".into(),
        })
    }
}

impl Mailer for Recorder {
    fn send(&mut self, message: &Outgoing) -> Result<Delivered, MailError> {
        self.going_out(&message.to);
        self.deliver(&message.to)
    }

    fn pipelined(&mut self) -> Option<&mut dyn Pipelined> {
        if self.pipelined { Some(self) } else { None }
    }
}

impl Pipelined for Recorder {
    fn submit(&mut self, message: &Outgoing) -> Result<(), MailError> {
        self.going_out(&message.to);
        self.on_the_wire.push_back(message.to.clone());
        Ok(())
    }

    fn collect(&mut self) -> Result<Delivered, MailError> {
        let to = self.on_the_wire.pop_front().expect("a mail on the wire");
        self.deliver(&to)
    }
}

fn store_with(backend: Backend, n: usize) -> TestStore {
    let mut store = TestStore::new(backend);
    for i in 0..n {
        let new = NewUser {
            username: format!("u{i}"),
            email: Some(format!("u{i}@example.com")),
            display_name: None,
            active: true,
            locale: None,
        };
        crate::users::add(&mut store, &new, &actor(), at()).expect("user");
    }
    store
}

fn plan_file(store: &mut Store, text: &str, action: Action) -> (String, PlanSummary) {
    let id = format!("run-{}", text.len());
    let request = Request {
        run_id: &id,
        action,
        deliver_to: None,
        cooldown_secs: 60,
        reissue_of: None,
    };
    let summary = plan(
        store,
        Selection::File(text.as_bytes()),
        &request,
        &actor(),
        at(),
    )
    .expect("plan");
    (id, summary)
}

fn link_settings() -> LinkSettings {
    LinkSettings {
        code: true,
        base_url: url::Url::parse("https://app.example.com/r").expect("url"),
        ttl_secs: 3600,
        supersede: Supersede::Revoke,
        cooldown_secs: 60,
        app_name: "X".into(),
        support_contact: None,
        note: None,
    }
}

fn execute(
    store: &mut Store,
    run_id: &str,
    action: Action,
    mailer: &mut Recorder,
    stop_after: Option<usize>,
) -> (Report, Vec<(String, Outcome)>) {
    let templates = Templates::new(None);
    let action = match action {
        Action::Link => RunAction::Link(link_settings()),
        Action::Generate => RunAction::Generate(GenerateSettings {
            password: PasswordConfig::default(),
            app_name: "X".into(),
            support_contact: None,
            login_url: None,
            notify_on_change: false,
            notice_names: ("X".into(), None),
            note: None,
        }),
    };
    let stop = AtomicBool::new(false);
    let clock = at;
    let actor = actor();
    let mut params = RunParams {
        run_id,
        action: &action,
        recipients: &crate::mail::RecipientRule::User,
        mailer,
        templates: &templates,
        pacing: Pacing {
            min_interval: None,
            retries: 2,
            backoff: Duration::from_millis(1),
        },
        stop: &stop,
        clock: &clock,
        actor: &actor,
        rng: rand::rng,
        report_planned_skips: true,
    };
    let mut seen = Vec::new();
    let report = run(store, &mut params, |item, _, outcome| {
        seen.push((item.entry.clone(), outcome.clone()));
        if stop_after.is_some_and(|n| {
            seen.iter()
                .filter(|(_, o)| matches!(o, Outcome::Sent { .. }))
                .count()
                >= n
        }) {
            stop.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    })
    .expect("run");
    (report, seen)
}
