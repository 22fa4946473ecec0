//! JSON-RPC errors, with the codes Ethereum clients expect.

use jsonrpsee::types::ErrorObjectOwned;

/// An error answered to a JSON-RPC call.
#[derive(Debug)]
pub struct RpcError {
    pub code: i32,
    pub message: String,
    /// Revert data, for code 3.
    pub data: Option<String>,
}

/// The default server error (and every pool refusal, as zkevm-node and geth answer them).
pub const SERVER_ERROR: i32 = -32000;
pub const INVALID_PARAMS: i32 = -32602;
pub const INTERNAL_ERROR: i32 = -32603;
/// `execution reverted`, with the revert data.
pub const REVERTED: i32 = 3;

impl RpcError {
    pub fn server(message: impl Into<String>) -> Self {
        Self {
            code: SERVER_ERROR,
            message: message.into(),
            data: None,
        }
    }

    pub fn invalid_params(message: impl Into<String>) -> Self {
        Self {
            code: INVALID_PARAMS,
            message: message.into(),
            data: None,
        }
    }

    /// An internal failure: logged in full, answered without the node's internals.
    pub fn internal(what: &str, e: impl std::fmt::Display) -> Self {
        tracing::error!(target: "rpc", error = %e, "{what}");
        Self {
            code: INTERNAL_ERROR,
            message: format!("internal error: {what}"),
            data: None,
        }
    }

    pub fn reverted(reason: Option<&str>, data: &[u8]) -> Self {
        Self {
            code: REVERTED,
            message: match reason {
                // The executor's own text for a revert without a decodable reason.
                Some(r) if r.starts_with("execution reverted") => r.to_string(),
                Some(r) if !r.is_empty() => format!("execution reverted: {r}"),
                _ => "execution reverted".into(),
            },
            data: Some(format!("0x{}", hex::encode(data))),
        }
    }
}

impl From<RpcError> for ErrorObjectOwned {
    fn from(e: RpcError) -> Self {
        ErrorObjectOwned::owned(e.code, e.message, e.data)
    }
}

impl From<zknode_storage::StorageError> for RpcError {
    fn from(e: zknode_storage::StorageError) -> Self {
        RpcError::internal("state database", e)
    }
}

pub type RpcResult<T> = Result<T, ErrorObjectOwned>;
