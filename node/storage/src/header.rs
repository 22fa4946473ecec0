//! The L2 block header and its hash (`docs/l2-blocks.md`).
//!
//! An L2 block's hash is keccak256 of an Ethereum (London) header in RLP: a list of these 16
//! fields, in this order.
//!
//! | # | field | in zkNode |
//! |---|---|---|
//! | 1 | parentHash | the hash of block `number - 1`; zero for the first block |
//! | 2 | ommersHash | [`EMPTY_OMMERS_HASH`], keccak256 of the empty list `0xc0` |
//! | 3 | beneficiary | the coinbase (the sequencer's fee recipient) |
//! | 4 | stateRoot | the state tree root after the block (Polygon's Poseidon tree root) |
//! | 5 | transactionsRoot | Ethereum's ordered trie root of the transactions' raw bytes |
//! | 6 | receiptsRoot | Ethereum's ordered trie root of the receipts' EIP-2718 encodings |
//! | 7 | logsBloom | the 2048-bit bloom of every log's address and topics |
//! | 8 | difficulty | 0 |
//! | 9 | number | the block number |
//! | 10 | gasLimit | the block gas limit |
//! | 11 | gasUsed | the last receipt's cumulative gas used (0 when empty) |
//! | 12 | timestamp | Unix seconds |
//! | 13 | extraData | empty |
//! | 14 | mixHash | the block info tree root (zero when none was computed) |
//! | 15 | nonce | eight zero bytes |
//! | 16 | baseFeePerGas | the base fee |
//!
//! Integers are RLP's minimal big-endian scalars (0 is `0x80`); hashes, the address, the bloom
//! and the nonce are byte strings of their fixed length. "Ordered trie root" is the root of
//! Ethereum's Merkle Patricia trie whose keys are `rlp(i)` for the item's position `i` and whose
//! values are the item's bytes; the empty trie's root is [`EMPTY_ROOT`]. A receipt's encoding is
//! `rlp([status, cumulativeGasUsed, logsBloom, logs])`, with each log `rlp([address, [topics],
//! data])` and status 1 or 0, preceded by the transaction's type byte when the type is not 0.
//!
//! The global exit root and the batch number are not in the header; the block info root, which
//! is, commits to the former.

use alloy_primitives::{b256, keccak256, Address, Bloom, BloomInput, B256, B64};
use alloy_rlp::{Decodable, Encodable, Header};

use crate::types::{NewBlock, NewLog, NewReceipt, NewTransaction};

/// keccak256 of the RLP empty list: the ommers hash of every L2 block.
pub const EMPTY_OMMERS_HASH: B256 =
    b256!("1dcc4de8dec75d7aab85b567b6ccd41ad312451b948a7413f0a142fd40d49347");

/// The root of an empty trie: the transactions and receipts roots of a block without
/// transactions.
pub const EMPTY_ROOT: B256 =
    b256!("56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421");

/// The fields of an L2 block header that vary (the module documentation lists all 16).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct L2Header {
    pub parent_hash: B256,
    pub coinbase: Address,
    pub state_root: B256,
    pub transactions_root: B256,
    pub receipts_root: B256,
    pub logs_bloom: Bloom,
    pub number: u64,
    pub gas_limit: u64,
    pub gas_used: u64,
    pub timestamp: u64,
    /// Stored as mixHash.
    pub block_info_root: B256,
    pub base_fee: u64,
}

