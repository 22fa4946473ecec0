//! Sequences from the calldata of the transaction that emitted `SequenceBatches` or
//! `SequenceForceBatches`, decoded by selector: banana's `sequenceBatches` (`0xb910e0f9`) and
//! `sequenceForceBatches` (`0x9f26f840`). Any other selector, and calldata that does not decode,
//! is an error naming the transaction and the selector (a sequence sent through a wrapper
//! contract, a multisig or a proxy, whose top-level calldata is not the rollup's, is one).

use alloy::primitives::{Address, Bytes, B256};
use alloy::sol_types::SolCall;
use zknode_l1::ZkEvmRollup::{sequenceBatchesCall, sequenceForceBatchesCall, BatchData};

/// One batch of a sequence, as the calldata carries it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SequencedBatch {
    pub transactions: Bytes,
    pub forced_global_exit_root: B256,
    /// Non-zero: a forced batch.
    pub forced_timestamp: u64,
    pub forced_block_hash_l1: B256,
}

/// A decoded sequence call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SequenceCall {
    /// `sequenceBatches` (fork 12, banana).
    Banana {
        batches: Vec<SequencedBatch>,
        l1_info_tree_leaf_count: u32,
        max_sequence_timestamp: u64,
        expected_final_acc_input_hash: B256,
        l2_coinbase: Address,
    },
    /// `sequenceForceBatches`: the sender is the coinbase.
    Forced { batches: Vec<SequencedBatch> },
}

impl SequenceCall {
    pub fn batches(&self) -> &[SequencedBatch] {
        match self {
            SequenceCall::Banana { batches, .. } | SequenceCall::Forced { batches } => batches,
        }
    }
}

/// Why a sequence's calldata could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error(
        "L1 transaction {tx}: unknown selector {selector} for a sequence (expected banana's \
         sequenceBatches 0xb910e0f9 or sequenceForceBatches 0x9f26f840; a sequence sent through \
         another contract cannot be read from its calldata)"
    )]
    UnknownSelector { tx: B256, selector: String },
    #[error("L1 transaction {tx}: calldata of {len} bytes is too short for a selector")]
    TooShort { tx: B256, len: usize },
    #[error("L1 transaction {tx}: malformed calldata for {selector} ({name}): {reason}")]
    Malformed {
        tx: B256,
        selector: String,
        name: &'static str,
        reason: String,
    },
}

fn batch(b: BatchData) -> SequencedBatch {
    SequencedBatch {
        transactions: b.transactions,
        forced_global_exit_root: b.forcedGlobalExitRoot,
        forced_timestamp: b.forcedTimestamp,
        forced_block_hash_l1: b.forcedBlockHashL1,
    }
}

/// Decodes the calldata `input` of L1 transaction `tx`.
pub fn decode_sequence(tx: B256, input: &[u8]) -> Result<SequenceCall, DecodeError> {
    let selector: [u8; 4] =
        input
            .get(..4)
            .and_then(|s| s.try_into().ok())
            .ok_or(DecodeError::TooShort {
                tx,
                len: input.len(),
            })?;
    let hex_selector = format!("0x{}", alloy::primitives::hex::encode(selector));
    let malformed = |name: &'static str, e: alloy::sol_types::Error| DecodeError::Malformed {
        tx,
        selector: hex_selector.clone(),
        name,
        reason: e.to_string(),
    };
    if selector == sequenceBatchesCall::SELECTOR {
        let c = sequenceBatchesCall::abi_decode_validate(input)
            .map_err(|e| malformed("sequenceBatches", e))?;
        return Ok(SequenceCall::Banana {
            batches: c.batches.into_iter().map(batch).collect(),
            l1_info_tree_leaf_count: c.l1InfoTreeLeafCount,
            max_sequence_timestamp: c.maxSequenceTimestamp,
            expected_final_acc_input_hash: c.expectedFinalAccInputHash,
            l2_coinbase: c.l2Coinbase,
        });
    }
    if selector == sequenceForceBatchesCall::SELECTOR {
        let c = sequenceForceBatchesCall::abi_decode_validate(input)
            .map_err(|e| malformed("sequenceForceBatches", e))?;
        return Ok(SequenceCall::Forced {
            batches: c.batches.into_iter().map(batch).collect(),
        });
    }
    Err(DecodeError::UnknownSelector {
        tx,
        selector: hex_selector,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call() -> sequenceBatchesCall {
        sequenceBatchesCall {
            batches: vec![BatchData {
                transactions: Bytes::from(vec![0x0b, 0, 0, 0, 1, 0, 0, 0, 0]),
                forcedGlobalExitRoot: B256::ZERO,
                forcedTimestamp: 0,
                forcedBlockHashL1: B256::ZERO,
            }],
            l1InfoTreeLeafCount: 3,
            maxSequenceTimestamp: 77,
            expectedFinalAccInputHash: B256::repeat_byte(5),
            l2Coinbase: Address::repeat_byte(9),
        }
    }

    #[test]
    fn banana_round_trips() {
        let c = call();
        let d = decode_sequence(B256::ZERO, &c.abi_encode()).unwrap();
        match d {
            SequenceCall::Banana {
                batches,
                l1_info_tree_leaf_count,
                max_sequence_timestamp,
                expected_final_acc_input_hash,
                l2_coinbase,
            } => {
                assert_eq!(batches.len(), 1);
                assert_eq!(batches[0].transactions, c.batches[0].transactions);
                assert_eq!((l1_info_tree_leaf_count, max_sequence_timestamp), (3, 77));
                assert_eq!(expected_final_acc_input_hash, B256::repeat_byte(5));
                assert_eq!(l2_coinbase, Address::repeat_byte(9));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            alloy::primitives::hex::encode(sequenceBatchesCall::SELECTOR),
            "b910e0f9"
        );
        assert_eq!(
            alloy::primitives::hex::encode(sequenceForceBatchesCall::SELECTOR),
            "9f26f840"
        );
    }

    #[test]
    fn bad_calldata_is_an_error_not_a_panic() {
        let tx = B256::repeat_byte(0xaa);
        let e = decode_sequence(tx, &[0xde, 0xf5]).unwrap_err();
        assert!(matches!(e, DecodeError::TooShort { len: 2, .. }), "{e}");
        // Elderberry's selector (forks 8-11) is not read.
        let e = decode_sequence(tx, &[0xde, 0xf5, 0x7e, 0x54, 0, 0]).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("unknown selector 0xdef57e54"), "{msg}");
        assert!(msg.contains(&tx.to_string()), "{msg}");
        // Truncated, and garbage after a good selector.
        let good = call().abi_encode();
        for bad in [
            &good[..good.len() - 33],
            &good[..40],
            &[0xb9, 0x10, 0xe0, 0xf9][..],
        ] {
            let e = decode_sequence(tx, bad).unwrap_err();
            assert!(
                e.to_string().contains("malformed calldata for 0xb910e0f9"),
                "{e}"
            );
        }
        let mut lying = good.clone();
        // The batches array's offset pointing past the end.
        lying[4 + 31] = 0xff;
        lying[4 + 30] = 0xff;
        let e = decode_sequence(tx, &lying).unwrap_err();
        assert!(e.to_string().contains("sequenceBatches"), "{e}");
        let mut rng = 0x1234_5678u64;
        for len in 0..300 {
            let mut junk = vec![0xb9, 0x10, 0xe0, 0xf9];
            for _ in 0..len {
                rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1);
                junk.push((rng >> 33) as u8);
            }
            let _ = decode_sequence(tx, &junk);
        }
    }
}
