//! `sol!` bindings generated from the committed contract artifacts (ABI and bytecode), with
//! `#[sol(rpc)]` instances for calls, transactions, deployment and event filters.
//!
//! `ZkEvmRollup::ZkEvmRollupErrors` and `GlobalExitRootManager::GlobalExitRootManagerErrors`
//! decode revert data into the contracts' custom errors.

#![allow(clippy::too_many_arguments)]

use alloy::sol;

sol!(
    #[sol(rpc)]
    #[derive(Debug, PartialEq, Eq)]
    ZkEvmRollup,
    "../../contracts/artifacts/ZkEvmRollup.json"
);

sol!(
    #[sol(rpc)]
    #[derive(Debug, PartialEq, Eq)]
    GlobalExitRootManager,
    "../../contracts/artifacts/GlobalExitRootManager.json"
);
