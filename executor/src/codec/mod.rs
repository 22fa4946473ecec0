//! `batchL2Data` of fork 12: a concatenation of
//! - changeL2Block: `0x0b ‖ deltaTimestamp (u32 BE) ‖ indexL1InfoTree (u32 BE)`, and
//! - transactions: the legacy RLP signing payload (`[nonce, gasPrice, gas, to, value, data]`
//!   before EIP-155, `[…, chainId, 0, 0]` after), then `r (32) ‖ s (32) ‖ v (1, 27 or 28)` and
//!   the effective-gas-price percentage byte;
//! - typed transactions (zkNode's extension, `docs/typed-transactions.md`): the EIP-2718 signing
//!   payload `type ‖ rlp([chainId, nonce, …, accessList])` of an EIP-2930 (`0x01`) or EIP-1559
//!   (`0x02`) transaction, then the same tail, `v` being 27 + the signature's y parity. The type
//!   byte sets such an entry apart from a changeL2Block (`0x0b`) and a legacy RLP list (`0xc0`
//!   and up).
//!
//! The decoder reads legacy transactions the way Polygon's prover (the fork-12 ROM) does: short
//! strings for the integer fields, `to` empty or 20 bytes, EIP-155 tail `0x80 0x80`, and
//! canonical RLP only. It refuses integers with a leading zero byte (a lone byte below 0x80 is
//! the integer itself, `0x00` included, as the ROM reads it), a single byte below 0x80 behind a
//! `0x81` prefix, the long form (`0xb8..`, `0xf8..`) for under 56 bytes or with a leading zero in
//! the length, lengths of more than 3 bytes, and the empty list as a transaction. Typed
//! transactions are read with the same RLP rules. Any departure makes the whole batch
//! undecodable, which the executor treats as an invalid batch. Decoding keeps the exact signing
//! bytes, so `encode(decode(x)) == x`.

pub use revm::context_interface::transaction::{AccessList, AccessListItem};
use revm::primitives::{keccak256, Address, Bytes, B256, U256};
use secp256k1::ecdsa::{RecoverableSignature, RecoveryId};
use secp256k1::Message;

use crate::rlp;

mod reader;

use reader::{tx_len, uint, Reader};

/// The changeL2Block marker byte.
pub const CHANGE_L2_BLOCK: u8 = 0x0b;
/// Bytes of a changeL2Block entry.
pub const CHANGE_L2_BLOCK_LEN: usize = 9;
/// `r ‖ s ‖ v ‖ effectivePercentage`.
const TAIL_LEN: usize = 32 + 32 + 1 + 1;

/// One entry of a batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BatchEntry {
    ChangeL2Block(ChangeL2Block),
    Tx(Box<RawTx>),
}

/// Opens a new L2 block.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct ChangeL2Block {
    /// Seconds added to the previous block's timestamp.
    pub delta_timestamp: u32,
    /// Leaf of the L1 info tree whose global exit root the block brings in (0: none).
    pub index_l1_info_tree: u32,
}

/// The EIP-2718 type of an EIP-2930 transaction.
pub const EIP2930_TX_TYPE: u8 = 0x01;
/// The EIP-2718 type of an EIP-1559 transaction.
pub const EIP1559_TX_TYPE: u8 = 0x02;

/// A batch transaction as the batch carries it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawTx {
    /// 0 for a legacy transaction, else its EIP-2718 type ([`EIP2930_TX_TYPE`],
    /// [`EIP1559_TX_TYPE`]).
    pub tx_type: u8,
    pub nonce: u64,
    /// The gas price; for an EIP-1559 transaction, `maxFeePerGas`.
    pub gas_price: U256,
    /// `maxPriorityFeePerGas` of an EIP-1559 transaction; equal to `gas_price` for the others.
    pub max_priority_fee: U256,
    pub gas_limit: u64,
    /// `None` deploys a contract.
    pub to: Option<Address>,
    pub value: U256,
    pub data: Bytes,
    /// The addresses and slots a typed transaction pre-warms (empty for a legacy one).
    pub access_list: AccessList,
    /// `None` for a pre-EIP-155 transaction (a typed transaction always has one).
    pub chain_id: Option<u64>,
    pub r: B256,
    pub s: B256,
    /// 27 or 28 (anything else fails signature recovery, as in Polygon's prover); 27 + the y
    /// parity for a typed transaction.
    pub v: u8,
    /// Effective gas price = gasPrice · (percentage + 1) / 256.
    pub effective_percentage: u8,
    /// The RLP signing payload exactly as encoded.
    sign_data: Vec<u8>,
}

