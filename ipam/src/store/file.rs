use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{Store, StoreError};
use crate::state::{State, Version};

/// A store in one JSON file, for single-host labs.
///
/// Writers serialise on an exclusive `flock` of a sidecar `<file>.lock`
/// (never of the data file itself, which each write replaces). A write
/// checks the version under the lock, writes `<file>.tmp`, fsyncs it,
/// renames it over the data file and fsyncs the directory, so a reader or a
/// crash sees either the old file or the new one, never a mix. Readers take
/// no lock for the same reason. A missing file is the empty state at
/// [`Version::INITIAL`].
#[derive(Debug, Clone)]
pub struct FileStore {
    path: PathBuf,
}

/// The file's layout: the version travels with the state it names.
#[derive(Serialize, Deserialize)]
struct Contents {
    version: Version,
    blocks: State,
}

impl FileStore {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        FileStore { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn sibling(&self, suffix: &str) -> PathBuf {
        let mut name = OsString::from(self.path.as_os_str());
        name.push(suffix);
        PathBuf::from(name)
    }

    fn io_error(&self, action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> StoreError {
        let path = path.to_owned();
        move |source| StoreError::Io {
            action,
            path,
            source,
        }
    }

    fn read(&self) -> Result<(State, Version), StoreError> {
        let bytes = match fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                return Ok((State::default(), Version::INITIAL));
            }
            Err(err) => return Err(self.io_error("read", &self.path)(err)),
        };
        let contents: Contents =
            serde_json::from_slice(&bytes).map_err(|source| StoreError::Corrupt {
                path: self.path.clone(),
                source,
            })?;
        Ok((contents.blocks, contents.version))
    }

    fn write(&self, contents: &Contents) -> Result<(), StoreError> {
        let temp = self.sibling(".tmp");
        let mut json =
            serde_json::to_vec_pretty(contents).map_err(|source| StoreError::Corrupt {
                path: self.path.clone(),
                source,
            })?;
        json.push(b'\n');
        let mut file = File::create(&temp).map_err(self.io_error("create", &temp))?;
        file.write_all(&json)
            .map_err(self.io_error("write", &temp))?;
        file.sync_all().map_err(self.io_error("fsync", &temp))?;
        fs::rename(&temp, &self.path).map_err(self.io_error("rename over", &self.path))?;
        let dir = self.directory();
        File::open(&dir)
            .and_then(|d| d.sync_all())
            .map_err(self.io_error("fsync directory", &dir))
    }

    fn directory(&self) -> PathBuf {
        match self.path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
            _ => PathBuf::from("."),
        }
    }
}

impl Store for FileStore {
    fn load(&self) -> Result<(State, Version), StoreError> {
        self.read()
    }

    fn compare_and_swap(&self, expected: Version, new: &State) -> Result<Version, StoreError> {
        let lock_path = self.sibling(".lock");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(self.io_error("open lock file", &lock_path))?;
        // Released when `lock` is dropped, on every return path.
        lock.lock().map_err(self.io_error("lock", &lock_path))?;
        let (_, actual) = self.read()?;
        if actual != expected {
            return Err(StoreError::Conflict { expected, actual });
        }
        let version = actual.next();
        self.write(&Contents {
            version,
            blocks: new.clone(),
        })?;
        Ok(version)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::NodeName;
    use crate::test_dir::TestDir;

    fn one_block() -> State {
        [("fd00::/64".parse().unwrap(), NodeName::new("n").unwrap())]
            .into_iter()
            .collect()
    }

    #[test]
    fn a_missing_file_is_the_empty_initial_state() {
        let dir = TestDir::new("missing");
        let (state, version) = FileStore::new(dir.path().join("ipam.json")).load().unwrap();
        assert!(state.is_empty());
        assert_eq!(version, Version::INITIAL);
    }

    #[test]
    fn swaps_persist_and_conflicts_change_nothing() {
        let dir = TestDir::new("swap");
        let store = FileStore::new(dir.path().join("ipam.json"));
        let v1 = store
            .compare_and_swap(Version::INITIAL, &one_block())
            .unwrap();
        assert_eq!(
            FileStore::new(store.path()).load().unwrap(),
            (one_block(), v1)
        );
        let err = store
            .compare_and_swap(Version::INITIAL, &State::default())
            .unwrap_err();
        assert!(matches!(err, StoreError::Conflict { actual, .. } if actual == v1));
        assert_eq!(store.load().unwrap().0, one_block());
        assert!(!store.sibling(".tmp").exists());
        let text = fs::read_to_string(store.path()).unwrap();
        assert!(
            text.contains("\"version\": 1") && text.contains("\"fd00::/64\": \"n\""),
            "{text}"
        );
    }

    #[test]
    fn a_damaged_file_is_reported_with_its_path() {
        let dir = TestDir::new("corrupt");
        let path = dir.path().join("ipam.json");
        fs::write(
            &path,
            "{\"version\": 1, \"blocks\": {\"10.0.0.1/8\": \"n\"}}",
        )
        .unwrap();
        let err = FileStore::new(&path).load().unwrap_err();
        assert!(matches!(err, StoreError::Corrupt { .. }));
        assert!(err.to_string().starts_with(&format!(
            "{} is not a valid IPAM state file: ",
            path.display()
        )));
    }

    #[test]
    fn io_failures_name_the_action_and_path() {
        let dir = TestDir::new("io");
        let path = dir.path().join("no-such-dir").join("ipam.json");
        let err = FileStore::new(&path)
            .compare_and_swap(Version::INITIAL, &one_block())
            .unwrap_err();
        let lock = format!("{}.lock", path.display());
        assert!(
            err.to_string()
                .starts_with(&format!("cannot open lock file {lock}: ")),
            "{err}"
        );
    }
}
