//! The settlement step: what happens to a final proof. The L1 call (`verifyBatchesTrustedAggregator`)
//! belongs to the L1 work; here is the interface and an implementation that records.

use std::fs::{self, OpenOptions};
use std::io::{self, Write as _};
use std::path::PathBuf;
use std::sync::Mutex;

use zknode_prover::recursion::FinalStatement;

/// Settles a final proof: sends it to L1 and returns the transaction id, if there is one.
pub trait Settlement: Send + Sync {
    fn settle(
        &self,
        proof: &[u8],
        statement: &FinalStatement,
    ) -> Result<Option<String>, SettlementError>;
}

/// Why a settlement failed. The final proof stays stored, and the scheduler settles it again.
#[derive(Debug, thiserror::Error)]
pub enum SettlementError {
    /// The folder the settlements are recorded in cannot be created.
    #[error("cannot create {}", .dir.display())]
    CreateDir {
        dir: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The final proof's file cannot be written.
    #[error("cannot write {}", .path.display())]
    WriteProof {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The settlement's line cannot be added to the record.
    #[error("cannot append to {}", .path.display())]
    AppendRecord {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// A settlement that records what it is given: in memory, and, when it has a directory, as
/// files there (`final-FIRST-LAST.bin` with the proof, and one JSON line per settlement in
/// `settlements.jsonl`), so that another process can read them.
#[derive(Default)]
pub struct Recording {
    dir: Option<PathBuf>,
    settled: Mutex<Vec<(FinalStatement, Vec<u8>)>>,
}

impl Recording {
    pub fn new(dir: Option<PathBuf>) -> Self {
        Self {
            dir,
            settled: Mutex::new(Vec::new()),
        }
    }

    /// Everything settled so far, in order.
    pub fn settled(&self) -> Vec<(FinalStatement, Vec<u8>)> {
        self.settled
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl Settlement for Recording {
    fn settle(&self, proof: &[u8], s: &FinalStatement) -> Result<Option<String>, SettlementError> {
        let (first, last) = (s.range.first_batch, s.range.last_batch);
        if let Some(dir) = &self.dir {
            fs::create_dir_all(dir).map_err(|source| SettlementError::CreateDir {
                dir: dir.clone(),
                source,
            })?;
            let file = dir.join(format!("final-{first}-{last}.bin"));
            fs::write(&file, proof).map_err(|source| SettlementError::WriteProof {
                path: file.clone(),
                source,
            })?;
            let hex = |limbs: &[u64; 4]| {
                limbs
                    .iter()
                    .map(|x| format!("{x:016x}"))
                    .collect::<String>()
            };
            let record = serde_json::json!({
                "firstBatch": first,
                "lastBatch": last,
                "oldRoot": hex(&s.range.old_root),
                "newRoot": hex(&s.range.new_root),
                "accOld": hex(&s.range.acc_old),
                "accNew": hex(&s.range.acc_new),
                "aggregator": format!(
                    "0x{}",
                    s.aggregator.iter().map(|b| format!("{b:02x}")).collect::<String>()
                ),
                "proof": file.to_string_lossy(),
            });
            let line = format!("{record}\n");
            let log = dir.join("settlements.jsonl");
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(&log)
                .and_then(|mut f| f.write_all(line.as_bytes()))
                .map_err(|source| SettlementError::AppendRecord { path: log, source })?;
        }
        self.settled
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((*s, proof.to_vec()));
        tracing::info!(first, last, "settled (recorded) batches {first}..={last}");
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_settlement_that_cannot_be_recorded_says_where() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("a-file");
        fs::write(&file, b"").unwrap();
        let recording = Recording::new(Some(file.join("settlements")));
        match recording.settle(b"proof", &FinalStatement::default()) {
            Err(SettlementError::CreateDir { dir, .. }) => {
                assert_eq!(dir, file.join("settlements"))
            }
            other => panic!("{other:?}"),
        }
        assert!(recording.settled().is_empty());
    }
}
