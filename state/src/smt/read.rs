//! Reading many keys at once: every node on their paths is read once, however many keys pass
//! through it, and all of them that the store does not vouch for are checked against their
//! hashes in one bulk hashing pass.

use ruint::aliases::U256;

use crate::error::{Error, Result};
use crate::smt::hash::{
    branch_preimage, hash_many, leaf_preimage, value_from_limbs, value_preimage, Hash, Key,
    Preimage,
};
use crate::smt::store::{Node, NodeReader};
use crate::smt::tree::StateTree;

impl<S: NodeReader> StateTree<S> {
    /// The values at `keys` (zero where a key is absent), in the order given. Gives what
    /// [`StateTree::get`] gives for each key, with the same checks, for a fraction of the
    /// hashing when keys share path nodes.
    pub fn get_many(&self, keys: &[Key]) -> Result<Vec<U256>> {
        let Some(cache) = self.store().value_cache() else {
            return self.get_many_uncached(keys);
        };
        let root = self.root();
        let cached: Vec<Option<U256>> = keys.iter().map(|k| cache.get(&(root, *k))).collect();
        let missing: Vec<Key> = keys
            .iter()
            .zip(&cached)
            .filter(|(_, c)| c.is_none())
            .map(|(k, _)| *k)
            .collect();
        let mut read = self.get_many_uncached(&missing)?.into_iter();
        let mut out = Vec::with_capacity(keys.len());
        for (k, c) in keys.iter().zip(cached) {
            out.push(match c {
                Some(v) => v,
                None => {
                    let v = read.next().expect("one value per missing key");
                    cache.insert((root, *k), v);
                    v
                }
            });
        }
        Ok(out)
    }

    fn get_many_uncached(&self, keys: &[Key]) -> Result<Vec<U256>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let mut order: Vec<usize> = (0..keys.len()).collect();
        order.sort_unstable_by_key(|&i| keys[i].path_order());
        let sorted: Vec<Key> = order.iter().map(|&i| keys[i]).collect();
        let mut found: Vec<Option<Hash>> = vec![None; sorted.len()];
        let mut seen: Vec<(Hash, Preimage)> = Vec::new();
        self.descend(self.root(), 0, &sorted, &mut found, &mut seen)?;
        // Tree nodes first (a corrupt leaf may name a value that does not exist), then values.
        check(&seen)?;
        seen.clear();

        let mut value_hashes: Vec<Hash> = found.iter().flatten().copied().collect();
        value_hashes.sort_unstable();
        value_hashes.dedup();
        let mut values = std::collections::HashMap::with_capacity(value_hashes.len());
        for vh in value_hashes {
            match self.vouched_node(&vh)? {
                (Node::Value(limbs), vouched) => {
                    let v = value_from_limbs(&limbs).ok_or_else(|| Error::CorruptNode {
                        hash: vh,
                        reason: "value limb over 32 bits".into(),
                    })?;
                    if !vouched {
                        seen.push((vh, value_preimage(&limbs)));
                    }
                    values.insert(vh, v);
                }
                _ => {
                    return Err(Error::CorruptNode {
                        hash: vh,
                        reason: "expected the preimage of a value hash".into(),
                    })
                }
            }
        }

        check(&seen)?;

        let mut out = vec![U256::ZERO; keys.len()];
        for (slot, f) in order.iter().zip(&found) {
            if let Some(vh) = f {
                out[*slot] = values[vh];
            }
        }
        Ok(out)
    }

    /// Walks the subtree at `cur` (depth `depth`) for `keys` (sorted in path order), recording
    /// each key's value hash in `found` and each node read in `seen`.
    fn descend(
        &self,
        cur: Hash,
        depth: usize,
        keys: &[Key],
        found: &mut [Option<Hash>],
        seen: &mut Vec<(Hash, Preimage)>,
    ) -> Result<()> {
        if keys.is_empty() || cur.is_zero() {
            return Ok(());
        }
        let (node, vouched) = self.vouched_node(&cur)?;
        match node {
            Node::Branch { left, right } => {
                if depth >= 255 {
                    return Err(Error::CorruptNode {
                        hash: cur,
                        reason: "path deeper than 255 levels".into(),
                    });
                }
                if !vouched {
                    seen.push((cur, branch_preimage(&left, &right)));
                }
                let split = keys.partition_point(|k| k.path_bit(depth) == 0);
                let (fl, fr) = found.split_at_mut(split);
                self.descend(left, depth + 1, &keys[..split], fl, seen)?;
                self.descend(right, depth + 1, &keys[split..], fr, seen)
            }
            Node::Leaf { rkey, value_hash } => {
                if !vouched {
                    seen.push((cur, leaf_preimage(&rkey, &value_hash)));
                }
                for (k, f) in keys.iter().zip(found.iter_mut()) {
                    if rkey.join_bits(&k.raw(), depth) == k.raw() {
                        *f = Some(value_hash);
                    }
                }
                Ok(())
            }
            Node::Value(_) => Err(Error::value_in_tree(cur)),
        }
    }
}

/// Every node hashes to its name.
fn check(seen: &[(Hash, Preimage)]) -> Result<()> {
    let pre: Vec<Preimage> = seen.iter().map(|(_, p)| *p).collect();
    for ((h, _), got) in seen.iter().zip(hash_many(&pre)) {
        if *h != got {
            return Err(Error::CorruptNode {
                hash: *h,
                reason: "stored node does not hash to its key".into(),
            });
        }
    }
    Ok(())
}
