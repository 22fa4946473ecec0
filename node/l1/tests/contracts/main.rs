//! The rollup contracts against anvil, one anvil per test: each check of sequenceBatches,
//! forceBatch, sequenceForceBatches and verifyBatchesTrustedAggregator reverts with its custom
//! error, the accInputHash chain and the L1 info tree agree with the executor's, and deploy
//! sets every role; the transaction manager and the sequence sender against the contracts,
//! with their records on SQLite and PostgreSQL. One test binary (each links the executor's
//! whole stack).

mod common;
mod deploy;
mod forced;
mod l1_info_tree;
mod sender;
mod sequence;
mod txman;
mod verify;
