//! The pool on real databases: every scenario on SQLite (a file in a temporary directory) and
//! on a throwaway PostgreSQL cluster (skipped with a printed reason where PostgreSQL is not
//! installed; `ZKNODE_REQUIRE_POSTGRES=1` makes that a failure). Transactions are signed with
//! the executor's `RawTx` as a wallet would sign them.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use alloy_primitives::{keccak256, Address, Bytes, B256, U256};
use secp256k1::SecretKey;
use zknode_executor::codec::{AccessList, AccessListItem};
use zknode_executor::RawTx;
use zknode_pool::{
    intrinsic_gas, AccountReader, AddError, Pool, PoolConfig, PoolCounts, PoolTxState, PoolTxStatus,
};
use zknode_sqldb::harness::TestLocation;
use zknode_storage::{
    BlockWriter, NewBatch, NewBlock, NewReceipt, NewTransaction, PoolStore, StateDb,
};

// ---------------------------------------------------------------------------------------------
// Databases
// ---------------------------------------------------------------------------------------------

/// A database for one test, deleted (or its cluster stopped) on drop.
struct TestDb {
    db: StateDb,
    /// Keeps the database (and its URL) alive.
    at: TestLocation,
}

impl TestDb {
    async fn sqlite() -> TestDb {
        let at = TestLocation::sqlite("state.db");
        let db = StateDb::connect(&at.url).await.unwrap();
        TestDb { db, at }
    }

    async fn postgres() -> Option<TestDb> {
        let at = TestLocation::postgres().await?;
        let db = StateDb::connect(&at.url).await.unwrap();
        Some(TestDb { db, at })
    }

    /// A pool with the default settings (chain id [`CHAIN`]).
    async fn pool(&self) -> Pool {
        self.pool_with(config()).await
    }

    async fn pool_with(&self, cfg: PoolConfig) -> Pool {
        Pool::open(self.db.clone(), cfg).await.unwrap()
    }
}

use zknode_sqldb::on_both;

on_both!(
    refuses_undecodable_bytes,
    refuses_unsupported_types,
    refuses_invalid_sender,
    refuses_invalid_chain_id,
    refuses_oversized_data,
    refuses_data_size_bigger_than_allowed,
    refuses_nonce_too_low,
    refuses_nonce_too_high,
    refuses_when_txpool_is_full,
    refuses_gas_price_too_low,
    refuses_insufficient_funds,
    refuses_intrinsic_gas_too_low,
    refuses_exceeding_block_gas_limit,
    refuses_already_known,
    refuses_underpriced_replacement,
    refuses_with_internal_error_when_the_database_fails,
    checks_run_in_zkevm_nodes_order,
    accepts_every_type_and_replaces_with_a_higher_price,
    accepted_transactions_survive_a_restart,
    ready_merges_senders_by_price_in_nonce_order,
    failed_transactions_free_their_nonce,
    write_block_marks_pool_rows_selected,
    nonces_counts_and_wake_ups,
    concurrent_adds_stay_consistent,
);

// ---------------------------------------------------------------------------------------------
// Transactions and state
// ---------------------------------------------------------------------------------------------

const CHAIN: u64 = 1001;
const GWEI: u64 = 1_000_000_000;

fn config() -> PoolConfig {
    PoolConfig {
        chain_id: CHAIN,
        ..PoolConfig::default()
    }
}

fn key(seed: u64) -> SecretKey {
    let mut b = [0u8; 32];
    b[..8].copy_from_slice(&(seed | 1 << 40).to_be_bytes());
    b[31] = 1;
    SecretKey::from_byte_array(b).unwrap()
}

fn address_of(k: &SecretKey) -> Address {
    let pk = secp256k1::PublicKey::from_secret_key(secp256k1::SECP256K1, k);
    Address::from_slice(&keccak256(&pk.serialize_uncompressed()[1..])[12..])
}

fn to() -> Option<Address> {
    Some(Address::repeat_byte(0x70))
}

/// A legacy EIP-155 transfer of 1 wei with gas 21,000.
fn transfer(nonce: u64, price: u64) -> RawTx {
    RawTx::new(
        nonce,
        U256::from(price),
        21_000,
        to(),
        U256::from(1u8),
        Bytes::new(),
        Some(CHAIN),
    )
}

/// A legacy EIP-155 transaction with these fields.
fn legacy(nonce: u64, price: u64, gas: u64, data: Vec<u8>) -> RawTx {
    RawTx::new(
        nonce,
        U256::from(price),
        gas,
        to(),
        U256::ZERO,
        data.into(),
        Some(CHAIN),
    )
}

fn eip1559(nonce: u64, tip: u64, max_fee: u64) -> RawTx {
    RawTx::new_eip1559(
        CHAIN,
        nonce,
        U256::from(tip),
        U256::from(max_fee),
        21_000,
        to(),
        U256::ZERO,
        Bytes::new(),
        AccessList::default(),
    )
}

fn signed(tx: RawTx, k: &SecretKey) -> Vec<u8> {
    tx.sign(k).to_eth_bytes()
}

/// Accounts by address; missing ones have nonce 0 and no balance.
#[derive(Clone, Default)]
struct Accounts(HashMap<Address, (u64, U256)>);

impl Accounts {
    /// `k`'s account with `nonce` and 1,000 ETH.
    fn rich(k: &SecretKey, nonce: u64) -> Accounts {
        let mut a = Accounts::default();
        a.set(k, nonce, U256::from(10u8).pow(U256::from(21u8)));
        a
    }

    fn set(&mut self, k: &SecretKey, nonce: u64, balance: U256) -> &mut Self {
        self.0.insert(address_of(k), (nonce, balance));
        self
    }

    fn with(mut self, k: &SecretKey, nonce: u64) -> Self {
        self.set(k, nonce, U256::from(10u8).pow(U256::from(21u8)));
        self
    }

    fn nonce(&self, a: Address) -> u64 {
        self.0.get(&a).map_or(0, |(n, _)| *n)
    }
}

impl AccountReader for Accounts {
    fn account(&self, address: Address) -> Result<(u64, U256), String> {
        Ok(self.0.get(&address).copied().unwrap_or_default())
    }
}

