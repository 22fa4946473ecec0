-- What the synchronizer reads from L1 (issue 15): the L1 info tree's leaves, sequences and the
-- batches they carry, forced batches, verifications, and the halt a mismatch between L1 and
-- the node's own batches records. Every row names the L1 block it came from (`l1_block`, a row
-- of l1_blocks), so that an L1 reorg removes exactly what the dropped blocks added; the
-- synchronizer deletes those rows itself (no ON DELETE CASCADE: SQLite would need a PRAGMA on
-- every connection).

-- One leaf of the L1 info tree per UpdateL1InfoTreeV2 event. leaf = keccak256(global_exit_root
-- ‖ parent_hash ‖ uint64 timestamp); root: the tree's root after this leaf (l1InfoRootMap(index
-- + 1) on L1). global_exit_root = keccak256(mainnet_exit_root ‖ rollup_exit_root).
CREATE TABLE l1_info_leaves (
    leaf_index BIGINT NOT NULL PRIMARY KEY,
    l1_block BIGINT NOT NULL,
    tx_hash BYTEA NOT NULL,
    global_exit_root BYTEA NOT NULL,
    mainnet_exit_root BYTEA NOT NULL,
    rollup_exit_root BYTEA NOT NULL,
    parent_hash BYTEA NOT NULL,
    timestamp BIGINT NOT NULL,
    leaf BYTEA NOT NULL,
    root BYTEA NOT NULL,
    CONSTRAINT l1_info_leaves_numbers CHECK (leaf_index >= 0 AND l1_block >= 0 AND timestamp >= 0)
);
CREATE INDEX l1_info_leaves_block ON l1_info_leaves (l1_block);
CREATE INDEX l1_info_leaves_ger ON l1_info_leaves (global_exit_root);

-- One row per sequenceBatches (forced = 0) or sequenceForceBatches (forced = 1) transaction:
-- batches from_batch..=to_batch. l1_info_root and max_sequence_timestamp are the sequence's
-- (zero for sequenceForceBatches), acc_input_hash the accInputHash after its last batch.
CREATE TABLE l1_virtual_sequences (
    from_batch BIGINT NOT NULL PRIMARY KEY,
    to_batch BIGINT NOT NULL,
    l1_block BIGINT NOT NULL,
    tx_hash BYTEA NOT NULL,
    forced BIGINT NOT NULL,
    l1_info_root BYTEA NOT NULL,
    max_sequence_timestamp BIGINT NOT NULL,
    l2_coinbase BYTEA NOT NULL,
    acc_input_hash BYTEA NOT NULL,
    CONSTRAINT l1_virtual_sequences_to UNIQUE (to_batch),
    CONSTRAINT l1_virtual_sequences_numbers CHECK (
        from_batch >= 1 AND to_batch >= from_batch AND l1_block >= 0
        AND max_sequence_timestamp >= 0 AND forced IN (0, 1))
);
CREATE INDEX l1_virtual_sequences_block ON l1_virtual_sequences (l1_block);

-- Every batch L1 has sequenced, with what a node needs to execute it: its data (the calldata's
-- transactions), the L1 info root and time limit of a normal batch or the forced fields of a
-- forced one (forced_timestamp > 0; forced_batch_number: its place in the forced-batch queue),
-- the coinbase the contract hashed, and the accInputHash chained as the contract does.
-- local_acc_input_hash: the accInputHash the node's own batch of that number had before the
-- synchronizer replaced it with this one (NULL: the node had no such batch), put back on a reorg.
CREATE TABLE l1_virtual_batches (
    number BIGINT NOT NULL PRIMARY KEY,
    sequence_from BIGINT NOT NULL,
    l1_block BIGINT NOT NULL,
    tx_hash BYTEA NOT NULL,
    l2_data BYTEA NOT NULL,
    l1_info_root BYTEA NOT NULL,
    max_sequence_timestamp BIGINT NOT NULL,
    coinbase BYTEA NOT NULL,
    forced_global_exit_root BYTEA NOT NULL,
    forced_timestamp BIGINT NOT NULL,
    forced_block_hash_l1 BYTEA NOT NULL,
    forced_batch_number BIGINT,
    acc_input_hash BYTEA NOT NULL,
    local_acc_input_hash BYTEA,
    CONSTRAINT l1_virtual_batches_numbers CHECK (
        number >= 1 AND sequence_from >= 1 AND sequence_from <= number AND l1_block >= 0
        AND max_sequence_timestamp >= 0 AND forced_timestamp >= 0
        AND (forced_batch_number IS NULL OR forced_batch_number >= 1)),
    CONSTRAINT l1_virtual_batches_forced CHECK (
        (forced_timestamp > 0) = (forced_batch_number IS NOT NULL))
);
CREATE INDEX l1_virtual_batches_block ON l1_virtual_batches (l1_block);

-- ForceBatch events: the queue of forced batches. block_hash_l1 is the parent hash of the L1
-- block that queued it (what the contract committed to); forced_at that block's timestamp.
CREATE TABLE l1_forced_batches (
    number BIGINT NOT NULL PRIMARY KEY,
    l1_block BIGINT NOT NULL,
    tx_hash BYTEA NOT NULL,
    global_exit_root BYTEA NOT NULL,
    sequencer BYTEA NOT NULL,
    transactions BYTEA NOT NULL,
    forced_at BIGINT NOT NULL,
    block_hash_l1 BYTEA NOT NULL,
    CONSTRAINT l1_forced_batches_numbers CHECK (number >= 1 AND l1_block >= 0 AND forced_at >= 0)
);
CREATE INDEX l1_forced_batches_block ON l1_forced_batches (l1_block);

-- VerifyBatchesTrustedAggregator events: batches up to batch_number are verified with this
-- state root and local exit root.
CREATE TABLE l1_verifications (
    batch_number BIGINT NOT NULL PRIMARY KEY,
    l1_block BIGINT NOT NULL,
    tx_hash BYTEA NOT NULL,
    state_root BYTEA NOT NULL,
    exit_root BYTEA NOT NULL,
    aggregator BYTEA NOT NULL,
    CONSTRAINT l1_verifications_numbers CHECK (batch_number >= 1 AND l1_block >= 0)
);
CREATE INDEX l1_verifications_block ON l1_verifications (l1_block);

-- Set when what L1 says about a batch differs from the node's own batch: the sequencer refuses
-- to store blocks while a row is here. At most one row (id 1). l1_block: the L1 block of the
-- sequence that differs (an L1 reorg that drops it removes the halt); created_at: Unix
-- milliseconds.
CREATE TABLE l1_sync_halt (
    id BIGINT NOT NULL PRIMARY KEY,
    batch_number BIGINT NOT NULL,
    l1_block BIGINT NOT NULL,
    reason TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    CONSTRAINT l1_sync_halt_one CHECK (id = 1 AND batch_number >= 0 AND l1_block >= 0)
);
