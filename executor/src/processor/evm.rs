//! The EVM a batch runs on: revm's mainnet EVM at Berlin over the state tree, with fork 12's two
//! opcode changes (PUSH0, and BLOCKHASH reading the system contract's record of every block); the
//! block environment a transaction or a call sees; and what a run's result means (success, gas,
//! logs, created contract, revert or halt reason).

use revm::context::{BlockEnv, CfgEnv};
use revm::context_interface::result::{ExecutionResult, Output};
use revm::interpreter::interpreter_types::{InterpreterTypes, StackTr};
use revm::interpreter::{
    Host, Instruction, InstructionContext, InstructionExecResult, InstructionResult,
};
use revm::primitives::hardfork::SpecId;
use revm::primitives::{Address, Bytes, Log};
use revm::{Context, MainBuilder, MainContext};
use ruint::aliases::U256;
use zknode_state::NodeReader;

use crate::db::StateDb;
use crate::system::BLOCK_GAS_LIMIT;

pub(super) type Evm<'c, S> =
    revm::handler::MainnetEvm<revm::handler::MainnetContext<StateDb<'c, S>>>;

/// The fork-12 EVM over `db`, for chain `chain_id`.
pub(super) fn new_evm<'c, S: NodeReader>(db: StateDb<'c, S>, chain_id: u64) -> Evm<'c, S> {
    let mut cfg = CfgEnv::new_with_spec(SpecId::BERLIN);
    cfg.chain_id = chain_id;
    let mut evm = Context::mainnet().with_db(db).with_cfg(cfg).build_mainnet();
    // Fork 12 is Berlin plus PUSH0 (EIP-3855).
    evm.instruction
        .insert_instruction(0x5f, Instruction::new(push0), 2);
    // BLOCKHASH reads the system contract's record of any earlier block, not only the last 256.
    evm.instruction
        .insert_instruction(0x40, Instruction::new(blockhash), 20);
    evm
}

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