/// A state that cannot be read.
struct Broken;

impl AccountReader for Broken {
    fn account(&self, _: Address) -> Result<(u64, U256), String> {
        Err("the state tree is gone".into())
    }
}

/// The refusal of `raw`, checked for its message.
async fn refused(pool: &Pool, raw: &[u8], state: &Accounts, message: &str) -> AddError {
    match pool.add(raw, state).await {
        Ok(hash) => panic!("{hash} was accepted; expected {message:?}"),
        Err(e) => {
            assert_eq!(e.to_string(), message, "{e:?}");
            e
        }
    }
}

fn hashes(txs: &[Arc<zknode_pool::PoolTx>]) -> Vec<B256> {
    txs.iter().map(|t| t.hash).collect()
}

// ---------------------------------------------------------------------------------------------
// One refusal each
// ---------------------------------------------------------------------------------------------

async fn refuses_undecodable_bytes(t: &TestDb) {
    let pool = t.pool().await;
    let k = key(1);
    let state = Accounts::rich(&k, 0);
    let good = signed(transfer(0, GWEI), &k);
    let truncated = &good[..good.len() - 1];
    let mut trailing = good.clone();
    trailing.push(0);
    for (raw, what) in [
        (&[][..], "empty"),
        (&[0xff, 0x00, 0x13][..], "garbage"),
        (truncated, "truncated"),
        (&trailing[..], "trailing byte"),
        (&[0x80][..], "a string"),
        (&[0x02, 0xc0][..], "an empty typed list"),
    ] {
        let message = zknode_executor::decode_signed(raw).unwrap_err().to_string();
        let e = refused(&pool, raw, &state, &message).await;
        assert_eq!(e.label(), "undecodable", "{what}");
    }
    // The decoder's messages are what a user sees.
    let e = pool.add(truncated, &state).await.unwrap_err();
    assert!(e.to_string().starts_with("rlp: "), "{e}");
    assert_eq!(pool.counts(), PoolCounts::default());
}

async fn refuses_unsupported_types(t: &TestDb) {
    let pool = t.pool().await;
    let state = Accounts::default();
    // EIP-4844 and EIP-7702 envelopes, and an unassigned type.
    for ty in [0x03u8, 0x04, 0x7f] {
        let raw = [ty, 0xc1, 0x80];
        let e = refused(&pool, &raw, &state, "transaction type not supported").await;
        assert_eq!(e, AddError::TypeNotSupported { tx_type: ty });
        assert_eq!(e.label(), "type_not_supported");
    }
}

async fn refuses_invalid_sender(t: &TestDb) {
    let pool = t.pool().await;
    let k = key(2);
    let state = Accounts::rich(&k, 0);
    let tx = transfer(0, GWEI).sign(&k);
    // EIP-2's upper half of s, and r = 0: they decode, but recover no sender.
    let n = U256::from_str_radix(
        "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141",
        16,
    )
    .unwrap();
    let mut high_s = tx.clone();
    high_s.s = (n - U256::from_be_bytes(tx.s.0)).to_be_bytes::<32>().into();
    high_s.v = if tx.v == 27 { 28 } else { 27 };
    let mut zero_r = tx.clone();
    zero_r.r = B256::ZERO;
    for bad in [high_s, zero_r] {
        let e = refused(&pool, &bad.to_eth_bytes(), &state, "invalid sender").await;
        assert_eq!(e.label(), "invalid_sender");
    }
}

async fn refuses_invalid_chain_id(t: &TestDb) {
    let pool = t.pool().await;
    let k = key(3);
    let state = Accounts::rich(&k, 0);
    let other_legacy = RawTx::new(
        0,
        U256::from(GWEI),
        21_000,
        to(),
        U256::ZERO,
        Bytes::new(),
        Some(1),
    );
    let other_typed = RawTx::new_eip2930(
        1,
        0,
        U256::from(GWEI),
        21_000,
        to(),
        U256::ZERO,
        Bytes::new(),
        AccessList::default(),
    );
    let other_1559 = RawTx::new_eip1559(
        CHAIN + 1,
        0,
        U256::from(GWEI),
        U256::from(GWEI),
        21_000,
        to(),
        U256::ZERO,
        Bytes::new(),
        AccessList::default(),
    );
    for tx in [other_legacy, other_typed, other_1559] {
        let e = refused(&pool, &signed(tx, &k), &state, "invalid chain id").await;
        assert_eq!(e.label(), "invalid_chain_id");
    }

    // A legacy transaction without replay protection: accepted by default (as zkevm-node),
    // refused when not allowed.
    let unprotected = RawTx::new(
        0,
        U256::from(GWEI),
        21_000,
        to(),
        U256::ZERO,
        Bytes::new(),
        None,
    );
    let raw = signed(unprotected, &k);
    let strict = Pool::open(
        t.db.clone(),
        PoolConfig {
            allow_unprotected: false,
            ..config()
        },
    )
    .await
    .unwrap();
    let e = refused(&strict, &raw, &state, "invalid chain id").await;
    assert_eq!(e, AddError::InvalidChainId { chain_id: None });
    drop(strict);
    pool.add(&raw, &state).await.unwrap();
}

async fn refuses_oversized_data(t: &TestDb) {
    let pool = t.pool().await;
    let k = key(4);
    let state = Accounts::rich(&k, 0);
    let cfg = config();
    // The batch encoding (signing payload + 66) just above the limit, and just at it.
    let sized = |extra: usize| {
        let mut data_len = 100_000;
        loop {
            let tx = legacy(0, GWEI, 2_000_000, vec![1; data_len]);
            let size = tx.sign_data().len() + 66;
            if size as u64 == cfg.max_tx_bytes + extra as u64 {
                return tx;
            }
            data_len += 1;
        }
    };
    let over = sized(1);
    let e = refused(&pool, &signed(over, &k), &state, "oversized data").await;
    assert_eq!(
        e,
        AddError::OversizedData {
            size: 100_133,
            max: 100_132
        }
    );
    assert_eq!(e.label(), "oversized_data");
    // At the limit the encoding passes; its data (more than 100,000 bytes) does not.
    let at = sized(0);
    let e = pool.add(&signed(at, &k), &state).await.unwrap_err();
    assert_eq!(e.label(), "data_too_big");
}

