// SPDX-License-Identifier: MIT OR Apache-2.0
// The L1 contract of one zkNode rollup: what Polygon splits between a consensus contract and the
// rollup manager, for a single rollup (ID 1), with fork 12's ("banana") ABI for the calls a node
// makes: sequenceBatches, forceBatch / sequenceForceBatches and verifyBatchesTrustedAggregator.
//
// THE PROOF IS NOT CHECKED. Until the BN254 SNARK verifier exists, verifyBatchesTrustedAggregator
// records the proof's keccak256 and trusts the trusted aggregator role: whoever holds that role
// can set any state root. The range, the stored accInputHashes and the state root's encoding are
// checked; the state transition is not.
//
// No POL: sequencing, forcing and verifying batches carry no fees and pay no rewards (the
// polAmount of forceBatch and the beneficiary of verifyBatchesTrustedAggregator are accepted for
// the ABI's sake and ignored).
//
// Batch 0 is the genesis: its state root is given at construction and its accInputHash is zero.
// The first sequence starts at batch 1. Only the last batch of a sequence has its accInputHash
// stored, so a verified range starts and ends on sequence boundaries.
pragma solidity 0.8.28;

import {GlobalExitRootManager} from "./GlobalExitRootManager.sol";

contract ZkEvmRollup {
    struct BatchData {
        bytes transactions;
        bytes32 forcedGlobalExitRoot;
        uint64 forcedTimestamp;
        bytes32 forcedBlockHashL1;
    }

    struct SequencedBatchData {
        bytes32 accInputHash;
        uint64 sequencedTimestamp;
        uint64 previousLastBatchSequenced;
    }

    /// The rollup's ID, the first argument of verifyBatchesTrustedAggregator.
    uint32 public constant ROLLUP_ID = 1;
    /// The most batches one sequence may hold.
    uint64 internal constant MAX_VERIFY_BATCHES = 1000;
    /// How far past the L1 block's timestamp a sequence's maxSequenceTimestamp may be (seconds).
    uint64 internal constant TIMESTAMP_RANGE = 36;
    /// The largest transactions field of a sequenced batch (bytes).
    uint256 internal constant MAX_TRANSACTIONS_BYTE_LENGTH = 120000;
    /// The largest transactions field of a forced batch (bytes).
    uint256 internal constant MAX_FORCE_BATCH_BYTE_LENGTH = 5000;
    /// The longest forceBatchTimeout may be (seconds).
    uint64 internal constant HALT_AGGREGATION_TIMEOUT = 1 weeks;
    /// The Goldilocks prime: each 64-bit limb of a state root is below it.
    uint256 internal constant GOLDILOCKS_PRIME = 0xFFFFFFFF00000001;

    GlobalExitRootManager public immutable globalExitRootManager;
    uint64 public immutable chainID;
    uint64 public immutable forkID;

    address public admin;
    address public trustedSequencer;
    address public trustedAggregator;
    /// Who may force batches; zero: anyone.
    address public forceBatchAddress;
    /// How long after it was forced a batch may be sequenced by anyone (seconds).
    uint64 public forceBatchTimeout;

    uint64 public lastBatchSequenced;
    uint64 public lastVerifiedBatch;
    bytes32 public lastAccInputHash;
    bytes32 public lastLocalExitRoot;
    /// The last batch of each sequence => its accInputHash, when it was sequenced, and the last
    /// batch of the sequence before it.
    mapping(uint64 => SequencedBatchData) public sequencedBatches;
    /// The last batch of each verified range (and the genesis, 0) => its state root.
    mapping(uint64 => bytes32) public batchNumToStateRoot;
    /// The last batch of each verified range => keccak256 of the proof that was submitted.
    mapping(uint64 => bytes32) public batchNumToProofHash;

    uint64 public lastForceBatch;
    uint64 public lastForceBatchSequenced;
    /// Forced batch number => keccak256(txHash ‖ GER ‖ uint64 timestamp ‖ parent block hash);
    /// deleted once sequenced.
    mapping(uint64 => bytes32) public forcedBatches;

    event SequenceBatches(uint64 indexed numBatch, bytes32 l1InfoRoot);
    event SequenceForceBatches(uint64 indexed numBatch);
    event ForceBatch(
        uint64 indexed forceBatchNum, bytes32 lastGlobalExitRoot, address sequencer, bytes transactions
    );
    event VerifyBatchesTrustedAggregator(
        uint32 indexed rollupID, uint64 numBatch, bytes32 stateRoot, bytes32 exitRoot, address indexed aggregator
    );
    event SetTrustedSequencer(address newTrustedSequencer);
    event SetTrustedAggregator(address newTrustedAggregator);
    event SetForceBatchAddress(address newForceBatchAddress);
    event SetForceBatchTimeout(uint64 newforceBatchTimeout);

    // Polygon's error names (and so selectors) for the same checks.
    error OnlyAdmin();
    error OnlyTrustedSequencer();
    error OnlyTrustedAggregator();
    error SequenceZeroBatches();
    error ExceedMaxVerifyBatches();
    error MaxTimestampSequenceInvalid();
    error L1InfoTreeLeafCountInvalid();
    error TransactionsLengthAboveMax();
    error ForcedDataDoesNotMatch();
    error ForceBatchesOverflow();
    error FinalAccInputHashDoesNotMatch();
    error ForceBatchNotAllowed();
    error ForceBatchTimeoutNotExpired();
    error InvalidRangeForceBatchTimeout();
    error RollupMustExist();
    error PendingStateDoesNotExist();
    error OldStateRootDoesNotExist();
    error InitNumBatchAboveLastVerifiedBatch();
    error FinalNumBatchBelowLastVerifiedBatch();
    error OldAccInputHashDoesNotExist();
    error NewAccInputHashDoesNotExist();
    error NewStateRootNotInsidePrime();
    error InvalidProof();
    /// The global exit root manager was built for another rollup address.
    error GlobalExitRootManagerMismatch();

    modifier onlyAdmin() {
        if (msg.sender != admin) revert OnlyAdmin();
        _;
    }

    modifier onlyTrustedSequencer() {
        if (msg.sender != trustedSequencer) revert OnlyTrustedSequencer();
        _;
    }

    modifier onlyTrustedAggregator() {
        if (msg.sender != trustedAggregator) revert OnlyTrustedAggregator();
        _;
    }

    modifier isSenderAllowedToForceBatches() {
        address allowed = forceBatchAddress;
        if (allowed != address(0) && allowed != msg.sender) revert ForceBatchNotAllowed();
        _;
    }

    /// `_globalExitRootManager` must name this contract as its rollup (deploy it first, at the
    /// address this contract will have). Anyone may force batches until the admin names one
    /// address (setForceBatchAddress); the force timeout starts at 5 days.
    constructor(
        address _admin,
        address _trustedSequencer,
        address _trustedAggregator,
        GlobalExitRootManager _globalExitRootManager,
        uint64 _chainID,
        uint64 _forkID,
        bytes32 _genesisStateRoot
    ) {
        if (_globalExitRootManager.rollupAddress() != address(this)) {
            revert GlobalExitRootManagerMismatch();
        }
        admin = _admin;
        trustedSequencer = _trustedSequencer;
        trustedAggregator = _trustedAggregator;
        globalExitRootManager = _globalExitRootManager;
        chainID = _chainID;
        forkID = _forkID;
        forceBatchTimeout = 5 days;
        batchNumToStateRoot[0] = _genesisStateRoot;
        sequencedBatches[0] = SequencedBatchData(bytes32(0), uint64(block.timestamp), 0);
    }

    /// Appends `batches` to the chain: each normal batch commits to the L1 info root after
    /// `l1InfoTreeLeafCount` leaves and to `maxSequenceTimestamp`; forced batches must match the
    /// forced-batch queue in order. Reverts unless the final accInputHash equals
    /// `expectedFinalAccInputHash`.
    function sequenceBatches(
        BatchData[] calldata batches,
        uint32 l1InfoTreeLeafCount,
        uint64 maxSequenceTimestamp,
        bytes32 expectedFinalAccInputHash,
        address l2Coinbase
    ) external onlyTrustedSequencer {
        uint256 n = batches.length;
        if (n == 0) revert SequenceZeroBatches();
        if (n > MAX_VERIFY_BATCHES) revert ExceedMaxVerifyBatches();
        if (uint256(maxSequenceTimestamp) > block.timestamp + TIMESTAMP_RANGE) {
            revert MaxTimestampSequenceInvalid();
        }
        // (Polygon first asks the bridge to push its exit root here; there is no bridge yet.)
        bytes32 l1InfoRoot = globalExitRootManager.l1InfoRootMap(l1InfoTreeLeafCount);
        if (l1InfoRoot == bytes32(0)) revert L1InfoTreeLeafCountInvalid();

        uint64 forcedSequenced = lastForceBatchSequenced;
        uint64 initForcedSequenced = forcedSequenced;
        bytes32 acc = lastAccInputHash;
        for (uint256 i = 0; i < n; i++) {
            BatchData calldata b = batches[i];
            bytes32 txHash = keccak256(b.transactions);
            if (b.forcedTimestamp > 0) {
                forcedSequenced++;
                bytes32 forcedHash =
                    keccak256(abi.encodePacked(txHash, b.forcedGlobalExitRoot, b.forcedTimestamp, b.forcedBlockHashL1));
                // A batch past the queue meets an empty slot here, so it fails this check before
                // the overflow check after the loop (the order is Polygon's).
                if (forcedHash != forcedBatches[forcedSequenced]) revert ForcedDataDoesNotMatch();
                acc = keccak256(
                    abi.encodePacked(
                        acc, txHash, b.forcedGlobalExitRoot, b.forcedTimestamp, l2Coinbase, b.forcedBlockHashL1
                    )
                );
                delete forcedBatches[forcedSequenced];
            } else {
                // The forced* fields of a normal batch are neither used nor checked.
                if (b.transactions.length > MAX_TRANSACTIONS_BYTE_LENGTH) revert TransactionsLengthAboveMax();
                acc = keccak256(
                    abi.encodePacked(acc, txHash, l1InfoRoot, maxSequenceTimestamp, l2Coinbase, bytes32(0))
                );
            }
        }
        if (forcedSequenced > lastForceBatch) revert ForceBatchesOverflow();
        if (forcedSequenced != initForcedSequenced) lastForceBatchSequenced = forcedSequenced;

        uint64 newLast = _recordSequence(uint64(n), acc);
        if (acc != expectedFinalAccInputHash) revert FinalAccInputHashDoesNotMatch();
        emit SequenceBatches(newLast, l1InfoRoot);
    }

    /// Queues a forced batch of `transactions` (at most 5,000 bytes). The entry commits to the
    /// last global exit root, this block's timestamp and its parent's hash, which the batch must
    /// carry when it is sequenced. `polAmount` is ignored (no fees). The event always carries the
    /// transactions.
    function forceBatch(bytes calldata transactions, uint256 polAmount) external isSenderAllowedToForceBatches {
        polAmount;
        if (transactions.length > MAX_FORCE_BATCH_BYTE_LENGTH) revert TransactionsLengthAboveMax();
        bytes32 lastGER = globalExitRootManager.getLastGlobalExitRoot();
        uint64 num = ++lastForceBatch;
        forcedBatches[num] = keccak256(
            abi.encodePacked(keccak256(transactions), lastGER, uint64(block.timestamp), blockhash(block.number - 1))
        );
        emit ForceBatch(num, lastGER, msg.sender, transactions);
    }

    /// Sequences queued forced batches, in order, once the last of them is older than
    /// forceBatchTimeout: the way around a trusted sequencer that leaves them out. The caller is
    /// the batches' coinbase.
    function sequenceForceBatches(BatchData[] calldata batches) external isSenderAllowedToForceBatches {
        uint256 n = batches.length;
        if (n == 0) revert SequenceZeroBatches();
        if (n > MAX_VERIFY_BATCHES) revert ExceedMaxVerifyBatches();
        if (uint256(lastForceBatchSequenced) + n > uint256(lastForceBatch)) revert ForceBatchesOverflow();

        uint64 forcedSequenced = lastForceBatchSequenced;
        bytes32 acc = lastAccInputHash;
        for (uint256 i = 0; i < n; i++) {
            BatchData calldata b = batches[i];
            forcedSequenced++;
            bytes32 txHash = keccak256(b.transactions);
            bytes32 forcedHash =
                keccak256(abi.encodePacked(txHash, b.forcedGlobalExitRoot, b.forcedTimestamp, b.forcedBlockHashL1));
            if (forcedHash != forcedBatches[forcedSequenced]) revert ForcedDataDoesNotMatch();
            if (i == n - 1 && uint256(b.forcedTimestamp) + forceBatchTimeout > block.timestamp) {
                revert ForceBatchTimeoutNotExpired();
            }
            acc = keccak256(
                abi.encodePacked(acc, txHash, b.forcedGlobalExitRoot, b.forcedTimestamp, msg.sender, b.forcedBlockHashL1)
            );
            delete forcedBatches[forcedSequenced];
        }
        lastForceBatchSequenced = forcedSequenced;
        uint64 newLast = _recordSequence(uint64(n), acc);
        emit SequenceForceBatches(newLast);
    }

    /// Verifies batches initNumBatch+1 ..= finalNewBatch: initNumBatch must be a verified batch
    /// (or the genesis) at or below lastVerifiedBatch, finalNewBatch above it, and both must end
    /// a sequence. Records the new state root, local exit root and keccak256(proof), and pushes
    /// the new rollup exit root to the global exit root manager. The proof itself is not checked
    /// (see the top of this file); pendingStateNum must be 0 (there are no pending states) and
    /// beneficiary is ignored (no rewards).
    function verifyBatchesTrustedAggregator(
        uint32 rollupID,
        uint64 pendingStateNum,
        uint64 initNumBatch,
        uint64 finalNewBatch,
        bytes32 newLocalExitRoot,
        bytes32 newStateRoot,
        address beneficiary,
        bytes calldata proof
    ) external onlyTrustedAggregator {
        beneficiary;
        if (rollupID != ROLLUP_ID) revert RollupMustExist();
        if (pendingStateNum != 0) revert PendingStateDoesNotExist();
        uint64 lastVerified = lastVerifiedBatch;
        // Polygon looks the old state root up first; here only verified batches have one, so
        // the range check comes first to be reachable at all.
        if (initNumBatch > lastVerified) revert InitNumBatchAboveLastVerifiedBatch();
        if (batchNumToStateRoot[initNumBatch] == bytes32(0)) revert OldStateRootDoesNotExist();
        if (finalNewBatch <= lastVerified) revert FinalNumBatchBelowLastVerifiedBatch();
        // A verified batch ended a sequence, so its accInputHash is stored: this holds as long
        // as no sequence is ever rolled back (kept from Polygon for when one can be).
        if (initNumBatch != 0 && sequencedBatches[initNumBatch].accInputHash == bytes32(0)) {
            revert OldAccInputHashDoesNotExist();
        }
        if (sequencedBatches[finalNewBatch].accInputHash == bytes32(0)) revert NewAccInputHashDoesNotExist();
        if (!_insidePrime(uint256(newStateRoot))) revert NewStateRootNotInsidePrime();
        if (proof.length == 0) revert InvalidProof();

        lastVerifiedBatch = finalNewBatch;
        batchNumToStateRoot[finalNewBatch] = newStateRoot;
        batchNumToProofHash[finalNewBatch] = keccak256(proof);
        lastLocalExitRoot = newLocalExitRoot;
        globalExitRootManager.updateExitRoot(getRollupExitRoot());
        emit VerifyBatchesTrustedAggregator(ROLLUP_ID, finalNewBatch, newStateRoot, newLocalExitRoot, msg.sender);
    }

    /// The root of the rollup exit tree (depth 32) whose only leaf, at index ROLLUP_ID - 1, is
    /// lastLocalExitRoot: what Polygon's rollup manager gives for a single rollup.
    function getRollupExitRoot() public view returns (bytes32) {
        bytes32 node = lastLocalExitRoot;
        bytes32 zero;
        for (uint256 level = 0; level < 32; level++) {
            node = keccak256(abi.encodePacked(node, zero));
            zero = keccak256(abi.encodePacked(zero, zero));
        }
        return node;
    }

    function setTrustedSequencer(address newTrustedSequencer) external onlyAdmin {
        trustedSequencer = newTrustedSequencer;
        emit SetTrustedSequencer(newTrustedSequencer);
    }

    function setTrustedAggregator(address newTrustedAggregator) external onlyAdmin {
        trustedAggregator = newTrustedAggregator;
        emit SetTrustedAggregator(newTrustedAggregator);
    }

    /// Zero lets anyone force batches.
    function setForceBatchAddress(address newForceBatchAddress) external onlyAdmin {
        forceBatchAddress = newForceBatchAddress;
        emit SetForceBatchAddress(newForceBatchAddress);
    }

    /// The timeout may only go down (there is no emergency state to raise it in), and never past
    /// one week.
    function setForceBatchTimeout(uint64 newforceBatchTimeout) external onlyAdmin {
        if (newforceBatchTimeout > HALT_AGGREGATION_TIMEOUT || newforceBatchTimeout >= forceBatchTimeout) {
            revert InvalidRangeForceBatchTimeout();
        }
        forceBatchTimeout = newforceBatchTimeout;
        emit SetForceBatchTimeout(newforceBatchTimeout);
    }

    /// Stores a sequence of `n` batches ending with accInputHash `acc`; returns its last batch.
    function _recordSequence(uint64 n, bytes32 acc) internal returns (uint64 newLast) {
        uint64 previous = lastBatchSequenced;
        newLast = previous + n;
        lastBatchSequenced = newLast;
        lastAccInputHash = acc;
        sequencedBatches[newLast] = SequencedBatchData(acc, uint64(block.timestamp), previous);
    }

    function _insidePrime(uint256 root) internal pure returns (bool) {
        for (uint256 i = 0; i < 4; i++) {
            if ((root >> (64 * i)) & 0xFFFFFFFFFFFFFFFF >= GOLDILOCKS_PRIME) return false;
        }
        return true;
    }
}