/// Why batch data does not decode.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("batch data does not decode at byte {offset}: {reason}")]
pub struct DecodeError {
    pub offset: usize,
    pub reason: String,
}

/// Why a transaction's signature does not give a sender.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("v must be 27 or 28, got {0}")]
    BadV(u8),
    #[error("s is in the upper half of the curve order (EIP-2)")]
    HighS,
    #[error("r or s is zero or not below the curve order")]
    OutOfRange,
    #[error("no public key recovers from this signature")]
    NoRecovery,
}

/// The secp256k1 group order halved (EIP-2's bound on `s`).
const HALF_N: U256 = U256::from_limbs([
    0xdfe92f46681b20a0,
    0x5d576e7357a4501d,
    0xffffffffffffffff,
    0x7fffffffffffffff,
]);

impl RawTx {
    /// A legacy transaction from its fields, with the canonical RLP signing payload.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        nonce: u64,
        gas_price: U256,
        gas_limit: u64,
        to: Option<Address>,
        value: U256,
        data: Bytes,
        chain_id: Option<u64>,
    ) -> Self {
        let mut tx = Self {
            tx_type: 0,
            nonce,
            gas_price,
            max_priority_fee: gas_price,
            gas_limit,
            to,
            value,
            data,
            access_list: AccessList::default(),
            chain_id,
            r: B256::ZERO,
            s: B256::ZERO,
            v: 27,
            effective_percentage: 0xff,
            sign_data: Vec::new(),
        };
        tx.sign_data = tx.signing_payload();
        tx
    }

    /// An EIP-2930 transaction (type 1) from its fields.
    #[allow(clippy::too_many_arguments)]
    pub fn new_eip2930(
        chain_id: u64,
        nonce: u64,
        gas_price: U256,
        gas_limit: u64,
        to: Option<Address>,
        value: U256,
        data: Bytes,
        access_list: AccessList,
    ) -> Self {
        let mut tx = Self::new(nonce, gas_price, gas_limit, to, value, data, Some(chain_id));
        tx.tx_type = EIP2930_TX_TYPE;
        tx.access_list = access_list;
        tx.sign_data = tx.signing_payload();
        tx
    }

    /// An EIP-1559 transaction (type 2) from its fields.
    #[allow(clippy::too_many_arguments)]
    pub fn new_eip1559(
        chain_id: u64,
        nonce: u64,
        max_priority_fee: U256,
        max_fee: U256,
        gas_limit: u64,
        to: Option<Address>,
        value: U256,
        data: Bytes,
        access_list: AccessList,
    ) -> Self {
        let mut tx = Self::new(nonce, max_fee, gas_limit, to, value, data, Some(chain_id));
        tx.tx_type = EIP1559_TX_TYPE;
        tx.max_priority_fee = max_priority_fee;
        tx.access_list = access_list;
        tx.sign_data = tx.signing_payload();
        tx
    }

    /// The canonical signing payload of the transaction's fields.
    fn signing_payload(&self) -> Vec<u8> {
        if self.tx_type == 0 {
            return rlp::list(&self.payload(self.chain_id.map(|c| (c, None))));
        }
        let mut out = vec![self.tx_type];
        out.extend_from_slice(&rlp::list(&self.typed_fields()));
        out
    }

    /// The RLP items of a typed transaction before its signature: `[chainId, nonce, gasPrice |
    /// maxPriorityFeePerGas maxFeePerGas, gas, to, value, data, accessList]`.
    fn typed_fields(&self) -> Vec<u8> {
        let mut p = Vec::with_capacity(96 + self.data.len());
        rlp::put_uint(&mut p, &self.chain_id.unwrap_or(0).to_be_bytes());
        rlp::put_uint(&mut p, &self.nonce.to_be_bytes());
        if self.tx_type == EIP1559_TX_TYPE {
            rlp::put_uint(&mut p, &self.max_priority_fee.to_be_bytes::<32>());
        }
        rlp::put_uint(&mut p, &self.gas_price.to_be_bytes::<32>());
        rlp::put_uint(&mut p, &self.gas_limit.to_be_bytes());
        rlp::put_bytes(&mut p, self.to.as_ref().map_or(&[][..], |a| a.as_slice()));
        rlp::put_uint(&mut p, &self.value.to_be_bytes::<32>());
        rlp::put_bytes(&mut p, &self.data);
        let mut items = Vec::new();
        for item in self.access_list.iter() {
            let mut keys = Vec::with_capacity(33 * item.storage_keys.len());
            for k in &item.storage_keys {
                rlp::put_bytes(&mut keys, k.as_slice());
            }
            let mut entry = Vec::with_capacity(21 + keys.len() + 9);
            rlp::put_bytes(&mut entry, item.address.as_slice());
            entry.extend_from_slice(&rlp::list(&keys));
            items.extend_from_slice(&rlp::list(&entry));
        }
        p.extend_from_slice(&rlp::list(&items));
        p
    }

    /// The signed transaction as wallets send it and Ethereum hashes it: the legacy RLP list
    /// with its EIP-155 `v`, or `type ‖ rlp([…, yParity, r, s])`.
    pub fn to_eth_bytes(&self) -> Vec<u8> {
        let parity = (self.v as u64).saturating_sub(27) & 1;
        if self.tx_type == 0 {
            let v = match self.chain_id {
                Some(c) => c.saturating_mul(2).saturating_add(35 + parity),
                None => 27 + parity,
            };
            return rlp::list(&self.payload(Some((v, Some(0)))));
        }
        let mut p = self.typed_fields();
        rlp::put_uint(&mut p, &parity.to_be_bytes());
        rlp::put_uint(&mut p, self.r.as_slice());
        rlp::put_uint(&mut p, self.s.as_slice());
        let mut out = vec![self.tx_type];
        out.extend_from_slice(&rlp::list(&p));
        out
    }

    /// The price per gas the transaction offers before the effective percentage: the gas price,
    /// or for an EIP-1559 transaction `min(maxFeePerGas, baseFee + maxPriorityFeePerGas)` with
    /// the zkEVM's base fee of zero.
    pub fn offered_gas_price(&self) -> U256 {
        if self.tx_type == EIP1559_TX_TYPE {
            self.gas_price.min(self.max_priority_fee)
        } else {
            self.gas_price
        }
    }

    /// RLP items `[nonce, gasPrice, gas, to, value, data]` then, with `tail`, either
    /// `[chainId, 0, 0]` (signing) or `[v, r, s]` (the Ethereum transaction).
    fn payload(&self, tail: Option<(u64, Option<u64>)>) -> Vec<u8> {
        let mut p = Vec::with_capacity(64 + self.data.len());
        rlp::put_uint(&mut p, &self.nonce.to_be_bytes());
        rlp::put_uint(&mut p, &self.gas_price.to_be_bytes::<32>());
        rlp::put_uint(&mut p, &self.gas_limit.to_be_bytes());
        rlp::put_bytes(&mut p, self.to.as_ref().map_or(&[][..], |a| a.as_slice()));
        rlp::put_uint(&mut p, &self.value.to_be_bytes::<32>());
        rlp::put_bytes(&mut p, &self.data);
        match tail {
            Some((chain_id, None)) => {
                rlp::put_uint(&mut p, &chain_id.to_be_bytes());
                p.extend_from_slice(&[0x80, 0x80]);
            }
            Some((v, Some(_))) => {
                rlp::put_uint(&mut p, &v.to_be_bytes());
                rlp::put_uint(&mut p, self.r.as_slice());
                rlp::put_uint(&mut p, self.s.as_slice());
            }
            None => {}
        }
        p
    }

    /// The exact bytes that were signed.
    pub fn sign_data(&self) -> &[u8] {
        &self.sign_data
    }

    /// keccak256 of the signing payload.
    pub fn signing_hash(&self) -> B256 {
        keccak256(&self.sign_data)
    }

    /// Signs with `key` (for tests, tools and the benchmark's generated batches).
    pub fn sign(mut self, key: &secp256k1::SecretKey) -> Self {
        let msg = Message::from_digest(self.signing_hash().0);
        let sig = secp256k1::SECP256K1.sign_ecdsa_recoverable(msg, key);
        let (rec, rs) = sig.serialize_compact();
        self.r = B256::from_slice(&rs[..32]);
        self.s = B256::from_slice(&rs[32..]);
        self.v = 27 + i32::from(rec) as u8;
        self
    }

    /// The sender the signature recovers to.
    pub fn recover_sender(&self) -> Result<Address, SignatureError> {
        let rec = match self.v {
            27 => RecoveryId::Zero,
            28 => RecoveryId::One,
            v => return Err(SignatureError::BadV(v)),
        };
        let r = U256::from_be_bytes(self.r.0);
        let s = U256::from_be_bytes(self.s.0);
        if r.is_zero() || s.is_zero() {
            return Err(SignatureError::OutOfRange);
        }
        if s > HALF_N {
            return Err(SignatureError::HighS);
        }
        let mut rs = [0u8; 64];
        rs[..32].copy_from_slice(self.r.as_slice());
        rs[32..].copy_from_slice(self.s.as_slice());
        let sig =
            RecoverableSignature::from_compact(&rs, rec).map_err(|_| SignatureError::OutOfRange)?;
        let msg = Message::from_digest(self.signing_hash().0);
        let pk = secp256k1::SECP256K1
            .recover_ecdsa(msg, &sig)
            .map_err(|_| SignatureError::NoRecovery)?;
        let h = keccak256(&pk.serialize_uncompressed()[1..]);
        Ok(Address::from_slice(&h[12..]))
    }

    /// The gas price the sender pays: the [offered price](Self::offered_gas_price) ·
    /// (percentage + 1) / 256.
    pub fn effective_gas_price(&self) -> U256 {
        self.offered_gas_price()
            .saturating_mul(U256::from(self.effective_percentage as u64 + 1))
            >> 8
    }

    /// The Ethereum transaction hash: keccak256 of [`Self::to_eth_bytes`].
    pub fn eth_hash(&self) -> B256 {
        keccak256(self.to_eth_bytes())
    }

    /// Polygon's L2 transaction hash: the linear Poseidon hash of
    /// `type ‖ nonce (8) ‖ gasPrice (32) ‖ gasLimit (8) ‖ (01 | 00 ‖ to) ‖ value (32) ‖
    /// len(data) (3) ‖ data ‖ chainId (8, EIP-155 only) ‖ from (20)`. Polygon has no typed
    /// transactions; zkNode hashes a typed one's signing payload instead: `sign_data ‖ from`.
    pub fn l2_hash(&self, from: &Address) -> U256 {
        if self.tx_type != 0 {
            let mut b = Vec::with_capacity(self.sign_data.len() + 20);
            b.extend_from_slice(&self.sign_data);
            b.extend_from_slice(from.as_slice());
            return zknode_state::keys::hash_bytecode(&b).to_u256();
        }
        let mut b = Vec::with_capacity(128 + self.data.len());
        b.push(u8::from(self.chain_id.is_some()));
        b.extend_from_slice(&self.nonce.to_be_bytes());
        b.extend_from_slice(&self.gas_price.to_be_bytes::<32>());
        b.extend_from_slice(&self.gas_limit.to_be_bytes());
        match &self.to {
            None => b.push(1),
            Some(a) => {
                b.push(0);
                b.extend_from_slice(a.as_slice());
            }
        }
        b.extend_from_slice(&self.value.to_be_bytes::<32>());
        b.extend_from_slice(&(self.data.len() as u32).to_be_bytes()[1..]);
        b.extend_from_slice(&self.data);
        if let Some(c) = self.chain_id {
            b.extend_from_slice(&c.to_be_bytes());
        }
        b.extend_from_slice(from.as_slice());
        zknode_state::keys::hash_bytecode(&b).to_u256()
    }

    fn encode_into(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.sign_data);
        out.extend_from_slice(self.r.as_slice());
        out.extend_from_slice(self.s.as_slice());
        out.push(self.v);
        out.push(self.effective_percentage);
    }

    /// Decodes one transaction from exactly `b` (the batch splitter sized it).
    fn decode(b: &[u8], base: usize) -> Result<Self, DecodeError> {
        let rebase = |mut e: DecodeError| {
            e.offset += base;
            e
        };
        if matches!(b.first(), Some(&(EIP2930_TX_TYPE | EIP1559_TX_TYPE))) {
            return Self::decode_typed(b).map_err(rebase);
        }
        let mut r = Reader { b, pos: 0 };
        let (header, payload) = r.tx_list_header().map_err(rebase)?;
        let end = header + payload;
        let nonce_b = r.short_string().map_err(rebase)?;
        let nonce = u64::from_be_bytes(uint::<8>(&r, nonce_b, "nonce").map_err(rebase)?);
        let gp = r.short_string().map_err(rebase)?;
        let gas_price = U256::from_be_bytes(uint::<32>(&r, gp, "gasPrice").map_err(rebase)?);
        let gl = r.short_string().map_err(rebase)?;
        let gas_limit = u64::from_be_bytes(uint::<8>(&r, gl, "gasLimit").map_err(rebase)?);
        let to = match r.byte().map_err(rebase)? {
            0x80 => {
                r.pos += 1;
                None
            }
            0x94 => {
                r.pos += 1;
                Some(Address::from_slice(r.take(20).map_err(rebase)?))
            }
            x => {
                return Err(rebase(r.err(format!(
                    "`to` must be empty or 20 bytes, found prefix {x:#04x}"
                ))))
            }
        };
        let vb = r.short_string().map_err(rebase)?;
        let value = U256::from_be_bytes(uint::<32>(&r, vb, "value").map_err(rebase)?);
        let data = Bytes::copy_from_slice(r.string().map_err(rebase)?);
        let mut chain_id = None;
        if r.pos < end {
            let cb = r.short_string().map_err(rebase)?;
            chain_id = Some(u64::from_be_bytes(
                uint::<8>(&r, cb, "chainId").map_err(rebase)?,
            ));
            if r.take(2).map_err(rebase)? != [0x80, 0x80] {
                return Err(rebase(
                    r.err("the EIP-155 signing payload must end 0x80 0x80"),
                ));
            }
        }
        if r.pos != end {
            return Err(rebase(r.err(format!(
                "RLP list length says {payload} bytes, fields take {}",
                r.pos - header
            ))));
        }
        let sign_data = b[..end].to_vec();
        let rb = B256::from_slice(r.take(32).map_err(rebase)?);
        let sb = B256::from_slice(r.take(32).map_err(rebase)?);
        let v = r.take(1).map_err(rebase)?[0];
        let effective_percentage = r.take(1).map_err(rebase)?[0];
        Ok(Self {
            tx_type: 0,
            nonce,
            gas_price,
            max_priority_fee: gas_price,
            gas_limit,
            to,
            value,
            data,
            access_list: AccessList::default(),
            chain_id,
            r: rb,
            s: sb,
            v,
            effective_percentage,
            sign_data,
        })
    }

    /// Decodes one typed transaction (type byte, RLP signing payload, tail) from exactly `b`,
    /// as strictly as the legacy form.
    fn decode_typed(b: &[u8]) -> Result<Self, DecodeError> {
        let tx_type = b[0];
        let mut r = Reader { b, pos: 1 };
        let (header, payload) = r.list_header()?;
        let end = 1 + header + payload;
        let int = |r: &mut Reader<'_>, what: &str| -> Result<u64, DecodeError> {
            let v = r.short_string()?;
            Ok(u64::from_be_bytes(uint::<8>(r, v, what)?))
        };
        let big = |r: &mut Reader<'_>, what: &str| -> Result<U256, DecodeError> {
            let v = r.short_string()?;
            Ok(U256::from_be_bytes(uint::<32>(r, v, what)?))
        };
        let chain_id = int(&mut r, "chainId")?;
        let nonce = int(&mut r, "nonce")?;
        let max_priority_fee = if tx_type == EIP1559_TX_TYPE {
            Some(big(&mut r, "maxPriorityFeePerGas")?)
        } else {
            None
        };
        let gas_price = big(&mut r, "gasPrice")?;
        let gas_limit = int(&mut r, "gasLimit")?;
        let to = match r.short_string()? {
            [] => None,
            a if a.len() == 20 => Some(Address::from_slice(a)),
            a => return Err(r.err(format!("`to` must be empty or 20 bytes, got {}", a.len()))),
        };
        let value = big(&mut r, "value")?;
        let data = Bytes::copy_from_slice(r.string()?);
        let (_, list_len) = r.list_header()?;
        let list_end = r.pos + list_len;
        let mut access_list = Vec::new();
        while r.pos < list_end {
            let (_, item_len) = r.list_header()?;
            let item_end = r.pos + item_len;
            let address = match r.short_string()? {
                a if a.len() == 20 => Address::from_slice(a),
                a => {
                    return Err(r.err(format!(
                        "an access list address must be 20 bytes, got {}",
                        a.len()
                    )))
                }
            };
            let (_, keys_len) = r.list_header()?;
            let keys_end = r.pos + keys_len;
            let mut storage_keys = Vec::new();
            while r.pos < keys_end {
                match r.string()? {
                    k if k.len() == 32 => storage_keys.push(B256::from_slice(k)),
                    k => {
                        return Err(r.err(format!(
                            "an access list storage key must be 32 bytes, got {}",
                            k.len()
                        )))
                    }
                }
            }
            if r.pos != keys_end || r.pos != item_end {
                return Err(r.err("access list item lengths do not match its contents"));
            }
            access_list.push(AccessListItem {
                address,
                storage_keys,
            });
        }
        if r.pos != list_end || r.pos != end {
            return Err(r.err(format!(
                "RLP list length says {payload} bytes, fields take {}",
                r.pos - 1 - header
            )));
        }
        let sign_data = b[..end].to_vec();
        let rb = B256::from_slice(r.take(32)?);
        let sb = B256::from_slice(r.take(32)?);
        let v = r.take(1)?[0];
        let effective_percentage = r.take(1)?[0];
        Ok(Self {
            tx_type,
            nonce,
            gas_price,
            max_priority_fee: max_priority_fee.unwrap_or(gas_price),
            gas_limit,
            to,
            value,
            data,
            access_list: AccessList(access_list),
            chain_id: Some(chain_id),
            r: rb,
            s: sb,
            v,
            effective_percentage,
            sign_data,
        })
    }
}

