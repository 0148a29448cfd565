//! The dashboards' `/metrics`: the role's registry (`gatewatch_listen::metrics::registry`)
//! with [`Figures`]: the configuration table's size and the password checks' counters.

use std::fmt;
use std::sync::Arc;

use gatewatch_listen::metrics::{gauge, Collector, DescriptorEncoder, Registry};

use crate::password_checks;
use crate::table::Cache;

/// The dashboards' registry.
pub fn registry(cache: Arc<Cache>, checks: password_checks::Figures) -> Registry {
    let mut r = gatewatch_listen::metrics::registry("dashboards");
    r.register_collector(Box::new(Figures { cache, checks }));
    r
}

/// What the dashboards show of themselves, read at each scrape.
pub struct Figures {
    cache: Arc<Cache>,
    checks: password_checks::Figures,
}

impl fmt::Debug for Figures {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("dashboards figures")
    }
}

impl Collector for Figures {
    fn encode(&self, mut enc: DescriptorEncoder) -> fmt::Result {
        gauge(
            &mut enc,
            "gatewatch_dashboards_config_rows",
            "Rows of the configuration log behind the cached table.",
            self.cache.get().revision.rows,
        )?;
        self.checks.encode(&mut enc)
    }
}
