//! A real client against a real `zknode run`: alloy signs and sends legacy and EIP-1559 transfers
//! and a contract deployment, waits for the receipts and reads the state back; the node stops on
//! SIGTERM and resumes its chain; every closed batch, re-executed from its batch data by
//! `execute_batch`, gives the roots the sequencer stored. On SQLite and on a throwaway
//! PostgreSQL cluster.

mod common;

use std::time::{Duration, Instant};

use alloy::consensus::{SignableTransaction, TxEip1559, TxEnvelope, TxLegacy};
use alloy::eips::eip2718::Encodable2718;
use alloy::network::{EthereumWallet, TransactionBuilder};
use alloy::primitives::{Address, Bytes, TxKind, B256, U256};
use alloy::providers::{Provider, ProviderBuilder};
use alloy::rpc::types::{TransactionReceipt, TransactionRequest};
use alloy::signers::local::PrivateKeySigner;
use alloy::signers::SignerSync;
use common::{Node, CHAIN_ID, DEV_KEY, DEV_KEY_1, GWEI};

/// Init code that deploys a contract whose code returns 42 as a 32-byte word.
const INIT: &str = "69602a60005260206000f3600052600a6016f3";
const RUNTIME: &str = "602a60005260206000f3";

async fn receipt<P: Provider>(p: &P, hash: B256) -> TransactionReceipt {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(r) = p.get_transaction_receipt(hash).await.expect("receipt call") {
            return r;
        }
        assert!(Instant::now() < deadline, "no receipt for {hash} in 30 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Signs a legacy (EIP-155) transfer locally: its bytes and the hash alloy computes.
pub fn legacy(
    key: &PrivateKeySigner,
    nonce: u64,
    to: Address,
    value: u64,
    price: u128,
) -> (Bytes, B256) {
    let tx = TxLegacy {
        chain_id: Some(CHAIN_ID),
        nonce,
        gas_price: price,
        gas_limit: 21_000,
        to: TxKind::Call(to),
        value: U256::from(value),
        input: Bytes::new(),
    };
    let sig = key.sign_hash_sync(&tx.signature_hash()).unwrap();
    let env: TxEnvelope = tx.into_signed(sig).into();
    (env.encoded_2718().into(), *env.tx_hash())
}

/// Signs an EIP-1559 transfer locally.
pub fn eip1559(
    key: &PrivateKeySigner,
    nonce: u64,
    to: Address,
    value: u64,
    tip: u128,
    cap: u128,
) -> (Bytes, B256) {
    let tx = TxEip1559 {
        chain_id: CHAIN_ID,
        nonce,
        gas_limit: 21_000,
        max_fee_per_gas: cap,
        max_priority_fee_per_gas: tip,
        to: TxKind::Call(to),
        value: U256::from(value),
        access_list: Default::default(),
        input: Bytes::new(),
    };
    let sig = key.sign_hash_sync(&tx.signature_hash()).unwrap();
    let env: TxEnvelope = tx.into_signed(sig).into();
    (env.encoded_2718().into(), *env.tx_hash())
}

async fn wallet_flow(db_url: Option<String>) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // Small batches, so that several close during the test.
    let node = Node::start(
        &data,
        db_url.as_deref(),
        &["--set", "sequencer.max_batch_txs=2"],
    );
    let key: PrivateKeySigner = DEV_KEY.parse().unwrap();
    let me = key.address();
    let p = ProviderBuilder::new()
        .wallet(EthereumWallet::from(key.clone()))
        .connect_http(node.url.parse().unwrap());
    assert_eq!(p.get_chain_id().await.unwrap(), CHAIN_ID);
    let friend = Address::repeat_byte(0x42);

    // A legacy transfer, filled and signed by alloy's wallet (nonce, gas, chain id).
    let tx = TransactionRequest::default()
        .with_to(friend)
        .with_value(U256::from(1_000))
        .with_gas_price(GWEI);
    let sent = p.send_transaction(tx).await.unwrap();
    let r1 = receipt(&p, *sent.tx_hash()).await;
    assert!(r1.status());
    assert_eq!(r1.gas_used, 21_000);
    assert_eq!(r1.effective_gas_price, GWEI);
    assert_eq!(r1.from, me);

    // An EIP-1559 transfer with the fees alloy estimates (eth_feeHistory), as wallets do.
    let tx = TransactionRequest::default()
        .with_to(friend)
        .with_value(U256::from(2_000));
    let sent = p.send_transaction(tx).await.unwrap();
    let r2 = receipt(&p, *sent.tx_hash()).await;
    assert!(r2.status());
    assert_eq!(r2.transaction_type(), alloy::consensus::TxType::Eip1559);
    let t2 = p
        .get_transaction_by_hash(*sent.tx_hash())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(t2.inner.tx_type(), alloy::consensus::TxType::Eip1559);

    // A locally signed EIP-1559 transaction: the node's hash is the one alloy computed.
    let key1: PrivateKeySigner = DEV_KEY_1.parse().unwrap();
    let n1 = p
        .get_transaction_count(key1.address())
        .pending()
        .await
        .unwrap();
    let (raw, want) = eip1559(&key1, n1, friend, 3_000, 2 * GWEI, 5 * GWEI);
    let sent = p.send_raw_transaction(&raw).await.unwrap();
    assert_eq!(*sent.tx_hash(), want);
    let r3 = receipt(&p, want).await;
    // The price is min(maxFeePerGas, maxPriorityFeePerGas): the base fee is zero.
    assert_eq!(r3.effective_gas_price, 2 * GWEI);
    let (raw, want) = legacy(&key1, n1 + 1, friend, 4_000, GWEI);
    assert_eq!(*p.send_raw_transaction(&raw).await.unwrap().tx_hash(), want);
    receipt(&p, want).await;

    // A contract deployment.
    let tx = TransactionRequest::default()
        .with_deploy_code(Bytes::from(hex::decode(INIT).unwrap()))
        .with_gas_price(GWEI);
    let sent = p.send_transaction(tx).await.unwrap();
    let r4 = receipt(&p, *sent.tx_hash()).await;
    assert!(r4.status());
    let contract = r4.contract_address.expect("a contract address");
    assert_eq!(
        p.get_code_at(contract).await.unwrap().to_vec(),
        hex::decode(RUNTIME).unwrap()
    );
    let out = p
        .call(TransactionRequest::default().with_to(contract))
        .await
        .unwrap();
    assert_eq!(U256::from_be_slice(&out), U256::from(42));

    assert_eq!(p.get_balance(friend).await.unwrap(), U256::from(10_000));
    assert_eq!(p.get_transaction_count(me).await.unwrap(), 3);

    // Blocks: each receipt's block holds its transaction and names its parent.
    for r in [&r1, &r2, &r3, &r4] {
        let n = r.block_number.unwrap();
        let b = p.get_block_by_number(n.into()).await.unwrap().unwrap();
        assert_eq!(b.header.hash, r.block_hash.unwrap());
        assert!(b.transactions.hashes().any(|h| h == r.transaction_hash));
        let parent = p
            .get_block_by_number((n - 1).into())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(b.header.parent_hash, parent.header.hash);
    }
    let head = p.get_block_number().await.unwrap();

    // SIGTERM: exit 0; the chain resumes on the same directory.
    drop(p);
    let status = node.terminate();
    assert!(status.success(), "exit status {status}");
    let node = Node::start(
        &data,
        db_url.as_deref(),
        &["--set", "sequencer.max_batch_txs=2"],
    );
    let p = ProviderBuilder::new()
        .wallet(EthereumWallet::from(key.clone()))
        .connect_http(node.url.parse().unwrap());
    assert!(p.get_block_number().await.unwrap() >= head);
    assert_eq!(p.get_balance(friend).await.unwrap(), U256::from(10_000));
    let tx = TransactionRequest::default()
        .with_to(friend)
        .with_value(U256::from(1))
        .with_gas_price(GWEI);
    let sent = p.send_transaction(tx).await.unwrap();
    assert!(receipt(&p, *sent.tx_hash()).await.status());
    // The batch witness the aggregator will prove, for a closed batch: it checks against the
    // stored roots.
    let b1 = common::call(&p, "zkevm_getBatchWitness", serde_json::json!(["0x1"]))
        .await
        .unwrap();
    let w = zknode_witness::BatchWitness::from_json(&b1.to_string()).unwrap();
    let root = w.check().expect("the witness checks");
    let (code, msg) = common::call(&p, "zkevm_getBatchWitness", serde_json::json!(["0x0"]))
        .await
        .unwrap_err();
    assert_eq!(code, -32000, "{msg}");
    drop(p);
    assert!(node.terminate().success());

    let roots = reexecute_closed_batches(&data, db_url.as_deref()).await;
    assert!(roots.len() >= 2, "only {} closed batches", roots.len());
    assert_eq!(root.to_u256(), U256::from_be_bytes(roots[0].0));
}

/// Re-executes every closed batch from its stored data and checks its roots, block by block.
async fn reexecute_closed_batches(data: &std::path::Path, db_url: Option<&str>) -> Vec<B256> {
    use zknode_executor::{execute_batch, BatchContext};
    use zknode_storage::{BatchStatus, BlockReader, StateDb};
    let url = db_url.map_or_else(
        || zknode_storage::sqlite_url(&data.join("state.sqlite")),
        str::to_string,
    );
    let db = StateDb::connect(&url).await.unwrap();
    let store = zknode_state::RocksStore::open(&data.join("state-tree")).unwrap();
    let to_hash = |b: &B256| zknode_state::Hash::from_u256(U256::from_be_bytes(b.0)).unwrap();
    let mut roots = Vec::new();
    let mut n = 1;
    while let Some(batch) = db.batch(n).await.unwrap() {
        if batch.status == BatchStatus::Open {
            break;
        }
        let prev = db.batch(n - 1).await.unwrap().unwrap();
        let ctx = BatchContext {
            chain_id: CHAIN_ID,
            fork_id: 12,
            sequencer: batch.coinbase,
            timestamp_limit: u64::MAX,
            l1_info_root: B256::ZERO,
            old_acc_input_hash: prev.acc_input_hash.unwrap(),
            forced_block_hash_l1: B256::ZERO,
            l1_info: Default::default(),
            verify_l1_info_proofs: false,
            with_proofs: false,
        };
        let tree = zknode_state::StateTree::at_root(&store, to_hash(&prev.state_root));
        let (_, res) = execute_batch(tree, &store, &ctx, &batch.l2_data).unwrap();
        assert!(
            res.invalid_batch.is_none(),
            "batch {n}: {:?}",
            res.invalid_batch
        );
        assert_eq!(res.new_state_root, to_hash(&batch.state_root), "batch {n}");
        assert_eq!(
            Some(res.new_acc_input_hash),
            batch.acc_input_hash,
            "batch {n}"
        );
        let numbers = db.batch_block_numbers(n).await.unwrap();
        assert_eq!(numbers.len(), res.blocks.len(), "batch {n}");
        for (num, b) in numbers.iter().zip(&res.blocks) {
            let stored = db.block_by_number(*num).await.unwrap().unwrap();
            assert_eq!(b.number, *num);
            assert_eq!(b.hash, stored.header.state_root, "block {num}");
            assert_eq!(
                b.block_info_root, stored.header.block_info_root,
                "block {num}"
            );
        }
        roots.push(batch.state_root);
        n += 1;
    }
    db.close().await;
    roots
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wallet_flow_on_sqlite() {
    wallet_flow(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wallet_flow_on_postgres() {
    let Some(pg) = zknode_sqldb::harness::PgCluster::start() else {
        return;
    };
    wallet_flow(Some(pg.url())).await;
}
