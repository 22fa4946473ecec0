//! The pending transactions in memory, by hash and by sender and nonce, and the order the
//! sequencer takes them in.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::sync::Arc;

use alloy_primitives::{Address, Bytes, B256, U256};
use zknode_executor::RawTx;

/// A pending transaction.
#[derive(Clone, Debug)]
pub struct PoolTx {
    /// The Ethereum hash: keccak256 of `raw`.
    pub hash: B256,
    /// Polygon's L2 transaction hash.
    pub l2_hash: B256,
    /// The sender the signature recovers to.
    pub sender: Address,
    /// The decoded transaction, as the executor runs it.
    pub tx: RawTx,
    /// The signed bytes as received.
    pub raw: Bytes,
    /// Unix milliseconds: when the pool received it.
    pub received_at_ms: u64,
    /// Arrival order, for ties within a millisecond.
    pub(crate) seq: u64,
}

/// Equal when every public field is (the arrival number is the pool's business).
impl PartialEq for PoolTx {
    fn eq(&self, other: &Self) -> bool {
        self.hash == other.hash
            && self.l2_hash == other.l2_hash
            && self.sender == other.sender
            && self.tx == other.tx
            && self.raw == other.raw
            && self.received_at_ms == other.received_at_ms
    }
}

impl Eq for PoolTx {}

impl PoolTx {
    pub fn nonce(&self) -> u64 {
        self.tx.nonce
    }

    /// The offered price per gas: the gas price, or for an EIP-1559 transaction
    /// maxPriorityFeePerGas capped by maxFeePerGas (the zkEVM's base fee is zero).
    pub fn price(&self) -> U256 {
        self.tx.offered_gas_price()
    }
}

/// How many transactions the pool holds, for metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolCounts {
    /// Pending transactions.
    pub pending: usize,
    /// Senders with at least one pending transaction.
    pub senders: usize,
}

/// The pending transactions; at most one per sender and nonce.
#[derive(Debug, Default)]
pub(crate) struct Pending {
    by_hash: HashMap<B256, Arc<PoolTx>>,
    by_sender: HashMap<Address, BTreeMap<u64, Arc<PoolTx>>>,
    next_seq: u64,
}

impl Pending {
    /// The next arrival number.
    pub fn next_seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }

    pub fn len(&self) -> usize {
        self.by_hash.len()
    }

    pub fn counts(&self) -> PoolCounts {
        PoolCounts {
            pending: self.by_hash.len(),
            senders: self.by_sender.len(),
        }
    }

    pub fn get(&self, hash: &B256) -> Option<&Arc<PoolTx>> {
        self.by_hash.get(hash)
    }

    /// The pending transaction of a sender and nonce.
    pub fn at(&self, sender: &Address, nonce: u64) -> Option<&Arc<PoolTx>> {
        self.by_sender.get(sender)?.get(&nonce)
    }

    /// Adds a transaction in place of the one of the same sender and nonce, if any, which it
    /// returns.
    pub fn insert(&mut self, tx: Arc<PoolTx>) -> Option<Arc<PoolTx>> {
        self.by_hash.insert(tx.hash, tx.clone());
        let old = self
            .by_sender
            .entry(tx.sender)
            .or_default()
            .insert(tx.nonce(), tx.clone());
        let old = old.filter(|o| o.hash != tx.hash)?;
        self.by_hash.remove(&old.hash);
        Some(old)
    }

    /// Removes a transaction by hash.
    pub fn remove(&mut self, hash: &B256) -> Option<Arc<PoolTx>> {
        let tx = self.by_hash.remove(hash)?;
        if let Some(nonces) = self.by_sender.get_mut(&tx.sender) {
            if nonces.get(&tx.nonce()).is_some_and(|t| t.hash == *hash) {
                nonces.remove(&tx.nonce());
            }
            if nonces.is_empty() {
                self.by_sender.remove(&tx.sender);
            }
        }
        Some(tx)
    }

    /// The state nonce plus the run of consecutive pending nonces from it.
    pub fn pending_nonce(&self, sender: &Address, state_nonce: u64) -> u64 {
        let mut next = state_nonce;
        if let Some(nonces) = self.by_sender.get(sender) {
            for &n in nonces.range(state_nonce..).map(|(n, _)| n) {
                if n != next {
                    break;
                }
                match next.checked_add(1) {
                    Some(n) => next = n,
                    None => break,
                }
            }
        }
        next
    }

    /// Every sender's pending transactions, in nonce order.
    pub fn by_sender(&self) -> BTreeMap<Address, Vec<Arc<PoolTx>>> {
        self.by_sender
            .iter()
            .map(|(a, nonces)| (*a, nonces.values().cloned().collect()))
            .collect()
    }

    /// One sender's transactions in nonce order.
    pub fn of_sender(&self, sender: &Address) -> Vec<Arc<PoolTx>> {
        self.by_sender
            .get(sender)
            .map(|nonces| nonces.values().cloned().collect())
            .unwrap_or_default()
    }

    /// The transaction with this L2 hash (a scan: the pool is indexed by Ethereum hash).
    pub fn by_l2_hash(&self, l2_hash: &B256) -> Option<&Arc<PoolTx>> {
        self.by_hash.values().find(|t| t.l2_hash == *l2_hash)
    }

    /// A copy of every sender's transactions in nonce order (cheap: reference counts).
    pub fn snapshot(&self) -> Vec<(Address, Vec<Arc<PoolTx>>)> {
        self.by_sender
            .iter()
            .map(|(a, nonces)| (*a, nonces.values().cloned().collect()))
            .collect()
    }
}

