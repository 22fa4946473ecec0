// SPDX-License-Identifier: MIT OR Apache-2.0
// The global exit root manager of a zkNode rollup on L1: it keeps the last mainnet and rollup
// exit roots and the L1 info tree, an append-only keccak Merkle tree of depth 32 built
// incrementally (the eth2 deposit contract's layout: one cached node per level, zero padding).
//
// A new global exit root GER = keccak256(mainnetExitRoot ‖ rollupExitRoot) appends the leaf
// keccak256(GER ‖ blockhash(block.number - 1) ‖ uint64(block.timestamp)) (72 bytes, packed), so
// a node rebuilds every leaf from the UpdateL1InfoTree event, the parent hash and the timestamp
// of the L1 block that holds it. l1InfoRootMap(k) is the tree's root after k leaves.
//
// l1InfoRootMap(0) is the root of the empty tree (every leaf zero), stored at construction. The
// rollup's sequenceBatches reads l1InfoRootMap(l1InfoTreeLeafCount) and refuses a zero root as an
// unknown leaf count; with the empty root stored for count 0, a chain can sequence its first
// batches (which reference no leaf) at once, before any exit root exists, and the root for every
// count, 0 included, is exactly what an off-chain copy of the tree gives. Zero still marks the
// counts that were never reached.
pragma solidity 0.8.28;

contract GlobalExitRootManager {
    /// Levels of the L1 info tree.
    uint256 internal constant TREE_DEPTH = 32;
    /// Leaves the tree can hold.
    uint256 internal constant MAX_LEAVES = (1 << TREE_DEPTH) - 1;

    /// May set the mainnet exit root (on a development chain: the deployer).
    address public immutable bridgeAddress;
    /// May set the rollup exit root: the rollup contract.
    address public immutable rollupAddress;

    bytes32 public lastMainnetExitRoot;
    bytes32 public lastRollupExitRoot;
    /// GER => uint256(blockhash of the block before the one that added it); zero: unknown GER.
    mapping(bytes32 => uint256) public globalExitRootMap;
    /// Leaf count => the tree's root after that many leaves; zero for a count never reached.
    mapping(uint32 => bytes32) public l1InfoRootMap;

    /// Leaves in the tree.
    uint256 public depositCount;
    /// Per level, the left node still waiting for its right sibling.
    bytes32[TREE_DEPTH] internal branch;

    event UpdateL1InfoTree(bytes32 indexed mainnetExitRoot, bytes32 indexed rollupExitRoot);
    event UpdateL1InfoTreeV2(
        bytes32 currentL1InfoRoot, uint32 indexed leafCount, uint256 blockhash, uint64 minTimestamp
    );

    /// The caller is neither the bridge nor the rollup.
    error OnlyAllowedContracts();
    /// The tree holds 2^32 - 1 leaves already.
    error MerkleTreeFull();

    constructor(address _bridgeAddress, address _rollupAddress) {
        bridgeAddress = _bridgeAddress;
        rollupAddress = _rollupAddress;
        l1InfoRootMap[0] = getRoot();
    }

    /// Sets the mainnet exit root (from the bridge) or the rollup exit root (from the rollup);
    /// a global exit root not seen before appends a leaf to the L1 info tree.
    function updateExitRoot(bytes32 newRoot) external {
        bytes32 mainnetExitRoot = lastMainnetExitRoot;
        bytes32 rollupExitRoot = lastRollupExitRoot;
        if (msg.sender == bridgeAddress) {
            lastMainnetExitRoot = newRoot;
            mainnetExitRoot = newRoot;
        } else if (msg.sender == rollupAddress) {
            lastRollupExitRoot = newRoot;
            rollupExitRoot = newRoot;
        } else {
            revert OnlyAllowedContracts();
        }

        bytes32 ger = keccak256(abi.encodePacked(mainnetExitRoot, rollupExitRoot));
        if (globalExitRootMap[ger] != 0) {
            return;
        }
        uint256 parentHash = uint256(blockhash(block.number - 1));
        uint64 timestamp = uint64(block.timestamp);
        globalExitRootMap[ger] = parentHash;
        _addLeaf(getLeafValue(ger, parentHash, timestamp));
        bytes32 root = getRoot();
        uint32 count = uint32(depositCount);
        l1InfoRootMap[count] = root;
        emit UpdateL1InfoTree(mainnetExitRoot, rollupExitRoot);
        emit UpdateL1InfoTreeV2(root, count, parentHash, timestamp);
    }

    /// keccak256(lastMainnetExitRoot ‖ lastRollupExitRoot).
    function getLastGlobalExitRoot() public view returns (bytes32) {
        return keccak256(abi.encodePacked(lastMainnetExitRoot, lastRollupExitRoot));
    }

    /// The leaf a global exit root adds: keccak256(ger ‖ parent block hash ‖ uint64 timestamp).
    function getLeafValue(bytes32 ger, uint256 parentHash, uint64 timestamp)
        public
        pure
        returns (bytes32)
    {
        return keccak256(abi.encodePacked(ger, parentHash, timestamp));
    }

    /// The root of the L1 info tree now.
    function getRoot() public view returns (bytes32) {
        bytes32 node;
        bytes32 zero;
        uint256 size = depositCount;
        for (uint256 level = 0; level < TREE_DEPTH; level++) {
            if ((size >> level) & 1 == 1) {
                node = keccak256(abi.encodePacked(branch[level], node));
            } else {
                node = keccak256(abi.encodePacked(node, zero));
            }
            zero = keccak256(abi.encodePacked(zero, zero));
        }
        return node;
    }

    function _addLeaf(bytes32 leaf) internal {
        if (depositCount >= MAX_LEAVES) {
            revert MerkleTreeFull();
        }
        uint256 size = ++depositCount;
        bytes32 node = leaf;
        for (uint256 level = 0; level < TREE_DEPTH; level++) {
            if (size & 1 == 1) {
                branch[level] = node;
                return;
            }
            node = keccak256(abi.encodePacked(branch[level], node));
            size >>= 1;
        }
    }
}
