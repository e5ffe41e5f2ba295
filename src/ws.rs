//! Bounds on GraphQL WebSocket connections (`/graphql/ws`): a socket that sends no
//! `connection_init` in time is closed with 4408 (as graphql-ws does), each token may hold a
//! limited number of sockets in this process (4429 beyond), each socket a limited number of
//! subscriptions (`TOO_MANY_SUBSCRIPTIONS` on the extra one), and a revoked token's sockets
//! are closed (4403) within `WS_REVOCATION_CHECK_MS`.
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextSubscribe};
use async_graphql::{ErrorExtensions, Response, ServerError};
use axum::extract::ws::WebSocket;
use futures::stream::BoxStream;
use futures::{StreamExt, future};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QuerySelect};
use tokio::sync::watch;
use uuid::Uuid;

use crate::auth::{Authentication, Principal};
use crate::entity::api_token;

/// graphql-ws: "Connection initialisation timeout".
pub const CLOSE_INIT_TIMEOUT: u16 = 4408;
/// Too many sockets for one token.
pub const CLOSE_TOO_MANY_CONNECTIONS: u16 = 4429;
/// The token was revoked while the socket was open.
pub const CLOSE_REVOKED: u16 = 4403;
const TOO_MANY_CONNECTIONS: &str = "TOO_MANY_CONNECTIONS";

/// The `WS_*` settings.
#[derive(Clone, Copy, Debug)]
pub struct SocketLimits {
    pub init_timeout: Duration,
    pub max_connections_per_token: usize,
    pub max_subscriptions_per_connection: usize,
    pub revocation_check: Duration,
}

impl Default for SocketLimits {
    fn default() -> Self {
        Self {
            init_timeout: Duration::from_secs(3),
            max_connections_per_token: 50,
            max_subscriptions_per_connection: 100,
            revocation_check: Duration::from_secs(2),
        }
    }
}

type Closer = watch::Sender<Option<(u16, String)>>;
/// One token's open sockets: its row id (`None` for `TECHCONF_ADMIN_TOKEN`) and, by socket
/// id, how to close each.
type TokenSockets = (Option<Uuid>, HashMap<u64, Closer>);

/// The open, initialised sockets of this process, by token.
#[derive(Clone)]
pub struct SocketRegistry {
    inner: Arc<Registry>,
}

struct Registry {
    limits: SocketLimits,
    next_id: AtomicU64,
    /// Token identity → (token row id, socket id → how to close it).
    open: Mutex<HashMap<String, TokenSockets>>,
}

/// A socket's place in the registry; leaving frees it.
struct Admission {
    registry: Arc<Registry>,
    identity: String,
    id: u64,
}

impl Drop for Admission {
    fn drop(&mut self) {
        if let Ok(mut open) = self.registry.open.lock()
            && let Some((_, sockets)) = open.get_mut(&self.identity)
        {
            sockets.remove(&self.id);
            if sockets.is_empty() {
                open.remove(&self.identity);
            }
        }
    }
}

impl SocketRegistry {
    pub fn new(limits: SocketLimits) -> Self {
        Self {
            inner: Arc::new(Registry {
                limits,
                next_id: AtomicU64::new(1),
                open: Mutex::new(HashMap::new()),
            }),
        }
    }

    pub fn limits(&self) -> SocketLimits {
        self.inner.limits
    }

    fn admit(&self, principal: &Principal, closer: Closer) -> Result<Admission, String> {
        let identity = principal.identity();
        let mut open = self
            .inner
            .open
            .lock()
            .map_err(|_| "internal error".to_owned())?;
        let (_, sockets) = open
            .entry(identity.clone())
            .or_insert_with(|| (principal.token_id, HashMap::new()));
        let max = self.inner.limits.max_connections_per_token;
        if sockets.len() >= max {
            return Err(format!(
                "{TOO_MANY_CONNECTIONS}: token `{}` already has {max} open connections \
                 (WS_MAX_CONNECTIONS_PER_TOKEN)",
                principal.name
            ));
        }
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        sockets.insert(id, closer);
        Ok(Admission {
            registry: self.inner.clone(),
            identity,
            id,
        })
    }

    /// Every `revocation_check`, closes the sockets of tokens revoked (or deleted) since
    /// they connected: one query per pass for all of this process's sockets.
    pub fn spawn_revocation_watch(&self, db: DatabaseConnection) -> tokio::task::JoinHandle<()> {
        let registry = self.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(registry.inner.limits.revocation_check);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                if let Err(err) = registry.close_revoked(&db).await {
                    tracing::warn!(error = %err, "could not check for revoked tokens");
                }
            }
        })
    }

    async fn close_revoked(&self, db: &DatabaseConnection) -> Result<(), sea_orm::DbErr> {
        let ids: Vec<Uuid> = match self.inner.open.lock() {
            Ok(open) => open.values().filter_map(|(id, _)| *id).collect(),
            Err(_) => return Ok(()),
        };
        if ids.is_empty() {
            return Ok(());
        }
        let live: Vec<Uuid> = api_token::Entity::find()
            .select_only()
            .column(api_token::Column::Id)
            .filter(api_token::Column::Id.is_in(ids.clone()))
            .filter(api_token::Column::RevokedAt.is_null())
            .into_tuple()
            .all(db)
            .await?;
        let Ok(open) = self.inner.open.lock() else {
            return Ok(());
        };
        for (token_id, sockets) in open.values() {
            if token_id.is_some_and(|id| !live.contains(&id)) {
                for closer in sockets.values() {
                    let _ = closer.send(Some((
                        CLOSE_REVOKED,
                        "UNAUTHENTICATED: the API token has been revoked".into(),
                    )));
                }
            }
        }
        Ok(())
    }
}

