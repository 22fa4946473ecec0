//! A minimal NVRTC binding loaded with `libloading`, so a missing library is an error rather than
//! a panic, and so `ZKNODE_NVRTC` can name the library file (e.g. the one the
//! `nvidia-cuda-nvrtc-cu12` wheel installs). It needs no GPU and no driver.

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::sync::OnceLock;

use libloading::Library;

type NvrtcProgram = *mut c_void;
type CreateProgram = unsafe extern "C" fn(
    *mut NvrtcProgram,
    *const c_char,
    *const c_char,
    c_int,
    *const *const c_char,
    *const *const c_char,
) -> c_int;
type CompileProgram = unsafe extern "C" fn(NvrtcProgram, c_int, *const *const c_char) -> c_int;
type GetSize = unsafe extern "C" fn(NvrtcProgram, *mut usize) -> c_int;
type GetBytes = unsafe extern "C" fn(NvrtcProgram, *mut c_char) -> c_int;
type DestroyProgram = unsafe extern "C" fn(*mut NvrtcProgram) -> c_int;
type GetErrorString = unsafe extern "C" fn(c_int) -> *const c_char;
type Version = unsafe extern "C" fn(*mut c_int, *mut c_int) -> c_int;
type GetNumArchs = unsafe extern "C" fn(*mut c_int) -> c_int;
type GetArchs = unsafe extern "C" fn(*mut c_int) -> c_int;

/// What a compilation produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Image {
    /// A cubin for a real architecture (`sm_XY`).
    Cubin(Vec<u8>),
    /// PTX text for a virtual architecture (`compute_XY`), JIT-compiled by the driver.
    Ptx(String),
}

/// The loaded library and its entry points.
pub(crate) struct Nvrtc {
    /// Which file was loaded.
    pub path: String,
    _lib: Library,
    create: CreateProgram,
    compile: CompileProgram,
    log_size: GetSize,
    log: GetBytes,
    ptx_size: GetSize,
    ptx: GetBytes,
    cubin_size: Option<GetSize>,
    cubin: Option<GetBytes>,
    destroy: DestroyProgram,
    error_string: GetErrorString,
    version: Version,
    num_archs: Option<GetNumArchs>,
    archs: Option<GetArchs>,
}

/// The library names tried, in order: `$ZKNODE_NVRTC`, the names cudarc tries, the CUDA 13
/// name, the usual toolkit locations. Duplicates are dropped.
pub(crate) fn candidates() -> Vec<String> {
    let mut out = Vec::new();
    if let Some(p) = std::env::var_os("ZKNODE_NVRTC") {
        out.push(p.to_string_lossy().into_owned());
    }
    out.extend(cudarc::get_lib_name_candidates("nvrtc"));
    out.push("libnvrtc.so.13".into());
    for dir in [
        "/usr/local/cuda/lib64",
        "/usr/local/cuda/targets/x86_64-linux/lib",
        "/usr/lib/x86_64-linux-gnu",
    ] {
        for suffix in ["", ".13", ".12"] {
            out.push(format!("{dir}/libnvrtc.so{suffix}"));
        }
    }
    let mut seen = std::collections::HashSet::new();
    out.retain(|n| seen.insert(n.clone()));
    out
}

/// The process-wide NVRTC, loaded on first use.
pub(crate) fn load() -> Result<&'static Nvrtc, String> {
    static NVRTC: OnceLock<Result<Nvrtc, String>> = OnceLock::new();
    NVRTC.get_or_init(open).as_ref().map_err(Clone::clone)
}

fn open() -> Result<Nvrtc, String> {
    let names = candidates();
    let mut errors = Vec::new();
    for name in &names {
        // SAFETY: loading NVRTC runs its initialisers, which have no preconditions.
        match unsafe { Library::new(name.as_str()) } {
            Ok(lib) => return bind(lib, name.clone()),
            Err(e) => errors.push(format!("{name}: {e}")),
        }
    }
    Err(format!(
        "could not load libnvrtc (set ZKNODE_NVRTC to its path); tried {}",
        errors.first().map(String::as_str).unwrap_or("nothing")
    ) + &format!(" and {} more names", names.len().saturating_sub(1)))
}

fn bind(lib: Library, path: String) -> Result<Nvrtc, String> {
    // SAFETY: the symbol types match the NVRTC C API (nvrtc.h); the library outlives the
    // copied function pointers because `Nvrtc` owns it.
    unsafe {
        macro_rules! sym {
            ($name:literal) => {
                *lib.get(concat!($name, "\0").as_bytes())
                    .map_err(|e| format!("{path}: missing {}: {e}", $name))?
            };
        }
        macro_rules! opt_sym {
            ($name:literal) => {
                lib.get(concat!($name, "\0").as_bytes()).ok().map(|s| *s)
            };
        }
        Ok(Nvrtc {
            create: sym!("nvrtcCreateProgram"),
            compile: sym!("nvrtcCompileProgram"),
            log_size: sym!("nvrtcGetProgramLogSize"),
            log: sym!("nvrtcGetProgramLog"),
            ptx_size: sym!("nvrtcGetPTXSize"),
            ptx: sym!("nvrtcGetPTX"),
            cubin_size: opt_sym!("nvrtcGetCUBINSize"),
            cubin: opt_sym!("nvrtcGetCUBIN"),
            destroy: sym!("nvrtcDestroyProgram"),
            error_string: sym!("nvrtcGetErrorString"),
            version: sym!("nvrtcVersion"),
            num_archs: opt_sym!("nvrtcGetNumSupportedArchs"),
            archs: opt_sym!("nvrtcGetSupportedArchs"),
            path,
            _lib: lib,
        })
    }
}

