//! The EVM a batch runs on: revm's mainnet EVM at Berlin over the state tree, with fork 12's
//! opcode changes (PUSH0; BLOCKHASH reading the system contract's record of every block;
//! SELFDESTRUCT as SENDALL; RETURN refusing to deploy code that starts with 0xEF, EIP-3541); the
//! block environment a transaction or a call sees; and what a run's result means (success, gas,
//! logs, created contract, revert or halt reason).

use revm::context::{BlockEnv, CfgEnv};
use revm::context_interface::result::{ExecutionResult, Output};
use revm::context_interface::{ContextTr, JournalTr};
use revm::interpreter::instructions::control;
use revm::interpreter::interpreter_types::{
    InputsTr, InterpreterTypes, MemoryTr, RuntimeFlag, StackTr,
};
use revm::interpreter::{
    Host, Instruction, InstructionContext, InstructionExecResult, InstructionResult,
};
use revm::primitives::hardfork::SpecId;
use revm::primitives::{Address, Bytes, Log, B256};
use revm::{Context, MainBuilder, MainContext};
use ruint::aliases::U256;
use zknode_state::NodeReader;

use super::trace::Tracer;
use crate::db::StateDb;
use crate::system::BLOCK_GAS_LIMIT;

/// The EVM of a batch or a call. It carries a [`Tracer`], idle unless a debug trace arms it
/// for one transaction ([`super::trace`]): an idle tracer is never called, since transactions
/// then run through revm's plain `transact`, and an armed one sees the same instruction table,
/// so a traced transaction runs exactly as the untraced one.
pub(super) type Evm<'c, S> =
    revm::handler::MainnetEvm<revm::handler::MainnetContext<StateDb<'c, S>>, Tracer>;

/// The fork-12 EVM over `db`, for chain `chain_id`.
pub(super) fn new_evm<'c, S: NodeReader>(db: StateDb<'c, S>, chain_id: u64) -> Evm<'c, S> {
    let mut cfg = CfgEnv::new_with_spec(SpecId::BERLIN);
    cfg.chain_id = chain_id;
    let mut evm = Context::mainnet()
        .with_db(db)
        .with_cfg(cfg)
        .build_mainnet_with_inspector(Tracer::default());
    // Fork 12 is Berlin plus PUSH0 (EIP-3855).
    evm.instruction
        .insert_instruction(0x5f, Instruction::new(push0), 2);
    // BLOCKHASH reads the system contract's record of any earlier block, not only the last 256.
    evm.instruction
        .insert_instruction(0x40, Instruction::new(blockhash), 20);
    // SELFDESTRUCT is SENDALL: the balance moves, the account stays, no refund.
    evm.instruction
        .insert_instruction(0xff, Instruction::new(sendall), SENDALL_GAS);
    // RETURN from init code refuses code starting with 0xEF (EIP-3541, London's, which revm
    // only applies from London on).
    evm.instruction
        .insert_instruction(0xf3, Instruction::new(ret), 0);
    evm
}

/// SENDALL's fixed cost, charged before anything else (as the ROM's `SENDALL_GAS`).
const SENDALL_GAS: u16 = 5_000;
/// What SENDALL adds when it moves value to an empty account (EIP-161 empty).
const SENDALL_NEW_ACCOUNT_GAS: u64 = 25_000;
/// What SENDALL adds when it moves value to a cold account (EIP-2929).
const SENDALL_COLD_ACCOUNT_GAS: u64 = 2_600;
/// The largest code a creation may deploy (EIP-170); larger fails on size before anything else.
const MAX_CODE_SIZE: usize = 0x6000;

/// The block a transaction (or a call) runs in: L2 block `number` at `timestamp`, paid to
/// `coinbase`, with no base fee and Polygon's block gas limit.
pub(super) fn block_env(number: u64, timestamp: U256, coinbase: Address) -> BlockEnv {
    BlockEnv {
        number: U256::from(number),
        beneficiary: coinbase,
        timestamp,
        gas_limit: BLOCK_GAS_LIMIT,
        basefee: 0,
        difficulty: U256::ZERO,
        prevrandao: None,
        ..Default::default()
    }
}