async fn refuses_data_size_bigger_than_allowed(t: &TestDb) {
    let pool = t.pool().await;
    let k = key(5);
    let state = Accounts::rich(&k, 0);
    let raw = signed(legacy(0, GWEI, 2_000_000, vec![7; 100_001]), &k);
    let e = refused(
        &pool,
        &raw,
        &state,
        "data size bigger than allowed, current size is 100001 bytes and max allowed is 100000 bytes",
    )
    .await;
    assert_eq!(e.label(), "data_too_big");
    // 100,000 bytes are allowed.
    pool.add(
        &signed(legacy(0, GWEI, 2_000_000, vec![7; 100_000]), &k),
        &state,
    )
    .await
    .unwrap();
}

async fn refuses_nonce_too_low(t: &TestDb) {
    let pool = t.pool().await;
    let k = key(6);
    let state = Accounts::rich(&k, 5);
    let e = refused(
        &pool,
        &signed(transfer(4, GWEI), &k),
        &state,
        "nonce too low",
    )
    .await;
    assert_eq!(
        e,
        AddError::NonceTooLow {
            nonce: 4,
            state_nonce: 5
        }
    );
    assert_eq!(e.label(), "nonce_too_low");
    pool.add(&signed(transfer(5, GWEI), &k), &state)
        .await
        .unwrap();
}

async fn refuses_nonce_too_high(t: &TestDb) {
    let pool = t.pool().await;
    let k = key(7);
    let state = Accounts::rich(&k, 5);
    // account_queue 64: nonces 5 ..= 5 + 63.
    let e = refused(
        &pool,
        &signed(transfer(5 + 64, GWEI), &k),
        &state,
        "nonce too high",
    )
    .await;
    assert_eq!(e.label(), "nonce_too_high");
    pool.add(&signed(transfer(5 + 63, GWEI), &k), &state)
        .await
        .unwrap();
    // 0 sets no limit.
    let unlimited = Pool::open(
        t.db.clone(),
        PoolConfig {
            account_queue: 0,
            ..config()
        },
    )
    .await
    .unwrap();
    unlimited
        .add(&signed(transfer(5 + 10_000, GWEI), &k), &state)
        .await
        .unwrap();
}

async fn refuses_when_txpool_is_full(t: &TestDb) {
    let pool = t
        .pool_with(PoolConfig {
            global_queue: 2,
            ..config()
        })
        .await;
    let (a, b) = (key(8), key(9));
    let state = Accounts::rich(&a, 0).with(&b, 0);
    pool.add(&signed(transfer(0, GWEI), &a), &state)
        .await
        .unwrap();
    pool.add(&signed(transfer(1, GWEI), &a), &state)
        .await
        .unwrap();
    let e = refused(
        &pool,
        &signed(transfer(0, GWEI), &b),
        &state,
        "txpool is full",
    )
    .await;
    assert_eq!(e, AddError::PoolFull { pending: 2 });
    assert_eq!(e.label(), "pool_full");
    // A replacement does not count.
    pool.add(&signed(transfer(1, 2 * GWEI), &a), &state)
        .await
        .unwrap();
    assert_eq!(pool.counts().pending, 2);
    assert_eq!(t.db.count_pending_pool_txs().await.unwrap(), 2);
}

async fn refuses_gas_price_too_low(t: &TestDb) {
    let pool = t.pool().await;
    let k = key(10);
    let state = Accounts::rich(&k, 0);
    let e = refused(
        &pool,
        &signed(transfer(0, GWEI - 1), &k),
        &state,
        "gas price too low",
    )
    .await;
    assert_eq!(e.label(), "gas_price_too_low");
    // EIP-1559: the offered price is the tip (the base fee is zero), capped by maxFeePerGas.
    refused(
        &pool,
        &signed(eip1559(0, GWEI - 1, 100 * GWEI), &k),
        &state,
        "gas price too low",
    )
    .await;
    refused(
        &pool,
        &signed(eip1559(0, 100 * GWEI, GWEI - 1), &k),
        &state,
        "gas price too low",
    )
    .await;
    pool.add(&signed(eip1559(0, GWEI, GWEI), &k), &state)
        .await
        .unwrap();
}

async fn refuses_insufficient_funds(t: &TestDb) {
    let pool = t.pool().await;
    let k = key(11);
    let mut state = Accounts::default();
    let tx = transfer(0, 2 * GWEI);
    let cost = U256::from(21_000u64 * 2 * GWEI + 1);
    state.set(&k, 0, cost - U256::from(1u8));
    let e = refused(
        &pool,
        &signed(tx.clone(), &k),
        &state,
        "insufficient funds for gas * price + value",
    )
    .await;
    assert_eq!(e.label(), "insufficient_funds");
    // EIP-1559 pays for gas at maxFeePerGas, as Ethereum reserves it, not at the offered price.
    let mut rich_enough_for_tip = Accounts::default();
    rich_enough_for_tip.set(&k, 0, U256::from(21_000 * GWEI));
    refused(
        &pool,
        &signed(eip1559(0, GWEI, 2 * GWEI), &k),
        &rich_enough_for_tip,
        "insufficient funds for gas * price + value",
    )
    .await;
    // A cost that overflows 256 bits.
    let huge = RawTx::new(
        0,
        U256::MAX,
        21_000,
        to(),
        U256::ZERO,
        Bytes::new(),
        Some(CHAIN),
    );
    refused(
        &pool,
        &signed(huge, &k),
        &Accounts::rich(&k, 0),
        "insufficient funds for gas * price + value",
    )
    .await;
    state.set(&k, 0, cost);
    pool.add(&signed(tx, &k), &state).await.unwrap();
}

