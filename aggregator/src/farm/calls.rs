//! The requests of the protocol, one typed method of [`ProverHandle`] each: GetStatus,
//! GenBatchProof, GenAggregatedProof, GenFinalProof, GetProof and Cancel.

use std::time::Duration;

use zknode_proto::pb::aggregator_message::Request as Req;
use zknode_proto::pb::prover_message::Response as Resp;
use zknode_proto::pb::{self, ResultCode};
use zknode_witness::BatchWitness;

use super::{GetProofOutcome, ProverError, ProverHandle, ProverStatus};

impl ProverHandle {
    /// Asks for the prover's status and refreshes what [`ProverHandle::is_idle`] knows.
    pub async fn status(&self) -> Result<ProverStatus, ProverError> {
        match self.call(Req::GetStatus(pb::GetStatusRequest {})).await? {
            Resp::GetStatus(s) => {
                let status = ProverStatus::from(s);
                self.record_status(&status);
                Ok(status)
            }
            other => Err(self.unexpected("GetStatus", &other)),
        }
    }

    /// A job's id from a Gen* answer; the prover is busy with it from now on.
    fn started(
        &self,
        request: &'static str,
        result: i32,
        job_id: String,
        error: String,
    ) -> Result<String, ProverError> {
        if result == ResultCode::Ok as i32 {
            self.job_started(&job_id);
            Ok(job_id)
        } else {
            Err(self.refused(request, result, error))
        }
    }

    /// Sends a batch witness to prove; returns the job id.
    pub async fn gen_batch_proof(&self, witness: &BatchWitness) -> Result<String, ProverError> {
        let request = Req::GenBatchProof(pb::GenBatchProofRequest {
            witness: Some(witness.into()),
        });
        match self.call(request).await? {
            Resp::GenBatchProof(r) => {
                self.started("GenBatchProof", r.result, r.job_id, r.error_message)
            }
            other => Err(self.unexpected("GenBatchProof", &other)),
        }
    }

    /// Asks the prover to aggregate two adjacent proofs; returns the job id.
    pub async fn gen_aggregated_proof(
        &self,
        left: &[u8],
        right: &[u8],
    ) -> Result<String, ProverError> {
        let request = Req::GenAggregatedProof(pb::GenAggregatedProofRequest {
            left: left.to_vec(),
            right: right.to_vec(),
        });
        match self.call(request).await? {
            Resp::GenAggregatedProof(r) => {
                self.started("GenAggregatedProof", r.result, r.job_id, r.error_message)
            }
            other => Err(self.unexpected("GenAggregatedProof", &other)),
        }
    }

    /// Asks the prover for the final proof of an aggregated proof; returns the job id.
    pub async fn gen_final_proof(
        &self,
        proof: &[u8],
        aggregator_address: [u8; 20],
    ) -> Result<String, ProverError> {
        let request = Req::GenFinalProof(pb::GenFinalProofRequest {
            proof: proof.to_vec(),
            aggregator_address: aggregator_address.to_vec(),
        });
        match self.call(request).await? {
            Resp::GenFinalProof(r) => {
                self.started("GenFinalProof", r.result, r.job_id, r.error_message)
            }
            other => Err(self.unexpected("GenFinalProof", &other)),
        }
    }

    /// Waits up to `wait` for job `job_id` to finish. The call's own timeout is `wait` plus the
    /// request timeout.
    pub async fn get_proof(
        &self,
        job_id: &str,
        wait: Duration,
    ) -> Result<GetProofOutcome, ProverError> {
        let request = Req::GetProof(pb::GetProofRequest {
            job_id: job_id.to_string(),
            timeout_ms: u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
        });
        let response = self
            .call_with_timeout(request, wait.saturating_add(self.request_timeout()))
            .await?;
        let Resp::GetProof(r) = response else {
            return Err(self.unexpected("GetProof", &response));
        };
        let outcome = match ResultCode::try_from(r.result) {
            Ok(ResultCode::Ok) => GetProofOutcome::Ok(r.proof),
            Ok(ResultCode::Pending) => GetProofOutcome::Pending,
            Ok(ResultCode::Cancelled) => GetProofOutcome::Cancelled,
            Ok(ResultCode::Error) | Ok(ResultCode::InternalError) => {
                GetProofOutcome::Error(r.error_message)
            }
            _ => GetProofOutcome::Error(format!(
                "result code {} with message {:?}",
                r.result, r.error_message
            )),
        };
        if outcome != GetProofOutcome::Pending {
            self.job_finished(job_id);
        }
        Ok(outcome)
    }

    /// Cancels job `job_id`; the prover discards its result.
    pub async fn cancel(&self, job_id: &str) -> Result<(), ProverError> {
        let request = Req::Cancel(pb::CancelRequest {
            job_id: job_id.to_string(),
        });
        match self.call(request).await? {
            Resp::Cancel(r) if r.result == ResultCode::Ok as i32 => {
                self.job_finished(job_id);
                Ok(())
            }
            Resp::Cancel(r) => Err(self.refused("Cancel", r.result, r.error_message)),
            other => Err(self.unexpected("Cancel", &other)),
        }
    }
}
