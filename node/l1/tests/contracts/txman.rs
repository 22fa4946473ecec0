//! The L1 transaction manager against anvil, its records in a state database on SQLite and on
//! PostgreSQL: confirmation, a stuck transaction bumped, a dropped one resent with its nonce, a
//! restart mid-flight, reverts (at estimation and on L1) reported with the error's name, and a
//! reorg. Rounds are driven by hand (`tick`), so nothing depends on timing.

use crate::common::*;
use alloy::primitives::Bytes;
use alloy::providers::Provider;
use alloy::sol_types::SolCall;
use zknode_l1::testing::dev_signer;
use zknode_l1::{TxManager, TxManagerConfig, ZkEvmRollup};
use zknode_sqldb::harness::TestLocation;
use zknode_storage::{L1TxStatus, StateDb};

/// A database for one test, deleted (or its cluster stopped) on drop.
pub struct TestDb {
    pub db: StateDb,
    _at: TestLocation,
}

impl TestDb {
    pub async fn sqlite() -> TestDb {
        let at = TestLocation::sqlite("data/state.db");
        let db = StateDb::connect(&at.url).await.unwrap();
        TestDb { db, _at: at }
    }

    pub async fn postgres() -> Option<TestDb> {
        let at = TestLocation::postgres().await?;
        let db = StateDb::connect(&at.url).await.unwrap();
        Some(TestDb { db, _at: at })
    }
}

zknode_sqldb::on_both!(
    a_transaction_is_confirmed,
    a_stuck_transaction_is_bumped_then_mined,
    a_dropped_transaction_is_resent_with_its_nonce,
    a_restart_neither_loses_nor_doubles,
    reverts_are_failures_with_the_error_name,
    a_reorged_transaction_is_mined_again,
);

fn config() -> TxManagerConfig {
    TxManagerConfig {
        poll_interval_ms: 50,
        confirmations: 2,
        bump_after_secs: 3600,
        ..TxManagerConfig::default()
    }
}

