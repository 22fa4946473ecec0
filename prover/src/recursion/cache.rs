//! Circuit data built once and kept on disk, keyed by a hash of everything that shapes it.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use plonky2::field::types::{Field, PrimeField64};
use plonky2::hash::poseidon::PoseidonHash;
use plonky2::plonk::circuit_builder::CircuitBuilder;
use plonky2::plonk::config::Hasher;
use plonky2::util::serialization::{DefaultGateSerializer, DefaultGeneratorSerializer};

use super::build::{circuit_config, Common, Data, Vd};
use super::set::{Circuits, Source};
use super::RecursionError;
use super::{MAX_STARK_BITS, MIN_STARK_BITS};
use crate::batch::{self, layout, C, D, F};

/// Bump when a circuit changes in a way the configuration below does not show.
const CIRCUIT_REVISION: u32 = 3;

/// A short hex name of the recursion configuration: the circuit configuration, the batch
/// STARK's configuration, shape and constraints (their fingerprint), the range of wrapped sizes
/// and the circuits' revision.
pub fn config_id() -> String {
    let description = format!(
        "zknode recursion r{CIRCUIT_REVISION}; plonky2 {:?}; stark {:?}; columns {} pis {}; \
         air {:x?}; wraps 2^{MIN_STARK_BITS}..=2^{MAX_STARK_BITS}",
        circuit_config(),
        batch::stark_config(),
        layout::NUM_COLUMNS,
        layout::NUM_PUBLIC_INPUTS,
        batch::air_fingerprint(),
    );
    let elements: Vec<F> = description
        .bytes()
        .map(|b| F::from_canonical_u64(b as u64))
        .collect();
    let h = PoseidonHash::hash_no_pad(&elements);
    format!(
        "{:016x}{:016x}",
        h.elements[0].to_canonical_u64(),
        h.elements[1].to_canonical_u64()
    )
}

struct Build;

impl Source for Build {
    fn data(&self, _name: &str, b: CircuitBuilder<F, D>) -> Result<Data, RecursionError> {
        Ok(b.build::<C>())
    }
}

struct Cache {
    dir: PathBuf,
}

/// Writes beside, then renames: a crash never leaves a half-written file under the name.
fn write_atomically(dir: &Path, path: &Path, bytes: &[u8]) -> Result<(), RecursionError> {
    fs::create_dir_all(dir).map_err(|e| cache_err("create", dir, e.to_string()))?;
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let write_err = |e: std::io::Error| cache_err("write", &tmp, e.to_string());
    let mut f = fs::File::create(&tmp).map_err(write_err)?;
    f.write_all(bytes).map_err(write_err)?;
    f.sync_all().map_err(write_err)?;
    fs::rename(&tmp, path).map_err(|e| cache_err("write", path, e.to_string()))?;
    Ok(())
}

/// `action` ("read", "decode", …) on the cache file `path` failed for `reason`.
fn cache_err(action: &'static str, path: &Path, reason: String) -> RecursionError {
    RecursionError::Cache {
        action,
        path: path.to_path_buf(),
        reason,
    }
}

impl Cache {
    fn path(&self, name: &str, ext: &str) -> PathBuf {
        self.dir.join(format!("{name}.{ext}"))
    }

    fn read_data(&self, path: &Path) -> Result<Data, RecursionError> {
        let bytes = fs::read(path).map_err(|e| cache_err("read", path, e.to_string()))?;
        Data::from_bytes(&bytes, &DefaultGateSerializer, &generators())
            .map_err(|e| cache_err("decode", path, format!("{e:?}")))
    }

    fn store_data(&self, name: &str, data: &Data) -> Result<(), RecursionError> {
        let path = self.path(name, "bin");
        let bytes = data
            .to_bytes(&DefaultGateSerializer, &generators())
            .map_err(|e| cache_err("encode", &path, format!("{e:?}")))?;
        write_atomically(&self.dir, &path, &bytes)?;
        let path = self.path(name, "vd");
        let bytes = data
            .verifier_only
            .to_bytes()
            .map_err(|e| cache_err("encode", &path, format!("{e:?}")))?;
        write_atomically(&self.dir, &path, &bytes)
    }
}

fn generators() -> DefaultGeneratorSerializer<C, D> {
    DefaultGeneratorSerializer::<C, D>::default()
}

impl Source for Cache {
    fn data(&self, name: &str, b: CircuitBuilder<F, D>) -> Result<Data, RecursionError> {
        let path = self.path(name, "bin");
        if path.exists() {
            match self.read_data(&path) {
                Ok(data) => return Ok(data),
                Err(e) => tracing::warn!("rebuilding the {name} circuit: {e}"),
            }
        }
        let data = b.build::<C>();
        if let Err(e) = self.store_data(name, &data) {
            tracing::warn!("the {name} circuit is not cached: {e}");
        }
        Ok(data)
    }

    fn verifier(&self, name: &str, b: CircuitBuilder<F, D>) -> Result<Vd, RecursionError> {
        let path = self.path(name, "vd");
        if path.exists() && self.path(name, "bin").exists() {
            match fs::read(&path)
                .map_err(|e| cache_err("read", &path, e.to_string()))
                .and_then(|bytes| {
                    Vd::from_bytes(bytes).map_err(|e| cache_err("decode", &path, format!("{e:?}")))
                }) {
                Ok(vd) => return Ok(vd),
                Err(e) => tracing::warn!("rebuilding the {name} circuit: {e}"),
            }
        }
        Ok(self.data(name, b)?.verifier_only)
    }

    fn shape(
        &self,
        name: &str,
        find: &mut dyn FnMut() -> Result<Common, RecursionError>,
    ) -> Result<Common, RecursionError> {
        let path = self.path(name, "common");
        if path.exists() {
            match fs::read(&path)
                .map_err(|e| cache_err("read", &path, e.to_string()))
                .and_then(|bytes| {
                    Common::from_bytes(bytes, &DefaultGateSerializer)
                        .map_err(|e| cache_err("decode", &path, format!("{e:?}")))
                }) {
                Ok(c) => return Ok(c),
                Err(e) => tracing::warn!("finding the {name} again: {e}"),
            }
        }
        let c = find()?;
        match c.to_bytes(&DefaultGateSerializer) {
            Ok(bytes) => {
                if let Err(e) = write_atomically(&self.dir, &path, &bytes) {
                    tracing::warn!("the {name} is not cached: {e}");
                }
            }
            Err(e) => tracing::warn!("the {name} is not cached: {e:?}"),
        }
        Ok(c)
    }
}

/// Builds the recursion circuits, reading and writing their data under `cache_dir` (in a
/// folder named by [`config_id`]) when one is given. A cached file that cannot be read is
/// rebuilt with a warning; a cache that cannot be written is a warning too.
pub fn load_or_build(
    cache_dir: Option<&Path>,
    progress: &mut dyn FnMut(&str),
) -> Result<Circuits, RecursionError> {
    match cache_dir {
        Some(dir) => {
            let dir = dir.join(format!("recursion-{}", config_id()));
            Circuits::assemble(Box::new(Cache { dir }), progress)
        }
        None => Circuits::assemble(Box::new(Build), progress),
    }
}