async fn refuses_intrinsic_gas_too_low(t: &TestDb) {
    let pool = t.pool().await;
    let k = key(12);
    let state = Accounts::rich(&k, 0);
    let creation = |gas| {
        RawTx::new(
            0,
            U256::from(GWEI),
            gas,
            None,
            U256::ZERO,
            Bytes::new(),
            Some(CHAIN),
        )
    };
    let with_list = |gas| {
        RawTx::new_eip2930(
            CHAIN,
            0,
            U256::from(GWEI),
            gas,
            to(),
            U256::ZERO,
            vec![0, 1, 0].into(),
            AccessList(vec![
                AccessListItem {
                    address: Address::repeat_byte(1),
                    storage_keys: vec![B256::ZERO, B256::repeat_byte(2)],
                },
                AccessListItem {
                    address: Address::repeat_byte(3),
                    storage_keys: vec![],
                },
            ]),
        )
    };
    // 21,000 + 4 + 16 + 4 + 2 × 2,400 + 2 × 1,900.
    assert_eq!(intrinsic_gas(&with_list(0)), 29_624);
    assert_eq!(intrinsic_gas(&creation(0)), 53_000);
    assert_eq!(intrinsic_gas(&legacy(0, 1, 0, vec![0, 5])), 21_020);
    for tx in [
        transfer(0, GWEI).gas_limit_minus(1),
        creation(52_999),
        legacy(0, GWEI, 21_019, vec![0, 5]),
        with_list(29_623),
    ] {
        let e = refused(&pool, &signed(tx, &k), &state, "intrinsic gas too low").await;
        assert_eq!(e.label(), "intrinsic_gas_too_low");
    }
    pool.add(&signed(with_list(29_624), &k), &state)
        .await
        .unwrap();
}

async fn refuses_exceeding_block_gas_limit(t: &TestDb) {
    let pool = t.pool().await;
    let k = key(13);
    let state = Accounts::rich(&k, 0);
    let limit = zknode_executor::system::TX_GAS_LIMIT;
    assert_eq!(config().block_gas_limit, limit);
    let e = refused(
        &pool,
        &signed(legacy(0, GWEI, limit + 1, vec![]), &k),
        &state,
        "exceeds block gas limit",
    )
    .await;
    assert_eq!(e.label(), "exceeds_block_gas_limit");
    pool.add(&signed(legacy(0, GWEI, limit, vec![]), &k), &state)
        .await
        .unwrap();
}

async fn refuses_already_known(t: &TestDb) {
    let pool = t.pool().await;
    let k = key(14);
    let state = Accounts::rich(&k, 0);
    let raw = signed(transfer(0, GWEI), &k);
    pool.add(&raw, &state).await.unwrap();
    let e = refused(&pool, &raw, &state, "already known").await;
    assert_eq!(e.label(), "already_known");
    // Also after a restart.
    drop(pool);
    let pool = t.pool().await;
    refused(&pool, &raw, &state, "already known").await;
}

async fn refuses_underpriced_replacement(t: &TestDb) {
    let pool = t.pool().await;
    let k = key(15);
    let state = Accounts::rich(&k, 0);
    let first = pool
        .add(&signed(transfer(0, 2 * GWEI), &k), &state)
        .await
        .unwrap();
    // Equal and lower prices do not replace (another transaction: different data).
    for price in [2 * GWEI, 2 * GWEI - 1] {
        let e = refused(
            &pool,
            &signed(legacy(0, price, 30_000, vec![1]), &k),
            &state,
            "replacement transaction underpriced",
        )
        .await;
        assert_eq!(e.label(), "replacement_underpriced");
    }
    // An EIP-1559 replacement is priced by what it offers: its tip, capped by maxFeePerGas.
    refused(
        &pool,
        &signed(eip1559(0, 2 * GWEI, 100 * GWEI), &k),
        &state,
        "replacement transaction underpriced",
    )
    .await;
    assert!(pool.get(first).is_some());
}

async fn refuses_with_internal_error_when_the_database_fails(t: &TestDb) {
    let pool = t.pool().await;
    let k = key(16);
    let state = Accounts::rich(&k, 0);
    // The state cannot be read.
    let e = pool
        .add(&signed(transfer(0, GWEI), &k), &Broken)
        .await
        .unwrap_err();
    assert_eq!(e.label(), "internal");
    assert!(
        e.to_string()
            .starts_with("failed to add tx to the pool: reading account"),
        "{e}"
    );
    // The database is gone: a refusal, not a panic, and nothing in memory.
    t.db.close().await;
    let raw = signed(transfer(0, GWEI), &k);
    let e = pool.add(&raw, &state).await.unwrap_err();
    assert_eq!(e.label(), "internal");
    assert!(
        e.to_string().starts_with("failed to add tx to the pool: "),
        "{e}"
    );
    assert_eq!(pool.counts(), PoolCounts::default());
    assert!(pool.status(keccak256(&raw)).await.is_err());
}

// ---------------------------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------------------------

/// Helper for a transaction with less gas than it has.
trait GasLimit {
    fn gas_limit_minus(self, by: u64) -> RawTx;
}

impl GasLimit for RawTx {
    fn gas_limit_minus(self, by: u64) -> RawTx {
        RawTx::new(
            self.nonce,
            self.gas_price,
            self.gas_limit - by,
            self.to,
            self.value,
            self.data,
            self.chain_id,
        )
    }
}

