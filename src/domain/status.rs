//! The states of notifications, deliveries and jobs, the notification's state machine, and the
//! roles of API tokens.
//!
//! Statuses are sea-orm active enums: the entities hold these types, so a value the code does
//! not know is an error where the row is read (logged as an internal error), never a silent
//! default. Only `store` writes them, and only through [`NotificationStatus::can_become`].
use std::fmt;
use std::str::FromStr;

use sea_orm::entity::prelude::*;

macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident {
        $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)?
    }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
        #[sea_orm(rs_type = "String", db_type = "Text")]
        pub enum $name { $($(#[$vmeta])* #[sea_orm(string_value = $text)] $variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The value stored in the database.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)+
                    other => Err(format!("unknown {} `{other}`", stringify!($name))),
                }
            }
        }

        /// Compares with the stored text, for tests and tools that read rows; the code
        /// itself compares typed values.
        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

string_enum! {
    /// Where a notification is in its life.
    NotificationStatus {
        /// Waiting for its `send_at`, when its plan job is due.
        Scheduled => "SCHEDULED",
        Queued => "QUEUED",
        Sending => "SENDING",
        /// Paused by an admin while deliveries were in flight: becomes `PAUSED` when the last
        /// of them is recorded.
        Pausing => "PAUSING",
        Paused => "PAUSED",
        /// Cancelled by an admin while deliveries were in flight: becomes `CANCELLED` when the
        /// last of them is recorded.
        Cancelling => "CANCELLING",
        Completed => "COMPLETED",
        CompletedWithErrors => "COMPLETED_WITH_ERRORS",
        Cancelled => "CANCELLED",
    }
}

impl NotificationStatus {
    /// No delivery is in flight and none will be sent without an admin's action; the
    /// counters are final. (An admin may still retry the failures of
    /// `COMPLETED_WITH_ERRORS`.)
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Self::Completed | Self::CompletedWithErrors | Self::Cancelled
        )
    }

    /// Whether the state machine has the transition `self → to`.
    ///
    /// ```text
    /// SCHEDULED ──plan at send_at──▶ SENDING | COMPLETED (no recipients); cancel ▶ CANCELLED
    /// QUEUED ──plan──▶ SENDING ──finish──▶ COMPLETED | COMPLETED_WITH_ERRORS
    ///   │  └─plan (no attendees)─▶ COMPLETED              ▲ retry failed ─┘ (back to SENDING)
    ///   │              │ pause: PAUSING while deliveries are in flight, else PAUSED
    ///   │              ▼
    ///   ├──pause──▶ PAUSED ◀─last outcome─ PAUSING ──resume──▶ SENDING
    ///   │             │ resume ▶ SENDING
    ///   └─cancel─▶ CANCELLED ◀─last outcome─ CANCELLING ◀─cancel─ SENDING | PAUSING
    /// ```
    pub fn can_become(self, to: NotificationStatus) -> bool {
        use NotificationStatus::*;
        match self {
            Scheduled => matches!(to, Sending | Completed | Cancelling | Cancelled),
            Queued => matches!(
                to,
                Sending | Pausing | Paused | Cancelling | Cancelled | Completed
            ),
            Sending => matches!(
                to,
                Pausing | Paused | Cancelling | Cancelled | Completed | CompletedWithErrors
            ),
            Pausing => matches!(to, Paused | Sending | Cancelling | Cancelled),
            Paused => matches!(to, Sending | Cancelling | Cancelled),
            Cancelling => matches!(to, Cancelled),
            CompletedWithErrors => matches!(to, Sending),
            Completed | Cancelled => false,
        }
    }

    /// Every status that may become `to`, for a conditional `UPDATE ... WHERE status IN`.
    pub fn sources_of(to: NotificationStatus) -> Vec<NotificationStatus> {
        Self::ALL
            .iter()
            .copied()
            .filter(|from| from.can_become(to))
            .collect()
    }
}

string_enum! {
    /// The state of one recipient of one notification.
    DeliveryStatus {
        Pending => "pending",
        /// Claimed by a worker with a lease: in flight.
        Sending => "sending",
        Sent => "sent",
        Failed => "failed",
        Cancelled => "cancelled",
        /// Skipped at plan time: the address is on the suppression list.
        Suppressed => "suppressed",
        /// Sent, then reported as a hard bounce by the provider.
        Bounced => "bounced",
    }
}

string_enum! {
    /// The state of a row of the job table. Finished jobs are deleted; failed ones are kept.
    JobStatus {
        Pending => "pending",
        Running => "running",
        /// Gave up after `max_attempts`: kept with its last error for an operator to see.
        Failed => "failed",
    }
}

string_enum! {
    /// What an API token may do.
    Role {
        Admin => "admin",
        Integrator => "integrator",
        Operator => "operator",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip_through_their_stored_text() {
        for s in NotificationStatus::ALL {
            assert_eq!(s.as_str().parse::<NotificationStatus>().unwrap(), *s);
            assert_eq!(s.to_value(), s.as_str());
        }
        for s in DeliveryStatus::ALL {
            assert_eq!(s.as_str().parse::<DeliveryStatus>().unwrap(), *s);
        }
        for s in JobStatus::ALL {
            assert_eq!(
                JobStatus::try_from_value(&s.as_str().to_owned()).unwrap(),
                *s
            );
        }
        assert!("superuser".parse::<Role>().is_err());
        assert!(NotificationStatus::try_from_value(&"DONE".to_owned()).is_err());
    }

    #[test]
    fn only_finished_notifications_are_terminal() {
        use NotificationStatus::*;
        let terminal: Vec<_> = NotificationStatus::ALL
            .iter()
            .filter(|s| s.is_terminal())
            .collect();
        assert_eq!(terminal, [&Completed, &CompletedWithErrors, &Cancelled]);
        assert!(!Pausing.is_terminal() && !Cancelling.is_terminal());
    }

    #[test]
    fn terminal_states_are_left_only_by_retrying_failures() {
        use NotificationStatus::*;
        for from in NotificationStatus::ALL {
            for to in NotificationStatus::ALL {
                if from.is_terminal() && from.can_become(*to) {
                    assert_eq!((*from, *to), (CompletedWithErrors, Sending));
                }
            }
        }
        assert!(!Cancelling.can_become(Sending), "a cancel is not undone");
        assert!(!Sending.can_become(Queued));
        assert_eq!(
            sources_of_cancelled(),
            [Scheduled, Queued, Sending, Pausing, Paused, Cancelling]
        );
    }

    fn sources_of_cancelled() -> Vec<NotificationStatus> {
        NotificationStatus::sources_of(NotificationStatus::Cancelled)
    }
}
