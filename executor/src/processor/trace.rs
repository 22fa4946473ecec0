//! Debug traces as geth gives them (`debug_traceTransaction`, `debug_traceBlockBy*`,
//! `debug_traceCall`): the struct logger, `callTracer` and `prestateTracer`, recorded by
//! revm-inspectors' tracing inspector while a transaction runs on the batch EVM.
//!
//! Every [`Evm`] carries a [`Tracer`], idle until armed for one transaction: [`transact`] then
//! runs that transaction through revm's inspecting loop (the same instruction table, so the same
//! fork-12 opcodes and the same gas), builds its trace before the transaction's changes reach the
//! database (the prestate tracer reads the state as it was before the transaction there), and
//! disarms the tracer. A stored block is traced by replaying it ([`trace_block`]): from the state
//! root of the block before it, the block is opened as the sequencer opened it (the system
//! contract's block number, timestamp and previous root), and its transactions run in order
//! through [`BatchBuilder::execute_tx`], the sequencer's own path, the traced ones with the
//! tracer armed. A call is traced on [`ReadOnlyEvm`] ([`ReadOnlyEvm::trace_call`]).
//!
//! The struct logger records a snapshot per executed opcode, which grows without bound (a loop
//! with memory capture on can produce gigabytes). Geth sets no limit; here one request records
//! at most [`MAX_STRUCT_LOG_STEPS`] steps and [`MAX_SNAPSHOT_BYTES`] bytes of memory, stack and
//! return data snapshots, and is refused past either ([`TraceError::TooLarge`]). The `limit`
//! option caps the steps recorded per transaction (the rest of the transaction still runs,
//! unrecorded), so a `limit` at or below the step cap gets the first steps instead of the error.

use std::cell::RefCell;
use std::collections::BTreeMap;

pub use alloy_rpc_types_trace::geth::{
    GethDebugBuiltInTracerType, GethDebugTracerType, GethDebugTracingOptions, GethTrace,
};
use revm::context::TxEnv;
use revm::context_interface::result::{EVMError, HaltReason, ResultAndState};
use revm::context_interface::ContextTr;
use revm::handler::FrameResult;
use revm::inspector::JournalExt;
use revm::interpreter::{
    CallInputs, CallOutcome, CreateInputs, CreateOutcome, FrameInput, Interpreter,
};
use revm::primitives::{Address, Log, StorageKey, StorageValue, B256, U256};
use revm::state::{AccountInfo, Bytecode};
use revm::{Database, DatabaseRef, ExecuteEvm, InspectEvm, Inspector};
use revm_inspectors::tracing::{DebugInspector, TracingInspector, TracingInspectorConfig};
use zknode_state::{NodeReader, StateTree};

use super::evm::Evm;
use super::{BatchBuilder, BatchContext, CallRequest, ExecError, ReadOnlyEvm};
use crate::codec::RawTx;
use crate::db::{CodeSource, StateDb, StateError};

/// The most struct-logger steps one request records (all its transactions together).
pub const MAX_STRUCT_LOG_STEPS: u64 = 100_000;
/// The most bytes of memory, stack and return data snapshots one request's struct logs hold,
/// counted per step as recorded (a snapshot shared by several steps counts once per step, as
/// its JSON is written once per step).
pub const MAX_SNAPSHOT_BYTES: u64 = 64 << 20;

/// Why a trace was not produced.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    /// The options name a tracer this node does not run, or a tracer config it cannot read.
    #[error("{0}")]
    Options(String),
    /// The struct logs would pass [`MAX_STRUCT_LOG_STEPS`] or [`MAX_SNAPSHOT_BYTES`].
    #[error("{0}")]
    TooLarge(String),
    /// A traced call could not run at all (funds for its value, gas below the intrinsic cost,
    /// …), as `eth_call` reports it: `TX INVALID: …`.
    #[error("{0}")]
    Refused(String),
    /// The stored block does not replay as it was sequenced (a transaction skipped, another
    /// block number or state root): the stored data and the state tree disagree.
    #[error("{0}")]
    Replay(String),
    #[error(transparent)]
    Exec(#[from] ExecError),
}

impl From<StateError> for TraceError {
    fn from(e: StateError) -> Self {
        TraceError::Exec(e.into())
    }
}