async fn checks_run_in_zkevm_nodes_order(t: &TestDb) {
    let pool = t
        .pool_with(PoolConfig {
            global_queue: 1,
            ..config()
        })
        .await;
    let (a, b) = (key(17), key(18));
    let state = Accounts::rich(&a, 3).with(&b, 0);
    let mut poor = Accounts::default();
    poor.set(&a, 3, U256::ZERO);
    // Chain id before size; size before nonce.
    let other_chain_big = RawTx::new(
        0,
        U256::from(GWEI),
        21_000,
        to(),
        U256::ZERO,
        vec![1; 200_000].into(),
        Some(1),
    );
    refused(
        &pool,
        &signed(other_chain_big, &a),
        &state,
        "invalid chain id",
    )
    .await;
    let big_low_nonce = legacy(0, GWEI, 21_000, vec![1; 200_000]);
    refused(&pool, &signed(big_low_nonce, &a), &state, "oversized data").await;
    // Nonce before price, funds, intrinsic gas, data size and gas limit.
    let everything_wrong = legacy(1, 1, 40_000_000, vec![1; 100_001]);
    refused(&pool, &signed(everything_wrong, &a), &poor, "nonce too low").await;
    // Fill the pool; then "txpool is full" comes before the price.
    pool.add(&signed(transfer(3, GWEI), &a), &state)
        .await
        .unwrap();
    refused(&pool, &signed(transfer(0, 1), &b), &state, "txpool is full").await;
    // For a replacement (not counted): price before funds before intrinsic gas.
    refused(
        &pool,
        &signed(legacy(3, 1, 1, vec![]), &a),
        &poor,
        "gas price too low",
    )
    .await;
    refused(
        &pool,
        &signed(legacy(3, 5 * GWEI, 1, vec![]), &a),
        &poor,
        "insufficient funds for gas * price + value",
    )
    .await;
    refused(
        &pool,
        &signed(legacy(3, 5 * GWEI, 1, vec![]), &a),
        &state,
        "intrinsic gas too low",
    )
    .await;
    // Intrinsic gas before the replacement's price; the replacement's price before the data
    // size and the gas limit.
    refused(
        &pool,
        &signed(legacy(3, GWEI, 21_000, vec![1; 100_001]), &a),
        &state,
        "intrinsic gas too low",
    )
    .await;
    refused(
        &pool,
        &signed(legacy(3, GWEI, 31_000_000, vec![1; 100_001]), &a),
        &state,
        "replacement transaction underpriced",
    )
    .await;
    refused(
        &pool,
        &signed(legacy(3, 2 * GWEI, 31_000_000, vec![1; 100_001]), &a),
        &state,
        "data size bigger than allowed, current size is 100001 bytes and max allowed is 100000 bytes",
    )
    .await;
    refused(
        &pool,
        &signed(legacy(3, 2 * GWEI, 31_000_000, vec![1; 100]), &a),
        &state,
        "exceeds block gas limit",
    )
    .await;
}

async fn accepts_every_type_and_replaces_with_a_higher_price(t: &TestDb) {
    let pool = t.pool().await;
    let k = key(19);
    let state = Accounts::rich(&k, 0);
    let sender = address_of(&k);
    let list = AccessList(vec![AccessListItem {
        address: Address::repeat_byte(9),
        storage_keys: vec![B256::repeat_byte(1)],
    }]);
    let txs = [
        transfer(0, GWEI),
        RawTx::new(
            1,
            U256::from(GWEI),
            21_000,
            to(),
            U256::ZERO,
            Bytes::new(),
            None,
        ),
        RawTx::new_eip2930(
            CHAIN,
            2,
            U256::from(GWEI),
            30_000,
            to(),
            U256::ZERO,
            Bytes::new(),
            list.clone(),
        ),
        RawTx::new_eip1559(
            CHAIN,
            3,
            U256::from(GWEI),
            U256::from(3 * GWEI),
            100_000,
            None,
            U256::ZERO,
            vec![0x60, 0x00].into(),
            list,
        ),
    ];
    let mut accepted = Vec::new();
    for tx in txs {
        let signed_tx = tx.clone().sign(&k);
        let raw = signed_tx.to_eth_bytes();
        let hash = pool.add(&raw, &state).await.unwrap();
        assert_eq!(hash, keccak256(&raw));
        let p = pool.get(hash).unwrap();
        assert_eq!(p.sender, sender);
        assert_eq!(p.raw, Bytes::from(raw.clone()));
        assert_eq!(p.tx, signed_tx);
        assert_eq!(
            p.l2_hash,
            B256::from(signed_tx.l2_hash(&sender).to_be_bytes::<32>())
        );
        assert_eq!(
            pool.status(hash).await.unwrap(),
            Some(PoolTxState {
                status: PoolTxStatus::Pending,
                failed_reason: None
            })
        );
        accepted.push(hash);
    }
    // The stored row carries the offered price (the tip for EIP-1559) and the raw bytes.
    let rows = t.db.pending_pool_txs().await.unwrap();
    assert_eq!(rows.len(), 4);
    let last = rows.iter().find(|r| r.hash == accepted[3]).unwrap();
    assert_eq!(last.gas_price, U256::from(GWEI));
    assert_eq!(last.tx_type, 2);
    assert_eq!(
        (last.nonce, last.gas_limit, last.sender),
        (3, 100_000, sender)
    );

    // A replacement offering more takes the other's place, in memory and in the database.
    let better = pool
        .add(&signed(transfer(0, GWEI + 1), &k), &state)
        .await
        .unwrap();
    assert!(pool.get(accepted[0]).is_none());
    assert_eq!(pool.status(accepted[0]).await.unwrap(), None);
    assert_eq!(pool.get(better).unwrap().nonce(), 0);
    assert_eq!(pool.counts().pending, 4);
    assert_eq!(t.db.count_pending_pool_txs().await.unwrap(), 4);
    let ready = pool.ready(&mut |_| 0, 10);
    assert_eq!(
        hashes(&ready),
        vec![better, accepted[1], accepted[2], accepted[3]]
    );
}

