//! The aggregator's own recursion: aggregate adjacent proofs on a recursion prover (or here),
//! make the final proof, check it, and hand it to the settlement step.

use super::*;

impl Scheduler {
    /// Aggregates adjacent proofs while there are any, then makes and settles the final proof.
    pub(super) async fn recursion_loop(self: Arc<Self>) {
        loop {
            match self.step().await {
                Ok(true) => continue,
                Ok(false) => {}
                Err(e) => tracing::warn!("{e:#}"),
            }
            tokio::time::sleep(self.config.tick).await;
        }
    }

    /// One aggregation or one final proof; `Ok(false)` when there was nothing to do.
    async fn step(&self) -> Result<bool> {
        // A final proof whose settlement failed goes first.
        let pending = *lock(&self.unsettled);
        if let Some(id) = pending {
            self.settle_stored(id, None, "again").await?;
            return Ok(true);
        }
        let paused = lock(&self.aggregation_paused_until).is_some_and(|t| Instant::now() < t);
        if !paused {
            if let Some(job) = self
                .db
                .lock_next_aggregation_pair(AGGREGATOR_ID, SystemTime::now())
                .await?
            {
                let (first, last) = (job.first, job.last);
                tracing::info!(
                    "aggregating {}..={} and {}..={}",
                    job.left.info.first,
                    job.left.info.last,
                    job.right.info.first,
                    job.right.info.last
                );
                let t = Instant::now();
                let made = match self.aggregate(&job.left.bytes, &job.right.bytes).await {
                    Ok(bytes) => self
                        .db
                        .store_proof(first, last, ProofKind::Aggregate, &bytes, AGGREGATOR_ID)
                        .await
                        .map_err(anyhow::Error::new),
                    Err(e) => Err(e),
                };
                match made {
                    Ok(_) => {
                        tracing::info!(
                            "aggregated batches {first}..={last} in {:.2?}",
                            t.elapsed()
                        );
                        return Ok(true);
                    }
                    Err(e) => {
                        self.db
                            .release_lock(first, last, ProofKind::Aggregate, AGGREGATOR_ID)
                            .await?;
                        // The final proof of what is aggregated already need not wait for it.
                        *lock(&self.aggregation_paused_until) =
                            Some(Instant::now() + AGGREGATION_RETRY);
                        tracing::warn!(
                            "aggregating batches {first}..={last} failed, retried in {AGGREGATION_RETRY:?}: {e:#}"
                        );
                    }
                }
            }
        }
        let last_verified = self.db.last_verified_batch().await?;
        let Some(info) = self.db.longest_contiguous_from(last_verified + 1).await? else {
            return Ok(false);
        };
        let newest = self.db.batch_numbers().await?.last().copied().unwrap_or(0);
        let waited = SystemTime::now()
            .duration_since(info.updated_at)
            .unwrap_or_default();
        if info.last < newest && waited < self.config.final_after {
            return Ok(false);
        }
        let job = match self
            .db
            .lock_final(info.id, AGGREGATOR_ID, SystemTime::now())
            .await
        {
            Ok(Some(job)) => job,
            Ok(None) => return Ok(false),
            // Made by an earlier run that stopped before settling it: settle that one.
            Err(DbError::AlreadyStored { id, .. }) => {
                self.settle_stored(id, Some((info.first, info.last)), "made earlier")
                    .await?;
                return Ok(true);
            }
            Err(e) => return Err(e.into()),
        };
        let (first, last) = (job.first, job.last);
        tracing::info!("final proof of batches {first}..={last}");
        let t = Instant::now();
        let made = self.finalize(&job.source.bytes).await;
        let (bytes, statement) = match made {
            Ok(x) => x,
            Err(e) => {
                self.db
                    .release_lock(first, last, ProofKind::Final, AGGREGATOR_ID)
                    .await?;
                return Err(e.context(format!("the final proof of batches {first}..={last}")));
            }
        };
        let id = match self
            .db
            .store_proof(first, last, ProofKind::Final, &bytes, AGGREGATOR_ID)
            .await
        {
            Ok(id) => id,
            Err(e) => {
                let _ = self
                    .db
                    .release_lock(first, last, ProofKind::Final, AGGREGATOR_ID)
                    .await;
                return Err(anyhow::Error::new(e).context(format!(
                    "storing the final proof of batches {first}..={last}"
                )));
            }
        };
        tracing::info!(
            "final proof of batches {first}..={last} in {:.2?}",
            t.elapsed()
        );
        self.settle(id, bytes, statement).await?;
        Ok(true)
    }

    /// Hands a stored final proof to the settlement step and records the batches verified.
    /// A failure leaves the proof to be settled again on the next step.
    /// Settles the stored final proof `id` after checking it against `range` (its own range
    /// when `None`); `when` ends the log line ("again", "made earlier").
    async fn settle_stored(
        &self,
        id: ProofId,
        range: Option<(u64, u64)>,
        when: &str,
    ) -> Result<()> {
        let stored = self
            .db
            .stored_proof(id)
            .await?
            .with_context(|| format!("final proof {id} is gone"))?;
        let (first, last) = (stored.info.first, stored.info.last);
        let (want_first, want_last) = range.unwrap_or((first, last));
        let statement = self
            .check_final(&stored.bytes, want_first, want_last)
            .with_context(|| format!("the stored final proof of {first}..={last}"))?;
        tracing::info!("settling the final proof of batches {first}..={last} {when}");
        self.settle(id, stored.bytes, statement).await
    }

