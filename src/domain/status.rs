//! The states of notifications and deliveries, and the roles of API tokens.
use std::fmt;
use std::str::FromStr;

macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name { $($variant),+ }

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
        Queued => "QUEUED",
        Sending => "SENDING",
        Paused => "PAUSED",
        Completed => "COMPLETED",
        CompletedWithErrors => "COMPLETED_WITH_ERRORS",
        Cancelled => "CANCELLED",
    }
}

impl NotificationStatus {
    /// No more email will be sent for it without an admin's action.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Self::Completed | Self::CompletedWithErrors | Self::Cancelled
        )
    }
}

string_enum! {
    /// The state of one recipient of one notification.
    DeliveryStatus {
        Pending => "pending",
        Sending => "sending",
        Sent => "sent",
        Failed => "failed",
        Cancelled => "cancelled",
        // Skipped at plan time: the address is on the suppression list.
        Suppressed => "suppressed",
        // Sent, then reported as a hard bounce by the provider.
        Bounced => "bounced",
    }
}

string_enum! {
    /// What an API token may do.
    Role {
        Admin => "admin",
        Integrator => "integrator",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip_through_their_stored_text() {
        for s in NotificationStatus::ALL {
            assert_eq!(s.as_str().parse::<NotificationStatus>().unwrap(), *s);
        }
        for s in DeliveryStatus::ALL {
            assert_eq!(s.as_str().parse::<DeliveryStatus>().unwrap(), *s);
        }
        assert!("superuser".parse::<Role>().is_err());
    }

    #[test]
    fn only_finished_notifications_are_terminal() {
        assert!(NotificationStatus::Completed.is_terminal());
        assert!(NotificationStatus::Cancelled.is_terminal());
        assert!(!NotificationStatus::Paused.is_terminal());
        assert!(!NotificationStatus::Sending.is_terminal());
    }
}
