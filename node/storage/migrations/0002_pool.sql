-- The transaction pool (zknode-pool): every transaction the node accepted, with what became of
-- it. Same rules as 0001: BIGINT, TEXT and BYTEA only, one file for SQLite and PostgreSQL.
--
-- status (zkevm-node's pool statuses):
--   'pending'  accepted, waiting for the sequencer;
--   'selected' included in a stored L2 block (write_block sets it, in the block's transaction);
--   'failed'   the sequencer could not include it (failed_reason says why); the sender may send
--              the same nonce again;
--   'invalid'  the executor refused it outright (out of counters, executor error).
-- At most one pending transaction per (sender, nonce): a replacement deletes the pending row it
-- replaces in the transaction that inserts the new one.
CREATE TABLE pool_transactions (
    -- the Ethereum hash: keccak256 of `raw`
    hash BYTEA NOT NULL PRIMARY KEY,
    -- Polygon's L2 transaction hash
    l2_hash BYTEA NOT NULL,
    sender BYTEA NOT NULL,
    nonce BIGINT NOT NULL,
    -- the offered price per gas (maxPriorityFeePerGas capped by maxFeePerGas for EIP-1559),
    -- 32 bytes big-endian, so that byte order is numeric order
    gas_price BYTEA NOT NULL,
    gas_limit BIGINT NOT NULL,
    -- 0 for legacy, else the EIP-2718 type
    tx_type BIGINT NOT NULL,
    -- the signed bytes as received
    raw BYTEA NOT NULL,
    status TEXT NOT NULL,
    failed_reason TEXT,
    -- Unix milliseconds
    received_at BIGINT NOT NULL,
    CONSTRAINT pool_transactions_status CHECK (
        status IN ('pending', 'selected', 'failed', 'invalid')),
    CONSTRAINT pool_transactions_numbers CHECK (
        nonce >= 0 AND gas_limit >= 0 AND received_at >= 0),
    CONSTRAINT pool_transactions_type CHECK (tx_type >= 0 AND tx_type <= 127)
);
CREATE UNIQUE INDEX pool_transactions_pending_nonce ON pool_transactions (sender, nonce)
    WHERE status = 'pending';
CREATE INDEX pool_transactions_status ON pool_transactions (status);