/// Destroys the program when dropped.
struct Program<'a> {
    nvrtc: &'a Nvrtc,
    handle: NvrtcProgram,
}

impl Drop for Program<'_> {
    fn drop(&mut self) {
        // SAFETY: the handle came from nvrtcCreateProgram and is destroyed once.
        unsafe { (self.nvrtc.destroy)(&mut self.handle) };
    }
}

impl Nvrtc {
    fn check(&self, what: &str, code: c_int) -> Result<(), String> {
        if code == 0 {
            return Ok(());
        }
        // SAFETY: nvrtcGetErrorString returns a static string for any code.
        let msg = unsafe { (self.error_string)(code) };
        let msg = if msg.is_null() {
            format!("error {code}")
        } else {
            // SAFETY: non-null, NUL-terminated, static.
            unsafe { CStr::from_ptr(msg) }
                .to_string_lossy()
                .into_owned()
        };
        Err(format!("{what}: {msg}"))
    }

    /// `(major, minor)` of the library.
    pub fn version(&self) -> (i32, i32) {
        let (mut major, mut minor) = (0, 0);
        // SAFETY: two valid out-pointers.
        unsafe { (self.version)(&mut major, &mut minor) };
        (major, minor)
    }

    /// The real architectures (`75` for sm_75, ...) this NVRTC can build cubins for, when it
    /// can tell.
    pub fn supported_archs(&self) -> Option<Vec<u32>> {
        let (num, get) = (self.num_archs?, self.archs?);
        let mut n: c_int = 0;
        // SAFETY: valid out-pointer; then a buffer of the reported length.
        unsafe {
            if num(&mut n) != 0 || n <= 0 {
                return None;
            }
            let mut v = vec![0 as c_int; n as usize];
            if get(v.as_mut_ptr()) != 0 {
                return None;
            }
            Some(v.into_iter().map(|a| a as u32).collect())
        }
    }

    /// Compiles `source` for `arch` (`sm_XY` gives a cubin, `compute_XY` PTX). The error
    /// carries NVRTC's log.
    pub fn compile(&self, name: &str, source: &str, arch: &str) -> Result<Image, String> {
        let c_src =
            CString::new(source).map_err(|_| format!("{name}: source contains a NUL byte"))?;
        let c_name = CString::new(name).map_err(|_| format!("{name}: bad program name"))?;
        let mut handle: NvrtcProgram = std::ptr::null_mut();
        // SAFETY: valid strings, no headers.
        let code = unsafe {
            (self.create)(
                &mut handle,
                c_src.as_ptr(),
                c_name.as_ptr(),
                0,
                std::ptr::null(),
                std::ptr::null(),
            )
        };
        self.check("nvrtcCreateProgram", code)?;
        let prog = Program {
            nvrtc: self,
            handle,
        };
        let options: Vec<CString> = [format!("--gpu-architecture={arch}"), "--std=c++17".into()]
            .into_iter()
            .map(|o| CString::new(o).expect("options have no NUL"))
            .collect();
        let ptrs: Vec<*const c_char> = options.iter().map(|o| o.as_ptr()).collect();
        // SAFETY: the option pointers live until the call returns.
        let code = unsafe { (self.compile)(prog.handle, ptrs.len() as c_int, ptrs.as_ptr()) };
        if code != 0 {
            let log = self
                .read(&prog, self.log_size, self.log)
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default();
            let err = self
                .check("nvrtcCompileProgram", code)
                .err()
                .unwrap_or_default();
            return Err(format!(
                "{name} for {arch}: {err}\n{}",
                log.trim_end_matches('\0').trim()
            ));
        }
        if arch.starts_with("sm_") {
            let (size, get) = self
                .cubin_size
                .zip(self.cubin)
                .ok_or_else(|| format!("{}: no nvrtcGetCUBIN", self.path))?;
            Ok(Image::Cubin(self.read(&prog, size, get)?))
        } else {
            let mut ptx = self.read(&prog, self.ptx_size, self.ptx)?;
            while ptx.last() == Some(&0) {
                ptx.pop();
            }
            String::from_utf8(ptx)
                .map(Image::Ptx)
                .map_err(|_| format!("{name}: PTX is not UTF-8"))
        }
    }

    fn read(&self, prog: &Program<'_>, size: GetSize, get: GetBytes) -> Result<Vec<u8>, String> {
        let mut n = 0usize;
        // SAFETY: valid out-pointer; then a buffer of exactly the reported size.
        unsafe {
            self.check("nvrtc size query", size(prog.handle, &mut n))?;
            let mut buf = vec![0u8; n];
            self.check(
                "nvrtc output query",
                get(prog.handle, buf.as_mut_ptr().cast()),
            )?;
            Ok(buf)
        }
    }
}
