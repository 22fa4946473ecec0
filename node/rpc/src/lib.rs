//! The node's JSON-RPC server (jsonrpsee, HTTP): what wallets and tools such as `cast` need to
//! send a transaction and see it land. Result shapes follow ethereum/execution-apis
//! ([`json`]); pool refusals are `-32000` with the pool's text, as zkevm-node and geth answer.
//!
//! Reads are answered from the state database and, for account state, from the state tree at
//! the block's root: `latest` and `pending` are the last stored block, `safe` the last block of
//! the last batch sequenced on L1, `finalized` that of the last verified batch.

mod block_id;
mod error;
pub mod json;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use alloy_primitives::{Address, Bytes, B256, U256};
use jsonrpsee::server::{RpcModule, Server, ServerConfig, ServerHandle};
use jsonrpsee::types::Params;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::watch;
use zknode_executor::{decode_signed, CallRequest, RawTx, ReadOnlyEvm};
use zknode_pool::{AccountReader, Pool};
use zknode_state::{keys, CodeStore, RocksStore, StateTree};
use zknode_storage::{BlockReader, StateDb};

pub use block_id::{parse_quantity, BlockId};
pub use error::{RpcError, RpcResult};

/// The server's settings (`[rpc]` in the node's config file).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct RpcConfig {
    /// Where JSON-RPC over HTTP listens.
    pub http_addr: SocketAddr,
    /// Simultaneous connections.
    pub max_connections: u32,
    /// The largest request body, in bytes.
    pub max_request_bytes: u32,
}

impl Default for RpcConfig {
    fn default() -> Self {
        Self {
            http_addr: SocketAddr::from(([127, 0, 0, 1], 8545)),
            max_connections: 1_000,
            max_request_bytes: 10 * 1024 * 1024,
        }
    }
}

/// The last stored block, as the sequencer (or the synchronizer) publishes it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ChainHead {
    pub number: u64,
    pub hash: B256,
    pub state_root: B256,
}

/// What the server counts.
#[derive(Debug, Default)]
pub struct RpcMetrics {
    pub requests: AtomicU64,
    pub send_raw_accepted: AtomicU64,
    /// Pool refusals by reason.
    rejected: std::sync::Mutex<std::collections::BTreeMap<&'static str, u64>>,
}

impl RpcMetrics {
    fn reject(&self, reason: &'static str) {
        let mut m = self.rejected.lock().unwrap_or_else(|e| e.into_inner());
        *m.entry(reason).or_default() += 1;
    }

    /// Pool refusals so far, by reason.
    pub fn rejections(&self) -> Vec<(&'static str, u64)> {
        let m = self.rejected.lock().unwrap_or_else(|e| e.into_inner());
        m.iter().map(|(k, v)| (*k, *v)).collect()
    }
}

/// What the methods read from.
pub struct NodeApi {
    pub chain_id: u64,
    pub coinbase: Address,
    pub db: StateDb,
    pub store: Arc<RocksStore>,
    pub pool: Arc<Pool>,
    /// What `eth_gasPrice` and `eth_maxPriorityFeePerGas` suggest (wei).
    pub gas_price: u128,
    pub head: watch::Receiver<ChainHead>,
    /// Cleared when the node shuts down: `eth_sendRawTransaction` is then refused.
    pub accepting: Arc<AtomicBool>,
    pub metrics: Arc<RpcMetrics>,
    pub client_version: String,
}

/// Starts the server; returns the address it listens on and its handle.
pub async fn start(cfg: &RpcConfig, api: NodeApi) -> std::io::Result<(SocketAddr, ServerHandle)> {
    let config = ServerConfig::builder()
        .max_connections(cfg.max_connections)
        .max_request_body_size(cfg.max_request_bytes)
        .http_only()
        .build();
    let server = Server::builder()
        .set_config(config)
        .build(cfg.http_addr)
        .await?;
    let addr = server.local_addr()?;
    let module = methods(api).map_err(std::io::Error::other)?;
    let handle = server.start(module);
    tracing::info!(target: "rpc", %addr, "JSON-RPC listening");
    Ok((addr, handle))
}

fn root_hash(b: &B256) -> Result<zknode_state::Hash, RpcError> {
    zknode_state::Hash::from_u256(U256::from_be_bytes(b.0))
        .ok_or_else(|| RpcError::internal("stored root", format!("{b} is not a tree root")))
}