/// Which of geth's tracers runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TracerKind {
    /// The default opcode logger (`structLogs`).
    StructLogger,
    /// `callTracer`: the tree of calls.
    Call,
    /// `prestateTracer`: the accounts a transaction touches, before it (or, in diff mode, what
    /// it changed).
    Prestate,
}

/// Tracing options, checked: geth's `debug_trace*` options naming one of the tracers this node
/// runs ([`TracerKind`]) with a config that tracer reads.
#[derive(Clone, Debug)]
pub struct TraceOptions {
    kind: TracerKind,
    opts: GethDebugTracingOptions,
}

impl TraceOptions {
    /// Checks `opts`. The error says what is wrong: an unknown tracer (JavaScript tracers and
    /// the built-in tracers other than `callTracer` and `prestateTracer` are not run here), or a
    /// `tracerConfig` that does not fit the tracer.
    pub fn new(opts: GethDebugTracingOptions) -> Result<Self, TraceError> {
        let kind = match &opts.tracer {
            None => TracerKind::StructLogger,
            Some(GethDebugTracerType::JsTracer(s)) if s.is_empty() => TracerKind::StructLogger,
            Some(GethDebugTracerType::BuiltInTracer(GethDebugBuiltInTracerType::CallTracer)) => {
                TracerKind::Call
            }
            Some(GethDebugTracerType::BuiltInTracer(
                GethDebugBuiltInTracerType::PreStateTracer,
            )) => TracerKind::Prestate,
            Some(other) => {
                let name = other.as_str();
                let shown: String = name.chars().take(64).collect();
                let more = if shown.len() < name.len() { "…" } else { "" };
                return Err(TraceError::Options(format!(
                    "tracer {shown:?}{more} is not supported: use no tracer (the struct logger), \
                     \"callTracer\" or \"prestateTracer\""
                )));
            }
        };
        let checked = Self { kind, opts };
        checked.inspector()?;
        Ok(checked)
    }

    /// The tracer these options run.
    pub fn kind(&self) -> TracerKind {
        self.kind
    }

    /// A fresh inspector for one transaction.
    fn inspector(&self) -> Result<DebugInspector, TraceError> {
        let config = self.opts.tracer_config.clone();
        Ok(match self.kind {
            TracerKind::StructLogger => {
                let o = self.opts.config;
                DebugInspector::Default(
                    TracingInspector::new(TracingInspectorConfig::from_geth_config(&o)),
                    o,
                )
            }
            TracerKind::Call => {
                let c = config.into_call_config().map_err(|e| {
                    TraceError::Options(format!("invalid tracerConfig for callTracer: {e}"))
                })?;
                DebugInspector::CallTracer(
                    TracingInspector::new(TracingInspectorConfig::from_geth_call_config(&c)),
                    c,
                )
            }
            TracerKind::Prestate => {
                let c = config.into_pre_state_config().map_err(|e| {
                    TraceError::Options(format!("invalid tracerConfig for prestateTracer: {e}"))
                })?;
                DebugInspector::PreStateTracer(
                    TracingInspector::new(TracingInspectorConfig::from_geth_prestate_config(&c)),
                    c,
                )
            }
        })
    }

    /// What the struct logger snapshots per step (`None` for the other tracers).
    fn snapshots(&self) -> Option<Snapshots> {
        let o = &self.opts.config;
        (self.kind == TracerKind::StructLogger).then(|| Snapshots {
            memory: o.is_memory_enabled(),
            stack: !o.disable_stack.unwrap_or_default(),
            return_data: o.is_return_data_enabled(),
            limit: o.limit.filter(|l| *l != 0),
        })
    }
}

/// What one struct-logger step records, for the request's budget.
#[derive(Clone, Copy, Debug)]
struct Snapshots {
    memory: bool,
    stack: bool,
    return_data: bool,
    /// Steps recorded per transaction (`limit`).
    limit: Option<u64>,
}

/// The inspector for the one transaction being traced.
struct Armed {
    inspector: DebugInspector,
    snapshots: Option<Snapshots>,
    /// Steps recorded in this transaction.
    recorded: u64,
    /// Set when the request's budget ran out: nothing more is forwarded to the inspector and
    /// the transaction's trace is this error.
    over: Option<String>,
}

