//! Crash safety: `zknode run` is killed with SIGKILL while transactions stream in, then
//! restarted on the same directory. Every transaction whose hash was returned ends in a block,
//! the chain links from the head back to block 0 with every block whole (each transaction with
//! its receipt), and the last block's state is readable.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use alloy::consensus::{SignableTransaction, TxEnvelope, TxLegacy};
use alloy::eips::eip2718::Encodable2718;
use alloy::network::{EthereumWallet, TransactionBuilder};
use alloy::primitives::{Address, Bytes, TxKind, B256, U256};
use alloy::providers::{Provider, ProviderBuilder};
use alloy::rpc::types::TransactionRequest;
use alloy::signers::local::PrivateKeySigner;
use alloy::signers::SignerSync;
use common::{Node, CHAIN_ID, DEV_KEY, GWEI};

fn transfer(key: &PrivateKeySigner, nonce: u64, to: Address) -> Bytes {
    let tx = TxLegacy {
        chain_id: Some(CHAIN_ID),
        nonce,
        gas_price: GWEI,
        gas_limit: 21_000,
        to: TxKind::Call(to),
        value: U256::from(1),
        input: Bytes::new(),
    };
    let sig = key.sign_hash_sync(&tx.signature_hash()).unwrap();
    let env: TxEnvelope = tx.into_signed(sig).into();
    env.encoded_2718().into()
}

async fn wait_receipts<P: Provider>(p: &P, hashes: &[B256], secs: u64) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    for h in hashes {
        loop {
            if p.get_transaction_receipt(*h).await.unwrap().is_some() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "transaction {h}, acknowledged before the crash, has no receipt after it"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_while_transactions_stream_in_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let args = [
        "--set",
        "sequencer.block_time_ms=100",
        "--set",
        "sequencer.max_batch_txs=40",
    ];
    let node = Node::start(&data, None, &args);
    let dev: PrivateKeySigner = DEV_KEY.parse().unwrap();
    let p = ProviderBuilder::new()
        .wallet(EthereumWallet::from(dev))
        .connect_http(node.url.parse().unwrap());

    // Four fresh senders, funded by the development account.
    let senders: Vec<PrivateKeySigner> = (0..4).map(|_| PrivateKeySigner::random()).collect();
    let mut funding = Vec::new();
    for s in &senders {
        let tx = TransactionRequest::default()
            .with_to(s.address())
            .with_value(U256::from(10u128.pow(18)))
            .with_gas_price(GWEI);
        funding.push(*p.send_transaction(tx).await.unwrap().tx_hash());
    }
    wait_receipts(&p, &funding, 30).await;

    // Stream transfers; SIGKILL the node while they flow.
    let acked: Arc<Mutex<Vec<B256>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let url = node.url.clone();
    let streamer = {
        let acked = acked.clone();
        let stop = stop.clone();
        let senders = senders.clone();
        tokio::spawn(async move {
            let p = ProviderBuilder::new().connect_http(url.parse().unwrap());
            let sink = Address::repeat_byte(0x99);
            for nonce in 0.. {
                for s in &senders {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    match p.send_raw_transaction(&transfer(s, nonce, sink)).await {
                        Ok(pending) => acked.lock().unwrap().push(*pending.tx_hash()),
                        Err(alloy::transports::RpcError::ErrorResp(e)) => {
                            panic!("nonce {nonce} refused: {e}")
                        }
                        // The node is gone.
                        Err(_) => return,
                    }
                }
            }
        })
    };
    let started = Instant::now();
    while acked.lock().unwrap().len() < 150 && started.elapsed() < Duration::from_secs(20) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    node.kill();
    stop.store(true, Ordering::SeqCst);
    streamer.await.unwrap();
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() >= 20,
        "only {} transactions were sent",
        acked.len()
    );
    println!("{} transactions acknowledged before SIGKILL", acked.len());

    // Restart on the same directory: everything acknowledged lands.
    let node = Node::start(&data, None, &args);
    let p = ProviderBuilder::new().connect_http(node.url.parse().unwrap());
    wait_receipts(&p, &acked, 60).await;

    // Every block is whole and links to its parent, back to block 0.
    let head = p.get_block_number().await.unwrap();
    let mut child: Option<B256> = None;
    let mut seen = 0;
    for n in (0..=head).rev() {
        let b = p
            .get_block_by_number(n.into())
            .await
            .unwrap()
            .expect("a stored block");
        if let Some(parent) = child {
            assert_eq!(
                b.header.hash,
                parent,
                "block {} names another parent",
                n + 1
            );
        }
        child = Some(b.header.parent_hash);
        for h in b.transactions.hashes() {
            let r = p
                .get_transaction_receipt(h)
                .await
                .unwrap()
                .expect("a receipt");
            assert_eq!(r.block_hash, Some(b.header.hash));
            seen += 1;
        }
    }
    assert_eq!(child, Some(B256::ZERO), "block 0 has a parent");
    assert!(seen >= acked.len() + funding.len());
    println!(
        "after the restart: {} blocks, {seen} transactions, all whole",
        head + 1
    );
    // The last block's state is readable.
    for s in &senders {
        let nonce = p.get_transaction_count(s.address()).await.unwrap();
        assert!(nonce > 0);
        assert!(p.get_balance(s.address()).await.unwrap() < U256::from(10u128.pow(18)));
    }
    assert!(node.terminate().success());
}