/// Account reads at one state root.
struct AtRoot<'a> {
    tree: StateTree<&'a RocksStore>,
}

impl<'a> AtRoot<'a> {
    fn new(store: &'a RocksStore, root: &B256) -> Result<Self, RpcError> {
        Ok(Self {
            tree: StateTree::at_root(store, root_hash(root)?),
        })
    }

    fn read(&self, key: &zknode_state::Hash) -> Result<U256, RpcError> {
        self.tree
            .get(key)
            .map_err(|e| RpcError::internal("state tree", e))
    }

    fn balance(&self, a: &Address) -> Result<U256, RpcError> {
        self.read(&keys::balance_key(&a.0 .0))
    }

    fn nonce(&self, a: &Address) -> Result<u64, RpcError> {
        Ok(u64::try_from(self.read(&keys::nonce_key(&a.0 .0))?).unwrap_or(u64::MAX))
    }

    fn code(&self, a: &Address) -> Result<Vec<u8>, RpcError> {
        let h = self.read(&keys::code_key(&a.0 .0))?;
        if h.is_zero() {
            return Ok(Vec::new());
        }
        let hash = zknode_state::Hash::from_u256(h)
            .ok_or_else(|| RpcError::internal("state tree", "a code hash is not canonical"))?;
        Ok(self
            .tree
            .store()
            .get_code(&hash)
            .map_err(|e| RpcError::internal("code store", e))?
            .unwrap_or_default())
    }

    fn storage(&self, a: &Address, slot: U256) -> Result<U256, RpcError> {
        self.read(&keys::storage_key(&a.0 .0, slot))
    }
}

impl AccountReader for AtRoot<'_> {
    fn account(&self, address: Address) -> Result<(u64, U256), String> {
        let n = self.nonce(&address).map_err(|e| e.message)?;
        let b = self.balance(&address).map_err(|e| e.message)?;
        Ok((n, b))
    }
}

/// A call object (`eth_call`, `eth_estimateGas`).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CallArgs {
    from: Option<Address>,
    to: Option<Address>,
    gas: Option<String>,
    gas_price: Option<U256>,
    max_fee_per_gas: Option<U256>,
    max_priority_fee_per_gas: Option<U256>,
    value: Option<U256>,
    data: Option<Bytes>,
    input: Option<Bytes>,
}

impl CallArgs {
    fn request(&self) -> Result<CallRequest, RpcError> {
        if let (Some(d), Some(i)) = (&self.data, &self.input) {
            if d != i {
                return Err(RpcError::invalid_params(
                    "both \"data\" and \"input\" are set and not equal",
                ));
            }
        }
        let price = match (self.max_fee_per_gas, self.max_priority_fee_per_gas) {
            (Some(fee), Some(tip)) => Some(fee.min(tip)),
            (Some(fee), None) => Some(fee),
            (None, Some(tip)) => Some(tip),
            (None, None) => self.gas_price,
        };
        Ok(CallRequest {
            from: self.from.unwrap_or_default(),
            to: self.to,
            data: self
                .input
                .clone()
                .or_else(|| self.data.clone())
                .unwrap_or_default(),
            value: self.value.unwrap_or_default(),
            gas: self.gas.as_deref().map(parse_quantity).transpose()?,
            gas_price: price.map_or(0, |p| u128::try_from(p).unwrap_or(u128::MAX)),
        })
    }
}

fn param<T: serde::de::DeserializeOwned>(v: &[Value], i: usize, what: &str) -> Result<T, RpcError> {
    let x = v.get(i).ok_or_else(|| {
        RpcError::invalid_params(format!("missing value for required argument {i}"))
    })?;
    serde_json::from_value(x.clone())
        .map_err(|e| RpcError::invalid_params(format!("invalid {what}: {e}")))
}

fn params_vec(p: &Params<'_>, max: usize) -> Result<Vec<Value>, RpcError> {
    let v: Vec<Value> = if p.is_object() {
        return Err(RpcError::invalid_params("parameters must be an array"));
    } else {
        p.parse::<Option<Vec<Value>>>()
            .map_err(|e| RpcError::invalid_params(e.message().to_string()))?
            .unwrap_or_default()
    };
    if v.len() > max {
        return Err(RpcError::invalid_params(format!(
            "too many arguments, want at most {max}"
        )));
    }
    Ok(v)
}

