//! The EVM a batch runs on: revm's mainnet EVM at Berlin over the state tree, with fork 12's two
//! opcode changes (PUSH0, and BLOCKHASH reading the system contract's record of every block).

use revm::context::CfgEnv;
use revm::interpreter::interpreter_types::{InterpreterTypes, StackTr};
use revm::interpreter::{
    Host, Instruction, InstructionContext, InstructionExecResult, InstructionResult,
};
use revm::primitives::hardfork::SpecId;
use revm::{Context, MainBuilder, MainContext};
use ruint::aliases::U256;
use zknode_state::NodeReader;

use crate::db::StateDb;

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