/// What a run that was not refused came to.
pub(super) struct RunOutcome {
    pub(super) success: bool,
    /// Gas used, refunds deducted.
    pub(super) gas_used: u64,
    /// Gas spent before refunds.
    pub(super) gas_spent: u64,
    /// The logs of a successful run (none otherwise, as a receipt has them).
    pub(super) logs: Vec<Log>,
    /// Returned data, or the revert data.
    pub(super) output: Bytes,
    pub(super) created: Option<Address>,
    /// Revert reason or halt reason of a failed run.
    pub(super) failure: Option<String>,
}

impl RunOutcome {
    pub(super) fn new(result: ExecutionResult) -> Self {
        match result {
            ExecutionResult::Success {
                gas, logs, output, ..
            } => {
                let (output, created) = match output {
                    Output::Create(o, a) => (o, a),
                    Output::Call(o) => (o, None),
                };
                Self {
                    success: true,
                    gas_used: gas.tx_gas_used(),
                    gas_spent: gas.total_gas_spent(),
                    logs,
                    output,
                    created,
                    failure: None,
                }
            }
            ExecutionResult::Revert { gas, output, .. } => Self {
                success: false,
                gas_used: gas.tx_gas_used(),
                gas_spent: gas.total_gas_spent(),
                logs: Vec::new(),
                failure: Some(revert_reason(&output)),
                output,
                created: None,
            },
            ExecutionResult::Halt { reason, gas, .. } => Self {
                success: false,
                gas_used: gas.tx_gas_used(),
                gas_spent: gas.total_gas_spent(),
                logs: Vec::new(),
                output: Bytes::new(),
                created: None,
                failure: Some(format!("{reason:?}")),
            },
        }
    }
}

/// `Error(string)` decoded when the revert data carries one, else the data in hex.
pub(super) fn revert_reason(out: &Bytes) -> String {
    const ERROR_SELECTOR: [u8; 4] = [0x08, 0xc3, 0x79, 0xa0];
    if out.len() >= 68 && out[..4] == ERROR_SELECTOR {
        let len = U256::from_be_slice(&out[36..68]);
        if let Ok(n) = usize::try_from(len) {
            if let Some(s) = out.get(68..).and_then(|r| r.get(..n)) {
                if let Ok(s) = std::str::from_utf8(s) {
                    return s.to_string();
                }
            }
        }
    }
    if out.is_empty() {
        "execution reverted".into()
    } else {
        format!("execution reverted: 0x{}", hex::encode(out))
    }
}

/// PUSH0: pushes a zero word (EIP-3855), which revm gates behind Shanghai.
fn push0<H: ?Sized, W: InterpreterTypes>(
    ctx: InstructionContext<'_, H, W>,
) -> InstructionExecResult {
    if ctx.interpreter.stack.push(revm::primitives::U256::ZERO) {
        Ok(())
    } else {
        Err(InstructionResult::StackOverflow)
    }
}

/// BLOCKHASH as Polygon's zkEVM has it: the state root recorded for any block before the
/// current one (0 for the current block and later ones).
fn blockhash<H: Host + ?Sized, W: InterpreterTypes>(
    ctx: InstructionContext<'_, H, W>,
) -> InstructionExecResult {
    let Some([number]) = ctx.interpreter.stack.popn::<1>() else {
        return Err(InstructionResult::StackUnderflow);
    };
    let current = ctx.host.block_number();
    let hash = match u64::try_from(number) {
        Ok(n) if number < current => U256::from_be_bytes(
            ctx.host
                .block_hash(n)
                .ok_or(InstructionResult::FatalExternalError)?
                .0,
        ),
        _ => U256::ZERO,
    };
    if ctx.interpreter.stack.push(hash) {
        Ok(())
    } else {
        Err(InstructionResult::StackOverflow)
    }
}