/// The tracer every [`Evm`] carries: idle, or armed for the next transaction. It forwards
/// revm's inspector calls to revm-inspectors' inspector while armed, and counts the struct
/// logger's steps and snapshot bytes against the request's budget.
#[derive(Default)]
pub(super) struct Tracer {
    armed: Option<Box<Armed>>,
    /// The last traced transaction's trace, until taken.
    done: Option<Result<GethTrace, TraceError>>,
    /// Steps and snapshot bytes recorded so far in this request.
    steps: u64,
    bytes: u64,
}

impl Tracer {
    /// Arms the tracer for the next transaction [`transact`] runs.
    fn arm(&mut self, opts: &TraceOptions) -> Result<(), TraceError> {
        self.done = None;
        self.armed = Some(Box::new(Armed {
            inspector: opts.inspector()?,
            snapshots: opts.snapshots(),
            recorded: 0,
            over: None,
        }));
        Ok(())
    }

    /// Disarms the tracer, forgets what it recorded and resets the request's budget.
    fn reset(&mut self) {
        *self = Self::default();
    }

    /// The trace of the transaction the tracer was armed for (`None` when it did not run).
    fn take(&mut self) -> Option<Result<GethTrace, TraceError>> {
        self.armed = None;
        self.done.take()
    }

    /// The armed inspector, while it records.
    fn active(&mut self) -> Option<&mut DebugInspector> {
        match self.armed.as_deref_mut() {
            Some(Armed {
                inspector,
                over: None,
                ..
            }) => Some(inspector),
            _ => None,
        }
    }

    /// Counts a struct-logger step against the budget; false when it is spent.
    fn count_step(&mut self, memory: usize, stack: usize, return_data: usize) -> bool {
        let Some(a) = self.armed.as_deref_mut() else {
            return false;
        };
        let Some(s) = a.snapshots else {
            return true;
        };
        if s.limit.is_some_and(|l| a.recorded >= l) {
            // Past `limit`: the inspector records nothing more for this transaction.
            return true;
        }
        a.recorded += 1;
        self.steps += 1;
        let mut bytes = 0;
        if s.memory {
            bytes += memory;
        }
        if s.stack {
            bytes += stack * 32;
        }
        if s.return_data {
            bytes += return_data;
        }
        self.bytes += bytes as u64;
        if self.steps > MAX_STRUCT_LOG_STEPS {
            a.over = Some(format!(
                "trace exceeds {MAX_STRUCT_LOG_STEPS} struct log steps; set a lower \"limit\" \
                 or use the callTracer"
            ));
        } else if self.bytes > MAX_SNAPSHOT_BYTES {
            a.over = Some(format!(
                "trace exceeds {} MiB of memory, stack and return data snapshots; set a lower \
                 \"limit\" or disable memory capture",
                MAX_SNAPSHOT_BYTES >> 20
            ));
        }
        a.over.is_none()
    }
}

impl<CTX> Inspector<CTX> for Tracer
where
    CTX: ContextTr<Journal: JournalExt>,
{
    fn initialize_interp(&mut self, interp: &mut Interpreter, context: &mut CTX) {
        if let Some(i) = self.active() {
            Inspector::<CTX>::initialize_interp(i, interp, context);
        }
    }

    fn step(&mut self, interp: &mut Interpreter, context: &mut CTX) {
        let (memory, stack) = (interp.memory.len(), interp.stack.len());
        let return_data =
            revm::interpreter::interpreter_types::ReturnData::buffer(&interp.return_data).len();
        if !self.count_step(memory, stack, return_data) {
            return;
        }
        if let Some(i) = self.active() {
            Inspector::<CTX>::step(i, interp, context);
        }
    }

    fn step_end(&mut self, interp: &mut Interpreter, context: &mut CTX) {
        if let Some(i) = self.active() {
            Inspector::<CTX>::step_end(i, interp, context);
        }
    }

    fn log(&mut self, context: &mut CTX, log: Log) {
        if let Some(i) = self.active() {
            Inspector::<CTX>::log(i, context, log);
        }
    }

    fn log_full(&mut self, interp: &mut Interpreter, context: &mut CTX, log: Log) {
        if let Some(i) = self.active() {
            Inspector::<CTX>::log_full(i, interp, context, log);
        }
    }

    fn call(&mut self, context: &mut CTX, inputs: &mut CallInputs) -> Option<CallOutcome> {
        let i = self.active()?;
        Inspector::<CTX>::call(i, context, inputs)
    }

    fn call_end(&mut self, context: &mut CTX, inputs: &CallInputs, outcome: &mut CallOutcome) {
        if let Some(i) = self.active() {
            Inspector::<CTX>::call_end(i, context, inputs, outcome);
        }
    }

    fn create(&mut self, context: &mut CTX, inputs: &mut CreateInputs) -> Option<CreateOutcome> {
        let i = self.active()?;
        Inspector::<CTX>::create(i, context, inputs)
    }

    fn create_end(
        &mut self,
        context: &mut CTX,
        inputs: &CreateInputs,
        outcome: &mut CreateOutcome,
    ) {
        if let Some(i) = self.active() {
            Inspector::<CTX>::create_end(i, context, inputs, outcome);
        }
    }

    fn selfdestruct(&mut self, contract: Address, target: Address, value: U256) {
        if let Some(i) = self.active() {
            Inspector::<CTX>::selfdestruct(i, contract, target, value);
        }
    }

    fn frame_start(
        &mut self,
        context: &mut CTX,
        frame_input: &mut FrameInput,
    ) -> Option<FrameResult> {
        let i = self.active()?;
        Inspector::<CTX>::frame_start(i, context, frame_input)
    }

    fn frame_end(
        &mut self,
        context: &mut CTX,
        frame_input: &FrameInput,
        frame_result: &mut FrameResult,
    ) {
        if let Some(i) = self.active() {
            Inspector::<CTX>::frame_end(i, context, frame_input, frame_result);
        }
    }
}

