//! Opening a GPU: probing the driver and NVRTC libraries without panicking, creating the context,
//! compiling and loading the kernels, and small helpers (checked allocation, copies, launches).

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex, OnceLock};

use cudarc::driver::sys::CUdevice_attribute;
use cudarc::driver::{
    CudaContext, CudaFunction, CudaModule, CudaSlice, CudaStream, DeviceRepr, LaunchConfig,
};
use cudarc::nvrtc::Ptx;

use super::nvrtc::{self, Image};
use super::source::{program_sources, BN254_KERNELS, GOLDILOCKS_KERNELS};
use crate::backend::{DeviceInfo, DeviceKind};
use crate::error::{KernelError, Result};

/// Largest grid in x.
const MAX_BLOCKS: u64 = (1 << 31) - 1;

/// Turns a driver error of `op` into a [`KernelError::Cuda`].
pub(crate) fn cuda_err(op: &'static str) -> impl Fn(cudarc::driver::DriverError) -> KernelError {
    move |e| KernelError::Cuda {
        op,
        message: e.to_string(),
    }
}

/// The text of a caught panic.
pub(crate) fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

/// Loads the CUDA driver library the way cudarc will, but without panicking.
pub(crate) fn probe_driver_library() -> std::result::Result<String, String> {
    let names: Vec<String> = ["cuda", "nvcuda"]
        .iter()
        .flat_map(|l| cudarc::get_lib_name_candidates(l))
        .collect();
    for name in &names {
        // SAFETY: loading the driver library runs its initialisers, which have no preconditions;
        // the handle is closed again right away (cudarc opens its own).
        if unsafe { libloading::Library::new(name.as_str()) }.is_ok() {
            return Ok(name.clone());
        }
    }
    Err(format!(
        "the CUDA driver library (libcuda.so.1) is not installed or not on the library path \
         (tried it and {} other names cudarc tries)",
        names.len() - 1
    ))
}

/// An open GPU with the kernels loaded; everything runs on one stream, in order.
pub(crate) struct Gpu {
    pub ctx: Arc<CudaContext>,
    pub stream: Arc<CudaStream>,
    pub info: DeviceInfo,
    functions: HashMap<&'static str, CudaFunction>,
    /// Device tables keyed by what they hold (twiddles per size and direction).
    pub tables: Mutex<HashMap<TableKey, Arc<CudaSlice<u64>>>>,
    _modules: Vec<Arc<CudaModule>>,
}

/// Names a cached device table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum TableKey {
    /// Goldilocks twiddles of a 2^log_n transform, forward or inverse.
    GoldilocksTwiddles { log_n: u32, inverse: bool },
    /// BN254 scalar-field twiddles of a 2^log_n transform, forward or inverse.
    Bn254Twiddles { log_n: u32, inverse: bool },
}