/// SELFDESTRUCT as fork 12 has it, SENDALL (EIP-4758): 5,000 gas (the static cost); in a static
/// context it fails as SELFDESTRUCT does. When the account holds a balance and the target is
/// another account, the target costs 25,000 more if it is empty and 2,600 more if it is cold, and
/// the whole balance moves to it; otherwise (no balance, or the account itself as the target)
/// nothing is charged, loaded or moved, and a self-targeted balance stays. The account is not
/// destroyed (its code, storage and nonce stay), no gas is refunded, and the frame then stops as
/// STOP does (success, no return data, the remaining gas back to the caller).
fn sendall<H: ContextTr + ?Sized, W: InterpreterTypes>(
    ctx: InstructionContext<'_, H, W>,
) -> InstructionExecResult {
    let Some([target]) = ctx.interpreter.stack.popn::<1>() else {
        return Err(InstructionResult::StackUnderflow);
    };
    if ctx.interpreter.runtime_flag.is_static() {
        return Err(InstructionResult::StateChangeDuringStaticCall);
    }
    let target = Address::from_word(B256::from(target.to_be_bytes::<32>()));
    let me = ctx.interpreter.input.target_address();
    // The executing account is loaded (and warm) already.
    let balance = ctx
        .host
        .load_account_info_skip_cold_load(me, false, false)?
        .balance;
    if balance.is_zero() || target == me {
        return Err(InstructionResult::Stop);
    }
    let to = ctx
        .host
        .load_account_info_skip_cold_load(target, false, false)?;
    let mut cost = 0;
    if to.is_empty {
        cost += SENDALL_NEW_ACCOUNT_GAS;
    }
    if to.is_cold {
        cost += SENDALL_COLD_ACCOUNT_GAS;
    }
    if !ctx.interpreter.gas.record_regular_cost(cost) {
        return Err(InstructionResult::OutOfGas);
    }
    // Both accounts are loaded; the whole balance of one moves to the other, which cannot fail.
    if ctx
        .host
        .journal_mut()
        .transfer_loaded(me, target, balance)
        .is_some()
    {
        return Err(InstructionResult::FatalExternalError);
    }
    Err(InstructionResult::Stop)
}

/// RETURN, which in init code (a creation transaction's, CREATE's or CREATE2's: the frames
/// without a bytecode address) fails with `CreateContractStartingWithEF` when the code it would
/// deploy starts with 0xEF (EIP-3541). The ROM checks, in order, the memory expansion, the code
/// size limit, the code deposit cost and then the first byte; each failure is an exceptional halt
/// (the frame's gas all spent, its changes reverted), and the earlier ones keep their own reason
/// here too. Everything else is revm's RETURN.
fn ret<H: Host + ?Sized, W: InterpreterTypes>(
    ctx: InstructionContext<'_, H, W>,
) -> InstructionExecResult {
    if ctx.interpreter.input.bytecode_address().is_none() {
        let data = ctx.interpreter.stack.data();
        if let [.., len, offset] = *data {
            if let (Ok(offset), Ok(len)) = (usize::try_from(offset), usize::try_from(len)) {
                if (1..=MAX_CODE_SIZE).contains(&len) {
                    // Charged as RETURN charges it (RETURN's own resize then costs nothing).
                    ctx.interpreter
                        .resize_memory(ctx.host.gas_params(), offset, len)?;
                    let deposit = ctx.host.gas_params().code_deposit_cost(len);
                    if ctx.interpreter.memory.slice_len(offset, 1)[0] == 0xEF
                        && ctx.interpreter.gas.remaining() >= deposit
                    {
                        return Err(InstructionResult::CreateContractStartingWithEF);
                    }
                }
            }
        }
    }
    control::ret(ctx)
}
