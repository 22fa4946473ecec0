//! A batch on a prover: hand it over, wait for the proof, check that it proves the batch's
//! statement (a [`ProofFault`] benches the prover), wrap it, and store it.

use super::*;

impl Scheduler {
    /// One locked batch on one prover: send it, wait, check, wrap, store. Whatever goes wrong,
    /// the batch is queued again.
    pub(super) async fn prove_batch(&self, prover: &ProverHandle, job: BatchJob) -> Result<()> {
        let id = prover.prover_id();
        let n = job.batch;
        tracing::info!(prover = %id, batch = n, attempt = job.attempts, "batch {n} sent to {id}");
        let outcome = self.batch_on_prover(prover, n, &job.witness).await;
        match outcome {
            Ok(bytes) => {
                if let Err(e) = self
                    .db
                    .store_proof(n, n, ProofKind::Batch, &bytes, id)
                    .await
                {
                    let _ = self.db.release_lock(n, n, ProofKind::Batch, id).await;
                    return Err(anyhow::Error::new(e).context(format!(
                        "storing the proof of batch {n}; it is queued again"
                    )));
                }
                tracing::info!(prover = %id, batch = n, "batch {n} proved, checked and wrapped");
                Ok(())
            }
            Err(e) => {
                if let Some(fault) = e.fault() {
                    let why = format!("invalid batch proof from prover {id}: {}", fault.report());
                    self.bench(id, &why);
                }
                self.db.release_lock(n, n, ProofKind::Batch, id).await?;
                Err(anyhow::Error::new(e).context(format!("batch {n} is queued again")))
            }
        }
    }

    async fn batch_on_prover(
        &self,
        prover: &ProverHandle,
        n: u64,
        witness: &zknode_witness::BatchWitness,
    ) -> Result<Vec<u8>, JobError> {
        let expected: Statement = witness
            .public_inputs()
            .with_context(|| format!("the witness of batch {n} does not check"))?;
        // Known before the prover spends its time: a batch whose predecessors are missing is
        // not sent.
        let acc = self.acc_before(n).await?;
        let job = prover.gen_batch_proof(witness).await?;
        let bytes = self.wait_for(prover, &job).await?;
        // Every proof is checked before it is kept.
        let checked = check_batch_proof(&bytes, &expected).map_err(|fault| JobError::Fault {
            prover_id: prover.prover_id().to_string(),
            fault,
        })?;
        let circuits = self.circuits.clone();
        let _lane = self
            .recursion_lane
            .acquire()
            .await
            .map_err(anyhow::Error::new)?;
        // The proof checked: wrapping it can only fail here, not at the prover.
        let wrap = tokio::task::spawn_blocking(move || circuits.wrap(&checked, acc))
            .await
            .map_err(anyhow::Error::new)?
            .map_err(anyhow::Error::new)?;
        Ok(wrap.to_bytes())
    }

    /// Polls a prover's job until it ends or the job timeout passes (then it is cancelled).
    pub(super) async fn wait_for(
        &self,
        prover: &ProverHandle,
        job: &str,
    ) -> Result<Vec<u8>, JobError> {
        let start = Instant::now();
        let prover_id = || prover.prover_id().to_string();
        loop {
            let left = self.config.job_timeout.saturating_sub(start.elapsed());
            if left.is_zero() {
                let _ = prover.cancel(job).await;
                return Err(JobError::TimedOut {
                    prover_id: prover_id(),
                    job: job.to_string(),
                    after: self.config.job_timeout,
                });
            }
            match prover.get_proof(job, self.config.poll.min(left)).await? {
                GetProofOutcome::Ok(bytes) => return Ok(bytes),
                GetProofOutcome::Pending => continue,
                GetProofOutcome::Error(message) => {
                    return Err(JobError::Failed {
                        prover_id: prover_id(),
                        job: job.to_string(),
                        message,
                    })
                }
                GetProofOutcome::Cancelled => {
                    return Err(JobError::Cancelled {
                        prover_id: prover_id(),
                        job: job.to_string(),
                    })
                }
            }
        }
    }

    /// The batch accumulator before batch `n`: zero before the first batch in the database,
    /// then one step per batch.
    async fn acc_before(&self, n: u64) -> Result<[u64; 4]> {
        let numbers = self.db.batch_numbers().await?;
        let first = *numbers.first().context("no batches in the database")?;
        ensure!(n >= first, "batch {n} is before the first batch {first}");
        let mut acc = [0u64; 4];
        for b in first..n {
            if let Some(a) = lock(&self.acc_after).get(&(first, b)) {
                acc = *a;
                continue;
            }
            let w = self
                .db
                .batch_witness(b)
                .await?
                .with_context(|| format!("batch {b} is missing from the database"))?;
            let s = w
                .public_inputs()
                .with_context(|| format!("the witness of batch {b} does not check"))?;
            acc = acc_step(acc, &s);
            lock(&self.acc_after).insert((first, b), acc);
        }
        Ok(acc)
    }
}

/// Reads a batch proof a prover returned, verifies it, and checks that it proves `expected`.
fn check_batch_proof(bytes: &[u8], expected: &Statement) -> Result<BatchProof, ProofFault> {
    let proof = BatchProof::from_bytes(bytes).map_err(ProofFault::malformed)?;
    let stated = proof.verify().map_err(ProofFault::invalid)?;
    if stated != *expected {
        return Err(ProofFault::wrong_statement(expected, &stated));
    }
    Ok(proof)
}
