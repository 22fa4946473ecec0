//! The CUDA backend (placeholder until the kernels land): reports that no device is usable.

use crate::backend::{Backend, DeviceInfo, NttDirection};
use crate::bn254::{Fr, G1Affine, G1Projective};
use crate::error::{KernelError, Result};
use crate::goldilocks::Goldilocks;
use crate::merkle::MerkleTree;
use crate::poseidon::{Digest, State};

pub struct CudaBackend {
    info: DeviceInfo,
}

impl CudaBackend {
    pub fn new() -> Result<Self> {
        Err(KernelError::NoCudaDevice("this build has no CUDA kernels yet".into()))
    }
}

impl Backend for CudaBackend {
    fn info(&self) -> &DeviceInfo {
        &self.info
    }
    fn goldilocks_ntt(&self, _: &mut [Goldilocks], _: usize, _: NttDirection) -> Result<()> {
        Err(KernelError::NoCudaDevice("unavailable".into()))
    }
    fn coset_lde(&self, _: &[Goldilocks], _: usize, _: usize, _: Goldilocks) -> Result<Vec<Goldilocks>> {
        Err(KernelError::NoCudaDevice("unavailable".into()))
    }
    fn poseidon_permute(&self, _: &mut [State]) -> Result<()> {
        Err(KernelError::NoCudaDevice("unavailable".into()))
    }
    fn hash_rows(&self, _: &[Goldilocks], _: usize) -> Result<Vec<Digest>> {
        Err(KernelError::NoCudaDevice("unavailable".into()))
    }
    fn merkle_tree(&self, _: Vec<Goldilocks>, _: usize, _: usize) -> Result<MerkleTree> {
        Err(KernelError::NoCudaDevice("unavailable".into()))
    }
    fn lde_commit(&self, _: &[Goldilocks], _: usize, _: usize, _: usize) -> Result<MerkleTree> {
        Err(KernelError::NoCudaDevice("unavailable".into()))
    }
    fn bn254_msm(&self, _: &[G1Affine], _: &[Fr]) -> Result<G1Projective> {
        Err(KernelError::NoCudaDevice("unavailable".into()))
    }
    fn bn254_ntt(&self, _: &mut [Fr], _: NttDirection) -> Result<()> {
        Err(KernelError::NoCudaDevice("unavailable".into()))
    }
}
