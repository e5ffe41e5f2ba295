//! The standard Service Bus connection string, parsed at the edge:
//! `Endpoint=sb://NS.servicebus.windows.net/;SharedAccessKeyName=...;SharedAccessKey=...`
//! (optionally `;EntityPath=queue`).
//!
//! The key is a [`SecretString`]: it never appears in `Debug`, `Display`, logs or errors, and
//! errors name the part that is missing or wrong without echoing its value (a mistyped
//! separator could put the key into any part).
use std::fmt;
use std::str::FromStr;

use secrecy::{ExposeSecret, SecretString};

/// The DNS suffix the `azure_messaging_servicebus` crate hard-codes: other Azure clouds
/// (China, US Government) cannot be reached through it.
pub const SERVICEBUS_HOST_SUFFIX: &str = ".servicebus.windows.net";

/// A parsed connection string. Build it with [`str::parse`].
#[derive(Clone)]
pub struct ConnectionString {
    namespace: String,
    key_name: String,
    key: SecretString,
    entity_path: Option<String>,
}

/// Why a connection string was refused. It never carries the key or any part's value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConnectionStringError {
    #[error("the connection string is empty")]
    Empty,
    #[error("part {position} of the connection string is not `Name=value`")]
    MalformedPart { position: usize },
    #[error("the connection string has `{0}` twice")]
    Duplicate(&'static str),
    #[error("the connection string has no {0}")]
    Missing(&'static str),
    #[error("the connection string's {0} is empty")]
    EmptyValue(&'static str),
    #[error(
        "Endpoint must look like sb://<namespace>{SERVICEBUS_HOST_SUFFIX}/ ({0}); \
         only the public Azure cloud is supported"
    )]
    BadEndpoint(&'static str),
    #[error(
        "the connection string has `{0}`, which is not supported: use a shared access \
         policy (SharedAccessKeyName and SharedAccessKey)"
    )]
    Unsupported(&'static str),
    /// Only the position is given: an unknown name may well be a pasted key.
    #[error(
        "part {position} of the connection string is unknown: expected Endpoint, \
         SharedAccessKeyName, SharedAccessKey or EntityPath"
    )]
    UnknownPart { position: usize },
}

impl ConnectionString {
    /// Builds one from its parts (tests, tools). The namespace is the first label of the host.
    pub fn new(
        namespace: impl Into<String>,
        key_name: impl Into<String>,
        key: SecretString,
    ) -> Self {
        Self {
            namespace: namespace.into(),
            key_name: key_name.into(),
            key,
            entity_path: None,
        }
    }

    /// `NS` in `sb://NS.servicebus.windows.net/`.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// `NS.servicebus.windows.net`.
    pub fn host(&self) -> String {
        format!("{}{SERVICEBUS_HOST_SUFFIX}", self.namespace)
    }

    /// The shared access policy name (`SharedAccessKeyName`).
    pub fn key_name(&self) -> &str {
        &self.key_name
    }

    /// The shared access key. Expose it only to sign.
    pub fn key(&self) -> &SecretString {
        &self.key
    }

    /// `EntityPath`, present when the policy belongs to one queue rather than the namespace.
    pub fn entity_path(&self) -> Option<&str> {
        self.entity_path.as_deref()
    }
}

