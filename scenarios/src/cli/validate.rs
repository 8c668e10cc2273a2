//! Input every replay-reading command (`replay`, `shrink`, `report`) validates the same way
//! before it runs anything: the file with every value checked (`run::load_replay`), its
//! scenario and protocol known to this tiersim, and its configuration. A refusal is one line
//! naming the file and the field; the command exits 2 with nothing created.

use super::args::{find_protocol, find_scenario};
use super::output::BadInput;
use crate::registry::Registry;
use crate::scenario::Scenario;
use std::path::Path;
use std::sync::Arc;
use tiersim_model::node::config::{CacheOp, SystemConfig};
use tiersim_model::protocol::ProtocolFactory;
use tiersim_sim::replay::ReplayFile;

/// A replay file ready to run.
pub(crate) struct Loaded {
    pub file: ReplayFile<CacheOp>,
    pub scenario: Arc<dyn Scenario>,
    pub protocol: ProtocolFactory,
    pub config: SystemConfig,
}

pub(crate) fn load(reg: &Registry, path: &Path) -> Result<Loaded, BadInput> {
    let file = crate::run::load_replay(path)?;
    let name = path.display();
    let named = |e: BadInput| BadInput(format!("{name}: {}", e.0));
    let scenario = find_scenario(reg, &file.scenario).map_err(named)?;
    let protocol = find_protocol(reg, &file.protocol).map_err(named)?;
    let config = crate::run::config_from_json(&file.config).map_err(|e| BadInput(format!("{name}: {e}")))?;
    Ok(Loaded { file, scenario, protocol, config })
}

/// Refuse an output path before anything runs (see `tiersim_sim::files` for what is allowed).
pub(crate) fn output_file(path: &Path) -> Result<(), BadInput> {
    tiersim_sim::files::output_target(path)?;
    Ok(())
}

/// Refuse an output directory that exists and is not a directory, or that cannot be created
/// because its parent does not exist, before anything runs; nothing is created here.
pub(crate) fn output_dir(dir: &Path) -> Result<(), BadInput> {
    let name = dir.display();
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(BadInput(format!("{name}: exists and is not a directory"))),
        Err(_) => {
            // create_dir_all makes missing parents too; refuse only what it could not make.
            let mut up = dir.parent();
            while let Some(p) = up {
                if p.as_os_str().is_empty() {
                    return Ok(());
                }
                match std::fs::metadata(p) {
                    Ok(m) if m.is_dir() => return Ok(()),
                    Ok(_) => {
                        return Err(BadInput(format!(
                            "{name}: cannot create: {} is not a directory",
                            p.display()
                        )))
                    }
                    Err(_) => up = p.parent(),
                }
            }
            Ok(())
        }
    }
}
