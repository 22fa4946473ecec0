-- Which batch carries which forced batch (issue 15): the trusted sequencer executes each forced
-- batch L1 queued as a batch of its own and must sequence it with the forced fields; NULL for
-- a batch the sequencer built. A forced batch is in at most one batch.
ALTER TABLE batches ADD COLUMN forced_batch_number BIGINT;
CREATE UNIQUE INDEX batches_forced_batch_number ON batches (forced_batch_number);
