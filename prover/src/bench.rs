//! The kernel benchmark behind `zkprover bench`: every operation on the selected device, one
//! progress line per case, then a throughput table.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use zknode_kernels::sample;
use zknode_kernels::{
    Backend, BenchBackend, DeviceKind, Goldilocks, KernelError, NttDirection, ResidentOp,
};

/// Why the benchmark stopped.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// A kernel failed outside any case (in the sanity check).
    #[error("{0}")]
    Kernel(KernelError),
    /// A kernel failed in the case `case` (its progress label).
    #[error("benchmark case {case}: {error}")]
    Case { case: String, error: KernelError },
    /// The NTT of a sample is not what it must be: the device computes wrong results.
    #[error("NTT sanity check failed on {device}")]
    Sanity { device: String },
}

/// One benchmark case: an operation at one size.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Case {
    /// Forward Goldilocks NTT of one vector of 2^log_n.
    GoldilocksNtt { log_n: usize },
    /// LDE (rate_bits) + Merkle commitment of `cols` polynomials of 2^log_rows coefficients.
    LdeMerkle {
        log_rows: usize,
        cols: usize,
        rate_bits: usize,
    },
    /// 2^log_n Poseidon permutations.
    Poseidon { log_n: usize },
    /// BN254 G1 MSM of 2^log_n points.
    Bn254Msm { log_n: usize },
    /// BN254 scalar-field NTT of 2^log_n.
    Bn254Ntt { log_n: usize },
}

impl Case {
    pub fn name(&self) -> &'static str {
        match self {
            Case::GoldilocksNtt { .. } => "goldilocks-ntt",
            Case::LdeMerkle { .. } => "lde+merkle",
            Case::Poseidon { .. } => "poseidon",
            Case::Bn254Msm { .. } => "bn254-msm",
            Case::Bn254Ntt { .. } => "bn254-ntt",
        }
    }

    pub fn size(&self) -> String {
        match self {
            Case::LdeMerkle {
                log_rows,
                cols,
                rate_bits,
            } => format!("2^{log_rows} x {cols}, rate 2^{rate_bits}"),
            Case::GoldilocksNtt { log_n }
            | Case::Poseidon { log_n }
            | Case::Bn254Msm { log_n }
            | Case::Bn254Ntt { log_n } => {
                format!("2^{log_n}")
            }
        }
    }

    /// Elements of work per run, and their unit.
    pub fn work(&self) -> (f64, &'static str) {
        match *self {
            Case::GoldilocksNtt { log_n } | Case::Bn254Ntt { log_n } => {
                ((1u64 << log_n) as f64, "elements/s")
            }
            // Throughput of the LDE counts extended cells (rows << rate_bits, times columns).
            Case::LdeMerkle {
                log_rows,
                cols,
                rate_bits,
            } => (
                ((1u64 << (log_rows + rate_bits)) * cols as u64) as f64,
                "LDE cells/s",
            ),
            Case::Poseidon { log_n } => ((1u64 << log_n) as f64, "permutations/s"),
            Case::Bn254Msm { log_n } => ((1u64 << log_n) as f64, "points/s"),
        }
    }

    /// Host memory the inputs and outputs need, for skipping cases that cannot fit.
    pub fn host_bytes(&self) -> u64 {
        match *self {
            Case::GoldilocksNtt { log_n } => 16 << log_n,
            // coefficients + LDE + leaves + digests
            Case::LdeMerkle {
                log_rows,
                cols,
                rate_bits,
            } => {
                let cells = 1u64 << (log_rows + rate_bits);
                2 * cells * cols as u64 * 8 + cells * 64
            }
            Case::Poseidon { log_n } => 96 << log_n,
            Case::Bn254Msm { log_n } => 200 << log_n,
            Case::Bn254Ntt { log_n } => 64 << log_n,
        }
    }
}

/// The quick suite (under a minute on a 2-core CPU) or the full one.
pub fn suite(quick: bool) -> Vec<Case> {
    use Case::*;
    if quick {
        vec![
            GoldilocksNtt { log_n: 16 },
            GoldilocksNtt { log_n: 20 },
            LdeMerkle {
                log_rows: 12,
                cols: 32,
                rate_bits: 3,
            },
            LdeMerkle {
                log_rows: 14,
                cols: 64,
                rate_bits: 3,
            },
            Poseidon { log_n: 16 },
            Bn254Msm { log_n: 12 },
            Bn254Msm { log_n: 16 },
            Bn254Ntt { log_n: 16 },
        ]
    } else {
        let mut v: Vec<Case> = [16, 18, 20, 22, 24]
            .into_iter()
            .map(|log_n| GoldilocksNtt { log_n })
            .collect();
        for log_rows in [16, 18, 20] {
            for cols in [32, 64, 256] {
                v.push(LdeMerkle {
                    log_rows,
                    cols,
                    rate_bits: 3,
                });
            }
        }
        v.extend([16, 20, 22].into_iter().map(|log_n| Poseidon { log_n }));
        v.extend([16, 18, 20, 22].into_iter().map(|log_n| Bn254Msm { log_n }));
        v.extend([16, 20, 22].into_iter().map(|log_n| Bn254Ntt { log_n }));
        v
    }
}