/// Runs `env` on `evm`: with revm's plain `transact` when the tracer is idle, else through the
/// inspecting loop, leaving the trace in the tracer (built before the caller writes the
/// transaction's changes to the database) and the tracer disarmed.
pub(super) fn transact<S: NodeReader>(
    evm: &mut Evm<'_, S>,
    env: TxEnv,
) -> Result<ResultAndState<HaltReason>, EVMError<StateError>> {
    if evm.inspector.armed.is_none() {
        return evm.transact(env);
    }
    let out = evm.inspect_tx(env);
    if let (Some(armed), Ok(res)) = (evm.inspector.armed.take(), &out) {
        let trace = match armed.over {
            Some(over) => Err(TraceError::TooLarge(over)),
            None => finish(armed.inspector, evm, res),
        };
        evm.inspector.done = Some(trace);
    }
    out
}

/// The trace of the transaction `inspector` watched, whose outcome is `res`; `evm`'s database
/// still holds the state before it.
fn finish<S: NodeReader>(
    mut inspector: DebugInspector,
    evm: &mut Evm<'_, S>,
    res: &ResultAndState<HaltReason>,
) -> Result<GethTrace, TraceError> {
    let ctx = &mut evm.ctx;
    let mut db = BeforeTx(RefCell::new(&mut ctx.journaled_state.database));
    inspector
        .get_result(None, &ctx.tx, &ctx.block, res, &mut db)
        .map_err(|e| match e {
            revm_inspectors::tracing::DebugInspectorError::Database(e) => TraceError::from(e),
            other => TraceError::Options(other.to_string()),
        })
}

/// The state database read through `&self`, as the prestate tracer reads the state before the
/// transaction (reads only fill the database's caches).
struct BeforeTx<'a, 'c, S>(RefCell<&'a mut StateDb<'c, S>>);

impl<S: NodeReader> DatabaseRef for BeforeTx<'_, '_, S> {
    type Error = StateError;

    fn basic_ref(&self, a: Address) -> Result<Option<AccountInfo>, StateError> {
        self.0.borrow_mut().basic(a)
    }

    fn code_by_hash_ref(&self, code_hash: B256) -> Result<Bytecode, StateError> {
        self.0.borrow_mut().code_by_hash(code_hash)
    }

    fn storage_ref(&self, a: Address, index: StorageKey) -> Result<StorageValue, StateError> {
        self.0.borrow_mut().storage(a, index)
    }

    fn block_hash_ref(&self, number: u64) -> Result<B256, StateError> {
        self.0.borrow_mut().block_hash(number)
    }
}

/// A stored L2 block as [`trace_block`] replays it.
#[derive(Clone, Debug)]
pub struct ReplayBlock {
    pub number: u64,
    pub timestamp: u64,
    /// Who sequenced it (it received the fees).
    pub coinbase: Address,
    /// The global exit root it brought in (zero for none).
    pub global_exit_root: B256,
    /// Its state root, which a replay of the whole block must reach.
    pub state_root: B256,
    /// Its transactions in order, each with its effective percentage set, and its sender.
    pub txs: Vec<(RawTx, Address)>,
}

