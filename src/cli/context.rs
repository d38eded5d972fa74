//! What every command receives: resolved settings, the terminal, and helpers to load the config
//! and open the store.

use crate::audit::Actor;
use crate::config::LoadedConfig;
use crate::settings::Settings;
use crate::store::{self, Store};
use crate::ui::Ui;

/// Resolved settings plus the terminal.
#[derive(Debug)]
pub struct Context {
    /// The settings, resolved once.
    pub settings: Settings,
    /// The terminal.
    pub ui: Ui,
}

impl Context {
    /// Wrap resolved settings.
    pub fn new(settings: Settings) -> Self {
        let ui = Ui::new(&settings);
        Context { settings, ui }
    }

    /// Load the config file.
    pub fn config(&self) -> anyhow::Result<LoadedConfig> {
        let loaded = self.settings.load_config()?;
        self.ui
            .detail(&format!("config: {}", loaded.path.display()));
        self.warn_if_loose(&loaded.path, "config file");
        Ok(loaded)
    }

    /// Load the config and open the store it names (or `--db`).
    pub fn open_store(&self) -> anyhow::Result<(LoadedConfig, Store)> {
        let config = self.config()?;
        let path = self.settings.db_path(&config);
        let store = Store::open(&path, config.config.store.busy_timeout_ms)?;
        self.ui.detail(&format!("store: {}", path.display()));
        self.warn_if_loose(&path, "store");
        Ok((config, store))
    }

    /// The acting operator, for audit rows.
    pub fn actor(&self) -> Actor {
        Actor {
            os_user: self.settings.os_user.clone(),
            actor: self.settings.actor.clone(),
            reason: self.settings.reason.clone(),
        }
    }

    fn warn_if_loose(&self, path: &std::path::Path, what: &str) {
        if let Some(mode) = store::loose_mode(path) {
            self.ui.warn(&format!(
                "{what} {} is readable by others (mode {mode:o}); run `chmod 600 {}`",
                path.display(),
                path.display()
            ));
        }
    }
}
