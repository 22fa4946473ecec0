-- The L1 transaction manager (zknode-l1 `txman`) and the sequence sender (`sender`). Same rules
-- as 0001: BIGINT, TEXT and BYTEA only, one file for SQLite and PostgreSQL.

-- Every L1 transaction, recorded before it is first sent, so that a restart neither loses nor
-- sends twice. `id` is the owner's (e.g. 'sequence-5-9'); the nonce is assigned once, when the
-- row is recorded, and every resend reuses it. The unsigned fields are kept; each signed
-- version sent is in l1_tx_hashes.
-- status:
--   'created'   recorded, not sent yet (max_fee, max_priority_fee and sent_at still NULL);
--   'sent'      at least one signed version was sent (or was about to be: it is recorded first);
--   'mined'     a receipt in block mined_block_number (hash mined_block_hash) succeeded; back to
--               'sent' when an L1 reorg removes that block;
--   'confirmed' mined and followed by the configured number of blocks;
--   'failed'    reverted on L1, or its gas estimation reverted (then it has no nonce and was
--               never sent); `error` says why.
CREATE TABLE l1_txs (
    id TEXT NOT NULL PRIMARY KEY,
    owner TEXT NOT NULL,
    sender BYTEA NOT NULL,
    to_address BYTEA NOT NULL,
    nonce BIGINT,
    -- wei, 32 bytes big-endian
    value BYTEA NOT NULL,
    data BYTEA NOT NULL,
    gas_limit BIGINT NOT NULL,
    -- wei per gas of the last signed version
    max_fee BIGINT,
    max_priority_fee BIGINT,
    status TEXT NOT NULL,
    mined_tx_hash BYTEA,
    mined_block_number BIGINT,
    mined_block_hash BYTEA,
    error TEXT,
    -- Unix milliseconds
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    -- when the last signed version was sent
    sent_at BIGINT,
    CONSTRAINT l1_txs_status CHECK (
        status IN ('created', 'sent', 'mined', 'confirmed', 'failed')),
    CONSTRAINT l1_txs_numbers CHECK (
        (nonce IS NULL OR nonce >= 0) AND gas_limit >= 0 AND created_at >= 0
        AND updated_at >= 0 AND (max_fee IS NULL OR max_fee >= 0)
        AND (max_priority_fee IS NULL OR max_priority_fee >= 0)
        AND (mined_block_number IS NULL OR mined_block_number >= 0)),
    CONSTRAINT l1_txs_nonce CHECK (status = 'failed' OR nonce IS NOT NULL),
    CONSTRAINT l1_txs_mined CHECK (
        status NOT IN ('mined', 'confirmed') OR (mined_block_number IS NOT NULL
            AND mined_block_hash IS NOT NULL AND mined_tx_hash IS NOT NULL)),
    CONSTRAINT l1_txs_failed CHECK ((status = 'failed') = (error IS NOT NULL))
);
-- One row per nonce of a sender: a nonce is never handed out twice.
CREATE UNIQUE INDEX l1_txs_sender_nonce ON l1_txs (sender, nonce);
CREATE INDEX l1_txs_sender_status ON l1_txs (sender, status);

-- Each signed version of an L1 transaction, recorded before it is sent.
CREATE TABLE l1_tx_hashes (
    hash BYTEA NOT NULL PRIMARY KEY,
    tx_id TEXT NOT NULL REFERENCES l1_txs (id),
    max_fee BIGINT NOT NULL,
    max_priority_fee BIGINT NOT NULL,
    -- Unix milliseconds
    sent_at BIGINT NOT NULL,
    CONSTRAINT l1_tx_hashes_numbers CHECK (
        max_fee >= 0 AND max_priority_fee >= 0 AND sent_at >= 0)
);
CREATE INDEX l1_tx_hashes_tx ON l1_tx_hashes (tx_id, sent_at);

-- The sequences the sequence sender built: batches from_batch..=to_batch in one
-- sequenceBatches call, sent as L1 transaction `id` (of l1_txs, once the manager has it).
-- status: 'pending' (handed to the transaction manager), 'done' (L1 holds it), 'failed' (its
-- transaction failed; the batches are sequenced again by a later row).
CREATE TABLE l1_sequences (
    id TEXT NOT NULL PRIMARY KEY,
    from_batch BIGINT NOT NULL,
    to_batch BIGINT NOT NULL,
    l1_info_tree_leaf_count BIGINT NOT NULL,
    max_sequence_timestamp BIGINT NOT NULL,
    l1_info_root BYTEA NOT NULL,
    l2_coinbase BYTEA NOT NULL,
    -- L1's accInputHash before the first batch, and after the last (expectedFinalAccInputHash)
    old_acc_input_hash BYTEA NOT NULL,
    final_acc_input_hash BYTEA NOT NULL,
    status TEXT NOT NULL,
    error TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    CONSTRAINT l1_sequences_status CHECK (status IN ('pending', 'done', 'failed')),
    CONSTRAINT l1_sequences_numbers CHECK (
        from_batch >= 1 AND to_batch >= from_batch AND l1_info_tree_leaf_count >= 0
        AND l1_info_tree_leaf_count <= 4294967295 AND max_sequence_timestamp >= 0
        AND created_at >= 0 AND updated_at >= 0)
);
-- At most one live (pending or done) sequence starts at a batch: a range is never sent twice.
CREATE UNIQUE INDEX l1_sequences_live_from ON l1_sequences (from_batch)
    WHERE status <> 'failed';
CREATE INDEX l1_sequences_status ON l1_sequences (status, to_batch);

-- The L1 accInputHash the sender computed for each batch of a sequence.
CREATE TABLE l1_sequence_batches (
    sequence_id TEXT NOT NULL REFERENCES l1_sequences (id),
    batch_number BIGINT NOT NULL,
    acc_input_hash BYTEA NOT NULL,
    PRIMARY KEY (sequence_id, batch_number),
    CONSTRAINT l1_sequence_batches_number CHECK (batch_number >= 1)
);