async fn manager(chain: &Chain, db: &StateDb, who: usize, cfg: TxManagerConfig) -> TxManager {
    TxManager::new(db.clone(), chain.provider(who), dev_signer(who), cfg)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

/// `setForceBatchTimeout(seconds)`: only the admin may, each time lower than before, and it
/// emits an event.
fn set_timeout(seconds: u64) -> Bytes {
    ZkEvmRollup::setForceBatchTimeoutCall {
        newforceBatchTimeout: seconds,
    }
    .abi_encode()
    .into()
}

async fn rpc(chain: &Chain, method: &'static str, params: serde_json::Value) -> serde_json::Value {
    chain
        .provider(ADMIN)
        .raw_request(method.into(), params)
        .await
        .unwrap_or_else(|e| panic!("{method}: {e}"))
}

async fn set_automine(chain: &Chain, on: bool) {
    rpc(chain, "evm_setAutomine", serde_json::json!([on])).await;
}

async fn mine(chain: &Chain) {
    rpc(chain, "evm_mine", serde_json::json!([])).await;
}

/// Ticks (mining a block after each) until `id` is `want`; panics after 60 rounds.
async fn tick_until(chain: &Chain, m: &TxManager, id: &str, want: L1TxStatus) {
    for _ in 0..60 {
        m.tick().await.unwrap_or_else(|e| panic!("tick: {e}"));
        let s = m.status(id).await.unwrap().expect("recorded");
        if s.status == want {
            return;
        }
        assert!(
            !s.status.is_final(),
            "{id} ended {:?} ({:?}), expected {want:?}",
            s.status,
            s.error
        );
        mine(chain).await;
    }
    panic!("{id} did not become {want:?}");
}

async fn latest_nonce(chain: &Chain, who: usize) -> u64 {
    chain
        .provider(ADMIN)
        .get_transaction_count(zknode_l1::testing::dev_address(who))
        .latest()
        .await
        .unwrap()
}

async fn a_transaction_is_confirmed(t: &TestDb) {
    let chain = Chain::start().await;
    let m = manager(&chain, &t.db, ADMIN, config()).await;
    let nonce = latest_nonce(&chain, ADMIN).await;
    let rollup = chain.deployment.rollup;
    m.add("timeout-1", "test", rollup, set_timeout(1234))
        .await
        .unwrap();
    // Idempotent on the id: the second add changes nothing.
    m.add("timeout-1", "test", rollup, set_timeout(999))
        .await
        .unwrap();
    let rec = m.status("timeout-1").await.unwrap().unwrap();
    assert_eq!(
        (rec.status, rec.nonce, rec.owner.as_str()),
        (L1TxStatus::Created, Some(nonce), "test")
    );
    assert_eq!(rec.data, set_timeout(1234));
    assert!(rec.gas_limit > 21_000);
    tick_until(&chain, &m, "timeout-1", L1TxStatus::Confirmed).await;
    let rec = m.status("timeout-1").await.unwrap().unwrap();
    assert_eq!(rec.hashes.len(), 1);
    let mined = rec.mined.expect("where it was mined");
    assert_eq!(mined.tx_hash, rec.hashes[0]);
    let head = chain.provider(ADMIN).get_block_number().await.unwrap();
    assert!(head >= mined.block_number + 2);
    let timeout = chain
        .rollup(ADMIN)
        .forceBatchTimeout()
        .call()
        .await
        .unwrap();
    assert_eq!(timeout, 1234);
    assert_eq!(latest_nonce(&chain, ADMIN).await, nonce + 1);
}

async fn a_stuck_transaction_is_bumped_then_mined(t: &TestDb) {
    let chain = Chain::start().await;
    set_automine(&chain, false).await;
    let cfg = TxManagerConfig {
        bump_after_secs: 0,
        confirmations: 0,
        ..config()
    };
    let m = manager(&chain, &t.db, ADMIN, cfg).await;
    m.add("stuck", "test", chain.deployment.rollup, set_timeout(77))
        .await
        .unwrap();
    m.tick().await.unwrap(); // sends
    let first = m.status("stuck").await.unwrap().unwrap();
    assert_eq!((first.status, first.hashes.len()), (L1TxStatus::Sent, 1));
    m.tick().await.unwrap(); // not mined: bumped
    let second = m.status("stuck").await.unwrap().unwrap();
    assert_eq!(second.hashes.len(), 2, "{second:?}");
    let (f0, p0) = (first.max_fee.unwrap(), first.max_priority_fee.unwrap());
    let (f1, p1) = (second.max_fee.unwrap(), second.max_priority_fee.unwrap());
    assert!(
        f1 * 8 >= f0 * 9 && p1 * 8 >= p0 * 9,
        "{f0}/{p0} -> {f1}/{p1}"
    );
    assert_eq!(second.nonce, first.nonce);
    mine(&chain).await;
    tick_until(&chain, &m, "stuck", L1TxStatus::Confirmed).await;
    let rec = m.status("stuck").await.unwrap().unwrap();
    let mined = rec.mined.unwrap();
    assert!(rec.hashes.contains(&mined.tx_hash));
    assert_ne!(
        mined.tx_hash, rec.hashes[0],
        "the bumped version replaced the first"
    );
    assert!(m.metrics.bumped.load(std::sync::atomic::Ordering::Relaxed) >= 1);
}

async fn a_dropped_transaction_is_resent_with_its_nonce(t: &TestDb) {
    let chain = Chain::start().await;
    set_automine(&chain, false).await;
    let cfg = TxManagerConfig {
        confirmations: 0,
        ..config()
    };
    let m = manager(&chain, &t.db, ADMIN, cfg).await;
    m.add("drop", "test", chain.deployment.rollup, set_timeout(55))
        .await
        .unwrap();
    m.tick().await.unwrap();
    let rec = m.status("drop").await.unwrap().unwrap();
    let hash = rec.hashes[0];
    rpc(&chain, "anvil_dropTransaction", serde_json::json!([hash])).await;
    assert!(chain
        .provider(ADMIN)
        .get_transaction_by_hash(hash)
        .await
        .unwrap()
        .is_none());
    m.tick().await.unwrap(); // unknown to the L1: sent again
    assert_eq!(
        m.metrics.resent.load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    mine(&chain).await;
    tick_until(&chain, &m, "drop", L1TxStatus::Confirmed).await;
    let rec = m.status("drop").await.unwrap().unwrap();
    let mined = chain
        .provider(ADMIN)
        .get_transaction_by_hash(rec.mined.unwrap().tx_hash)
        .await
        .unwrap()
        .unwrap();
    use alloy::consensus::Transaction as _;
    assert_eq!(Some(mined.nonce()), rec.nonce);
    assert_eq!(
        chain
            .rollup(ADMIN)
            .forceBatchTimeout()
            .call()
            .await
            .unwrap(),
        55
    );
}

async fn a_restart_neither_loses_nor_doubles(t: &TestDb) {
    let chain = Chain::start().await;
    set_automine(&chain, false).await;
    let cfg = TxManagerConfig {
        confirmations: 0,
        ..config()
    };
    let start = latest_nonce(&chain, ADMIN).await;
    let rollup = chain.deployment.rollup;
    {
        let a = manager(&chain, &t.db, ADMIN, cfg.clone()).await;
        a.add("r-1", "test", rollup, set_timeout(400))
            .await
            .unwrap();
        a.add("r-2", "test", rollup, set_timeout(300))
            .await
            .unwrap();
        a.tick().await.unwrap(); // both sent
        a.add("r-3", "test", rollup, set_timeout(200))
            .await
            .unwrap(); // recorded, not sent: the process stops here
    }
    let b = manager(&chain, &t.db, ADMIN, cfg).await;
    b.add("r-1", "test", rollup, set_timeout(400))
        .await
        .unwrap(); // known: nothing new
    b.add("r-4", "test", rollup, set_timeout(100))
        .await
        .unwrap();
    b.tick().await.unwrap();
    let mut nonces = Vec::new();
    for id in ["r-1", "r-2", "r-3", "r-4"] {
        let rec = b.status(id).await.unwrap().unwrap();
        assert_eq!(rec.hashes.len(), 1, "{id} was sent once: {rec:?}");
        nonces.push(rec.nonce.unwrap());
    }
    assert_eq!(nonces, vec![start, start + 1, start + 2, start + 3]);
    mine(&chain).await;
    for id in ["r-1", "r-2", "r-3", "r-4"] {
        tick_until(&chain, &b, id, L1TxStatus::Confirmed).await;
    }
    // No gap and nothing extra: exactly four transactions of the account were mined.
    assert_eq!(latest_nonce(&chain, ADMIN).await, start + 4);
    assert_eq!(
        chain
            .rollup(ADMIN)
            .forceBatchTimeout()
            .call()
            .await
            .unwrap(),
        100
    );
}

async fn reverts_are_failures_with_the_error_name(t: &TestDb) {
    let chain = Chain::start().await;
    let rollup = chain.deployment.rollup;
    // A user may not set the timeout: the estimate reverts, nothing is sent and no nonce taken.
    let user = manager(&chain, &t.db, USER, config()).await;
    user.add("not-admin", "test", rollup, set_timeout(5))
        .await
        .unwrap();
    let rec = user.status("not-admin").await.unwrap().unwrap();
    assert_eq!((rec.status, rec.nonce), (L1TxStatus::Failed, None));
    assert!(
        rec.error.as_deref().unwrap().contains("OnlyAdmin"),
        "{rec:?}"
    );
    user.tick().await.unwrap();
    assert!(user
        .status("not-admin")
        .await
        .unwrap()
        .unwrap()
        .hashes
        .is_empty());

    // A forced batch passes its estimate, then the admin closes forced batches to one address
    // before it is sent: it reverts on L1.
    let force = ZkEvmRollup::forceBatchCall {
        transactions: Bytes::from_static(&[0xc0]),
        polAmount: Default::default(),
    };
    user.add("force", "test", rollup, force.abi_encode().into())
        .await
        .unwrap();
    assert_eq!(
        user.status("force").await.unwrap().unwrap().status,
        L1TxStatus::Created
    );
    confirm(
        chain
            .rollup(ADMIN)
            .setForceBatchAddress(zknode_l1::testing::dev_address(ADMIN))
            .send()
            .await,
    )
    .await;
    tick_until(&chain, &user, "force", L1TxStatus::Failed).await;
    let rec = user.status("force").await.unwrap().unwrap();
    assert!(rec.mined.is_some(), "a reverted receipt names its block");
    assert!(
        rec.error
            .as_deref()
            .unwrap()
            .contains("ForceBatchNotAllowed"),
        "{rec:?}"
    );
    // The user's next transaction takes the next nonce: the failed estimate took none.
    assert_eq!(rec.nonce, Some(0));
    assert_eq!(latest_nonce(&chain, USER).await, 1);
}

async fn a_reorged_transaction_is_mined_again(t: &TestDb) {
    let chain = Chain::start().await;
    let cfg = TxManagerConfig {
        confirmations: 3,
        ..config()
    };
    let m = manager(&chain, &t.db, ADMIN, cfg).await;
    let snapshot = rpc(&chain, "evm_snapshot", serde_json::json!([])).await;
    m.add("reorg", "test", chain.deployment.rollup, set_timeout(66))
        .await
        .unwrap();
    m.tick().await.unwrap(); // sent, and mined at once (automine)
    m.tick().await.unwrap(); // receipt seen: mined
    let rec = m.status("reorg").await.unwrap().unwrap();
    assert_eq!(rec.status, L1TxStatus::Mined);
    let old = rec.mined.unwrap();
    // The block goes; another chain of empty blocks takes its place.
    rpc(&chain, "evm_revert", serde_json::json!([snapshot])).await;
    for _ in 0..2 {
        mine(&chain).await;
    }
    tick_until(&chain, &m, "reorg", L1TxStatus::Confirmed).await;
    assert!(m.metrics.reorged.load(std::sync::atomic::Ordering::Relaxed) >= 1);
    let rec = m.status("reorg").await.unwrap().unwrap();
    assert_ne!(rec.mined.unwrap().block_hash, old.block_hash);
    assert_eq!(
        chain
            .rollup(ADMIN)
            .forceBatchTimeout()
            .call()
            .await
            .unwrap(),
        66
    );
}
