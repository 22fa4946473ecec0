//! What a prover says about itself in its GetStatus answer.

use zknode_proto::pb;

/// The kind of a prover's compute device: the kernels' own, converted from the wire here.
pub use zknode_kernels::DeviceKind;

/// A prover's device, as its status reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Device {
    /// `None`: a kind this build does not know.
    pub kind: Option<DeviceKind>,
    pub name: String,
    pub memory_bytes: u64,
}

/// A prover's answer to GetStatus.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProverStatus {
    pub prover_id: String,
    pub prover_name: String,
    /// The prover's software version.
    pub version: String,
    pub device: Option<Device>,
    pub idle: bool,
    pub current_job_id: Option<String>,
    pub can_aggregate: bool,
}

impl From<pb::GetStatusResponse> for ProverStatus {
    fn from(s: pb::GetStatusResponse) -> Self {
        Self {
            prover_id: s.prover_id,
            prover_name: s.prover_name,
            version: s.version,
            device: s.device.map(|d| Device {
                kind: match pb::DeviceKind::try_from(d.kind) {
                    Ok(pb::DeviceKind::Cpu) => Some(DeviceKind::Cpu),
                    Ok(pb::DeviceKind::Cuda) => Some(DeviceKind::Cuda),
                    _ => None,
                },
                name: d.name,
                memory_bytes: d.memory_bytes,
            }),
            idle: s.idle,
            current_job_id: (!s.current_job_id.is_empty()).then_some(s.current_job_id),
            can_aggregate: s.can_aggregate,
        }
    }
}
