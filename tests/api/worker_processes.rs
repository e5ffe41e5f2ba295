//! Worker processes: separate `techconf worker` processes sharing one database, killed
//! and stopped mid-send, racing registrations, and the shared rate limit.