/// Subscriptions one socket holds; each stream holds a slot until it is dropped.
#[derive(Clone)]
pub struct SubscriptionSlots {
    active: Arc<AtomicUsize>,
    max: usize,
}

/// One subscription's place on its connection; dropping it frees the place.
pub struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl SubscriptionSlots {
    fn take(&self) -> Option<Slot> {
        let taken = self
            .active
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max).then_some(n + 1)
            })
            .is_ok();
        taken.then(|| Slot(self.active.clone()))
    }
}

/// The schema extension that enforces `WS_MAX_SUBSCRIPTIONS_PER_CONNECTION`.
pub struct SubscriptionCap;

impl ExtensionFactory for SubscriptionCap {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(SubscriptionCap)
    }
}

impl Extension for SubscriptionCap {
    fn subscribe<'s>(
        &self,
        ctx: &ExtensionContext<'_>,
        stream: BoxStream<'s, Response>,
        next: NextSubscribe<'_>,
    ) -> BoxStream<'s, Response> {
        let Some(slots) = ctx.data_opt::<SubscriptionSlots>() else {
            return next.run(ctx, stream);
        };
        match slots.take() {
            Some(slot) => next
                .run(ctx, stream)
                .map(move |response| {
                    let _held = &slot;
                    response
                })
                .boxed(),
            None => {
                let error = too_many_subscriptions(slots.max);
                let error = ServerError {
                    extensions: error.extensions,
                    ..ServerError::new(error.message, None)
                };
                futures::stream::once(future::ready(Response::from_errors(vec![error]))).boxed()
            }
        }
    }
}

/// Serves one upgraded socket with `crate::graphql::ws::serve`, within the limits above.
/// `authenticate` turns the `connection_init` payload into the caller's authentication.
pub async fn serve<A, F>(
    socket: WebSocket,
    subscriptions: crate::graphql::ws::Subscriptions,
    protocol: async_graphql::http::WebSocketProtocols,
    registry: SocketRegistry,
    authenticate: A,
) where
    A: FnOnce(serde_json::Value) -> F + Send + 'static,
    F: Future<Output = async_graphql::Result<Authentication>> + Send + 'static,
{
    let limits = registry.limits();
    let (closer, mut close) = watch::channel(None::<(u16, String)>);
    let initialised = Arc::new(tokio::sync::Notify::new());
    let admission: Arc<Mutex<Option<Admission>>> = Arc::default();
    let on_init = {
        let initialised = initialised.clone();
        let admission = admission.clone();
        move |payload: serde_json::Value| async move {
            let auth = authenticate(payload).await?;
            if let Authentication::Authenticated(principal) = &auth {
                let admitted = registry
                    .admit(principal, closer)
                    .map_err(async_graphql::Error::new)?;
                if let Ok(mut slot) = admission.lock() {
                    *slot = Some(admitted);
                }
            }
            initialised.notify_one();
            let mut data = async_graphql::Data::default();
            data.insert(auth);
            data.insert(SubscriptionSlots {
                active: Arc::default(),
                max: limits.max_subscriptions_per_connection,
            });
            Ok(data)
        }
    };
    // Whichever comes first: no `connection_init` in time, or a close from the registry.
    let stop = async move {
        let init_timeout = async {
            if tokio::time::timeout(limits.init_timeout, initialised.notified())
                .await
                .is_err()
            {
                return (
                    CLOSE_INIT_TIMEOUT,
                    "Connection initialisation timeout".to_owned(),
                );
            }
            std::future::pending().await
        };
        let revoked = async {
            loop {
                if close.changed().await.is_err() {
                    return std::future::pending().await;
                }
                if let Some(reason) = close.borrow().clone() {
                    return reason;
                }
            }
        };
        tokio::select! {
            reason = init_timeout => reason,
            reason = revoked => reason,
        }
    };
    crate::graphql::ws::serve(socket, subscriptions, protocol, on_init, stop).await;
    drop(admission);
}

/// The close code for a refused `connection_init`: the connection cap has its own.
pub fn init_refusal_code(code: u16, reason: &str) -> u16 {
    if reason.starts_with(TOO_MANY_CONNECTIONS) {
        CLOSE_TOO_MANY_CONNECTIONS
    } else {
        code
    }
}

/// A slot for one more subscription on the connection whose data this is, or the error to
/// send instead (`TOO_MANY_SUBSCRIPTIONS`). `None` data (no limits) always gets a slot.
pub fn take_subscription_slot(
    slots: Option<&SubscriptionSlots>,
) -> Result<Option<Slot>, async_graphql::Error> {
    match slots {
        None => Ok(None),
        Some(slots) => slots
            .take()
            .map(Some)
            .ok_or_else(|| too_many_subscriptions(slots.max)),
    }
}

fn too_many_subscriptions(max: usize) -> async_graphql::Error {
    async_graphql::Error::new(format!(
        "this connection already has {max} subscriptions \
         (WS_MAX_SUBSCRIPTIONS_PER_CONNECTION); complete one or open another connection"
    ))
    .extend_with(|_, e| e.set("code", "TOO_MANY_SUBSCRIPTIONS"))
}

/// The connection's subscription slots, from its data.
pub fn subscription_slots_of(data: &async_graphql::Data) -> Option<&SubscriptionSlots> {
    data.get(&std::any::TypeId::of::<SubscriptionSlots>())
        .and_then(|slots| slots.downcast_ref::<SubscriptionSlots>())
}
