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
    Ok(())
}
