-- The aggregator's job tables. One file for SQLite and PostgreSQL alike: only types and syntax
-- both accept (BIGINT, TEXT, BYTEA, CHECK, UNIQUE); times are Unix milliseconds in BIGINT.

-- The batches to prove and their witnesses. The node writes a row when it closes a batch.
CREATE TABLE batches (
    batch_number BIGINT NOT NULL PRIMARY KEY,
    -- the batch witness as JSON (zknode_witness::BatchWitness::to_json)
    witness TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- One row whose value is the last proof id handed out. Every transaction that changes
-- `proofs` updates this row first, so job changes are serialized on both databases.
CREATE TABLE job_sequence (
    name TEXT NOT NULL PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO job_sequence (name, value) VALUES ('proofs', 0);

-- Proof jobs and proofs. A row whose proof is NULL is a job: generating while locked_at is set,
-- queued otherwise (only batch rows are kept queued). A batch proof covers one batch; an
-- aggregate replaces its two children; a final proof is made from a stored batch or aggregate
-- proof that starts right after the last verified batch.
CREATE TABLE proofs (
    id BIGINT NOT NULL PRIMARY KEY,
    batch_first BIGINT NOT NULL,
    batch_last BIGINT NOT NULL,
    kind TEXT NOT NULL,
    proof BYTEA,
    prover_id TEXT,
    locked_at BIGINT,
    attempts BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    CONSTRAINT proofs_range UNIQUE (batch_first, batch_last, kind),
    CONSTRAINT proofs_kind CHECK (kind IN ('batch', 'aggregate', 'final')),
    CONSTRAINT proofs_order CHECK (batch_first <= batch_last),
    CONSTRAINT proofs_batch_single CHECK (kind <> 'batch' OR batch_first = batch_last)
);
CREATE INDEX proofs_last ON proofs (batch_last);
CREATE INDEX proofs_locked ON proofs (locked_at);

-- Settlements: each row says that batches first_batch..=last_batch were verified on L1 with a
-- final proof.
CREATE TABLE verified (
    last_batch BIGINT NOT NULL PRIMARY KEY,
    first_batch BIGINT NOT NULL,
    final_proof_id BIGINT NOT NULL,
    tx_hash TEXT,
    recorded_at BIGINT NOT NULL
);