/// Why stored header bytes are not an L2 header.
#[derive(Debug, thiserror::Error)]
pub enum HeaderError {
    #[error("not an RLP header: {0}")]
    Rlp(#[from] alloy_rlp::Error),
    #[error("{0}")]
    Shape(&'static str),
}

impl L2Header {
    /// The header's RLP: the bytes whose keccak256 is the block hash.
    pub fn rlp(&self) -> Vec<u8> {
        let payload_length = self.payload_length();
        let mut out = Vec::with_capacity(payload_length + 3);
        Header {
            list: true,
            payload_length,
        }
        .encode(&mut out);
        self.parent_hash.encode(&mut out);
        EMPTY_OMMERS_HASH.encode(&mut out);
        self.coinbase.encode(&mut out);
        self.state_root.encode(&mut out);
        self.transactions_root.encode(&mut out);
        self.receipts_root.encode(&mut out);
        self.logs_bloom.encode(&mut out);
        0u64.encode(&mut out); // difficulty
        self.number.encode(&mut out);
        self.gas_limit.encode(&mut out);
        self.gas_used.encode(&mut out);
        self.timestamp.encode(&mut out);
        (&[] as &[u8]).encode(&mut out); // extraData
        self.block_info_root.encode(&mut out);
        B64::ZERO.encode(&mut out); // nonce
        self.base_fee.encode(&mut out);
        out
    }

    /// The block hash: keccak256 of [`L2Header::rlp`].
    pub fn hash(&self) -> B256 {
        keccak256(self.rlp())
    }

    fn payload_length(&self) -> usize {
        self.parent_hash.length()
            + EMPTY_OMMERS_HASH.length()
            + self.coinbase.length()
            + self.state_root.length()
            + self.transactions_root.length()
            + self.receipts_root.length()
            + self.logs_bloom.length()
            + 0u64.length()
            + self.number.length()
            + self.gas_limit.length()
            + self.gas_used.length()
            + self.timestamp.length()
            + (&[] as &[u8]).length()
            + self.block_info_root.length()
            + B64::ZERO.length()
            + self.base_fee.length()
    }

    /// Reads header bytes back. The constant fields must hold their constants, and nothing may
    /// follow the header.
    pub fn decode_rlp(bytes: &[u8]) -> Result<L2Header, HeaderError> {
        let mut buf = bytes;
        let list = Header::decode(&mut buf)?;
        if !list.list {
            return Err(HeaderError::Shape("the header is not an RLP list"));
        }
        if buf.len() != list.payload_length {
            return Err(HeaderError::Shape(
                "bytes follow the header list, or it is cut short",
            ));
        }
        let b = &mut buf;
        let parent_hash = B256::decode(b)?;
        if B256::decode(b)? != EMPTY_OMMERS_HASH {
            return Err(HeaderError::Shape(
                "the ommers hash is not the empty list's",
            ));
        }
        let coinbase = Address::decode(b)?;
        let state_root = B256::decode(b)?;
        let transactions_root = B256::decode(b)?;
        let receipts_root = B256::decode(b)?;
        let logs_bloom = Bloom::decode(b)?;
        if u64::decode(b)? != 0 {
            return Err(HeaderError::Shape("the difficulty is not 0"));
        }
        let number = u64::decode(b)?;
        let gas_limit = u64::decode(b)?;
        let gas_used = u64::decode(b)?;
        let timestamp = u64::decode(b)?;
        if !Header::decode_bytes(b, false)?.is_empty() {
            return Err(HeaderError::Shape("the extra data is not empty"));
        }
        let block_info_root = B256::decode(b)?;
        if B64::decode(b)? != B64::ZERO {
            return Err(HeaderError::Shape("the nonce is not zero"));
        }
        let base_fee = u64::decode(b)?;
        if !b.is_empty() {
            return Err(HeaderError::Shape("the header has more than 16 fields"));
        }
        Ok(L2Header {
            parent_hash,
            coinbase,
            state_root,
            transactions_root,
            receipts_root,
            logs_bloom,
            number,
            gas_limit,
            gas_used,
            timestamp,
            block_info_root,
            base_fee,
        })
    }
}

/// The RLP of an L2 block header (see the module documentation).
pub fn header_rlp(header: &L2Header) -> Vec<u8> {
    header.rlp()
}

/// The hash of an L2 block: keccak256 of [`header_rlp`].
pub fn block_hash(header: &L2Header) -> B256 {
    header.hash()
}

impl NewBlock {
    /// The block's header: the given fields, and those that follow from the transactions and
    /// receipts.
    pub fn header(&self) -> L2Header {
        L2Header {
            parent_hash: self.parent_hash,
            coinbase: self.coinbase,
            state_root: self.state_root,
            transactions_root: transactions_root(&self.transactions),
            receipts_root: receipts_root(&self.transactions),
            logs_bloom: logs_bloom(self.transactions.iter().flat_map(|t| t.receipt.logs.iter())),
            number: self.number,
            gas_limit: self.gas_limit,
            gas_used: self
                .transactions
                .last()
                .map_or(0, |t| t.receipt.cumulative_gas_used),
            timestamp: self.timestamp,
            block_info_root: self.block_info_root,
            base_fee: self.base_fee,
        }
    }
}

/// The ordered trie root of the transactions' raw bytes.
pub fn transactions_root(txs: &[NewTransaction]) -> B256 {
    alloy_trie::root::ordered_trie_root_with_encoder(txs, |tx, out| out.extend_from_slice(&tx.raw))
}

/// The ordered trie root of the receipts' encodings ([`receipt_encoding`]).
pub fn receipts_root(txs: &[NewTransaction]) -> B256 {
    alloy_trie::root::ordered_trie_root_with_encoder(txs, |tx, out| {
        out.extend_from_slice(&receipt_encoding(tx.tx_type, &tx.receipt))
    })
}

/// A receipt as Ethereum encodes it: the type byte unless the type is 0, then
/// `rlp([status, cumulativeGasUsed, logsBloom, logs])`.
pub fn receipt_encoding(tx_type: u8, receipt: &NewReceipt) -> Vec<u8> {
    let bloom = logs_bloom(receipt.logs.iter());
    let status = u8::from(receipt.success);
    let logs_length: usize = receipt.logs.iter().map(log_length).sum();
    let logs_header = Header {
        list: true,
        payload_length: logs_length,
    };
    let payload_length = status.length()
        + receipt.cumulative_gas_used.length()
        + bloom.length()
        + logs_header.length_with_payload();
    let mut out = Vec::with_capacity(payload_length + 4);
    if tx_type != 0 {
        out.push(tx_type);
    }
    Header {
        list: true,
        payload_length,
    }
    .encode(&mut out);
    status.encode(&mut out);
    receipt.cumulative_gas_used.encode(&mut out);
    bloom.encode(&mut out);
    logs_header.encode(&mut out);
    for log in &receipt.logs {
        encode_log(log, &mut out);
    }
    out
}

fn log_payload_length(log: &NewLog) -> (usize, Header) {
    let topics = Header {
        list: true,
        payload_length: log.topics.iter().map(Encodable::length).sum(),
    };
    (
        log.address.length() + topics.length_with_payload() + log.data.length(),
        topics,
    )
}

fn log_length(log: &NewLog) -> usize {
    let (payload_length, _) = log_payload_length(log);
    Header {
        list: true,
        payload_length,
    }
    .length_with_payload()
}

fn encode_log(log: &NewLog, out: &mut Vec<u8>) {
    let (payload_length, topics) = log_payload_length(log);
    Header {
        list: true,
        payload_length,
    }
    .encode(out);
    log.address.encode(out);
    topics.encode(out);
    for t in &log.topics {
        t.encode(out);
    }
    log.data.encode(out);
}

/// The bloom of the logs' addresses and topics.
pub fn logs_bloom<'a>(logs: impl IntoIterator<Item = &'a NewLog>) -> Bloom {
    let mut bloom = Bloom::ZERO;
    for log in logs {
        bloom.accrue(BloomInput::Raw(log.address.as_slice()));
        for t in &log.topics {
            bloom.accrue(BloomInput::Raw(t.as_slice()));
        }
    }
    bloom
}

#[cfg(test)]
mod tests {
    use alloy_primitives::{address, Bytes, U256};

    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn constants_are_what_they_claim() {
        assert_eq!(keccak256([0xc0]), EMPTY_OMMERS_HASH);
        // The empty trie's root node is the empty string, 0x80.
        assert_eq!(keccak256([0x80]), EMPTY_ROOT);
        assert_eq!(transactions_root(&[]), EMPTY_ROOT);
        assert_eq!(receipts_root(&[]), EMPTY_ROOT);
    }

