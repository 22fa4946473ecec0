//! The protocol between the zkNode aggregator and its provers (`aggregator.proto`): prost
//! messages and the tonic client and server in [`pb`], the protocol version, and the batch
//! witness in protobuf form ([`witness`]).
//!
//! The aggregator is the gRPC server of [`pb::aggregator_service_server::AggregatorService`];
//! each prover dials in with [`pb::aggregator_service_client::AggregatorServiceClient`] and
//! holds one bidirectional `Channel` stream. The prover's first message is a
//! [`pb::Hello`]; after it the aggregator sends [`pb::AggregatorMessage`] requests and the prover
//! answers each with a [`pb::ProverMessage`] carrying the same id. See the comments of
//! `proto/aggregator.proto` for every message.

pub mod witness;

pub use witness::WitnessMessageError;

/// The generated protobuf messages and gRPC stubs of package `zknode.aggregator.v1`.
#[allow(clippy::all, missing_docs)]
pub mod pb {
    tonic::include_proto!("zknode.aggregator.v1");
}

/// The protocol version this build speaks. A prover whose Hello names another version is
/// refused.
pub const PROTOCOL_VERSION: u32 = 1;

/// The largest message either side sends or accepts (a witness of a large batch, or a proof):
/// 512 MiB. tonic's default of 4 MiB is too small for either.
pub const MAX_MESSAGE_BYTES: usize = 512 << 20;

/// The gRPC status code with which the aggregator refuses a prover of another protocol version.
pub const VERSION_MISMATCH_CODE: tonic::Code = tonic::Code::FailedPrecondition;

/// The message of the refusal of a prover speaking `prover` to an aggregator speaking
/// `aggregator`; it names both versions.
pub fn version_mismatch_message(prover: u32, aggregator: u32) -> String {
    format!(
        "protocol version mismatch: the prover speaks version {prover}, this aggregator speaks version {aggregator}"
    )
}

impl std::fmt::Display for pb::ResultCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            pb::ResultCode::Unspecified => "unspecified",
            pb::ResultCode::Ok => "ok",
            pb::ResultCode::Error => "error",
            pb::ResultCode::Pending => "pending",
            pb::ResultCode::Cancelled => "cancelled",
            pb::ResultCode::InternalError => "internal error",
            pb::ResultCode::Busy => "busy",
        })
    }
}

impl pb::aggregator_message::Request {
    /// The request's name, for logs and errors (`GetStatus`, `GenBatchProof`, …).
    pub fn name(&self) -> &'static str {
        use pb::aggregator_message::Request as R;
        match self {
            R::GetStatus(_) => "GetStatus",
            R::GenBatchProof(_) => "GenBatchProof",
            R::GenAggregatedProof(_) => "GenAggregatedProof",
            R::GenFinalProof(_) => "GenFinalProof",
            R::GetProof(_) => "GetProof",
            R::Cancel(_) => "Cancel",
        }
    }
}

impl pb::prover_message::Response {
    /// The response's name, for logs and errors (`Hello`, `GetStatus`, …).
    pub fn name(&self) -> &'static str {
        use pb::prover_message::Response as R;
        match self {
            R::Hello(_) => "Hello",
            R::GetStatus(_) => "GetStatus",
            R::GenBatchProof(_) => "GenBatchProof",
            R::GenAggregatedProof(_) => "GenAggregatedProof",
            R::GenFinalProof(_) => "GenFinalProof",
            R::GetProof(_) => "GetProof",
            R::Cancel(_) => "Cancel",
            R::RequestError(_) => "RequestError",
        }
    }
}