    async fn settle(&self, id: ProofId, bytes: Vec<u8>, statement: FinalStatement) -> Result<()> {
        let last = statement.range.last_batch;
        *lock(&self.unsettled) = Some(id);
        let settlement = self.settlement.clone();
        let tx = tokio::task::spawn_blocking(move || settlement.settle(&bytes, &statement))
            .await?
            .with_context(|| format!("settling batches up to {last}"))?;
        self.db
            .record_verified(last, id, tx.as_deref(), SystemTime::now())
            .await
            .with_context(|| format!("recording batches up to {last} as verified"))?;
        *lock(&self.unsettled) = None;
        tracing::info!("batches up to {last} verified");
        Ok(())
    }

    /// Verifies a final proof: it must cover `first..=last` and name this aggregator.
    fn check_final(
        &self,
        bytes: &[u8],
        first: u64,
        last: u64,
    ) -> Result<FinalStatement, ProofFault> {
        let proof = self
            .circuits
            .read_final(bytes)
            .map_err(ProofFault::malformed)?;
        let statement = self
            .circuits
            .verify_final(&proof)
            .map_err(ProofFault::invalid)?;
        let address = self.config.aggregator_address;
        if (statement.range.first_batch, statement.range.last_batch) != (first, last)
            || statement.aggregator != address
        {
            return Err(ProofFault::WrongStatement {
                expected: format!(
                    "batches {first}..={last} for this aggregator (0x{})",
                    hex::encode(address)
                ),
                got: format!("{statement:?}"),
            });
        }
        Ok(statement)
    }

    /// An idle prover that can do recursion, when the configuration says to use one; it gets
    /// no batch until the [`Taken`] guard drops.
    fn take_recursion_prover(&self) -> Option<(ProverHandle, Taken)> {
        if !self.config.recursion_on_provers {
            return None;
        }
        self.registry.provers().into_iter().find_map(|p| {
            let slot = self.slots.try_take_recursion(&p)?;
            Some((p, slot))
        })
    }

    /// A recursive proof: on an idle prover when the configuration says so (when it fails, the
    /// proof is made here instead, and a prover that returned a proof `check` refuses is
    /// benched), else here, one at a time. Whatever made it, `check` decides what is kept.
    async fn recursive_proof<T>(
        &self,
        what: &str,
        request: RecursionRequest<'_>,
        local: impl FnOnce() -> Result<Vec<u8>> + Send + 'static,
        check: impl Fn(Vec<u8>) -> Result<T, ProofFault>,
    ) -> Result<T> {
        if let Some((p, slot)) = self.take_recursion_prover() {
            let id = p.prover_id();
            tracing::info!(prover = %id, "{what} sent to {id}");
            let made: Result<Vec<u8>, JobError> = async {
                let job = match request {
                    RecursionRequest::Aggregate(left, right) => {
                        p.gen_aggregated_proof(left, right).await?
                    }
                    RecursionRequest::Final(source, address) => {
                        p.gen_final_proof(source, address).await?
                    }
                };
                self.wait_for(&p, &job).await
            }
            .await;
            drop(slot);
            let checked = made.and_then(|bytes| {
                check(bytes).map_err(|fault| JobError::Fault {
                    prover_id: id.to_string(),
                    fault,
                })
            });
            match checked {
                Ok(out) => return Ok(out),
                Err(e) => {
                    if let Some(fault) = e.fault() {
                        let why = format!("invalid {what} from prover {id}: {}", fault.report());
                        self.bench(id, &why);
                    } else {
                        let e = anyhow::Error::new(e);
                        tracing::warn!(prover = %id, "{what} on prover {id}: {e:#}; made here instead");
                    }
                }
            }
        }
        let _lane = self.recursion_lane.acquire().await?;
        let bytes = tokio::task::spawn_blocking(local).await??;
        check(bytes).with_context(|| format!("the {what} made here does not check"))
    }

    async fn aggregate(&self, left: &[u8], right: &[u8]) -> Result<Vec<u8>> {
        let c = self.circuits.clone();
        let l = c.read_recursive(left).context("the left proof")?;
        let r = c.read_recursive(right).context("the right proof")?;
        let expected = l.statement()?.then(&r.statement()?)?;
        let what = format!(
            "aggregation of {}..={}",
            expected.first_batch, expected.last_batch
        );
        let circuits = c.clone();
        self.recursive_proof(
            &what,
            RecursionRequest::Aggregate(left, right),
            move || Ok(circuits.aggregate(&l, &r)?.to_bytes()),
            |bytes| {
                let proof = c.read_recursive(&bytes).map_err(ProofFault::malformed)?;
                let got = c.verify(&proof).map_err(ProofFault::invalid)?;
                if got != expected {
                    return Err(ProofFault::wrong_statement(&expected, &got));
                }
                Ok(bytes)
            },
        )
        .await
    }

    async fn finalize(&self, source: &[u8]) -> Result<(Vec<u8>, FinalStatement)> {
        let c = self.circuits.clone();
        let p = c.read_recursive(source)?;
        let range: RangeStatement = p.statement()?;
        let address = self.config.aggregator_address;
        let what = format!(
            "final proof of {}..={}",
            range.first_batch, range.last_batch
        );
        self.recursive_proof(
            &what,
            RecursionRequest::Final(source, address),
            move || Ok(c.finalize(&p, address)?.to_bytes()),
            |bytes| {
                let statement = self.check_final(&bytes, range.first_batch, range.last_batch)?;
                if statement.range != range {
                    return Err(ProofFault::wrong_statement(&range, &statement.range));
                }
                Ok((bytes, statement))
            },
        )
        .await
    }
}