/// Compiled images per (program, architecture), shared by every backend of the process.
fn image_cache() -> &'static Mutex<HashMap<(&'static str, String), Image>> {
    static CACHE: OnceLock<Mutex<HashMap<(&'static str, String), Image>>> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}

/// Compiles `program` for architecture `arch` (`sm_XY` or `compute_XY`), once per process. The
/// lock is held while compiling, so backends opened at the same time wait for one compilation.
fn compiled(
    nv: &nvrtc::Nvrtc,
    name: &'static str,
    source: &str,
    arch: &str,
) -> std::result::Result<Image, String> {
    let mut cache = image_cache().lock().unwrap_or_else(|e| e.into_inner());
    let key = (name, arch.to_string());
    if let Some(img) = cache.get(&key) {
        return Ok(img.clone());
    }
    let img = nv.compile(name, source, arch)?;
    cache.insert(key, img.clone());
    Ok(img)
}

impl Gpu {
    /// Opens device `ordinal`. Every failure to find a usable device is
    /// [`KernelError::NoCudaDevice`]; panics inside cudarc are caught and reported the same way.
    pub fn open(ordinal: usize) -> Result<Self> {
        probe_driver_library().map_err(KernelError::NoCudaDevice)?;
        let nv = nvrtc::load().map_err(KernelError::NoCudaDevice)?;
        match catch_unwind(AssertUnwindSafe(|| Self::open_inner(ordinal, nv))) {
            Ok(r) => r,
            Err(p) => Err(KernelError::NoCudaDevice(format!(
                "the CUDA driver failed: {}",
                panic_text(p.as_ref())
            ))),
        }
    }

    fn open_inner(ordinal: usize, nv: &nvrtc::Nvrtc) -> Result<Self> {
        let no_dev = |what: &'static str| {
            move |e: cudarc::driver::DriverError| KernelError::NoCudaDevice(format!("{what}: {e}"))
        };
        let count = CudaContext::device_count().map_err(no_dev("cuInit/cuDeviceGetCount"))?;
        if count <= 0 {
            return Err(KernelError::NoCudaDevice(
                "the driver reports no CUDA device".into(),
            ));
        }
        if ordinal >= count as usize {
            return Err(KernelError::NoCudaDevice(format!(
                "device {ordinal} requested, {count} present"
            )));
        }
        let ctx = CudaContext::new(ordinal).map_err(no_dev("creating the context"))?;
        // SAFETY: all work goes through the single stream below, so cudarc's per-buffer event
        // tracking (meant for several streams) is not needed.
        unsafe { ctx.disable_event_tracking() };
        let (major, minor) = ctx
            .compute_capability()
            .map_err(no_dev("compute capability"))?;
        let info = DeviceInfo {
            kind: DeviceKind::Cuda,
            name: ctx.name().map_err(no_dev("device name"))?,
            memory_bytes: ctx.total_mem().map_err(no_dev("device memory"))? as u64,
            compute_capability: Some((major as u32, minor as u32)),
            parallelism: ctx
                .attribute(CUdevice_attribute::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT)
                .map_err(no_dev("SM count"))? as u32,
        };
        let stream = ctx.default_stream();
        let cc = major as u32 * 10 + minor as u32;
        let mut functions = HashMap::new();
        let mut modules = Vec::new();
        for program in program_sources() {
            let module = load_program(&ctx, nv, program.name, &program.source, cc)?;
            let names = if program.name == "bn254" {
                BN254_KERNELS
            } else {
                GOLDILOCKS_KERNELS
            };
            for &name in names {
                let f = module.load_function(name).map_err(|e| KernelError::Cuda {
                    op: "loading a kernel",
                    message: format!("{name}: {e}"),
                })?;
                functions.insert(name, f);
            }
            modules.push(module);
        }
        let (major, minor) = nv.version();
        tracing::info!(target: "kernels::device", device = %info, nvrtc = %nv.path, nvrtc_version = %format!("{major}.{minor}"), "CUDA backend ready");
        Ok(Self {
            ctx,
            stream,
            info,
            functions,
            tables: Mutex::new(HashMap::new()),
            _modules: modules,
        })
    }

    /// A loaded kernel.
    pub fn func(&self, name: &'static str) -> Result<&CudaFunction> {
        self.functions.get(name).ok_or(KernelError::Cuda {
            op: "kernel lookup",
            message: format!("no kernel {name}"),
        })
    }

    /// Fails with [`KernelError::OutOfDeviceMemory`] unless `needed` bytes are free.
    pub fn ensure_free(&self, needed: u64) -> Result<()> {
        let (free, _total) = self.ctx.mem_get_info().map_err(cuda_err("cuMemGetInfo"))?;
        if needed > free as u64 {
            return Err(KernelError::OutOfDeviceMemory {
                device: self.info.name.clone(),
                needed,
                free: free as u64,
            });
        }
        Ok(())
    }

    /// An uninitialised buffer of `len` elements (at least one, so every pointer is valid).
    pub fn alloc<T: DeviceRepr>(&self, len: usize) -> Result<CudaSlice<T>> {
        // SAFETY: every buffer is written by a kernel or a copy before it is read.
        unsafe { self.stream.alloc::<T>(len.max(1)) }.map_err(cuda_err("cuMemAlloc"))
    }

    /// Copies `data` into a new buffer.
    pub fn upload<T: DeviceRepr>(&self, data: &[T]) -> Result<CudaSlice<T>> {
        let mut buf = self.alloc::<T>(data.len())?;
        if !data.is_empty() {
            self.stream
                .memcpy_htod(data, &mut buf)
                .map_err(cuda_err("copy to the device"))?;
        }
        Ok(buf)
    }

    /// Copies the first `out.len()` elements of `src` to the host (waits for the stream).
    pub fn download_into<T: DeviceRepr>(&self, src: &CudaSlice<T>, out: &mut [T]) -> Result<()> {
        if out.is_empty() {
            return Ok(());
        }
        let view = src.try_slice(..out.len()).ok_or(KernelError::Cuda {
            op: "copy to the host",
            message: "source buffer too short".into(),
        })?;
        self.stream
            .memcpy_dtoh(&view, out)
            .map_err(cuda_err("copy to the host"))?;
        self.sync("copy to the host")
    }

    /// Waits for all queued work; a kernel fault surfaces here.
    pub fn sync(&self, op: &'static str) -> Result<()> {
        self.stream.synchronize().map_err(cuda_err(op))
    }
}

/// A launch of `blocks` blocks of `threads` threads.
pub(crate) fn grid(blocks: u64, threads: u32) -> Result<LaunchConfig> {
    if blocks > MAX_BLOCKS {
        return Err(KernelError::InvalidArgument(format!(
            "a launch of {blocks} blocks exceeds the grid limit"
        )));
    }
    Ok(LaunchConfig {
        grid_dim: (blocks.max(1) as u32, 1, 1),
        block_dim: (threads, 1, 1),
        shared_mem_bytes: 0,
    })
}

/// One thread per item, `threads` per block.
pub(crate) fn per_item(items: u64, threads: u32) -> Result<LaunchConfig> {
    grid(items.div_ceil(threads as u64), threads)
}

/// Launches kernel `$name` with the given arguments (references to values of the exact types of
/// the kernel's parameters: `u32`, `u64`, or device buffers for pointers).
macro_rules! launch {
    ($gpu:expr, $name:literal, $cfg:expr, $($arg:expr),* $(,)?) => {{
        let cfg = $cfg;
        let f = $gpu.func($name)?;
        let mut b = $gpu.stream.launch_builder(f);
        $( cudarc::driver::PushKernelArg::arg(&mut b, $arg); )*
        // SAFETY: the arguments match the kernel's signature in kernels/cuda/*.cu and every
        // buffer is large enough for the indices the kernel computes from them.
        unsafe { b.launch(cfg) }
            .map(|_| ())
            .map_err(|e| $crate::error::KernelError::Cuda { op: concat!("launching ", $name), message: e.to_string() })
    }};
}
pub(crate) use launch;

/// Compiles and loads one program: a cubin for the device's own architecture when NVRTC knows
/// it, else PTX for the newest virtual architecture not above it.
fn load_program(
    ctx: &Arc<CudaContext>,
    nv: &nvrtc::Nvrtc,
    name: &'static str,
    source: &str,
    cc: u32,
) -> Result<Arc<CudaModule>> {
    let compile_err = |message: String| KernelError::Cuda {
        op: "NVRTC compilation",
        message,
    };
    let archs = nv.supported_archs();
    let mut errors = Vec::new();
    if archs.as_ref().is_none_or(|a| a.contains(&cc)) {
        match compiled(nv, name, source, &format!("sm_{cc}")) {
            Ok(Image::Cubin(bin)) => match ctx.load_module(Ptx::from_binary(bin)) {
                Ok(m) => return Ok(m),
                Err(e) => errors.push(format!("loading the sm_{cc} cubin: {e}")),
            },
            Ok(Image::Ptx(_)) => errors.push("NVRTC returned PTX for a real architecture".into()),
            Err(e) if archs.is_some() => return Err(compile_err(e)),
            Err(e) => errors.push(e),
        }
    }
    let virt = archs
        .and_then(|a| a.into_iter().filter(|&x| x <= cc).max())
        .unwrap_or(cc);
    match compiled(nv, name, source, &format!("compute_{virt}")).map_err(compile_err)? {
        Image::Ptx(ptx) => ctx.load_module(Ptx::from_src(ptx)).map_err(|e| {
            errors.push(format!("loading compute_{virt} PTX: {e}"));
            KernelError::Cuda {
                op: "loading the CUDA module",
                message: errors.join("; "),
            }
        }),
        Image::Cubin(_) => Err(compile_err(
            "NVRTC returned a cubin for a virtual architecture".into(),
        )),
    }
}

/// Compiles every program with NVRTC for `compute_90` (PTX) and `sm_90` (cubin, which also runs
/// the assembler). Needs only the NVRTC library, no driver or GPU.
pub(crate) fn compile_all() -> Result<()> {
    let nv = nvrtc::load().map_err(KernelError::NoCudaDevice)?;
    for program in program_sources() {
        for arch in ["compute_90", "sm_90"] {
            nv.compile(program.name, &program.source, arch)
                .map_err(|message| KernelError::Cuda {
                    op: "NVRTC compilation",
                    message,
                })?;
        }
    }
    Ok(())
}
