//! Nodes and bytecode in memory.

use std::collections::HashMap;
use std::sync::RwLock;

use super::{checked_code, CodeStore, Node, NodeReader, NodeStore};
use crate::error::Result;
use crate::smt::hash::Hash;

/// Nodes in memory, for tests and short-lived trees.
#[derive(Default)]
pub struct MemoryStore {
    nodes: RwLock<HashMap<Hash, Node>>,
    head: RwLock<Hash>,
    code: RwLock<HashMap<Hash, Vec<u8>>>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.nodes.read().expect("lock").len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Removes a node (for tests of missing-node handling).
    pub fn remove(&self, hash: &Hash) -> Option<Node> {
        self.nodes.write().expect("lock").remove(hash)
    }

    /// Replaces a node (for tests of corrupt-node handling).
    pub fn insert(&self, hash: Hash, node: Node) {
        self.nodes.write().expect("lock").insert(hash, node);
    }
}

impl NodeReader for MemoryStore {
    fn get(&self, hash: &Hash) -> Result<Option<Node>> {
        Ok(self.nodes.read().expect("lock").get(hash).copied())
    }
}

impl NodeStore for MemoryStore {
    fn commit(&self, nodes: &[(Hash, Node)], head: Hash) -> Result<()> {
        let mut m = self.nodes.write().expect("lock");
        m.extend(nodes.iter().copied());
        *self.head.write().expect("lock") = head;
        Ok(())
    }
    fn head(&self) -> Result<Hash> {
        Ok(*self.head.read().expect("lock"))
    }
}

impl CodeStore for MemoryStore {
    fn put_code(&self, codes: &[(Hash, &[u8])]) -> Result<()> {
        let mut m = self.code.write().expect("lock");
        m.extend(codes.iter().map(|(h, c)| (*h, c.to_vec())));
        Ok(())
    }
    fn get_code(&self, hash: &Hash) -> Result<Option<Vec<u8>>> {
        let code = self.code.read().expect("lock").get(hash).cloned();
        code.map(|c| checked_code(hash, c)).transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;
    use crate::keys::hash_bytecode;

    #[test]
    fn bytecode_round_trips_and_a_wrong_hash_is_refused() {
        let store = MemoryStore::new();
        let code = vec![0x60, 0x01, 0x60, 0x02, 0x01];
        let h = hash_bytecode(&code);
        assert_eq!(store.get_code(&h).unwrap(), None);
        store.put_code(&[(h, &code[..])]).unwrap();
        assert_eq!(store.get_code(&h).unwrap(), Some(code.clone()));
        // Code stored under another code's hash is found corrupt, not returned.
        let other = hash_bytecode(&[0x00]);
        store.put_code(&[(other, &code[..])]).unwrap();
        assert!(matches!(
            store.get_code(&other),
            Err(Error::CorruptNode { .. })
        ));
    }
}
