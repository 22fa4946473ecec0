//! The tonic service provers dial into: each `Channel` stream starts with the Hello handshake,
//! then becomes a [`ProverHandle`] in the registry until it ends.

use std::net::SocketAddr;

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};
use zknode_proto::pb;
use zknode_proto::pb::aggregator_service_server::{AggregatorService, AggregatorServiceServer};
use zknode_proto::pb::prover_message::Response as Resp;
use zknode_proto::{version_mismatch_message, MAX_MESSAGE_BYTES, PROTOCOL_VERSION};

use super::{ProtocolConfig, ProverHandle, Registry};

impl Registry {
    /// The tonic service to add to a server.
    pub fn service(&self) -> AggregatorServiceServer<ProverService> {
        AggregatorServiceServer::new(ProverService {
            registry: self.clone(),
        })
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES)
    }
}

/// The tonic service: one [`ProverHandle`] per `Channel` stream.
pub struct ProverService {
    registry: Registry,
}

#[tonic::async_trait]
impl AggregatorService for ProverService {
    type ChannelStream = ReceiverStream<Result<pb::AggregatorMessage, Status>>;

    async fn channel(
        &self,
        request: Request<Streaming<pb::ProverMessage>>,
    ) -> Result<Response<Self::ChannelStream>, Status> {
        let remote = request.remote_addr();
        let mut inbound = request.into_inner();
        let config = self.registry.config();
        let hello = hello(&mut inbound, config, remote).await?;
        let (tx, rx) = mpsc::channel(64);
        let session = self.registry.next_session();
        let handle = ProverHandle::new(hello, session, remote, config.request_timeout, tx);
        self.registry.insert(&handle)?;
        tracing::info!(
            "prover {} ({}, version {}) connected{} as session {session}",
            handle.prover_id(),
            handle.prover_name(),
            handle.version(),
            remote.map(|a| format!(" from {a}")).unwrap_or_default(),
        );
        let admit = handle.clone();
        let registry = self.registry.clone();
        tokio::spawn(async move {
            let closed = handle.closed();
            tokio::pin!(closed);
            let reason = loop {
                tokio::select! {
                    m = inbound.message() => match m {
                        Ok(Some(msg)) => handle.deliver(msg),
                        Ok(None) => break "the prover closed its stream".to_string(),
                        Err(status) => break format!("the stream failed: {}", status.message()),
                    },
                    reason = &mut closed => break reason,
                }
            };
            handle.close(&reason);
            registry.remove(&handle, reason);
        });
        // The prover becomes visible once its first status is in, so that a scheduler that
        // learns of it knows whether it is idle (it may still run a job from before a
        // reconnection) and what device it has.
        let registry = self.registry.clone();
        tokio::spawn(async move {
            if let Err(e) = admit.status().await {
                tracing::warn!("prover {}: no first status: {e}", admit.prover_id());
            }
            registry.announce(&admit);
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}

/// The handshake: the stream's first message must be a Hello, within the Hello timeout, naming
/// this build's protocol version and a prover id.
async fn hello(
    inbound: &mut Streaming<pb::ProverMessage>,
    config: &ProtocolConfig,
    remote: Option<SocketAddr>,
) -> Result<pb::Hello, Status> {
    let first = match tokio::time::timeout(config.hello_timeout, inbound.message()).await {
        Err(_) => {
            return Err(Status::deadline_exceeded(format!(
                "no Hello within {:?}",
                config.hello_timeout
            )))
        }
        Ok(Err(status)) => return Err(status),
        Ok(Ok(None)) => {
            return Err(Status::cancelled(
                "the stream ended before the prover's Hello",
            ))
        }
        Ok(Ok(Some(m))) => m,
    };
    let hello = match first.response {
        Some(Resp::Hello(h)) => h,
        other => {
            return Err(Status::invalid_argument(format!(
                "the first message of a prover must be a Hello, not {}",
                other.as_ref().map_or("an empty message", |r| r.name())
            )))
        }
    };
    if hello.protocol_version != PROTOCOL_VERSION || first.protocol_version != PROTOCOL_VERSION {
        let theirs = if hello.protocol_version != PROTOCOL_VERSION {
            hello.protocol_version
        } else {
            first.protocol_version
        };
        tracing::warn!(
            "refused prover {:?}{}: {}",
            hello.prover_id,
            remote.map(|a| format!(" at {a}")).unwrap_or_default(),
            version_mismatch_message(theirs, PROTOCOL_VERSION)
        );
        return Err(Status::new(
            zknode_proto::VERSION_MISMATCH_CODE,
            version_mismatch_message(theirs, PROTOCOL_VERSION),
        ));
    }
    if hello.prover_id.is_empty() {
        return Err(Status::invalid_argument("the Hello has an empty prover_id"));
    }
    Ok(hello)
}