impl NodeApi {
    /// The head as last published (for admission, where a few milliseconds of lag are fine).
    fn head(&self) -> ChainHead {
        *self.head.borrow()
    }

    /// The last stored block, read from the database, so that a client that has seen a receipt
    /// also sees its block's state.
    async fn latest(&self) -> Result<ChainHead, RpcError> {
        let Some(n) = self.db.latest_block_number().await? else {
            return Ok(self.head());
        };
        match self.db.block_by_number(n).await? {
            Some(b) => Ok(ChainHead {
                number: n,
                hash: b.hash,
                state_root: b.header.state_root,
            }),
            None => Ok(self.head()),
        }
    }

    /// The number a block id names (`None`: no such block).
    async fn number_of(&self, id: BlockId) -> Result<Option<u64>, RpcError> {
        let head = match id {
            BlockId::Latest | BlockId::Pending | BlockId::Number(_) => self.latest().await?.number,
            _ => 0,
        };
        Ok(match id {
            BlockId::Latest | BlockId::Pending => Some(head),
            BlockId::Earliest => Some(0),
            BlockId::Number(n) => (n <= head).then_some(n),
            BlockId::Hash(h) => self.db.block_by_hash(h).await?.map(|b| b.header.number),
            BlockId::Safe | BlockId::Finalized => {
                let n = self.db.latest_batch_numbers().await?;
                let batch = if id == BlockId::Safe {
                    n.virtualized
                } else {
                    n.verified
                };
                match batch {
                    None => Some(0),
                    Some(b) => Some(
                        self.db
                            .batch_block_numbers(b)
                            .await?
                            .last()
                            .copied()
                            .unwrap_or(0),
                    ),
                }
            }
        })
    }

    /// The state root of a block id, or "header not found".
    async fn root_of(&self, id: BlockId) -> Result<B256, RpcError> {
        if matches!(id, BlockId::Latest | BlockId::Pending) {
            return Ok(self.latest().await?.state_root);
        }
        let Some(n) = self.number_of(id).await? else {
            return Err(RpcError::server("header not found"));
        };
        match self.db.block_by_number(n).await? {
            Some(b) => Ok(b.header.state_root),
            None => Err(RpcError::server("header not found")),
        }
    }

    async fn block_json(&self, id: BlockId, full: bool) -> Result<Value, RpcError> {
        let Some(n) = self.number_of(id).await? else {
            return Ok(Value::Null);
        };
        let Some(b) = self.db.block_by_number(n).await? else {
            return Ok(Value::Null);
        };
        let txs = self.db.block_transactions(n).await?;
        let mut size = 600usize;
        let mut out = Vec::with_capacity(txs.len());
        for t in &txs {
            size += t.raw.len();
            if full {
                let decoded = decode_signed(&t.raw)
                    .map_err(|e| RpcError::internal("stored transaction", e))?;
                let price = decoded.effective_gas_price();
                out.push(json::transaction(
                    &decoded,
                    t.hash,
                    t.sender,
                    Some(&json::Position {
                        block_hash: b.hash,
                        block_number: n,
                        index: t.tx_index,
                        effective_gas_price: price,
                    }),
                ));
            } else {
                out.push(json!(t.hash));
            }
        }
        Ok(json::block(&b, out, size))
    }

    fn tx_from_pool(&self, hash: B256) -> Option<Value> {
        self.pool
            .get(hash)
            .map(|p| json::transaction(&p.tx, p.hash, p.sender, None))
    }
}

type Ctx = Arc<NodeApi>;

