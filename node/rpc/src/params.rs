//! Parameters: positional arrays, one value at a time with an error that says which and why;
//! the call object of `eth_call` and `eth_estimateGas`.

use alloy_primitives::{Address, Bytes, B256, U256};
use jsonrpsee::types::Params;
use serde::Deserialize;
use serde_json::Value;
use zknode_executor::CallRequest;

use crate::{parse_quantity, RpcError};

/// A call object (`eth_call`, `eth_estimateGas`).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CallArgs {
    from: Option<Address>,
    to: Option<Address>,
    gas: Option<String>,
    gas_price: Option<U256>,
    max_fee_per_gas: Option<U256>,
    max_priority_fee_per_gas: Option<U256>,
    value: Option<U256>,
    data: Option<Bytes>,
    input: Option<Bytes>,
    access_list: Option<Vec<AccessItem>>,
}

/// One entry of an access list.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct AccessItem {
    pub(crate) address: Address,
    pub(crate) storage_keys: Vec<B256>,
}

impl AccessItem {
    pub(crate) fn list(items: &[AccessItem]) -> zknode_executor::codec::AccessList {
        zknode_executor::codec::AccessList(
            items
                .iter()
                .map(|i| zknode_executor::codec::AccessListItem {
                    address: i.address,
                    storage_keys: i.storage_keys.clone(),
                })
                .collect(),
        )
    }
}

impl CallArgs {
    pub(crate) fn request(&self) -> Result<CallRequest, RpcError> {
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
            access_list: AccessItem::list(self.access_list.as_deref().unwrap_or_default()),
        })
    }
}

pub(crate) fn param<T: serde::de::DeserializeOwned>(
    v: &[Value],
    i: usize,
    what: &str,
) -> Result<T, RpcError> {
    let x = v.get(i).ok_or_else(|| {
        RpcError::invalid_params(format!("missing value for required argument {i}"))
    })?;
    serde_json::from_value(x.clone())
        .map_err(|e| RpcError::invalid_params(format!("invalid {what}: {e}")))
}

pub(crate) fn params_vec(p: &Params<'_>, max: usize) -> Result<Vec<Value>, RpcError> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
