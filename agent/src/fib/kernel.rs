//! The kernel, as the FIB needs it: our routes, the connected subnets, and
//! batched writes. `netlink.rs` is the real one; [`FakeKernel`] keeps a
//! routing table in memory with the kernel's rules that matter to us.

#[cfg(test)]
use std::collections::BTreeMap;
use std::io;

#[cfg(test)]
use bgp::types::Prefix;

use super::connected::Connected;
use super::route::KernelRoute;
#[cfg(test)]
use super::route::Target;
use super::table::{Op, OpError};

pub(crate) trait Kernel {
    /// The routes carrying our protocol number in our table, one by one as
    /// they are read (a million of them need not be collected first).
    fn each_route(&mut self, each: &mut dyn FnMut(KernelRoute)) -> io::Result<()>;
    /// The same, collected.
    fn routes(&mut self) -> io::Result<Vec<KernelRoute>> {
        let mut found = Vec::new();
        self.each_route(&mut |r| found.push(r))?;
        Ok(found)
    }
    /// The interface addresses, for next-hop resolution.
    fn addresses(&mut self) -> io::Result<Connected>;
    /// Applies `ops` in order, as few system calls as possible; one result
    /// per operation. `Err` only when the batch could not be sent at all.
    fn apply(&mut self, ops: &[Op]) -> io::Result<Vec<Result<(), OpError>>>;
}

#[cfg(test)]
/// Who owns a route in [`FakeKernel`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Owner {
    Us,
    /// Another routing daemon, or an administrator.
    Other(u8),
}

#[cfg(test)]
/// A routing table with the kernel's rules: one route per key (here the
/// prefix, as table and metric are fixed), creation without replace fails
/// on an existing key, deletion matches the protocol.
#[derive(Debug, Default)]
pub(crate) struct FakeKernel {
    pub(crate) table: BTreeMap<Prefix, (Owner, Target)>,
    pub(crate) connected: Connected,
    /// How many batches `apply` was called with.
    pub(crate) batches: usize,
}

#[cfg(test)]
impl Kernel for FakeKernel {
    fn each_route(&mut self, each: &mut dyn FnMut(KernelRoute)) -> io::Result<()> {
        for (p, (o, t)) in &self.table {
            if *o == Owner::Us {
                each(KernelRoute {
                    prefix: *p,
                    target: t.clone(),
                });
            }
        }
        Ok(())
    }

    fn addresses(&mut self) -> io::Result<Connected> {
        Ok(self.connected.clone())
    }

    fn apply(&mut self, ops: &[Op]) -> io::Result<Vec<Result<(), OpError>>> {
        self.batches += 1;
        Ok(ops
            .iter()
            .map(|op| match op {
                Op::Set { route, replace } => match self.table.get(&route.prefix) {
                    Some(_) if !replace => Err(OpError::Exists),
                    _ => {
                        self.table
                            .insert(route.prefix, (Owner::Us, route.target.clone()));
                        Ok(())
                    }
                },
                Op::Delete { route } => match self.table.get(&route.prefix) {
                    Some((Owner::Us, _)) => {
                        self.table.remove(&route.prefix);
                        Ok(())
                    }
                    _ => Err(OpError::Gone),
                },
            })
            .collect())
    }
}