/// The figures of one case.
#[derive(Clone, Debug)]
pub struct Measurement {
    pub case: Case,
    /// Median time of one run including host↔device transfers.
    pub end_to_end: Duration,
    /// Median time of one run with data resident on the device (equals `end_to_end` on the CPU).
    pub resident: Duration,
}

impl Measurement {
    /// Throughput with data resident, in the case's unit.
    pub fn throughput(&self) -> f64 {
        self.case.work().0 / self.resident.as_secs_f64()
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Median time of `iters` runs of `run` after one warm-up; `setup` (untimed) makes each input.
fn median_of_runs<T>(
    iters: usize,
    mut setup: impl FnMut() -> T,
    mut run: impl FnMut(T) -> zknode_kernels::Result<()>,
) -> Result<Duration, KernelError> {
    let mut times = Vec::with_capacity(iters);
    for i in 0..=iters {
        let input = setup();
        let t = Instant::now();
        run(input)?;
        if i > 0 {
            times.push(t.elapsed());
        }
    }
    Ok(median(times))
}

/// Runs one case: a warm-up, then `iters` timed runs, end to end and with data resident.
pub fn run_case(
    backend: &dyn BenchBackend,
    case: &Case,
    iters: usize,
    seed: u64,
) -> Result<Measurement, KernelError> {
    let mut rng = sample::rng(seed);
    let iters = iters.max(1);
    let (end_to_end, resident) = match *case {
        Case::GoldilocksNtt { log_n } => {
            let data = sample::goldilocks(&mut rng, 1 << log_n);
            let e2e = median_of_runs(
                iters,
                || data.clone(),
                |mut d| backend.goldilocks_ntt(&mut d, log_n, NttDirection::Forward),
            )?;
            let op = ResidentOp::GoldilocksNtt { data: &data, log_n };
            (e2e, backend.time_resident(op, iters)? / iters as u32)
        }
        Case::LdeMerkle {
            log_rows,
            cols,
            rate_bits,
        } => {
            let coeffs = sample::goldilocks(&mut rng, cols << log_rows);
            let cap_height = 4.min(log_rows + rate_bits);
            let e2e = median_of_runs(
                iters,
                || (),
                |()| {
                    backend
                        .lde_commit(&coeffs, log_rows, rate_bits, cap_height)
                        .map(drop)
                },
            )?;
            let op = ResidentOp::LdeCommit {
                coeffs: &coeffs,
                log_n: log_rows,
                rate_bits,
                cap_height,
            };
            (e2e, backend.time_resident(op, iters)? / iters as u32)
        }
        Case::Poseidon { log_n } => {
            let states = sample::poseidon_states(&mut rng, 1 << log_n);
            let e2e = median_of_runs(
                iters,
                || states.clone(),
                |mut s| backend.poseidon_permute(&mut s),
            )?;
            (
                e2e,
                backend.time_resident(ResidentOp::Poseidon { states: &states }, iters)?
                    / iters as u32,
            )
        }
        Case::Bn254Msm { log_n } => {
            let points = sample::bn254_points(&mut rng, 1 << log_n);
            let scalars = sample::bn254_scalars(&mut rng, 1 << log_n);
            let e2e = median_of_runs(
                iters,
                || (),
                |()| {
                    backend.bn254_msm(&points, &scalars).map(|r| {
                        let _ = std::hint::black_box(r);
                    })
                },
            )?;
            let op = ResidentOp::Bn254Msm {
                points: &points,
                scalars: &scalars,
            };
            (e2e, backend.time_resident(op, iters)? / iters as u32)
        }
        Case::Bn254Ntt { log_n } => {
            let values = sample::bn254_scalars(&mut rng, 1 << log_n);
            let e2e = median_of_runs(
                iters,
                || values.clone(),
                |mut v| backend.bn254_ntt(&mut v, NttDirection::Forward),
            )?;
            // No separate resident path for this one yet: report the end-to-end time.
            (e2e, e2e)
        }
    };
    Ok(Measurement {
        case: case.clone(),
        end_to_end,
        resident,
    })
}

/// Human units: 1.23 G, 45.6 M, 7.8 k.
pub fn si(x: f64) -> String {
    match x {
        x if x >= 1e9 => format!("{:.2} G", x / 1e9),
        x if x >= 1e6 => format!("{:.2} M", x / 1e6),
        x if x >= 1e3 => format!("{:.2} k", x / 1e3),
        x => format!("{x:.2} "),
    }
}

pub fn fmt_duration(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s >= 1.0 {
        format!("{s:.2} s")
    } else if s >= 1e-3 {
        format!("{:.2} ms", s * 1e3)
    } else {
        format!("{:.1} µs", s * 1e6)
    }
}

/// The table `zkprover bench` prints.
pub fn table(backend: &dyn Backend, rows: &[Measurement]) -> String {
    let gpu = backend.info().kind == DeviceKind::Cuda;
    let mut out = String::new();
    let _ = writeln!(out, "device: {}", backend.info());
    let header = if gpu {
        format!(
            "{:<15} {:<24} {:>12} {:>12} {:>24}",
            "operation", "size", "end-to-end", "resident", "throughput (resident)"
        )
    } else {
        format!(
            "{:<15} {:<24} {:>12} {:>24}",
            "operation", "size", "time", "throughput"
        )
    };
    let _ = writeln!(out, "{header}");
    let _ = writeln!(out, "{}", "-".repeat(header.len()));
    for m in rows {
        let tp = format!("{}{}", si(m.throughput()), m.case.work().1);
        if gpu {
            let _ = writeln!(
                out,
                "{:<15} {:<24} {:>12} {:>12} {:>24}",
                m.case.name(),
                m.case.size(),
                fmt_duration(m.end_to_end),
                fmt_duration(m.resident),
                tp
            );
        } else {
            let _ = writeln!(
                out,
                "{:<15} {:<24} {:>12} {:>24}",
                m.case.name(),
                m.case.size(),
                fmt_duration(m.end_to_end),
                tp
            );
        }
    }
    out
}

/// Runs a suite with a progress line per case on stderr. Cases whose inputs would not fit in
/// `memory_limit` bytes are skipped with a message.
pub fn run_suite(
    backend: &dyn BenchBackend,
    cases: &[Case],
    iters: usize,
    seed: u64,
    memory_limit: u64,
) -> Result<Vec<Measurement>, BenchError> {
    let mut out = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        let label = format!(
            "[{}/{}] {} {}",
            i + 1,
            cases.len(),
            case.name(),
            case.size()
        );
        if case.host_bytes() > memory_limit {
            eprintln!(
                "{label}: skipped, needs about {} B of host memory, limit {} B",
                si(case.host_bytes() as f64),
                si(memory_limit as f64)
            );
            continue;
        }
        eprint!("{label} ... ");
        let t = Instant::now();
        let m = run_case(backend, case, iters, seed.wrapping_add(i as u64)).map_err(|error| {
            BenchError::Case {
                case: label.clone(),
                error,
            }
        })?;
        eprintln!(
            "{} per run ({} total)",
            fmt_duration(m.resident),
            fmt_duration(t.elapsed())
        );
        out.push(m);
    }
    Ok(out)
}

/// A check that a benchmark input really is used: the NTT of a sample differs from the sample.
pub fn sanity(backend: &dyn Backend) -> Result<(), BenchError> {
    let mut rng = sample::rng(1);
    let data = sample::goldilocks(&mut rng, 1 << 4);
    let mut d = data.clone();
    backend
        .goldilocks_ntt(&mut d, 4, NttDirection::Forward)
        .map_err(BenchError::Kernel)?;
    if d == data || d[0] != data.iter().fold(Goldilocks::ZERO, |a, &b| a + b) {
        return Err(BenchError::Sanity {
            device: backend.info().to_string(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use zknode_kernels::CpuBackend;

    #[test]
    fn quick_suite_runs_on_cpu_and_reports_every_case() {
        let cpu = CpuBackend::new();
        sanity(&cpu).unwrap();
        let cases = vec![
            Case::GoldilocksNtt { log_n: 10 },
            Case::LdeMerkle {
                log_rows: 6,
                cols: 3,
                rate_bits: 2,
            },
            Case::Poseidon { log_n: 8 },
            Case::Bn254Msm { log_n: 6 },
            Case::Bn254Ntt { log_n: 6 },
            Case::GoldilocksNtt { log_n: 40 },
        ];
        // The last case is skipped for memory, the others measured.
        let rows = run_suite(&cpu, &cases, 1, 7, 1 << 30).unwrap();
        assert_eq!(rows.len(), 5);
        assert!(rows
            .iter()
            .all(|m| m.throughput().is_finite() && m.throughput() > 0.0));
        let t = table(&cpu, &rows);
        for name in [
            "goldilocks-ntt",
            "lde+merkle",
            "poseidon",
            "bn254-msm",
            "bn254-ntt",
            "permutations/s",
            "points/s",
        ] {
            assert!(t.contains(name), "{name} missing from\n{t}");
        }
    }

    #[test]
    fn quick_suite_is_smaller_than_full() {
        let q: u64 = suite(true).iter().map(|c| c.work().0 as u64).sum();
        let f: u64 = suite(false).iter().map(|c| c.work().0 as u64).sum();
        assert!(q * 20 < f);
    }
}