async fn accepted_transactions_survive_a_restart(t: &TestDb) {
    let (a, b) = (key(20), key(21));
    let state = Accounts::rich(&a, 0).with(&b, 7);
    let pool = t.pool().await;
    let mut accepted = Vec::new();
    for (k, nonce, price) in [(&a, 0, 3), (&a, 1, 9), (&b, 7, 5), (&a, 2, 1)] {
        let raw = signed(transfer(nonce, price * GWEI), k);
        accepted.push(pool.add(&raw, &state).await.unwrap());
    }
    let nonces = |a: Address| state.nonce(a);
    let before = hashes(&pool.ready(&mut { nonces }, 10));
    let content = pool.pending_by_sender();
    drop(pool);

    // Another connection, as after a restart of the node.
    let db = StateDb::connect(&t.at.url).await.unwrap();
    let pool = Pool::open(db.clone(), config()).await.unwrap();
    assert_eq!(
        pool.counts(),
        PoolCounts {
            pending: 4,
            senders: 2
        }
    );
    for h in &accepted {
        assert!(pool.get(*h).is_some());
        assert_eq!(
            pool.status(*h).await.unwrap().unwrap().status,
            PoolTxStatus::Pending
        );
    }
    assert_eq!(pool.pending_by_sender(), content);
    assert_eq!(hashes(&pool.ready(&mut { nonces }, 10)), before);
    // B's 7 (5 gwei) leads A's 0 (3 gwei); A's 1 (9) follows its 0.
    assert_eq!(
        before,
        vec![accepted[2], accepted[0], accepted[1], accepted[3]]
    );
    // The reopened pool goes on: replacement and refusal see the loaded transactions.
    refused(
        &pool,
        &signed(legacy(1, 9 * GWEI, 21_500, vec![]), &a),
        &state,
        "replacement transaction underpriced",
    )
    .await;
    pool.add(&signed(transfer(3, GWEI), &a), &state)
        .await
        .unwrap();
    assert_eq!(pool.pending_nonce(address_of(&a), 0), 4);
    drop(pool);
    db.close().await;

    // A row that no longer decodes is set aside as invalid, not loaded, not fatal.
    sqlx::query("UPDATE pool_transactions SET raw = $1 WHERE hash = $2")
        .bind(vec![0xc0u8])
        .bind(accepted[2].as_slice())
        .execute(t.db.pool())
        .await
        .unwrap();
    let pool = t.pool().await;
    assert_eq!(pool.counts().pending, 4);
    assert!(pool.get(accepted[2]).is_none());
    let state_of = pool.status(accepted[2]).await.unwrap().unwrap();
    assert_eq!(state_of.status, PoolTxStatus::Invalid);
    assert!(
        state_of.failed_reason.unwrap().starts_with("undecodable: "),
        "reason"
    );
}

async fn ready_merges_senders_by_price_in_nonce_order(t: &TestDb) {
    let pool = t.pool().await;
    let (a, b, c) = (key(22), key(23), key(24));
    let state = Accounts::rich(&a, 0).with(&b, 0).with(&c, 0);
    let add = |k: &SecretKey, nonce: u64, price: u64| add_transfer(&pool, &state, *k, nonce, price);
    // A: 0 at 5, 1 at 10, 2 at 1. B: 0 at 7, 1 at 6, then a gap (3). C: 0 at 7 after B's 0.
    let a0 = add(&a, 0, 5).await;
    let a1 = add(&a, 1, 10).await;
    let a2 = add(&a, 2, 1).await;
    let b0 = add(&b, 0, 7).await;
    let b1 = add(&b, 1, 6).await;
    let b3 = add(&b, 3, 50).await;
    let c1 = add(&c, 1, 70).await;
    let c0 = add(&c, 0, 7).await;
    let (sa, sb, sc) = (address_of(&a), address_of(&b), address_of(&c));

    // Heads compete by price; a sender's next joins once the one before it is taken; equal
    // prices go by arrival (B's 0 came before C's 0); a nonce gap ends a sender's run.
    let mut nonces = |_: Address| 0;
    let all = pool.ready(&mut nonces, 100);
    assert_eq!(hashes(&all), vec![b0, c0, c1, b1, a0, a1, a2]);
    assert!(!hashes(&all).contains(&b3));
    // At most `max`.
    assert_eq!(hashes(&pool.ready(&mut nonces, 3)), vec![b0, c0, c1]);
    assert_eq!(pool.ready(&mut nonces, 0), vec![]);

    // From the state nonces: A's 0 is done (A's 1 now leads), B's 2 is done (3 is next),
    // C's nonce is past all of its transactions.
    let mut moved = |s: Address| {
        if s == sa {
            1
        } else if s == sb {
            3
        } else {
            assert_eq!(s, sc);
            5
        }
    };
    assert_eq!(hashes(&pool.ready(&mut moved, 100)), vec![b3, a1, a2]);
    // Those below the state nonce can never run.
    let mut stale = hashes(&pool.stale(&mut moved));
    stale.sort();
    let mut expected = vec![a0, b0, b1, c0, c1];
    expected.sort();
    assert_eq!(stale, expected);
}

async fn add_transfer(
    pool: &Pool,
    state: &Accounts,
    k: SecretKey,
    nonce: u64,
    price_gwei: u64,
) -> B256 {
    let raw = signed(transfer(nonce, price_gwei * GWEI), &k);
    pool.add(&raw, state).await.unwrap()
}

async fn failed_transactions_free_their_nonce(t: &TestDb) {
    let pool = t.pool().await;
    let k = key(25);
    let state = Accounts::rich(&k, 0);
    let raw = signed(transfer(0, GWEI), &k);
    let hash = pool.add(&raw, &state).await.unwrap();
    let next = pool
        .add(&signed(transfer(1, GWEI), &k), &state)
        .await
        .unwrap();

    assert!(pool
        .fail(hash, "nonce intrinsic error".into(), false)
        .await
        .unwrap());
    assert!(pool.get(hash).is_none());
    assert_eq!(
        pool.status(hash).await.unwrap(),
        Some(PoolTxState {
            status: PoolTxStatus::Failed,
            failed_reason: Some("nonce intrinsic error".into())
        })
    );
    // The sender's later transaction waits for the nonce, which is free again.
    assert_eq!(pool.ready(&mut |_| 0, 10), vec![]);
    assert_eq!(pool.pending_nonce(address_of(&k), 0), 0);
    // The same bytes again: pending again.
    assert_eq!(pool.add(&raw, &state).await.unwrap(), hash);
    assert_eq!(
        pool.status(hash).await.unwrap().unwrap().status,
        PoolTxStatus::Pending
    );
    assert_eq!(hashes(&pool.ready(&mut |_| 0, 10)), vec![hash, next]);
    // Invalid this time; then another transaction with that nonce.
    assert!(pool
        .fail(hash, "out of counters".into(), true)
        .await
        .unwrap());
    assert_eq!(
        pool.status(hash).await.unwrap(),
        Some(PoolTxState {
            status: PoolTxStatus::Invalid,
            failed_reason: Some("out of counters".into())
        })
    );
    let other = pool
        .add(&signed(legacy(0, GWEI, 21_100, vec![]), &k), &state)
        .await
        .unwrap();
    assert_eq!(hashes(&pool.ready(&mut |_| 0, 10)), vec![other, next]);
    // Failing what is not pending changes nothing.
    assert!(!pool.fail(hash, "again".into(), false).await.unwrap());
    assert!(!pool
        .fail(B256::ZERO, "unknown".into(), false)
        .await
        .unwrap());
    assert_eq!(
        pool.status(hash).await.unwrap().unwrap().status,
        PoolTxStatus::Invalid
    );
    // Not loaded after a restart.
    drop(pool);
    let pool = t.pool().await;
    assert!(pool.get(hash).is_none());
    assert_eq!(pool.counts().pending, 2);
}

