//! The start order of a manifest: each service after its dependencies, file order
//! otherwise; a cycle in `depends_on` is an error naming it.

use std::collections::HashSet;

use super::spec::Manifest;
use crate::error::{Error, Result};

impl Manifest {
    /// Services in an order where each comes after its dependencies (file order otherwise).
    pub fn start_order(&self) -> Result<Vec<String>> {
        let mut done: Vec<String> = Vec::new();
        let mut visiting = HashSet::new();
        fn visit(
            m: &Manifest,
            name: &str,
            done: &mut Vec<String>,
            visiting: &mut HashSet<String>,
            chain: &mut Vec<String>,
        ) -> Result<()> {
            if done.iter().any(|d| d == name) {
                return Ok(());
            }
            chain.push(name.to_owned());
            if !visiting.insert(name.to_owned()) {
                return Err(Error::Manifest {
                    path: m.path.clone(),
                    line: None,
                    message: format!("depends_on forms a cycle: {}", chain.join(" -> ")),
                });
            }
            for dep in m.services[name].dependency_names() {
                visit(m, dep, done, visiting, chain)?;
            }
            visiting.remove(name);
            chain.pop();
            done.push(name.to_owned());
            Ok(())
        }
        for name in self.services.keys() {
            visit(self, name, &mut done, &mut visiting, &mut Vec::new())?;
        }
        Ok(done)
    }
}
