//! Live progress: change signals written with the rows they announce, and the hub that turns
//! them into subscription events for every subscriber of this process.
mod hub;
mod listener;
mod signal;
mod snapshot;

pub use hub::{ProgressHub, Watched, Watching};
pub use listener::{Heard, LISTENER_APPLICATION_NAME, Listener};

pub use signal::{Signal, WAKE_CHANNEL, attendee_registered, notification_changed};
pub use snapshot::Progress;