impl FromStr for ConnectionString {
    type Err = ConnectionStringError;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        if raw.trim().is_empty() {
            return Err(ConnectionStringError::Empty);
        }
        let mut endpoint = None;
        let mut key_name = None;
        let mut key = None;
        let mut entity_path = None;
        let parts = raw.split(';').map(str::trim).filter(|p| !p.is_empty());
        for (index, part) in parts.enumerate() {
            // Split on the first `=` only: base64 keys end with `=` padding.
            let Some((name, value)) = part.split_once('=') else {
                return Err(ConnectionStringError::MalformedPart {
                    position: index + 1,
                });
            };
            let value = value.trim();
            let slot = match name.trim().to_ascii_lowercase().as_str() {
                "endpoint" => (&mut endpoint, "Endpoint"),
                "sharedaccesskeyname" => (&mut key_name, "SharedAccessKeyName"),
                "sharedaccesskey" => (&mut key, "SharedAccessKey"),
                "entitypath" => (&mut entity_path, "EntityPath"),
                "sharedaccesssignature" => {
                    return Err(ConnectionStringError::Unsupported("SharedAccessSignature"));
                }
                "usedevelopmentemulator" => {
                    return Err(ConnectionStringError::Unsupported("UseDevelopmentEmulator"));
                }
                _ => {
                    return Err(ConnectionStringError::UnknownPart {
                        position: index + 1,
                    });
                }
            };
            let (slot, label) = slot;
            if slot.is_some() {
                return Err(ConnectionStringError::Duplicate(label));
            }
            if value.is_empty() {
                return Err(ConnectionStringError::EmptyValue(label));
            }
            *slot = Some(value.to_owned());
        }
        let endpoint = endpoint.ok_or(ConnectionStringError::Missing("Endpoint"))?;
        let key_name = key_name.ok_or(ConnectionStringError::Missing("SharedAccessKeyName"))?;
        let key = key.ok_or(ConnectionStringError::Missing("SharedAccessKey"))?;
        Ok(Self {
            namespace: namespace_of(&endpoint)?,
            key_name,
            key: SecretString::from(key),
            entity_path,
        })
    }
}

/// `sb://NS.servicebus.windows.net/` → `NS`.
fn namespace_of(endpoint: &str) -> Result<String, ConnectionStringError> {
    let url =
        url::Url::parse(endpoint).map_err(|_| ConnectionStringError::BadEndpoint("not a URL"))?;
    if !matches!(url.scheme(), "sb" | "https") {
        return Err(ConnectionStringError::BadEndpoint(
            "the scheme must be sb://",
        ));
    }
    let host = url
        .host_str()
        .ok_or(ConnectionStringError::BadEndpoint("no host"))?
        .to_ascii_lowercase();
    let namespace =
        host.strip_suffix(SERVICEBUS_HOST_SUFFIX)
            .ok_or(ConnectionStringError::BadEndpoint(
                "the host is not under servicebus.windows.net",
            ))?;
    let valid = !namespace.is_empty()
        && namespace
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !namespace.starts_with('-');
    if !valid {
        return Err(ConnectionStringError::BadEndpoint(
            "the namespace must be letters, digits and hyphens",
        ));
    }
    Ok(namespace.to_owned())
}

impl fmt::Display for ConnectionString {
    /// The connection string with the key replaced by `***`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Endpoint=sb://{}/;SharedAccessKeyName={};SharedAccessKey=***",
            self.host(),
            self.key_name
        )?;
        if let Some(entity) = &self.entity_path {
            write!(f, ";EntityPath={entity}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for ConnectionString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectionString")
            .field("namespace", &self.namespace)
            .field("key_name", &self.key_name)
            .field("key", &"***")
            .field("entity_path", &self.entity_path)
            .finish()
    }
}