async fn write_block_marks_pool_rows_selected(t: &TestDb) {
    let pool = t.pool().await;
    let k = key(26);
    let state = Accounts::rich(&k, 0);
    let sender = address_of(&k);
    let mut txs = Vec::new();
    for nonce in 0..3 {
        let hash = pool
            .add(&signed(transfer(nonce, GWEI), &k), &state)
            .await
            .unwrap();
        txs.push(pool.get(hash).unwrap());
    }
    // The sequencer stores a block with the first two.
    t.db.open_batch(&NewBatch {
        number: 1,
        coinbase: Address::repeat_byte(0xcb),
        timestamp: 1_700_000_000,
        global_exit_root: B256::ZERO,
        state_root: B256::ZERO,
        local_exit_root: B256::ZERO,
        forced_batch_number: None,
    })
    .await
    .unwrap();
    let mut cumulative = 0;
    let transactions = txs[..2]
        .iter()
        .map(|p| {
            cumulative += 21_000;
            NewTransaction {
                hash: p.hash,
                l2_hash: p.l2_hash,
                raw: p.raw.clone(),
                sender: p.sender,
                tx_type: p.tx.tx_type,
                effective_percentage: 255,
                receipt: NewReceipt {
                    success: true,
                    cumulative_gas_used: cumulative,
                    gas_used: 21_000,
                    effective_gas_price: U256::from(GWEI),
                    contract_address: None,
                    logs: vec![],
                },
            }
        })
        .collect();
    let block = NewBlock {
        number: 1,
        parent_hash: B256::ZERO,
        batch_number: 1,
        timestamp: 1_700_000_001,
        coinbase: Address::repeat_byte(0xcb),
        state_root: B256::repeat_byte(1),
        global_exit_root: B256::ZERO,
        block_info_root: B256::ZERO,
        gas_limit: 1 << 50,
        base_fee: 0,
        transactions,
    };
    t.db.write_block(&block).await.unwrap();
    for p in &txs[..2] {
        assert_eq!(
            pool.status(p.hash).await.unwrap(),
            Some(PoolTxState {
                status: PoolTxStatus::Selected,
                failed_reason: None
            })
        );
    }
    pool.included(&[txs[0].hash, txs[1].hash, B256::ZERO]);
    assert_eq!(
        pool.counts(),
        PoolCounts {
            pending: 1,
            senders: 1
        }
    );
    assert_eq!(hashes(&pool.ready(&mut |_| 2, 10)), vec![txs[2].hash]);
    assert_eq!(pool.pending_nonce(sender, 2), 3);
    // A restart loads only the one still pending, even had included() not been called.
    let again = t.pool().await;
    assert_eq!(again.counts().pending, 1);
    assert!(again.get(txs[2].hash).is_some());
    // An included transaction sent again is too late, whatever the pool remembers.
    let state_after = Accounts::rich(&k, 2);
    refused(&pool, &txs[0].raw, &state_after, "nonce too low").await;
}

