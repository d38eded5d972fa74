//! `pwreset serve`: resolve the settings once, check the files like every command does, build
//! the page's state and run the server until SIGTERM or SIGINT.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use super::Context;
use crate::audit::Actor;
use crate::cli::CommandResult;
use crate::cli::exit::{Exit, Failure};
use crate::config::LoadedConfig;
use crate::store::Store;
use crate::web::{Branding, Deps, Limits, PageSettings, Site, Web};

/// Serve the page the reset link opens
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Serves the reset flow on the path of links.base_url, e.g.
http://127.0.0.1:8080/reset-password for the quick start's link. Run it behind the site's reverse
proxy (which terminates TLS). Stops on SIGTERM or Ctrl-C after finishing requests in flight.

Examples:
  pwreset serve                        Listen on serve.bind (default 127.0.0.1:8080)
  pwreset serve --bind 0.0.0.0:8080    Listen on every interface"
)]
pub struct Args {
    /// Listen on ADDR (address and port) [default: serve.bind, else 127.0.0.1:8080]
    #[arg(long, value_name = "ADDR", value_parser = crate::config::parse_bind)]
    bind: Option<SocketAddr>,
}

/// The longest the server waits for a "password changed" notice to go out.
const NOTICE_DEADLINE: Duration = Duration::from_secs(120);

/// Run `pwreset serve`.
pub fn run(ctx: &Context, args: Args) -> CommandResult<Exit> {
    let (config, store) = ctx.open_store()?;
    drop(store);
    let opener = ctx.store_opener(&config)?;
    let base_url = config.parsed.base_url.clone().ok_or_else(|| {
        Failure::new(
            Exit::Config,
            "links.base_url is not set: the page is served on its path",
        )
        .hint("set links.base_url, e.g. \"https://example.com/reset-password\"")
    })?;
    ctx.check_mail_files(&config)?;
    let key = ctx.audit_key(&config)?;
    let session_key = *key.derive("pwreset page session");
    // Called on the runtime's blocking threads: a PostgreSQL store connects on a thread of its
    // own, outside any runtime context (the sync client runs a runtime of its own).
    let open_store = Arc::new(move || -> Result<Store, crate::web::OpenError> {
        Ok(opener.open_off_runtime()?)
    });
    let deps = Deps {
        open_store,
        clock: {
            let settings = ctx.settings.clone();
            Arc::new(move || settings.clock())
        },
        rng: super::os_rng,
        notify: notifier(ctx, &config),
        log: Arc::new(|line: &str| eprintln!("{line}")),
    };
    let actor = Actor {
        os_user: ctx.settings.os_user.clone(),
        actor: Some("serve".into()),
        reason: None,
        key,
    };
    let settings = page_settings(&config, &base_url);
    let web = Web::new(settings, session_key, ctx.templates(&config), actor, deps);
    crate::web::serve(web, args.bind.unwrap_or(config.parsed.serve.bind))?;
    Ok(Exit::Ok)
}

/// What the pages need from the config.
fn page_settings(config: &LoadedConfig, base_url: &url::Url) -> PageSettings {
    let (serve, templates) = (&config.config.serve, &config.config.templates);
    PageSettings {
        site: Site::new(base_url),
        limits: Limits {
            max_body_bytes: serve.max_body_bytes,
            request_timeout: serve.request_timeout.0,
            header_timeout: serve.header_timeout.0,
            max_failures_per_client: serve.max_failures_per_client,
            trusted_proxies: config.parsed.serve.trusted_proxies.clone(),
            access_log: serve.access_log,
            max_connections: serve.max_connections,
            store_connections: serve
                .store_connections
                .unwrap_or_else(default_store_connections),
        },
        branding: Branding {
            app_name: templates.app_name.clone(),
            support_contact: templates.support_contact.clone(),
            logo_url: config.parsed.serve.logo_url.clone(),
            login_url: templates.login_url.clone(),
        },
        password: config.config.password.clone(),
        max_failed_redeems_per_hour: config.config.links.max_failed_redeems_per_hour,
        codes: config.config.links.code,
    }
}

/// `serve.store_connections` when unset: two per core (a request's store work is short and
/// its argon2 runs under a per-core permit anyway), at least 4.
fn default_store_connections() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    (2 * cores).max(4)
}

/// The "password changed" notice, as `tokens redeem` sends it, on a thread of its own (the
/// mailers are synchronous and some run a runtime of their own), waited for at most
/// [`NOTICE_DEADLINE`].
fn notifier(ctx: &Context, config: &LoadedConfig) -> Arc<dyn Fn(&crate::user::User) + Send + Sync> {
    let ctx = Arc::new(ctx.clone());
    let config = Arc::new(config.clone());
    Arc::new(move |user| {
        let (ctx, config, user) = (ctx.clone(), config.clone(), user.clone());
        let (done, wait) = std::sync::mpsc::channel();
        let ui = ctx.ui.clone();
        std::thread::spawn(move || {
            if let Err(err) = super::tokens::notify(&ctx, &config, &user) {
                ctx.ui.warn(&format!(
                    "the password was changed, but the notice was not sent: {}",
                    super::error::message(err.error())
                ));
            }
            let _ = done.send(());
        });
        if wait.recv_timeout(NOTICE_DEADLINE).is_err() {
            ui.warn("the password was changed; the notice is still being sent");
        }
    })
}