impl PartialEq for ConnectionString {
    fn eq(&self, other: &Self) -> bool {
        self.namespace == other.namespace
            && self.key_name == other.key_name
            && self.key.expose_secret() == other.key.expose_secret()
            && self.entity_path == other.entity_path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "c2VjcmV0LWtleS10aGF0LW11c3Qtbm90LWxlYWs9PQ==";

    fn standard() -> String {
        format!(
            "Endpoint=sb://techconf-prod.servicebus.windows.net/;\
             SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey={KEY}"
        )
    }

    #[test]
    fn the_standard_connection_string_is_parsed() {
        let cs: ConnectionString = standard().parse().unwrap();
        assert_eq!(cs.namespace(), "techconf-prod");
        assert_eq!(cs.host(), "techconf-prod.servicebus.windows.net");
        assert_eq!(cs.key_name(), "RootManageSharedAccessKey");
        assert_eq!(cs.key().expose_secret(), KEY, "the `=` padding is kept");
        assert_eq!(cs.entity_path(), None);
    }

    #[test]
    fn entity_path_is_optional_and_names_are_case_insensitive() {
        let cs: ConnectionString = format!(
            " endpoint=sb://Ns1.ServiceBus.Windows.Net ; sharedaccesskeyname=send ; \
             sharedaccesskey={KEY} ; EntityPath=notificationqueue ;"
        )
        .parse()
        .unwrap();
        assert_eq!(cs.namespace(), "ns1");
        assert_eq!(cs.key_name(), "send");
        assert_eq!(cs.entity_path(), Some("notificationqueue"));
    }

    #[test]
    fn errors_name_the_missing_part() {
        let missing = |text: &str| text.parse::<ConnectionString>().unwrap_err();
        assert_eq!(
            missing(&format!("SharedAccessKeyName=a;SharedAccessKey={KEY}")),
            ConnectionStringError::Missing("Endpoint")
        );
        assert_eq!(
            missing(&format!(
                "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKey={KEY}"
            )),
            ConnectionStringError::Missing("SharedAccessKeyName")
        );
        let err = missing("Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=a");
        assert_eq!(err, ConnectionStringError::Missing("SharedAccessKey"));
        assert!(err.to_string().contains("SharedAccessKey"), "{err}");
        assert_eq!(missing("  "), ConnectionStringError::Empty);
    }

    #[test]
    fn bad_endpoints_and_parts_are_refused() {
        let err = |text: String| text.parse::<ConnectionString>().unwrap_err();
        let rest = format!("SharedAccessKeyName=a;SharedAccessKey={KEY}");
        assert!(matches!(
            err(format!("Endpoint=sb://ns.example.org/;{rest}")),
            ConnectionStringError::BadEndpoint(_)
        ));
        assert!(matches!(
            err(format!("Endpoint=ns.servicebus.windows.net;{rest}")),
            ConnectionStringError::BadEndpoint(_)
        ));
        assert!(matches!(
            err(format!("Endpoint=amqp://ns.servicebus.windows.net/;{rest}")),
            ConnectionStringError::BadEndpoint(_)
        ));
        assert_eq!(
            err(format!(
                "Endpoint=sb://ns.servicebus.windows.net/;{rest};SharedAccessKey=x"
            )),
            ConnectionStringError::Duplicate("SharedAccessKey")
        );
        assert!(matches!(
            err(format!(
                "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessSignature=abc;{rest}"
            )),
            ConnectionStringError::Unsupported(_)
        ));
        assert_eq!(
            err(format!(
                "Endpoint=sb://ns.servicebus.windows.net/;{rest};Oops"
            )),
            ConnectionStringError::MalformedPart { position: 4 }
        );
    }

    #[test]
    fn the_key_never_shows_in_debug_display_or_errors() {
        let cs: ConnectionString = standard().parse().unwrap();
        for shown in [format!("{cs}"), format!("{cs:?}"), format!("{cs:#?}")] {
            assert!(!shown.contains(KEY), "{shown}");
            assert!(!shown.contains("c2VjcmV0"), "{shown}");
        }
        assert!(format!("{cs}").contains("SharedAccessKey=***"));
        // A key pasted where a part name belongs, or without its `=`, is not echoed back.
        for text in [
            format!("Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=a;{KEY}"),
            format!("Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=a;Key{KEY}"),
            format!("Endpoint=sb://{KEY}/;SharedAccessKeyName=a;SharedAccessKey={KEY}"),
            format!("Endpoint=sb://ns.example.org/;SharedAccessKeyName=a;SharedAccessKey={KEY}"),
        ] {
            let err = text.parse::<ConnectionString>().unwrap_err();
            for shown in [err.to_string(), format!("{err:?}")] {
                assert!(!shown.contains("c2VjcmV0"), "{shown}");
            }
        }
    }
}