async fn nonces_counts_and_wake_ups(t: &TestDb) {
    let pool = Arc::new(t.pool().await);
    let (a, b) = (key(27), key(28));
    let state = Accounts::rich(&a, 4).with(&b, 0);
    let (sa, sb) = (address_of(&a), address_of(&b));
    assert_eq!(pool.pending_nonce(sa, 4), 4);
    assert_eq!(pool.counts(), PoolCounts::default());

    // A waiter wakes when a transaction is added.
    let waiter = {
        let pool = pool.clone();
        tokio::spawn(async move {
            tokio::time::timeout(Duration::from_secs(30), pool.notified())
                .await
                .is_ok()
        })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    let h4 = pool
        .add(&signed(transfer(4, GWEI), &a), &state)
        .await
        .unwrap();
    assert!(waiter.await.unwrap());
    // A wake-up with nobody waiting is kept for the next wait.
    pool.wake();
    tokio::time::timeout(Duration::from_secs(5), pool.notified())
        .await
        .unwrap();

    pool.add(&signed(transfer(5, GWEI), &a), &state)
        .await
        .unwrap();
    pool.add(&signed(transfer(7, GWEI), &a), &state)
        .await
        .unwrap();
    pool.add(&signed(transfer(0, GWEI), &b), &state)
        .await
        .unwrap();
    // 4, 5 pending from state nonce 4; 7 is after a gap.
    assert_eq!(pool.pending_nonce(sa, 4), 6);
    assert_eq!(pool.pending_nonce(sa, 5), 6);
    assert_eq!(pool.pending_nonce(sa, 7), 8);
    assert_eq!(pool.pending_nonce(sa, 9), 9);
    assert_eq!(pool.pending_nonce(sb, 0), 1);
    assert_eq!(
        pool.counts(),
        PoolCounts {
            pending: 4,
            senders: 2
        }
    );
    let content = pool.pending_by_sender();
    assert_eq!(content.len(), 2);
    assert_eq!(
        content[&sa].iter().map(|t| t.nonce()).collect::<Vec<_>>(),
        vec![4, 5, 7]
    );
    assert_eq!(content[&sa][0].hash, h4);
    assert_eq!(content[&sb].len(), 1);
    assert_eq!(t.db.count_pending_pool_txs().await.unwrap(), 4);
}

/// Many tasks add at once, among them competing replacements of the same nonce: memory and
/// database agree afterwards, and each (sender, nonce) holds the best price accepted.
async fn concurrent_adds_stay_consistent(t: &TestDb) {
    let pool = Arc::new(t.pool().await);
    let senders: Vec<SecretKey> = (0..8).map(|i| key(100 + i)).collect();
    let mut state = Accounts::default();
    for k in &senders {
        state = state.with(k, 0);
    }
    let state = Arc::new(state);
    let mut tasks = Vec::new();
    for (i, k) in senders.iter().enumerate() {
        for round in 0..4u64 {
            let pool = pool.clone();
            let state = state.clone();
            let k = *k;
            tasks.push(tokio::spawn(async move {
                let mut outcomes = Vec::new();
                for nonce in 0..8u64 {
                    // Four competitors per nonce: prices 1..=4 gwei in a scrambled order.
                    let price = GWEI * (1 + (round + nonce + i as u64) % 4);
                    let raw = signed(transfer(nonce, price), &k);
                    outcomes.push((nonce, price, pool.add(&raw, &*state).await));
                }
                outcomes
            }));
        }
    }
    let mut accepted = 0;
    let mut best: HashMap<(Address, u64), u64> = HashMap::new();
    for (task, k) in tasks.into_iter().zip(senders.iter().flat_map(|k| [k; 4])) {
        for (nonce, price, outcome) in task.await.unwrap() {
            match outcome {
                Ok(_) => {
                    accepted += 1;
                    let b = best.entry((address_of(k), nonce)).or_default();
                    *b = (*b).max(price);
                }
                Err(AddError::ReplacementUnderpriced | AddError::AlreadyKnown) => {}
                Err(e) => panic!("unexpected refusal: {e}"),
            }
        }
    }
    assert!(accepted >= 64);
    assert_eq!(pool.counts().pending, 64);
    let rows = t.db.pending_pool_txs().await.unwrap();
    assert_eq!(rows.len(), 64);
    for row in rows {
        let p = pool.get(row.hash).expect("a pending row is in memory");
        assert_eq!(p.nonce(), row.nonce);
        assert_eq!(row.gas_price.to::<u64>(), best[&(row.sender, row.nonce)]);
    }
    // Every sender's eight in nonce order, all ready.
    assert_eq!(pool.ready(&mut |_| 0, 1000).len(), 64);
}

// ---------------------------------------------------------------------------------------------
// SQLite only: many concurrent adds, and arbitrary bytes
// ---------------------------------------------------------------------------------------------

/// Thousands of concurrent adds from many tasks: every one is stored and indexed, once. (How
/// fast is measured in `benches/`, not asserted here.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_takes_thousands_of_concurrent_adds() {
    let t = TestDb::sqlite().await;
    let pool = Arc::new(
        t.pool_with(PoolConfig {
            global_queue: 0,
            account_queue: 0,
            ..config()
        })
        .await,
    );
    const SENDERS: u64 = 50;
    const PER_SENDER: u64 = 60;
    let keys: Vec<SecretKey> = (0..SENDERS).map(|i| key(1_000 + i)).collect();
    let mut state = Accounts::default();
    for k in &keys {
        state = state.with(k, 0);
    }
    let state = Arc::new(state);
    // Signed up front: the test measures the pool.
    let signed_txs: Vec<Vec<Vec<u8>>> = keys
        .iter()
        .map(|k| {
            (0..PER_SENDER)
                .map(|n| signed(transfer(n, GWEI), k))
                .collect()
        })
        .collect();
    let mut tasks = Vec::new();
    for raws in signed_txs {
        let pool = pool.clone();
        let state = state.clone();
        tasks.push(tokio::spawn(async move {
            for raw in raws {
                pool.add(&raw, &*state).await.unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let n = SENDERS * PER_SENDER;
    assert_eq!(pool.counts().pending, n as usize);
    assert_eq!(t.db.count_pending_pool_txs().await.unwrap(), n);
    assert_eq!(pool.ready(&mut |_| 0, usize::MAX).len(), n as usize);
    t.db.close().await;
}

/// Arbitrary bytes, and damaged transactions (truncated, a byte changed, a byte inserted),
/// give an error or, for a damage that still makes a valid transaction, an answer: never a
/// panic.
#[test]
fn arbitrary_and_damaged_bytes_never_panic() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let t = rt.block_on(TestDb::sqlite());
    let pool = rt.block_on(t.pool());
    let k = key(29);
    let state = Accounts::rich(&k, 0);
    let valid: Vec<Vec<u8>> = vec![
        signed(transfer(0, GWEI), &k),
        signed(legacy(1, GWEI, 50_000, vec![0, 1, 2, 3]), &k),
        signed(eip1559(2, GWEI, 2 * GWEI), &k),
        signed(
            RawTx::new_eip2930(
                CHAIN,
                3,
                U256::from(GWEI),
                100_000,
                None,
                U256::ZERO,
                vec![0x60; 40].into(),
                AccessList(vec![AccessListItem {
                    address: Address::repeat_byte(5),
                    storage_keys: vec![B256::ZERO],
                }]),
            ),
            &k,
        ),
    ];
    let mut runner = TestRunner::new(Config {
        cases: 256,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&proptest::collection::vec(any::<u8>(), 0..300), |bytes| {
            let r = rt.block_on(pool.add(&bytes, &state));
            prop_assert!(r.is_err(), "arbitrary bytes were accepted");
            Ok(())
        })
        .unwrap();
    runner
        .run(
            &(0..valid.len(), any::<usize>(), any::<u8>(), 0..3u8),
            |(which, at, byte, how)| {
                let mut raw = valid[which].clone();
                let at = at % raw.len();
                match how {
                    0 => raw.truncate(at),
                    1 => raw[at] ^= byte | 1,
                    _ => raw.insert(at, byte),
                }
                // An answer either way; a change in r or s may recover another (poor) sender.
                let _ = rt.block_on(pool.add(&raw, &state));
                Ok(())
            },
        )
        .unwrap();
    // The pool still works.
    for raw in &valid {
        let _ = rt.block_on(pool.add(raw, &state));
    }
    assert_eq!(pool.counts().pending, valid.len());
    drop(pool);
    rt.block_on(t.db.close());
}
