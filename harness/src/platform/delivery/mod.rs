//! How a job reaches the Docker platform's pod and how its result comes back: the seam
//! between the platform, which makes the pod (`docker.rs`), and who runs the jobs in it.
//! `act.rs` starts act in the runner container (no server); `forge.rs` pushes to the run's
//! forge, whose runner — the pod's runner container, registered to the item's repository —
//! takes the job. The trait they implement is the platform's (`docker::Delivery`), which
//! asks only it; which one a run has is decided once (`docker_setup::prepare`).

mod act;
pub mod forge;

pub(super) use act::ActDelivery;
pub(super) use forge::ForgeDelivery;
