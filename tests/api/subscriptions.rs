//! Subscriptions over a real WebSocket: live progress, list changes and registrations.