/// The pending transactions as geth's `txpool_content` shows them, by sender, each sender's in
/// nonce order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PoolContent {
    /// The run of consecutive nonces from the sender's state nonce: what can run now.
    pub pending: BTreeMap<Address, Vec<Arc<PoolTx>>>,
    /// The transactions after a nonce gap: they wait for the missing nonces.
    pub queued: BTreeMap<Address, Vec<Arc<PoolTx>>>,
}

/// Splits each sender's transactions (in nonce order) into the run of consecutive nonces from
/// its state nonce (pending) and the rest (queued). Transactions below the state nonce can
/// never run and are in neither (the sequencer fails them).
pub(crate) fn content(
    senders: Vec<(Address, Vec<Arc<PoolTx>>)>,
    state_nonce: &mut dyn FnMut(Address) -> u64,
) -> PoolContent {
    let mut out = PoolContent::default();
    for (sender, txs) in senders {
        let first = state_nonce(sender);
        let mut next = Some(first);
        let (mut run, mut rest) = (Vec::new(), Vec::new());
        for tx in txs.into_iter().skip_while(|t| t.nonce() < first) {
            if rest.is_empty() && Some(tx.nonce()) == next {
                next = tx.nonce().checked_add(1);
                run.push(tx);
            } else {
                rest.push(tx);
            }
        }
        if !run.is_empty() {
            out.pending.insert(sender, run);
        }
        if !rest.is_empty() {
            out.queued.insert(sender, rest);
        }
    }
    out
}

/// The head of one sender's run in the merge of [`ready`].
struct Head {
    tx: Arc<PoolTx>,
    price: U256,
    run: usize,
    pos: usize,
}

impl Head {
    /// Higher price first; then earlier arrival.
    fn key(&self) -> (U256, std::cmp::Reverse<(u64, u64)>) {
        (
            self.price,
            std::cmp::Reverse((self.tx.received_at_ms, self.tx.seq)),
        )
    }
}

