//! Users made outside a request: `gatewatch user add` and the first `admin` of a fresh site.

use gatewatch_model::user::UserSpec;
use gatewatch_model::{Entity, EntityKind, Role};
use gatewatch_store::config_log::{self, Change};
use gatewatch_store::{audit, Store};

use crate::error::{Error, Result};

/// Creates user `name` with `role`. Without a password one is generated and returned (to be
/// shown once). `author` is recorded in the configuration and audit logs.
pub async fn add_user(
    store: &Store,
    name: &str,
    role: Role,
    password: Option<String>,
    author: &str,
) -> Result<Option<String>> {
    gatewatch_model::field::check_id("name", name)?;
    let (password, generated) = match password {
        Some(p) => {
            crate::auth::check_new_password("password", &p)
                .map_err(|e| Error::Other(format!("password: {}", e.message)))?;
            (p, None)
        }
        None => {
            let p = crate::random::password().map_err(|e| Error::Other(e.message))?;
            (p.clone(), Some(p))
        }
    };
    let previous = config_log::get(store, EntityKind::User, name).await?;
    if previous.as_ref().is_some_and(|e| !e.deleted) {
        return Err(Error::UserExists(name.to_string()));
    }
    let hash = crate::auth::hash_password(password)
        .await
        .map_err(|e| Error::Other(e.message))?;
    let now = chrono::Utc::now();
    let spec = UserSpec {
        display_name: String::new(),
        role,
        password_hash: hash,
        email: String::new(),
        disabled: false,
        lang: "en".into(),
        timezone: None,
        session_epoch: now.timestamp().clamp(0, u32::MAX as i64 / 2) as u32,
        tokens: Vec::new(),
    };
    let e = Entity::User(spec);
    e.validate()?;
    let receipt = config_log::write(
        store,
        author,
        "user added from the command line",
        &[Change {
            kind: EntityKind::User,
            id: name.to_string(),
            body: e.to_json(),
            deleted: false,
            expected_version: Some(previous.map_or(0, |p| p.version)),
        }],
        now.timestamp_micros(),
    )
    .await
    .map_err(|e| match e {
        config_log::ConfigLogError::Conflict { .. } => Error::UserExists(name.to_string()),
        other => other.into(),
    })?;
    let version = receipt.versions.first().map_or(1, |v| v.2);
    audit::write(
        store,
        &[crate::audit::event(
            author,
            "user.create",
            "user",
            name,
            receipt.change_id,
            "local",
            serde_json::json!({ "version": version, "role": role.as_str(), "via": "cli" }),
        )],
    )
    .await?;
    Ok(generated)
}

/// On a site that never had a user, creates `admin` with a random password and returns it
/// (the caller prints it once). `None` when users exist.
pub async fn ensure_first_admin(store: &Store) -> Result<Option<String>> {
    let any = config_log::current(store)
        .await?
        .iter()
        .any(|e| e.kind == EntityKind::User);
    if any {
        return Ok(None);
    }
    match add_user(store, "admin", Role::Admin, None, "gatewatch").await {
        Ok(p) => Ok(p),
        // Another dashboards process of this site won the race.
        Err(Error::UserExists(_)) => Ok(None),
        Err(e) => Err(e),
    }
}
