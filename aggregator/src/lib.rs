//! zkNode aggregator library: the job database, the prover farm and the scheduler.

pub mod db;
pub mod farm;
pub mod follow;
pub mod scheduler;
pub mod settle;
