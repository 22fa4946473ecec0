//! The `net` and `web3` namespaces.

use jsonrpsee::core::RegisterMethodError;
use jsonrpsee::RpcModule;
use serde_json::json;

use crate::NodeApi;

pub(crate) fn register(m: &mut RpcModule<NodeApi>) -> Result<(), RegisterMethodError> {
    method!(m, "net_version", 0, |_p, c| async move {
        Ok(json!(c.chain_id.to_string()))
    });
    method!(
        m,
        "net_listening",
        0,
        |_p, _c| async move { Ok(json!(true)) }
    );
    method!(m, "web3_clientVersion", 0, |_p, c| async move {
        Ok(json!(c.client_version))
    });
    // A rollup node has no peer-to-peer network: its peers are L1 and the sequencer.
    method!(
        m,
        "net_peerCount",
        0,
        |_p, _c| async move { Ok(json!("0x0")) }
    );
    method!(m, "web3_sha3", 1, |p, _c| async move {
        let data: alloy_primitives::Bytes = crate::params::param(&p, 0, "data")?;
        Ok(json!(alloy_primitives::keccak256(&data)))
    });
    Ok(())
}
