//! Column layout of the batch table. One row carries two Poseidon permutations ("lanes") and the
//! registers of the operation it belongs to. Range rows reuse the lanes' cells for key bits.

/// Cells of one Poseidon lane: input (12), S-box inputs of full rounds 1–3 (36), of the 22
/// partial rounds (22), of full rounds 4–7 (48), and the first four output words.
pub const LANE_WIDTH: usize = 122;
pub const L_IN: usize = 0;
pub const L_FULL_A: usize = 12;
pub const L_PART: usize = 48;
pub const L_FULL_B: usize = 70;
pub const L_OUT: usize = 118;

pub const LANE0: usize = 0;
pub const LANE1: usize = LANE_WIDTH;

/// Range rows: the bits of one key limb, the low-bits mask, the other key's limb bits.
pub const R_BITS: usize = 0;
pub const R_MASK: usize = 64;
pub const R_BITS2: usize = 128;

const C: usize = 2 * LANE_WIDTH;

// Row kinds, one-hot.
pub const F_KEY: usize = C;
pub const F_VALUE: usize = C + 1;
pub const F_LEAF: usize = C + 2;
pub const F_EXTRA: usize = C + 3;
pub const F_WALK: usize = C + 4;
pub const F_COMMIT: usize = C + 5;
pub const F_RANGE: usize = C + 6;
pub const F_PAD: usize = C + 7;
pub const ROW_KINDS: usize = 8;
/// Which key limb a range row checks, one-hot on range rows.
pub const RSEL: usize = C + 8;

// Operation kinds, one-hot on every row of an operation.
pub const OP: usize = RSEL + 4;
pub const OP_UPDATE: usize = 0;
pub const OP_INSERT_EMPTY: usize = 1;
pub const OP_SPLIT: usize = 2;
pub const OP_DELETE_BRANCH: usize = 3;
pub const OP_DELETE_ROOT: usize = 4;
pub const OP_COLLAPSE: usize = 5;
pub const OP_ABSENT_EMPTY: usize = 6;
pub const OP_ABSENT_FOUND: usize = 7;
pub const OP_KINDS: usize = 8;

// Per-operation registers (four limbs each).
/// The key.
pub const K: usize = OP + OP_KINDS;
/// Value hashes of the old and the new value.
pub const HVO: usize = K + 4;
pub const HVN: usize = HVO + 4;
/// Value hash of the other key's leaf (split, collapse, absent-found).
pub const HVP: usize = HVN + 4;
/// Remaining key of the key at the walk's depth L.
pub const RK: usize = HVP + 4;
/// Remaining key of the other key at depth L.
pub const RKP: usize = RK + 4;
/// Remaining key of the other key at its shallower depth.
pub const RKS: usize = RKP + 4;
/// Evolving along the walk: 2^(levels per limb), the key's low bits, the other key's low bits,
/// and the other key's remaining key climbing up.
pub const POW: usize = RKS + 4;
pub const A: usize = POW + 4;
pub const AP: usize = A + 4;
pub const R: usize = AP + 4;
/// The node each chain starts from (a leaf hash, or zero).
pub const START_O: usize = R + 4;
pub const START_N: usize = START_O + 4;

// Global registers.
/// The running state root.
pub const ROOT: usize = START_N + 4;
/// The running commitment to the operation list.
pub const COMM: usize = ROOT + 4;

// Walk rows.
pub const CUR_O: usize = COMM + 4;
pub const CUR_N: usize = CUR_O + 4;
pub const SIB_O: usize = CUR_N + 4;
pub const SIB_N: usize = SIB_O + 4;
pub const ACT_O: usize = SIB_N + 4;
pub const ACT_N: usize = ACT_O + 1;
pub const BIT: usize = ACT_N + 1;
/// First walk row of an operation.
pub const FW: usize = BIT + 1;
/// Which key limb the level's bit comes from, one-hot on walk rows.
pub const LSEL: usize = FW + 1;

/// Inverses that prove a value non-zero.
pub const AUX: usize = LSEL + 4;
pub const AUX_LEN: usize = 16;
/// Canonical-limb helpers of range rows: (z, inverse) for the key and the other key.
pub const CANON: usize = AUX + AUX_LEN;
/// The operation's level counter: zero on the extra row, one more on each walk row, and on the
/// range rows what is left after taking away each limb's levels (zero after the last limb).
pub const LVL: usize = CANON + 4;

pub const NUM_COLUMNS: usize = LVL + 1;

/// The deepest leaf an operation may touch. Each key limb then gives at most 63 path bits, so a
/// walk's accumulated path value is below 2^63 < p and `POW` = 2^levels has one solution (2 has
/// order 192 in Goldilocks). Two keys share 252 path bits with probability 2^-252; the trace
/// builder refuses a deeper operation with an error.
pub const MAX_DEPTH: usize = 252;

/// Public inputs: old root (4), new root (4), operations commitment (4), batch data
/// commitment (4), batch number (low and high 32 bits).
pub const PI_OLD_ROOT: usize = 0;
pub const PI_NEW_ROOT: usize = 4;
pub const PI_OPS: usize = 8;
pub const PI_DATA: usize = 12;
pub const PI_BATCH: usize = 16;
pub const NUM_PUBLIC_INPUTS: usize = 18;
