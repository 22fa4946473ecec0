//! The fixture: the chain the reads look at, built through JSON-RPC.

use super::*;

// ---------------------------------------------------------------------------------------------
// The fixture
// ---------------------------------------------------------------------------------------------

/// A signed legacy (EIP-155) transaction: its bytes and hash.
#[allow(clippy::too_many_arguments)]
pub(crate) fn sign(
    key: &PrivateKeySigner,
    chain_id: u64,
    nonce: u64,
    to: TxKind,
    value: U256,
    gas_limit: u64,
    gas_price: u128,
    input: Vec<u8>,
) -> (alloy::primitives::Bytes, B256) {
    let tx = TxLegacy {
        chain_id: Some(chain_id),
        nonce,
        gas_price,
        gas_limit,
        to,
        value,
        input: input.into(),
    };
    let sig = key
        .sign_hash_sync(&tx.signature_hash())
        .expect("signing a hash");
    let env: TxEnvelope = tx.into_signed(sig).into();
    (env.encoded_2718().into(), *env.tx_hash())
}

/// Account `i` of a kind: a fresh address nobody holds the key of.
pub(crate) fn account(kind: &str, i: usize) -> Address {
    let mut seed = format!("zknode rpc_read {kind} ").into_bytes();
    seed.extend_from_slice(&(i as u64).to_be_bytes());
    Address::from_slice(&keccak256(seed)[12..])
}

/// What account `i` is paid: distinct amounts, so a wrong account's balance shows.
pub(crate) fn funded_value(i: usize) -> U256 {
    U256::from(1_000_000_000_000_000u128 + i as u128)
}

/// The tokens holder `i` is sent.
pub(crate) fn holder_amount(i: usize) -> U256 {
    U256::from(1_000 + i as u128)
}

/// The ERC-20's creation code with its constructor argument (the total supply).
pub(crate) fn token_creation(supply: U256) -> Result<Vec<u8>, String> {
    let art: Value =
        serde_json::from_str(include_str!("../../../../contracts/artifacts/Token.json"))
            .map_err(|e| format!("Token.json: {e}"))?;
    let hex = art["bytecode"]
        .as_str()
        .ok_or("Token.json has no bytecode")?
        .trim_start_matches("0x");
    let mut code = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16))
        .collect::<Result<Vec<u8>, _>>()
        .map_err(|e| format!("Token.json bytecode: {e}"))?;
    code.extend_from_slice(&supply.to_be_bytes::<32>());
    Ok(code)
}

/// Sends the fixture's transactions one at a time and follows the blocks they land in.
pub(crate) struct Builder {
    p: RootProvider,
    timeout: Duration,
    /// The last block seen.
    block: u64,
    /// The block each transaction landed in, in sending order.
    tx_blocks: Vec<u64>,
    /// Blocks that hold none of the fixture's transactions (checked to hold none at all).
    empty_blocks: Vec<u64>,
    /// With --mirror: the block each transaction must land in, from the other node's fixture.
    mirror: Option<Vec<u64>>,
}

