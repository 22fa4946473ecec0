//! Relaying to the sequencer. A node that does not sequence (an extra JSON-RPC process beside
//! the sequencer, reading the same state) has no pool that blocks are made from: it forwards
//! `eth_sendRawTransaction` to the sequencer's JSON-RPC and answers with the sequencer's
//! answer, as zkevm-node does, and asks the sequencer for pending nonces, which only its pool
//! knows (a wallet that got the latest block's nonce instead would reuse a nonce already
//! waiting there).
//!
//! A call that reaches the sequencer is answered as the sequencer answered it: its result, or
//! its error code, message and data unchanged. A call that does not (connection refused, time
//! out, an answer that is not JSON-RPC) is `-32000` "failed to relay … to the sequencer", with
//! the cause in this node's log rather than in the answer: the sequencer's address is the
//! operator's business.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::{json, Value};

use crate::RpcError;

/// How long a relayed call may take, connecting included.
const TIMEOUT: Duration = Duration::from_secs(30);

/// A JSON-RPC client of the sequencer, over plain HTTP (keep-alive connections are reused).
#[derive(Debug)]
pub struct Relay {
    url: String,
    client: reqwest::Client,
    next_id: AtomicU64,
}

/// Checks a sequencer URL: `http://HOST[:PORT][/PATH]`. TLS is not built in: run the relay over
/// a private network, or put a TLS proxy beside the node.
pub fn check_sequencer_url(url: &str) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("sequencer URL {url:?}: {e}"))?;
    if parsed.scheme() != "http" || parsed.host_str().is_none() {
        return Err(format!(
            "sequencer URL {url:?}: expected http://HOST:PORT (https is not built in)"
        ));
    }
    Ok(())
}

impl Relay {
    /// A relay to the JSON-RPC at `url` (see [`check_sequencer_url`]).
    pub fn new(url: &str) -> Result<Relay, String> {
        check_sequencer_url(url)?;
        let client = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .build()
            .map_err(|e| format!("the HTTP client for the sequencer: {e}"))?;
        Ok(Relay {
            url: url.to_string(),
            client,
            next_id: AtomicU64::new(1),
        })
    }

    /// Where calls go.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Calls `method` on the sequencer with `params`: its result, or its error as it gave it.
    pub(crate) async fn call(&self, method: &str, params: Value) -> Result<Value, RpcError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let body = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let failed = |why: String| {
            tracing::warn!(target: "rpc", sequencer = %self.url, method, "relaying: {why}");
            RpcError::server(format!("failed to relay {method} to the sequencer"))
        };
        let response = self
            .client
            .post(&self.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_string())
            .send()
            .await
            .map_err(|e| failed(causes(&e)))?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| failed(causes(&e)))?;
        let answer: Value = serde_json::from_slice(&bytes)
            .map_err(|e| failed(format!("HTTP {status}, not a JSON-RPC answer: {e}")))?;
        if let Some(e) = answer.get("error") {
            let code = e
                .get("code")
                .and_then(Value::as_i64)
                .and_then(|c| i32::try_from(c).ok())
                .ok_or_else(|| failed(format!("an error without a code: {e}")))?;
            let message = e
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            let data = match e.get("data") {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) => Some(s.clone()),
                Some(other) => Some(other.to_string()),
            };
            return Err(RpcError {
                code,
                message,
                data,
            });
        }
        match answer.get("result") {
            Some(r) => Ok(r.clone()),
            None => Err(failed(format!("HTTP {status}, an answer without a result"))),
        }
    }
}

/// An error and its causes, one after the other (reqwest's own text leaves the cause out).
fn causes(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cur = c.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_http_urls_are_taken() {
        assert!(check_sequencer_url("http://127.0.0.1:8545").is_ok());
        assert!(check_sequencer_url("http://sequencer.internal:8545/rpc").is_ok());
        for bad in ["", "127.0.0.1:8545", "https://x:1", "ws://x:1", "http://"] {
            let e = check_sequencer_url(bad).unwrap_err();
            assert!(e.contains("sequencer URL"), "{bad}: {e}");
        }
    }

    #[tokio::test]
    async fn an_unreachable_sequencer_is_a_server_error() {
        // A port nothing listens on: bound, then closed.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let r = Relay::new(&format!("http://127.0.0.1:{port}")).unwrap();
        let e = r
            .call("eth_sendRawTransaction", json!(["0x00"]))
            .await
            .unwrap_err();
        assert_eq!(e.code, crate::error::SERVER_ERROR);
        assert_eq!(
            e.message,
            "failed to relay eth_sendRawTransaction to the sequencer"
        );
    }
}