impl PartialEq for Head {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl Eq for Head {}

impl PartialOrd for Head {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Head {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key().cmp(&other.key())
    }
}

/// The transactions the sequencer can run now, at most `max`: for each sender, its pending
/// transactions with consecutive nonces from its state nonce, merged highest offered price
/// first (ties: earlier arrival), each sender's in nonce order (geth's price-and-nonce heap:
/// a sender's next transaction competes once the one before it is taken).
pub(crate) fn ready(
    senders: Vec<(Address, Vec<Arc<PoolTx>>)>,
    state_nonce: &mut dyn FnMut(Address) -> u64,
    max: usize,
) -> Vec<Arc<PoolTx>> {
    let mut runs: Vec<Vec<Arc<PoolTx>>> = Vec::new();
    for (sender, txs) in senders {
        let first = state_nonce(sender);
        let mut run = Vec::new();
        let mut next = Some(first);
        for tx in txs.into_iter().skip_while(|t| t.nonce() < first) {
            if Some(tx.nonce()) != next {
                break;
            }
            next = tx.nonce().checked_add(1);
            run.push(tx);
        }
        if !run.is_empty() {
            runs.push(run);
        }
    }
    let mut heap: BinaryHeap<Head> = runs
        .iter()
        .enumerate()
        .map(|(i, run)| Head {
            tx: run[0].clone(),
            price: run[0].price(),
            run: i,
            pos: 0,
        })
        .collect();
    let mut out = Vec::with_capacity(max.min(heap.len() * 4));
    while out.len() < max {
        let Some(head) = heap.pop() else { break };
        let next = head.pos + 1;
        if let Some(tx) = runs[head.run].get(next) {
            heap.push(Head {
                tx: tx.clone(),
                price: tx.price(),
                run: head.run,
                pos: next,
            });
        }
        out.push(head.tx);
    }
    out
}

/// The pending transactions whose nonce is below their sender's state nonce: they can never
/// run (another transaction took the nonce).
pub(crate) fn stale(
    senders: Vec<(Address, Vec<Arc<PoolTx>>)>,
    state_nonce: &mut dyn FnMut(Address) -> u64,
) -> Vec<Arc<PoolTx>> {
    let mut out = Vec::new();
    for (sender, txs) in senders {
        let n = state_nonce(sender);
        out.extend(txs.into_iter().take_while(|t| t.nonce() < n));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::Bytes;

    fn tx(sender: u8, nonce: u64) -> Arc<PoolTx> {
        let raw = RawTx::new(
            nonce,
            U256::from(1),
            21_000,
            None,
            U256::ZERO,
            Bytes::new(),
            None,
        );
        Arc::new(PoolTx {
            hash: B256::from(U256::from(u64::from(sender) << 32 | nonce)),
            l2_hash: B256::from(U256::from(u64::from(sender) << 32 | nonce | 1 << 63)),
            sender: Address::repeat_byte(sender),
            tx: raw,
            raw: Bytes::new(),
            received_at_ms: 0,
            seq: nonce,
        })
    }

    fn nonces(m: &BTreeMap<Address, Vec<Arc<PoolTx>>>, sender: u8) -> Vec<u64> {
        m.get(&Address::repeat_byte(sender))
            .map(|v| v.iter().map(|t| t.nonce()).collect())
            .unwrap_or_default()
    }

    #[test]
    fn content_splits_at_the_first_gap_and_drops_stale_nonces() {
        let mut p = Pending::default();
        // Sender 1 (state nonce 3): 2 is stale, 3 4 run, 6 7 wait for 5.
        for n in [2, 3, 4, 6, 7] {
            p.insert(tx(1, n));
        }
        // Sender 2 (state nonce 0): only a gap.
        p.insert(tx(2, 5));
        // Sender 3 (state nonce 0): a run and nothing queued.
        p.insert(tx(3, 0));
        let mut state = |a: Address| if a == Address::repeat_byte(1) { 3 } else { 0 };
        let c = content(p.snapshot(), &mut state);
        assert_eq!(nonces(&c.pending, 1), [3, 4]);
        assert_eq!(nonces(&c.queued, 1), [6, 7]);
        assert_eq!(nonces(&c.pending, 2), Vec::<u64>::new());
        assert_eq!(nonces(&c.queued, 2), [5]);
        assert_eq!(nonces(&c.pending, 3), [0]);
        assert!(!c.queued.contains_key(&Address::repeat_byte(3)));
        assert_eq!((c.pending.len(), c.queued.len()), (2, 2));

        // One sender's part, and the lookup by L2 hash.
        assert_eq!(p.of_sender(&Address::repeat_byte(2)).len(), 1);
        assert!(p.of_sender(&Address::repeat_byte(9)).is_empty());
        let t = tx(1, 6);
        assert_eq!(p.by_l2_hash(&t.l2_hash).map(|f| f.hash), Some(t.hash));
        assert!(p.by_l2_hash(&t.hash).is_none());
    }

    #[test]
    fn content_of_a_nonce_at_the_top_of_the_range() {
        let mut p = Pending::default();
        p.insert(tx(1, u64::MAX - 1));
        p.insert(tx(1, u64::MAX));
        let c = content(p.snapshot(), &mut |_| u64::MAX - 1);
        assert_eq!(nonces(&c.pending, 1), [u64::MAX - 1, u64::MAX]);
        assert!(c.queued.is_empty());
    }
}
