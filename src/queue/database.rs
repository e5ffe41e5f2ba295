//! The database queue backend: claiming, completing and failing job rows.
//!
//! Claims are leases: a claimed job is `running` until `locked_until`; a worker that dies
//! leaves the lease to expire and another worker takes the job over.