fn methods(api: NodeApi) -> Result<RpcModule<NodeApi>, jsonrpsee::core::RegisterMethodError> {
    let mut m = RpcModule::new(api);

    macro_rules! method {
        ($name:literal, $max:expr, |$p:ident, $c:ident| $body:expr) => {
            m.register_async_method($name, |params, ctx: Ctx, _| async move {
                ctx.metrics.requests.fetch_add(1, Ordering::Relaxed);
                let $p = params_vec(&params, $max)?;
                let $c = ctx;
                let r: Result<Value, RpcError> = $body.await;
                r.map_err(jsonrpsee::types::ErrorObjectOwned::from)
            })?;
        };
    }

    method!("eth_chainId", 0, |_p, c| async move {
        Ok(json!(json::qty(c.chain_id)))
    });
    method!("net_version", 0, |_p, c| async move {
        Ok(json!(c.chain_id.to_string()))
    });
    method!("net_listening", 0, |_p, _c| async move { Ok(json!(true)) });
    method!("web3_clientVersion", 0, |_p, c| async move {
        Ok(json!(c.client_version))
    });
    method!("eth_syncing", 0, |_p, _c| async move { Ok(json!(false)) });
    method!("eth_blockNumber", 0, |_p, c| async move {
        Ok(json!(json::qty(c.latest().await?.number)))
    });
    method!("eth_gasPrice", 0, |_p, c| async move {
        Ok(json!(format!("{:#x}", c.gas_price)))
    });
    method!("eth_maxPriorityFeePerGas", 0, |_p, c| async move {
        Ok(json!(format!("{:#x}", c.gas_price)))
    });
    method!("eth_feeHistory", 3, |p, c| async move {
        let count: Value = param(&p, 0, "block count")?;
        let count = match &count {
            Value::String(s) => parse_quantity(s)?,
            Value::Number(n) => n.as_u64().unwrap_or(0),
            _ => return Err(RpcError::invalid_params("invalid block count")),
        }
        .clamp(1, 1024);
        let newest = BlockId::parse(p.get(1))?;
        let Some(newest) = c.number_of(newest).await? else {
            return Err(RpcError::server("header not found"));
        };
        let percentiles: Vec<f64> = match p.get(2) {
            Some(v) if !v.is_null() => serde_json::from_value(v.clone())
                .map_err(|e| RpcError::invalid_params(format!("reward percentiles: {e}")))?,
            _ => Vec::new(),
        };
        let oldest = newest.saturating_sub(count - 1);
        let mut ratios = Vec::new();
        let mut rewards = Vec::new();
        for n in oldest..=newest {
            let b = c.db.block_by_number(n).await?;
            let ratio = b.map_or(0.0, |b| {
                b.header.gas_used as f64 / b.header.gas_limit.max(1) as f64
            });
            ratios.push(json!(ratio));
            rewards.push(json!(percentiles
                .iter()
                .map(|_| format!("{:#x}", c.gas_price))
                .collect::<Vec<_>>()));
        }
        let base_fees: Vec<&str> = (oldest..=newest + 1).map(|_| "0x0").collect();
        let mut out = json!({
            "oldestBlock": json::qty(oldest),
            "baseFeePerGas": base_fees,
            "gasUsedRatio": ratios,
        });
        if !percentiles.is_empty() {
            out["reward"] = json!(rewards);
        }
        Ok(out)
    });
    method!("eth_getBalance", 2, |p, c| async move {
        let a: Address = param(&p, 0, "address")?;
        let root = c.root_of(BlockId::parse(p.get(1))?).await?;
        Ok(json!(json::qty256(
            AtRoot::new(&c.store, &root)?.balance(&a)?
        )))
    });
    method!("eth_getTransactionCount", 2, |p, c| async move {
        let a: Address = param(&p, 0, "address")?;
        let id = BlockId::parse(p.get(1))?;
        let root = c.root_of(id).await?;
        let n = AtRoot::new(&c.store, &root)?.nonce(&a)?;
        let n = if id == BlockId::Pending {
            c.pool.pending_nonce(a, n)
        } else {
            n
        };
        Ok(json!(json::qty(n)))
    });
    method!("eth_getCode", 2, |p, c| async move {
        let a: Address = param(&p, 0, "address")?;
        let root = c.root_of(BlockId::parse(p.get(1))?).await?;
        Ok(json!(json::data(&AtRoot::new(&c.store, &root)?.code(&a)?)))
    });
    method!("eth_getStorageAt", 3, |p, c| async move {
        let a: Address = param(&p, 0, "address")?;
        let slot: U256 = param(&p, 1, "storage slot")?;
        let root = c.root_of(BlockId::parse(p.get(2))?).await?;
        let v = AtRoot::new(&c.store, &root)?.storage(&a, slot)?;
        Ok(json!(B256::from(v.to_be_bytes::<32>())))
    });
    method!("eth_call", 3, |p, c| async move {
        let args: CallArgs = param(&p, 0, "call object")?;
        let req = args.request()?;
        let root = c.root_of(BlockId::parse(p.get(1))?).await?;
        let r = c.with_evm(root, "call", move |evm| evm.call(&req)).await?;
        if r.success {
            Ok(json!(json::data(&r.output)))
        } else if r
            .failure
            .as_deref()
            .is_some_and(|f| f.starts_with("TX INVALID"))
        {
            Err(RpcError::server(r.failure.unwrap_or_default()))
        } else if !r.output.is_empty() || r.failure.is_some() {
            Err(RpcError::reverted(r.failure.as_deref(), &r.output))
        } else {
            Err(RpcError::server("execution failed"))
        }
    });
    method!("eth_estimateGas", 2, |p, c| async move {
        let args: CallArgs = param(&p, 0, "call object")?;
        let req = args.request()?;
        let root = c.root_of(BlockId::parse(p.get(1))?).await?;
        let r = c
            .with_evm(root, "estimate", move |evm| evm.estimate_gas(&req))
            .await?;
        match r {
            Ok(gas) => Ok(json!(json::qty(gas))),
            Err(failed) => match failed.failure.as_deref() {
                Some(f) if f.starts_with("TX INVALID") => Err(RpcError::server(f)),
                reason if !failed.output.is_empty() => {
                    Err(RpcError::reverted(reason, &failed.output))
                }
                reason => Err(RpcError::server(format!(
                    "gas required exceeds allowance ({})",
                    reason.unwrap_or("the call fails")
                ))),
            },
        }
    });
    method!("eth_sendRawTransaction", 1, |p, c| async move {
        let raw: Bytes = param(&p, 0, "transaction data")?;
        if !c.accepting.load(Ordering::SeqCst) {
            return Err(RpcError::server("node is shutting down"));
        }
        let head = c.latest().await?;
        let state = AtRoot::new(&c.store, &head.state_root)?;
        match c.pool.add(&raw, &state).await {
            Ok(hash) => {
                c.metrics.send_raw_accepted.fetch_add(1, Ordering::Relaxed);
                Ok(json!(hash))
            }
            Err(e) => {
                c.metrics.reject(e.label());
                Err(RpcError::server(e.to_string()))
            }
        }
    });
    method!("eth_getTransactionByHash", 1, |p, c| async move {
        let hash: B256 = param(&p, 0, "transaction hash")?;
        let Some(t) = c.db.transaction_by_hash(hash).await? else {
            return Ok(c.tx_from_pool(hash).unwrap_or(Value::Null));
        };
        let decoded: RawTx =
            decode_signed(&t.raw).map_err(|e| RpcError::internal("stored transaction", e))?;
        let price = decoded.effective_gas_price();
        Ok(json::transaction(
            &decoded,
            t.hash,
            t.sender,
            Some(&json::Position {
                block_hash: t.block_hash,
                block_number: t.block_number,
                index: t.tx_index,
                effective_gas_price: price,
            }),
        ))
    });
    method!("eth_getTransactionReceipt", 1, |p, c| async move {
        let hash: B256 = param(&p, 0, "transaction hash")?;
        let Some(r) = c.db.receipt(hash).await? else {
            return Ok(Value::Null);
        };
        let Some(t) = c.db.transaction_by_hash(hash).await? else {
            return Ok(Value::Null);
        };
        let decoded =
            decode_signed(&t.raw).map_err(|e| RpcError::internal("stored transaction", e))?;
        Ok(json::receipt(&r, &t, &decoded))
    });
    method!("eth_getBlockByNumber", 2, |p, c| async move {
        let id = BlockId::parse(Some(&param::<Value>(&p, 0, "block")?))?;
        if matches!(id, BlockId::Hash(_)) {
            return Err(RpcError::invalid_params(
                "a block number or tag is expected",
            ));
        }
        let full = match p.get(1) {
            None => false,
            Some(v) => serde_json::from_value(v.clone())
                .map_err(|e| RpcError::invalid_params(format!("invalid full flag: {e}")))?,
        };
        c.block_json(id, full).await
    });
    method!("eth_getBlockByHash", 2, |p, c| async move {
        let h: B256 = param(&p, 0, "block hash")?;
        let full = match p.get(1) {
            None => false,
            Some(v) => serde_json::from_value(v.clone())
                .map_err(|e| RpcError::invalid_params(format!("invalid full flag: {e}")))?,
        };
        c.block_json(BlockId::Hash(h), full).await
    });
    method!("zkevm_getBatchWitness", 1, |p, c| async move {
        let v: Value = param(&p, 0, "batch number")?;
        let number = match &v {
            Value::String(s) => parse_quantity(s)?,
            Value::Number(n) => n
                .as_u64()
                .ok_or_else(|| RpcError::invalid_params("invalid batch number"))?,
            _ => return Err(RpcError::invalid_params("invalid batch number")),
        };
        c.batch_witness(number).await
    });
    Ok(m)
}