    /// A block header assembled byte by byte: the encoder must produce exactly these bytes,
    /// and the hash is keccak256 of them.
    #[test]
    fn fixed_header_encodes_field_by_field() {
        let mut bloom = Bloom::ZERO;
        bloom.0[0] = 0x80;
        bloom.0[255] = 0x01;
        let header = L2Header {
            parent_hash: B256::repeat_byte(0x11),
            coinbase: address!("f39fd6e51aad88f6f4ce6ab8827279cfffb92266"),
            state_root: B256::repeat_byte(0x22),
            transactions_root: B256::repeat_byte(0x33),
            receipts_root: B256::repeat_byte(0x44),
            logs_bloom: bloom,
            number: 0x0102,
            gas_limit: 30_000_000, // 0x01c9c380
            gas_used: 21_000,      // 0x5208
            timestamp: 0x6553f100,
            block_info_root: B256::repeat_byte(0x55),
            base_fee: 0,
        };
        let expected = [
            // list header: a payload of 506 = 0x01fa bytes
            "f9 01fa".to_string(),
            format!("a0 {}", "11".repeat(32)),
            "a0 1dcc4de8dec75d7aab85b567b6ccd41ad312451b948a7413f0a142fd40d49347".to_string(),
            "94 f39fd6e51aad88f6f4ce6ab8827279cfffb92266".to_string(),
            format!("a0 {}", "22".repeat(32)),
            format!("a0 {}", "33".repeat(32)),
            format!("a0 {}", "44".repeat(32)),
            format!("b9 0100 80 {} 01", "00".repeat(254)),
            "80".to_string(),          // difficulty 0
            "82 0102".to_string(),     // number
            "84 01c9c380".to_string(), // gas limit
            "82 5208".to_string(),     // gas used
            "84 6553f100".to_string(), // timestamp
            "80".to_string(),          // extra data
            format!("a0 {}", "55".repeat(32)),
            "88 0000000000000000".to_string(), // nonce
            "80".to_string(),                  // base fee 0
        ]
        .join(" ");
        let expected = hex(&expected);
        // 3 bytes of list header + 506 of payload.
        assert_eq!(expected.len(), 3 + 0x01fa);
        assert_eq!(header_rlp(&header), expected);
        assert_eq!(block_hash(&header), keccak256(&expected));
        assert_eq!(L2Header::decode_rlp(&expected).unwrap(), header);
    }

