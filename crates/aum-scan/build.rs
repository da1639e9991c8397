//! Compiles `kernels/*.cu` (the workspace root's `kernels/`, linked into this crate so that it
//! packages with it) to PTX with nvcc, only with the `cuda`
//! feature, so that CPU builds never need a CUDA toolkit. The PTX is embedded in the crate with
//! `include_str!` (see `src/cuda.rs`) and JIT-compiled by the driver on first use.
//!
//! Environment: `NVCC` (default `$CUDA_HOME/bin/nvcc`, else `nvcc` on the PATH) and
//! `CUDA_COMPUTE_CAP` (default 90, i.e. H100/H200; the PTX also runs on newer GPUs).

fn main() {
    #[cfg(feature = "cuda")]
    cuda::compile_kernels();
}

#[cfg(feature = "cuda")]
mod cuda {
    use std::path::{Path, PathBuf};
    use std::process::Command;

    pub fn compile_kernels() {
        let manifest = PathBuf::from(env("CARGO_MANIFEST_DIR"));
        let kernels = manifest.join("kernels");
        let out_dir = PathBuf::from(env("OUT_DIR"));
        println!("cargo:rerun-if-changed={}", kernels.display());
        for var in ["NVCC", "CUDA_HOME", "CUDA_COMPUTE_CAP"] {
            println!("cargo:rerun-if-env-changed={var}");
        }
        let cap = std::env::var("CUDA_COMPUTE_CAP").unwrap_or_else(|_| "90".into());
        let nvcc = nvcc_path();
        let mut sources: Vec<PathBuf> = std::fs::read_dir(&kernels)
            .unwrap_or_else(|e| panic!("reading {}: {e}", kernels.display()))
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "cu"))
            .collect();
        sources.sort();
        for src in sources {
            compile(&nvcc, &src, &kernels, &out_dir, &cap);
        }
    }

    fn env(name: &str) -> String {
        std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set"))
    }

    fn nvcc_path() -> PathBuf {
        if let Ok(nvcc) = std::env::var("NVCC") {
            return nvcc.into();
        }
        match std::env::var("CUDA_HOME") {
            Ok(home) => Path::new(&home).join("bin/nvcc"),
            Err(_) => "nvcc".into(),
        }
    }

    fn compile(nvcc: &Path, src: &Path, include: &Path, out_dir: &Path, cap: &str) {
        let stem = src
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("kernel file name");
        let ptx = out_dir.join(format!("{stem}.ptx"));
        let status = Command::new(nvcc)
            .args(["--ptx", "-O3", "-std=c++17"])
            .arg(format!("-arch=compute_{cap}"))
            .arg("-I")
            .arg(include)
            .arg("-o")
            .arg(&ptx)
            .arg(src)
            .status()
            .unwrap_or_else(|e| panic!("running {} (set NVCC or CUDA_HOME): {e}", nvcc.display()));
        assert!(status.success(), "nvcc failed on {}", src.display());
    }
}
