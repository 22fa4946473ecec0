//! The prover farm, the aggregator's side of the prover protocol (`proto/aggregator.proto`): the
//! gRPC server provers dial into, the registry of connected provers, and a handle per prover to
//! send it requests.
//!
//! Each `zkprover serve` opens one `Channel` stream and sends a Hello. The server checks the
//! Hello (a prover of another protocol version is refused with FAILED_PRECONDITION and a message
//! naming both versions; a second session under a prover id already connected is refused with
//! ALREADY_EXISTS), registers a [`ProverHandle`] and announces it as
//! [`ProverEvent::Connected`]. When the stream ends (the prover closed it, its process died, the
//! connection failed keep-alive), every call in flight on the handle fails at once with
//! [`ProverError::Disconnected`], the prover leaves the registry and
//! [`ProverEvent::Disconnected`] is announced.
//!
//! ```no_run
//! # async fn f() -> anyhow::Result<()> {
//! use std::time::Duration;
//! use zknode_aggregator::farm::{GetProofOutcome, ProverServer, Registry};
//! let server = ProverServer::bind("127.0.0.1:50081".parse()?, Registry::new()).await?;
//! let prover = server.registry().wait_for_any(Duration::from_secs(60)).await.unwrap();
//! let job = prover.gen_batch_proof(&zknode_witness::random_witness(8, 1)).await?;
//! match prover.get_proof(&job, Duration::from_secs(600)).await? {
//!     GetProofOutcome::Ok(proof) => println!("{} bytes", proof.len()),
//!     other => println!("{other:?}"),
//! }
//! # Ok(()) }
//! ```
//!
//! The modules follow the protocol:
//!
//! | module | what |
//! |---|---|
//! | `server` | [`ProverServer`] and [`serve`]: the listening socket and the tonic server |
//! | `service` | the `Channel` stream of each prover: the Hello handshake, then its answers |
//! | `registry` | [`Registry`]: the connected provers by id, [`ProverEvent`]s, [`ProtocolConfig`] |
//! | `handle` | [`ProverHandle`]: one prover's session, requests matched to answers by id |
//! | `calls` | the requests of the protocol as typed methods of [`ProverHandle`] |
//! | `status` | [`ProverStatus`] and its [`Device`], from GetStatus |
//! | `error` | [`ProverError`] (why a call failed) and [`GetProofOutcome`] |

mod calls;
mod error;
mod handle;
mod registry;
mod server;
mod service;
mod status;

pub use error::{GetProofOutcome, ProverError};
pub use handle::ProverHandle;
pub use registry::{ProtocolConfig, ProverEvent, Registry};
pub use server::{serve, ProverServer};
pub use service::ProverService;
pub use status::{Device, DeviceKind, ProverStatus};

/// Locks `m`, ignoring poisoning.
fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