/// Traces the transactions of a stored block: all of them (`only: None`), or only the one at
/// index `only`, replaying those before it untraced. `tree` is at the state root of the block
/// before (where this block starts); `chain_id` is the chain's. Returns one trace per traced
/// transaction, in order.
///
/// The block is opened as the sequencer opened it (timestamp, no L1 info leaf) and its
/// transactions run through [`BatchBuilder::execute_tx`] as they did when it was built. A
/// transaction skipped on replay, or a whole-block replay that does not end on the stored state
/// root, is a [`TraceError::Replay`]. A block that brought in a global exit root is refused: the
/// L1 block hash recorded with it is not stored, and without it the replay would not be exact.
pub fn trace_block<S: NodeReader>(
    tree: StateTree<S>,
    codes: &dyn CodeSource,
    chain_id: u64,
    block: &ReplayBlock,
    only: Option<usize>,
    opts: &TraceOptions,
) -> Result<Vec<GethTrace>, TraceError> {
    if !block.global_exit_root.is_zero() {
        return Err(TraceError::Replay(format!(
            "block {} brings in global exit root {}; replaying it needs its L1 info leaf, which \
             is not stored",
            block.number, block.global_exit_root
        )));
    }
    if let Some(i) = only {
        if i >= block.txs.len() {
            return Err(TraceError::Replay(format!(
                "block {} has {} transactions, no transaction {i}",
                block.number,
                block.txs.len()
            )));
        }
    }
    let ctx = BatchContext {
        chain_id,
        fork_id: 12,
        sequencer: block.coinbase,
        timestamp_limit: u64::MAX,
        l1_info_root: B256::ZERO,
        old_acc_input_hash: B256::ZERO,
        forced_block_hash_l1: B256::ZERO,
        l1_info: BTreeMap::new(),
        verify_l1_info_proofs: false,
        with_proofs: false,
    };
    let mut b = BatchBuilder::new(tree, codes, &ctx);
    match b.open_block_at(block.timestamp, 0)? {
        Ok(opened) if opened.number == block.number => {}
        Ok(opened) => {
            return Err(TraceError::Replay(format!(
                "the state before block {} opens block {}",
                block.number, opened.number
            )))
        }
        Err(e) => {
            return Err(TraceError::Replay(format!(
                "block {} does not open: {e}",
                block.number
            )))
        }
    }
    b.evm.inspector.reset();
    let last = only.unwrap_or(block.txs.len().saturating_sub(1));
    let mut traces = Vec::new();
    for (i, (tx, from)) in block.txs.iter().enumerate().take(last + 1) {
        let traced = only.is_none_or(|t| t == i);
        if traced {
            b.evm.inspector.arm(opts)?;
        }
        let skipped = b.execute_tx(tx.clone(), Some(*from))?.outcome.clone().err();
        let trace = b.evm.inspector.take();
        if let Some(reason) = skipped {
            return Err(TraceError::Replay(format!(
                "transaction {i} of block {} is skipped on replay: {reason}",
                block.number
            )));
        }
        if traced {
            let trace = trace.ok_or_else(|| {
                TraceError::Replay(format!(
                    "transaction {i} of block {} left no trace",
                    block.number
                ))
            })?;
            traces.push(trace?);
        }
    }
    if only.is_none() {
        let closed = b.close_block()?;
        if closed.block.hash != block.state_root {
            return Err(TraceError::Replay(format!(
                "replaying block {} ends on state root {}, {} is stored",
                block.number, closed.block.hash, block.state_root
            )));
        }
    }
    Ok(traces)
}

impl<S: NodeReader> ReadOnlyEvm<'_, S> {
    /// Traces `req` as [`Self::call`] runs it. A call that cannot run at all is
    /// [`TraceError::Refused`] with the reason `call` gives.
    pub fn trace_call(
        &mut self,
        req: &CallRequest,
        opts: &TraceOptions,
    ) -> Result<GethTrace, TraceError> {
        self.evm.inspector.reset();
        self.evm.inspector.arm(opts)?;
        let result = self.call(req);
        let trace = self.evm.inspector.take();
        let result = result?;
        match trace {
            Some(t) => t,
            None => Err(TraceError::Refused(
                result
                    .failure
                    .unwrap_or_else(|| "the call did not run".into()),
            )),
        }
    }
}
