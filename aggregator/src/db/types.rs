//! The rows the job database hands out.

use std::fmt;
use std::str::FromStr;
use std::time::SystemTime;

use zknode_witness::BatchWitness;

/// The id of a row of `proofs`.
pub type ProofId = i64;

/// What a proof covers and how it was made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProofKind {
    /// The STARK proof of one batch, from a prover.
    Batch,
    /// A recursive proof of two adjacent proofs (batch or aggregate).
    Aggregate,
    /// The proof settled on L1, made from a batch or aggregate proof.
    Final,
}

impl ProofKind {
    /// The name stored in the `kind` column.
    pub fn as_str(self) -> &'static str {
        match self {
            ProofKind::Batch => "batch",
            ProofKind::Aggregate => "aggregate",
            ProofKind::Final => "final",
        }
    }
}

impl fmt::Display for ProofKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ProofKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "batch" => Ok(ProofKind::Batch),
            "aggregate" => Ok(ProofKind::Aggregate),
            "final" => Ok(ProofKind::Final),
            other => Err(format!(
                "proof kind {other:?} is none of batch, aggregate, final"
            )),
        }
    }
}

/// A row of `proofs` without its bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProofInfo {
    pub id: ProofId,
    pub first: u64,
    pub last: u64,
    pub kind: ProofKind,
    /// The size of the stored proof; `None` while it is a job (queued or generating).
    pub proof_len: Option<u64>,
    /// The prover that holds or last held the job, or that made the proof.
    pub prover_id: Option<String>,
    /// Set while the row is locked: a job being generated, or a stored proof being aggregated
    /// or finalized.
    pub locked_at: Option<SystemTime>,
    /// How many times the job was handed out.
    pub attempts: u32,
    pub created_at: SystemTime,
    pub updated_at: SystemTime,
}

impl ProofInfo {
    /// Whether the proof bytes are stored.
    pub fn is_stored(&self) -> bool {
        self.proof_len.is_some()
    }

    /// Whether the row is locked.
    pub fn is_locked(&self) -> bool {
        self.locked_at.is_some()
    }
}

/// A stored proof with its bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredProof {
    pub info: ProofInfo,
    pub bytes: Vec<u8>,
}

/// A batch handed to a prover by [`super::Db::lock_next_unproven_batch`].
#[derive(Clone, Debug)]
pub struct BatchJob {
    /// The row of the job; [`super::Db::store_proof`] completes it.
    pub proof_id: ProofId,
    pub batch: u64,
    /// How many times this batch was handed out, this time included.
    pub attempts: u32,
    pub witness: BatchWitness,
}

/// Two adjacent proofs to aggregate, from [`super::Db::lock_next_aggregation_pair`]. Both are
/// locked, and a generating `aggregate` row covers `first..=last`.
#[derive(Clone, Debug)]
pub struct AggregationJob {
    /// The generating row of the combined proof.
    pub proof_id: ProofId,
    pub first: u64,
    pub last: u64,
    pub left: StoredProof,
    pub right: StoredProof,
}

/// A proof to make final, from [`super::Db::lock_final`]: the source is locked and a
/// generating `final` row covers the same range.
#[derive(Clone, Debug)]
pub struct FinalJob {
    /// The generating row of the final proof.
    pub proof_id: ProofId,
    pub first: u64,
    pub last: u64,
    pub source: StoredProof,
}

/// A settlement: batches `first_batch..=last_batch` verified on L1 with a final proof.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    pub first_batch: u64,
    pub last_batch: u64,
    pub final_proof_id: ProofId,
    /// The L1 transaction, where the settlement step reports one.
    pub tx_hash: Option<String>,
    pub recorded_at: SystemTime,
}

/// What [`super::Db::clean_stuck_locks`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CleanReport {
    /// Batch jobs whose lock was cleared: they are queued again.
    pub requeued_batches: u64,
    /// Generating aggregate and final rows removed.
    pub removed_jobs: u64,
    /// Stored proofs unlocked (children of removed aggregations, sources of removed finals).
    pub unlocked_proofs: u64,
}

impl CleanReport {
    /// Whether anything was cleaned.
    pub fn is_empty(&self) -> bool {
        *self == CleanReport::default()
    }
}
