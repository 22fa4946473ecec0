//! Block parameters: a number, a tag, or an EIP-1898 object.

use alloy_primitives::B256;
use serde_json::Value;

use crate::error::RpcError;

/// Which block a call is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockId {
    Number(u64),
    Earliest,
    Latest,
    /// The block in progress; for state, the same as latest, and for nonces, the pool's view.
    Pending,
    /// The last block of the last batch sequenced on L1 (virtual).
    Safe,
    /// The last block of the last batch verified on L1.
    Finalized,
    Hash(B256),
}

/// Parses a quantity: `0x`-prefixed hex without leading zeros, as execution-apis writes them
/// (leading zeros are tolerated, as geth does).
pub fn parse_quantity(s: &str) -> Result<u64, RpcError> {
    let hex = s
        .strip_prefix("0x")
        .or_else(|| s.strip_prefix("0X"))
        .ok_or_else(|| RpcError::invalid_params(format!("{s:?} is not a hex quantity")))?;
    if hex.is_empty() || hex.len() > 16 {
        return Err(RpcError::invalid_params(format!(
            "{s:?} is not a 64-bit hex quantity"
        )));
    }
    u64::from_str_radix(hex, 16)
        .map_err(|_| RpcError::invalid_params(format!("{s:?} is not a hex quantity")))
}

impl BlockId {
    /// From a JSON-RPC parameter; an absent one means `latest`.
    pub fn parse(v: Option<&Value>) -> Result<BlockId, RpcError> {
        let Some(v) = v else {
            return Ok(BlockId::Latest);
        };
        match v {
            Value::Null => Ok(BlockId::Latest),
            Value::String(s) => match s.as_str() {
                "latest" | "" => Ok(BlockId::Latest),
                "earliest" => Ok(BlockId::Earliest),
                "pending" => Ok(BlockId::Pending),
                "safe" => Ok(BlockId::Safe),
                "finalized" => Ok(BlockId::Finalized),
                // A block hash, as geth's block-number-or-hash parameters also take one bare.
                h if h.len() == 66 && h.starts_with("0x") => h
                    .parse::<B256>()
                    .map(BlockId::Hash)
                    .map_err(|e| RpcError::invalid_params(format!("block hash {h:?}: {e}"))),
                other => parse_quantity(other).map(BlockId::Number),
            },
            Value::Object(o) => {
                if let Some(h) = o.get("blockHash") {
                    let h: B256 = serde_json::from_value(h.clone())
                        .map_err(|e| RpcError::invalid_params(format!("blockHash: {e}")))?;
                    return Ok(BlockId::Hash(h));
                }
                if let Some(n) = o.get("blockNumber") {
                    return BlockId::parse(Some(n));
                }
                Err(RpcError::invalid_params(
                    "a block object needs blockHash or blockNumber",
                ))
            }
            other => Err(RpcError::invalid_params(format!(
                "{other} is not a block number, tag or object"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_numbers_and_objects() {
        let p = |s: &str| BlockId::parse(Some(&serde_json::from_str(s).unwrap()));
        assert_eq!(p("\"latest\"").unwrap(), BlockId::Latest);
        assert_eq!(p("\"0x10\"").unwrap(), BlockId::Number(16));
        assert_eq!(p("\"pending\"").unwrap(), BlockId::Pending);
        assert_eq!(
            p("\"0x0000000000000000000000000000000000000000000000000000000000000002\"").unwrap(),
            BlockId::Hash(B256::with_last_byte(2))
        );
        assert_eq!(p("{\"blockNumber\":\"0x2\"}").unwrap(), BlockId::Number(2));
        assert!(matches!(
            p("{\"blockHash\":\"0x0000000000000000000000000000000000000000000000000000000000000001\"}").unwrap(),
            BlockId::Hash(_)
        ));
        for bad in [
            "\"0x\"",
            "\"12\"",
            "\"newest\"",
            "5",
            "{}",
            "\"0x10000000000000000\"",
        ] {
            assert!(p(bad).is_err(), "{bad}");
        }
        assert_eq!(BlockId::parse(None).unwrap(), BlockId::Latest);
    }
}
