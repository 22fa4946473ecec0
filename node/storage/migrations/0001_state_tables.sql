-- The node's state database. One file for SQLite and PostgreSQL alike: only BIGINT, TEXT and
-- BYTEA columns with CHECK and UNIQUE constraints. Hashes are 32 bytes, addresses 20, numbers
-- below 2^63; the Rust layer checks lengths on write and on read (a wrong length read back is a
-- corrupt row, not a panic).

-- Batches, from opened by the sequencer (or the synchronizer) to verified on L1.
-- status: 'open' (the sequencer is adding blocks), 'closed' (complete; acc_input_hash and
-- closing_reason set), 'virtual' (sequenced on L1 by virtual_tx_hash), 'verified' (proved on L1
-- by verified_tx_hash). Batch numbers are contiguous and at most one batch, the last, is open.
CREATE TABLE batches (
    number BIGINT NOT NULL PRIMARY KEY,
    status TEXT NOT NULL,
    coinbase BYTEA NOT NULL,
    -- Unix seconds: when the batch was opened
    timestamp BIGINT NOT NULL,
    global_exit_root BYTEA NOT NULL,
    -- while open: after the batch's last stored block, as the sequencer last saved it;
    -- once closed: the batch's final roots
    state_root BYTEA NOT NULL,
    local_exit_root BYTEA NOT NULL,
    -- batchL2Data: while open, what the sequencer has encoded so far
    l2_data BYTEA NOT NULL,
    -- the sequencer's used-resource counters, in its own format (JSON), so that it can resume
    -- an open batch after a restart; the database does not read them
    resources TEXT,
    acc_input_hash BYTEA,
    closing_reason TEXT,
    virtual_tx_hash BYTEA,
    verified_tx_hash BYTEA,
    CONSTRAINT batches_number CHECK (number >= 0 AND timestamp >= 0),
    CONSTRAINT batches_status CHECK (status IN ('open', 'closed', 'virtual', 'verified')),
    CONSTRAINT batches_closed CHECK (
        (status = 'open' AND closing_reason IS NULL AND acc_input_hash IS NULL)
        OR (status <> 'open' AND closing_reason IS NOT NULL AND acc_input_hash IS NOT NULL)),
    CONSTRAINT batches_virtual CHECK (
        (status IN ('virtual', 'verified')) = (virtual_tx_hash IS NOT NULL)),
    CONSTRAINT batches_verified CHECK ((status = 'verified') = (verified_tx_hash IS NOT NULL))
);
CREATE INDEX batches_status_number ON batches (status, number);

-- L2 blocks. `header` is the RLP header whose keccak256 is `hash` (docs/l2-blocks.md); the
-- other columns repeat what queries need, plus the two values the header does not carry
-- (batch_number, global_exit_root).
CREATE TABLE l2_blocks (
    number BIGINT NOT NULL PRIMARY KEY,
    hash BYTEA NOT NULL,
    parent_hash BYTEA NOT NULL,
    batch_number BIGINT NOT NULL,
    timestamp BIGINT NOT NULL,
    state_root BYTEA NOT NULL,
    global_exit_root BYTEA NOT NULL,
    block_info_root BYTEA NOT NULL,
    coinbase BYTEA NOT NULL,
    gas_limit BIGINT NOT NULL,
    gas_used BIGINT NOT NULL,
    base_fee BIGINT NOT NULL,
    header BYTEA NOT NULL,
    CONSTRAINT l2_blocks_hash UNIQUE (hash),
    CONSTRAINT l2_blocks_numbers CHECK (
        number >= 0 AND batch_number >= 0 AND timestamp >= 0 AND gas_limit >= 0
        AND gas_used >= 0 AND gas_used <= gas_limit AND base_fee >= 0)
);
CREATE INDEX l2_blocks_batch ON l2_blocks (batch_number, number);