    #[test]
    fn decoding_refuses_what_is_not_an_l2_header() {
        let header = L2Header {
            parent_hash: B256::ZERO,
            coinbase: Address::ZERO,
            state_root: B256::ZERO,
            transactions_root: EMPTY_ROOT,
            receipts_root: EMPTY_ROOT,
            logs_bloom: Bloom::ZERO,
            number: 0,
            gas_limit: 1,
            gas_used: 0,
            timestamp: 0,
            block_info_root: B256::ZERO,
            base_fee: 7,
        };
        let good = header.rlp();
        assert_eq!(L2Header::decode_rlp(&good).unwrap(), header);
        assert!(L2Header::decode_rlp(&good[..good.len() - 1]).is_err());
        let mut long = good.clone();
        long.push(0x80);
        assert!(L2Header::decode_rlp(&long).is_err());
        // The ommers hash's first byte (after the 3-byte list header and the parent hash).
        let mut bad = good.clone();
        bad[3 + 33 + 1] ^= 1;
        assert!(matches!(
            L2Header::decode_rlp(&bad),
            Err(HeaderError::Shape(_))
        ));
        assert!(L2Header::decode_rlp(&[0x80]).is_err());
        assert!(L2Header::decode_rlp(&[]).is_err());
    }

    fn one_tx(raw: Vec<u8>, tx_type: u8, logs: Vec<NewLog>) -> NewTransaction {
        NewTransaction {
            hash: keccak256(&raw),
            l2_hash: B256::repeat_byte(9),
            raw: raw.into(),
            sender: Address::repeat_byte(1),
            tx_type,
            effective_percentage: 255,
            receipt: NewReceipt {
                success: true,
                cumulative_gas_used: 0x5208,
                gas_used: 0x5208,
                effective_gas_price: U256::from(1),
                contract_address: None,
                logs,
            },
        }
    }

    /// A trie with one item is one leaf: key rlp(0) = 0x80, nibbles [8, 0], hex-prefixed as a
    /// leaf of even length: 0x20 0x80. The root is keccak256 of rlp([0x2080, value]).
    #[test]
    fn one_item_roots_by_hand() {
        let raw = vec![0xc3, 0x01, 0x02, 0x03];
        let log = NewLog {
            address: Address::repeat_byte(0xaa),
            topics: vec![B256::repeat_byte(0xbb)],
            data: Bytes::from(vec![0xcc]),
        };
        let tx = one_tx(raw.clone(), 0, vec![log.clone()]);
        // rlp(["0x2080", raw]) = c8 82 2080 84 c3010203
        let leaf = hex("c8 82 2080 84 c3010203");
        assert_eq!(
            transactions_root(std::slice::from_ref(&tx)),
            keccak256(&leaf)
        );

        let mut bloom = Bloom::ZERO;
        bloom.accrue(BloomInput::Raw(&[0xaa; 20]));
        bloom.accrue(BloomInput::Raw(&[0xbb; 32]));
        assert_eq!(logs_bloom([&log]), bloom);
        // log: [address, [topic], data]; payload 21 + 34 + 2 = 57 = 0x39
        let log_rlp = format!(
            "f839 94 {} e1 a0 {} 81 cc",
            "aa".repeat(20),
            "bb".repeat(32)
        );
        // receipt: [0x01, 0x5208, bloom, [log]]; payload 1 + 3 + 259 + (2 + 59) = 324 = 0x0144
        let receipt = hex(&format!(
            "f9 0144 01 82 5208 b9 0100 {} f8 3b {log_rlp}",
            alloy_primitives::hex::encode(bloom.0)
        ));
        assert_eq!(receipt_encoding(0, &tx.receipt), receipt);
        let mut typed = vec![0x02];
        typed.extend_from_slice(&receipt);
        assert_eq!(receipt_encoding(2, &tx.receipt), typed);
        // rlp(["0x2080", receipt]): payload 3 + (3 + 327) = 333 = 0x014d
        let mut leaf = hex("f9 014d 82 2080 b9 0147");
        leaf.extend_from_slice(&receipt);
        assert_eq!(receipt.len(), 0x0147);
        assert_eq!(receipts_root(std::slice::from_ref(&tx)), keccak256(&leaf));
    }
}
