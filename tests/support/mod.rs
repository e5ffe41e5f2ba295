//! Support shared by the integration test binaries (`tests/api`, `tests/servicebus_e2e.rs`,
//! `tests/legacy_import.rs`): the real application served on port 0, the real binary, and
//! attendees inserted directly.
#![allow(dead_code)] // each binary uses part of it

use std::process::Command;

use sea_orm::{ActiveValue::Set, DatabaseConnection, EntityTrait, IntoActiveModel};
use techconf::app::{Application, ServeOptions};
use techconf::config::Settings;
use techconf::domain::Registration;
use techconf::entity::attendee;
use tokio::sync::oneshot;
use uuid::Uuid;

/// A running application; it stops when this is dropped.
pub struct Served {
    pub address: String,
    pub db: DatabaseConnection,
    pub stop: oneshot::Sender<()>,
}

/// Builds the application (migrating its database), and serves it in the background.
pub async fn serve(settings: Settings, options: ServeOptions) -> Served {
    let app = Application::build(settings, options)
        .await
        .expect("the application builds");
    let address = format!("http://{}", app.local_addr().unwrap());
    let db = app.db().clone();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    Served { address, db, stop }
}

/// Inserts attendees directly (no confirmation jobs), one per address; returns their ids.
/// Every tenth is called Hopper and the eighth works at "100%_Pure Ltd", for search tests.
pub async fn insert_attendees(
    db: &DatabaseConnection,
    conference: Uuid,
    emails: &[String],
) -> Vec<Uuid> {
    let rows: Vec<attendee::ActiveModel> = emails
        .iter()
        .enumerate()
        .map(|(i, email)| {
            let mut row = Registration {
                first_name: format!("First{i}"),
                last_name: if i % 10 == 0 {
                    "Hopper".into()
                } else {
                    format!("Last{i}")
                },
                email: email.clone(),
                job_position: "Engineer".into(),
                company: if i == 7 {
                    "100%_Pure Ltd".into()
                } else {
                    "Acme".into()
                },
                city: "Porto".into(),
                state: "PT".into(),
                interests: None,
                comments: None,
            }
            .into_active_model();
            row.id = Set(Uuid::now_v7());
            row.conference_id = Set(conference);
            row.submitted_at = Set(chrono::Utc::now());
            row.legacy_id = Set(None);
            row
        })
        .collect();
    let ids = rows
        .iter()
        .filter_map(|r| r.id.try_as_ref().copied())
        .collect();
    for chunk in rows.chunks(200) {
        attendee::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(db)
            .await
            .unwrap();
    }
    ids
}

/// `n` distinct addresses: person0@example.org, person1@example.org, …
pub fn emails(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("person{i}@example.org")).collect()
}

/// The `techconf` binary with a clean environment, pointed at `database_url`.
pub fn techconf(database_url: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_techconf"));
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", database_url)
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    command
}
