//! One module per subcommand. Each exposes `Args` (clap) and `run(Args) -> anyhow::Result<ExitCode>`.

pub mod audit;
pub mod bench;
mod bench_devices;
pub mod ca;
pub mod client;
pub mod device;
mod device_join;
mod device_mdm;
pub mod group;
pub mod hash;
pub mod import;
pub mod profile;
pub mod rule;
pub mod serve;
pub mod tenant;
pub mod user;