impl Builder {
    /// Sends one transaction and waits (bounded) for its receipt, which must say success.
    /// Mirroring, it first mines empty blocks (`evm_mine`) up to the block before the one the
    /// other node put this transaction in, and checks it lands there.
    async fn land(
        &mut self,
        (raw, hash): (alloy::primitives::Bytes, B256),
    ) -> Result<Value, String> {
        let want = match &self.mirror {
            Some(m) => Some(*m.get(self.tx_blocks.len()).ok_or_else(|| {
                format!("the mirrored fixture has only {} transactions", m.len())
            })?),
            None => None,
        };
        if let Some(want) = want {
            while self.block + 1 < want {
                let _: Value = self
                    .p
                    .client()
                    .request("evm_mine", ())
                    .await
                    .map_err(|e| format!("evm_mine: {e}"))?;
                self.block += 1;
                let head = self.p.get_block_number().await.map_err(|e| e.to_string())?;
                if head != self.block {
                    return Err(format!("evm_mine: head {head}, expected {}", self.block));
                }
                self.empty_blocks.push(self.block);
            }
        }
        let h: B256 = self
            .p
            .client()
            .request("eth_sendRawTransaction", (raw,))
            .await
            .map_err(|e| format!("sending {hash}: {e}"))?;
        if h != hash {
            return Err(format!("the node answered hash {h} for {hash}"));
        }
        let deadline = Instant::now() + self.timeout;
        let receipt = loop {
            let r: Option<Value> = self
                .p
                .client()
                .request("eth_getTransactionReceipt", (hash,))
                .await
                .map_err(|e| format!("eth_getTransactionReceipt({hash}): {e}"))?;
            if let Some(r) = r {
                break r;
            }
            if Instant::now() > deadline {
                return Err(format!("no receipt for {hash} after {:?}", self.timeout));
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        };
        if receipt["status"] != "0x1" {
            return Err(format!("{hash} failed: {receipt}"));
        }
        let block = parse_u64(&receipt["blockNumber"], "receipt blockNumber")?;
        if want.is_some_and(|w| w != block) || block <= self.block {
            return Err(format!(
                "{hash} landed in block {block} (the last block seen was {}, the mirrored \
                 fixture has it in {want:?}): the fixture needs one block per transaction",
                self.block
            ));
        }
        // Blocks between the last transaction's and this one: made by the node on its own.
        for n in self.block + 1..block {
            let b: Option<Value> = self
                .p
                .client()
                .request("eth_getBlockByNumber", (format!("{n:#x}"), false))
                .await
                .map_err(|e| format!("eth_getBlockByNumber({n}): {e}"))?;
            let txs = b.as_ref().and_then(|b| b["transactions"].as_array());
            if !txs.is_some_and(|t| t.is_empty()) {
                return Err(format!(
                    "block {n} between the fixture's transactions is not empty: {b:?}"
                ));
            }
            self.empty_blocks.push(n);
        }
        self.block = block;
        self.tx_blocks.push(block);
        Ok(receipt)
    }
}

pub(crate) async fn fixture(a: FixtureArgs) -> Result<(), String> {
    let url = a.url.parse().map_err(|e| format!("--url: {e}"))?;
    let p: RootProvider = ProviderBuilder::new()
        .disable_recommended_fillers()
        .connect_http(url);
    let chain_id = p.get_chain_id().await.map_err(|e| e.to_string())?;
    if chain_id != a.chain_id {
        return Err(format!(
            "the node's chain id is {chain_id}, --chain-id says {}",
            a.chain_id
        ));
    }
    let key: PrivateKeySigner = a.key.parse().map_err(|e| format!("--key: {e}"))?;
    let mut nonce = p
        .get_transaction_count(key.address())
        .await
        .map_err(|e| e.to_string())?;
    let block = p.get_block_number().await.map_err(|e| e.to_string())?;
    let mirror = match &a.mirror {
        None => None,
        Some(file) => {
            let text = std::fs::read_to_string(file).map_err(|e| format!("{file}: {e}"))?;
            let m: Value = serde_json::from_str(&text).map_err(|e| format!("{file}: {e}"))?;
            let same = m["start_block"] == block
                && m["funded"].as_array().map(Vec::len) == Some(a.funded)
                && m["holders"].as_array().map(Vec::len) == Some(a.transfers);
            if !same {
                return Err(format!(
                    "--mirror {file}: made from block {} with other --funded or --transfers",
                    m["start_block"]
                ));
            }
            Some(
                serde_json::from_value::<Vec<u64>>(m["tx_blocks"].clone())
                    .map_err(|e| format!("{file}: tx_blocks: {e}"))?,
            )
        }
    };
    let mut b = Builder {
        p: p.clone(),
        timeout: Duration::from_secs(a.receipt_timeout_s),
        block,
        tx_blocks: Vec::new(),
        empty_blocks: Vec::new(),
        mirror,
    };
    let started = Instant::now();
    let price = a.gas_price;

    let mut funded = Vec::with_capacity(a.funded);
    for i in 0..a.funded {
        let to = account("funded", i);
        let tx = sign(
            &key,
            chain_id,
            nonce,
            TxKind::Call(to),
            funded_value(i),
            21_000,
            price,
            Vec::new(),
        );
        b.land(tx).await?;
        nonce += 1;
        funded.push(json!([to, format!("{:#x}", funded_value(i))]));
    }
    println!(
        "{}: {} funded accounts, blocks up to {}, {:.1} s",
        a.url,
        a.funded,
        b.block,
        started.elapsed().as_secs_f64()
    );

    let supply = U256::from(10u64).pow(U256::from(27u64));
    let deploy = sign(
        &key,
        chain_id,
        nonce,
        TxKind::Create,
        U256::ZERO,
        1_000_000,
        price,
        token_creation(supply)?,
    );
    let receipt = b.land(deploy).await?;
    nonce += 1;
    let token: Address = serde_json::from_value(receipt["contractAddress"].clone())
        .map_err(|e| format!("the deployment's contractAddress: {e}: {receipt}"))?;
    let deploy_block = b.block;

    let mut holders = Vec::with_capacity(a.transfers);
    for i in 0..a.transfers {
        let to = account("holder", i);
        let mut input = TRANSFER.to_vec();
        input.extend_from_slice(&[0; 12]);
        input.extend_from_slice(to.as_slice());
        input.extend_from_slice(&holder_amount(i).to_be_bytes::<32>());
        let tx = sign(
            &key,
            chain_id,
            nonce,
            TxKind::Call(token),
            U256::ZERO,
            100_000,
            price,
            input,
        );
        b.land(tx).await?;
        nonce += 1;
        holders.push(json!([to, format!("{:#x}", holder_amount(i))]));
        if (i + 1) % 2_000 == 0 {
            println!(
                "{}: {} token transfers, block {}, {:.1} s",
                a.url,
                i + 1,
                b.block,
                started.elapsed().as_secs_f64()
            );
        }
    }
    let head = p.get_block_number().await.map_err(|e| e.to_string())?;
    if head != b.block {
        return Err(format!(
            "the head is block {head} after the last transfer's block {}: the node made \
             blocks of its own",
            b.block
        ));
    }
    let out = json!({
        "url": a.url,
        "chain_id": chain_id,
        "token": token,
        "start_block": block,
        "deploy_block": deploy_block,
        "head": head,
        "funded": funded,
        "holders": holders,
        "transfer_blocks": &b.tx_blocks[a.funded + 1..],
        "tx_blocks": b.tx_blocks,
        "empty_blocks": b.empty_blocks,
    });
    std::fs::write(&a.out, serde_json::to_string(&out).expect("json"))
        .map_err(|e| format!("{}: {e}", a.out))?;
    println!(
        "{}: fixture ready in {:.1} s: token {token} (block {deploy_block}), {} token transfers \
         in blocks {}..={head}, {} empty blocks{}; written to {}",
        a.url,
        started.elapsed().as_secs_f64(),
        a.transfers,
        deploy_block + 1,
        b.empty_blocks.len(),
        if a.mirror.is_some() {
            " (mined to mirror the other fixture)"
        } else {
            ""
        },
        a.out
    );
    Ok(())
}