impl NodeApi {
    /// Runs `f` on the read-only EVM over state root `root`, on a blocking thread (execution is
    /// CPU work); `what` names the work in errors.
    async fn with_evm<T: Send + 'static>(
        self: &Arc<Self>,
        root: B256,
        what: &'static str,
        f: impl FnOnce(&mut ReadOnlyEvm<'_, &RocksStore>) -> Result<T, zknode_executor::ExecError>
            + Send
            + 'static,
    ) -> Result<T, RpcError> {
        let c = self.clone();
        tokio::task::spawn_blocking(move || {
            let tree = StateTree::at_root(&*c.store, root_hash(&root)?);
            let mut evm = ReadOnlyEvm::new(tree, &*c.store, c.chain_id, c.coinbase)
                .map_err(|e| RpcError::internal(what, e))?;
            f(&mut evm).map_err(|e| RpcError::internal(what, e))
        })
        .await
        .map_err(|e| RpcError::internal(what, e))?
    }

    /// The batch witness of closed batch `number`, rebuilt by executing its stored data from
    /// the previous batch's root with proofs (nothing is written): what the aggregator proves.
    async fn batch_witness(self: &Arc<Self>, number: u64) -> Result<Value, RpcError> {
        use zknode_storage::BatchStatus;
        let Some(batch) = self.db.batch(number).await? else {
            return Ok(Value::Null);
        };
        if batch.status == BatchStatus::Open || number == 0 {
            return Err(RpcError::server(format!(
                "batch {number} is {}: a witness exists only for closed batches after genesis",
                if number == 0 {
                    "the genesis batch"
                } else {
                    "open"
                }
            )));
        }
        let prev =
            self.db.batch(number - 1).await?.ok_or_else(|| {
                RpcError::internal("batch witness", "the previous batch is missing")
            })?;
        let ctx = zknode_executor::BatchContext {
            chain_id: self.chain_id,
            fork_id: 12,
            sequencer: batch.coinbase,
            timestamp_limit: u64::MAX,
            l1_info_root: B256::ZERO,
            old_acc_input_hash: prev.acc_input_hash.unwrap_or_default(),
            forced_block_hash_l1: B256::ZERO,
            l1_info: Default::default(),
            verify_l1_info_proofs: false,
            with_proofs: true,
        };
        let c = self.clone();
        let data = batch.l2_data.clone();
        tokio::task::spawn_blocking(move || {
            let tree = StateTree::at_root(&*c.store, root_hash(&prev.state_root)?);
            let (_, res) = zknode_executor::execute_batch(tree, &*c.store, &ctx, &data)
                .map_err(|e| RpcError::internal("batch witness", e))?;
            let got = B256::from(res.new_state_root.to_u256().to_be_bytes::<32>());
            if got != batch.state_root {
                return Err(RpcError::internal(
                    "batch witness",
                    format!(
                        "batch {number} re-executes to {got}, {} is stored",
                        batch.state_root
                    ),
                ));
            }
            let w = res
                .witness(&ctx, &data, number)
                .ok_or_else(|| RpcError::internal("batch witness", "no proofs"))?;
            serde_json::from_str::<Value>(&w.to_json())
                .map_err(|e| RpcError::internal("batch witness", e))
        })
        .await
        .map_err(|e| RpcError::internal("batch witness task", e))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_args_pick_the_price_and_input() {
        let a: CallArgs = serde_json::from_value(json!({
            "from": "0x0000000000000000000000000000000000000001",
            "gas": "0x5208",
            "maxFeePerGas": "0x10",
            "maxPriorityFeePerGas": "0x3",
            "input": "0x01",
        }))
        .unwrap();
        let r = a.request().unwrap();
        assert_eq!(
            (r.gas, r.gas_price, r.data.as_ref()),
            (Some(21_000), 3, &[1u8][..])
        );
        let both: CallArgs =
            serde_json::from_value(json!({"data": "0x01", "input": "0x02"})).unwrap();
        assert!(both.request().is_err());
    }
}
