//! Owner-reference garbage collection, as the real garbage collector does it with
//! background propagation: when an object is deleted, every object it owns
//! (`metadata.ownerReferences[].uid`) whose owners are now all gone is deleted too, and so
//! on down the tree, each deletion its own write with its own DELETED event.
//!
//! Simplified: the real collector runs asynchronously, a moment after the owner's delete
//! returns; here the dependents are gone before it returns. `propagationPolicy: Orphan` is
//! honoured only by not deleting: the dependents keep their dangling owner reference.

use std::collections::BTreeSet;

use serde_json::Value;

use super::store::{Key, Store};

/// Deletes what the just-deleted object with `uid` owned, transitively.
pub(crate) fn collect(store: &mut Store, uid: &str) {
    let mut gone = vec![uid.to_string()];
    while let Some(owner) = gone.pop() {
        let live: BTreeSet<&str> = store
            .all()
            .filter_map(|(_, o)| o["metadata"]["uid"].as_str())
            .collect();
        // Dependents of `owner` with no other live owner.
        let orphans: Vec<Key> = store
            .all()
            .filter(|(_, o)| {
                let owners = owner_uids(o);
                owners.contains(&owner.as_str()) && owners.iter().all(|u| !live.contains(u))
            })
            .map(|(key, _)| key.clone())
            .collect();
        for key in orphans {
            let deleted = store.write(key, None);
            if let Some(uid) = deleted["metadata"]["uid"].as_str() {
                gone.push(uid.to_string());
            }
        }
    }
}

fn owner_uids(object: &Value) -> Vec<&str> {
    object["metadata"]["ownerReferences"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["uid"].as_str())
        .collect()
}
