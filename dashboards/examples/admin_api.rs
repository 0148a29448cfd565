//! The admin API alone on 127.0.0.1:8090, against the ClickHouse on 127.0.0.1:8123 (database
//! `gatewatch_example`, migrated here), with a user `admin` whose password is printed. Stop it
//! with Ctrl-C.
//!
//! `cargo run -p gatewatch-dashboards --example admin_api`, then, with the printed password:
//!
//! ```text
//! curl -s -c jar -H 'content-type: application/json' -d '{"user":"admin","password":"…"}' http://127.0.0.1:8090/api/v1/login
//! curl -s -b jar http://127.0.0.1:8090/api/v1/me
//! ```

use gatewatch_dashboards::DashboardsConfig;
use gatewatch_model::Role;
use gatewatch_store::{Store, StoreConfig};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let store = Store::new(StoreConfig {
        database: "gatewatch_example".into(),
        ..StoreConfig::default()
    });
    store.create_database().await?;
    gatewatch_migrations::migrate(&store, &Default::default()).await?;
    match gatewatch_dashboards::add_user(&store, "admin", Role::Admin, None, "example").await {
        Ok(Some(password)) => println!("user admin, password {password}"),
        Ok(None) => {}
        Err(gatewatch_dashboards::Error::UserExists(_)) => {
            println!("user admin exists already (from an earlier run)")
        }
        Err(e) => return Err(e.into()),
    }
    // A fixed pepper is fine for an example; a site keeps its own (see the binary's pepper.rs).
    let config = DashboardsConfig::new(
        "127.0.0.1:8090".parse()?,
        b"example pepper, not secret".to_vec(),
    );
    let running = gatewatch_dashboards::bind(config, store).await?;
    println!("admin API on http://{}/api/v1/", running.local_addr());
    running
        .serve(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