-- Transactions as included: `hash` is the Ethereum hash (keccak256 of `raw`), `l2_hash`
-- Polygon's L2 transaction hash, `raw` the signed bytes as received (a legacy transaction's RLP
-- list, or the type byte and its payload).
CREATE TABLE transactions (
    hash BYTEA NOT NULL PRIMARY KEY,
    l2_hash BYTEA NOT NULL,
    block_number BIGINT NOT NULL,
    tx_index BIGINT NOT NULL,
    raw BYTEA NOT NULL,
    sender BYTEA NOT NULL,
    tx_type BIGINT NOT NULL,
    effective_percentage BIGINT NOT NULL,
    CONSTRAINT transactions_l2_hash UNIQUE (l2_hash),
    CONSTRAINT transactions_position UNIQUE (block_number, tx_index),
    CONSTRAINT transactions_numbers CHECK (block_number >= 0 AND tx_index >= 0),
    CONSTRAINT transactions_type CHECK (tx_type >= 0 AND tx_type <= 127),
    CONSTRAINT transactions_percentage CHECK (
        effective_percentage >= 0 AND effective_percentage <= 255)
);

-- One receipt per transaction; status 1 is success.
CREATE TABLE receipts (
    tx_hash BYTEA NOT NULL PRIMARY KEY,
    block_number BIGINT NOT NULL,
    tx_index BIGINT NOT NULL,
    status BIGINT NOT NULL,
    cumulative_gas_used BIGINT NOT NULL,
    gas_used BIGINT NOT NULL,
    effective_gas_price BIGINT NOT NULL,
    contract_address BYTEA,
    CONSTRAINT receipts_position UNIQUE (block_number, tx_index),
    CONSTRAINT receipts_status CHECK (status IN (0, 1)),
    CONSTRAINT receipts_numbers CHECK (
        block_number >= 0 AND tx_index >= 0 AND gas_used >= 0
        AND cumulative_gas_used >= gas_used AND effective_gas_price >= 0)
);

-- Logs, numbered across their block (log_index). A log has topic0..topicN-1 for its N <= 4
-- topics and NULL after them.
CREATE TABLE logs (
    block_number BIGINT NOT NULL,
    log_index BIGINT NOT NULL,
    tx_hash BYTEA NOT NULL,
    tx_index BIGINT NOT NULL,
    address BYTEA NOT NULL,
    topic0 BYTEA,
    topic1 BYTEA,
    topic2 BYTEA,
    topic3 BYTEA,
    data BYTEA NOT NULL,
    CONSTRAINT logs_pk PRIMARY KEY (block_number, log_index),
    CONSTRAINT logs_numbers CHECK (block_number >= 0 AND log_index >= 0 AND tx_index >= 0),
    CONSTRAINT logs_topics CHECK (
        (topic1 IS NULL OR topic0 IS NOT NULL)
        AND (topic2 IS NULL OR topic1 IS NOT NULL)
        AND (topic3 IS NULL OR topic2 IS NOT NULL))
);
CREATE INDEX logs_address ON logs (address, block_number);
CREATE INDEX logs_topic0 ON logs (topic0, block_number);

-- L1 blocks the synchronizer has processed (for reorg detection).
CREATE TABLE l1_blocks (
    number BIGINT NOT NULL PRIMARY KEY,
    hash BYTEA NOT NULL,
    parent_hash BYTEA NOT NULL,
    timestamp BIGINT NOT NULL,
    CONSTRAINT l1_blocks_hash UNIQUE (hash),
    CONSTRAINT l1_blocks_numbers CHECK (number >= 0 AND timestamp >= 0)
);

-- Named progress markers of the node's services (the synchronizer's stages, …).
-- updated_at: Unix milliseconds.
CREATE TABLE sync_checkpoints (
    name TEXT NOT NULL PRIMARY KEY,
    value BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    CONSTRAINT sync_checkpoints_value CHECK (value >= 0)
);