/// Splits and decodes `batchL2Data`.
pub fn decode_batch(data: &[u8]) -> Result<Vec<BatchEntry>, DecodeError> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < data.len() {
        if data[pos] == CHANGE_L2_BLOCK {
            let e = data
                .get(pos..pos + CHANGE_L2_BLOCK_LEN)
                .ok_or_else(|| DecodeError {
                    offset: pos,
                    reason: format!(
                        "changeL2Block needs {CHANGE_L2_BLOCK_LEN} bytes, {} left",
                        data.len() - pos
                    ),
                })?;
            out.push(BatchEntry::ChangeL2Block(ChangeL2Block {
                delta_timestamp: u32::from_be_bytes(e[1..5].try_into().expect("4 bytes")),
                index_l1_info_tree: u32::from_be_bytes(e[5..9].try_into().expect("4 bytes")),
            }));
            pos += CHANGE_L2_BLOCK_LEN;
            continue;
        }
        let n = tx_len(data, pos)?;
        let end = pos.saturating_add(n);
        if end > data.len() {
            return Err(DecodeError {
                offset: pos,
                reason: format!(
                    "transaction of {n} bytes runs past the end of the batch ({} left)",
                    data.len() - pos
                ),
            });
        }
        out.push(BatchEntry::Tx(Box::new(RawTx::decode(
            &data[pos..end],
            pos,
        )?)));
        pos = end;
    }
    Ok(out)
}

/// Encodes batch entries as `batchL2Data`.
pub fn encode_batch(entries: &[BatchEntry]) -> Vec<u8> {
    let mut out = Vec::new();
    for e in entries {
        match e {
            BatchEntry::ChangeL2Block(c) => {
                out.push(CHANGE_L2_BLOCK);
                out.extend_from_slice(&c.delta_timestamp.to_be_bytes());
                out.extend_from_slice(&c.index_l1_info_tree.to_be_bytes());
            }
            BatchEntry::Tx(t) => t.encode_into(&mut out),
        }
    }
    out
}
