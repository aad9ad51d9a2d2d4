//! Property: after a simulated power loss, each file holds a state its fsync history allows.
//!
//! Goal: every byte synced before a file's last fsync survives; every other sector holds its
//! durable value or the value some unsynced write put there (tear granularity: 512-byte
//! sectors); nothing else appears. Method: random sequences of writes, fsyncs and crashes on
//! three files of the raw `SimDisk`, checked after every crash against a reference model (per
//! file: the durable bytes and the unsynced writes); the run continues on the crashed disk, as
//! the engine reopens on it. At the end the live and durable images must equal the model's.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers outside #[test] functions: a failure there is a test failure"
)]

use std::path::{Path, PathBuf};

use proptest::prelude::*;
use uring_io::{SECTOR_BYTES, SimDisk};

const FILE_COUNT: usize = 3;
const UNIT_BYTES: usize = 1024;

#[derive(Clone, Debug)]
enum Op {
    Write {
        file: usize,
        unit: u64,
        units: usize,
        byte: u8,
    },
    Sync {
        file: usize,
    },
    Crash {
        seed: u64,
    },
}

#[derive(Clone, Debug, Default)]
struct ModelFile {
    durable: Vec<u8>,
    unsynced: Vec<(usize, Vec<u8>)>,
}

impl ModelFile {
    fn live(&self) -> Vec<u8> {
        let mut bytes = self.durable.clone();
        for (offset, data) in &self.unsynced {
            put(&mut bytes, *offset, data);
        }
        bytes
    }

    /// Asserts that `crashed` is a state the fsync history allows.
    fn check_crashed(&self, crashed: &[u8]) -> Result<(), TestCaseError> {
        let live_len = self.live().len();
        prop_assert!(crashed.len() >= self.durable.len(), "synced length lost");
        prop_assert!(crashed.len() <= live_len, "longer than anything written");
        prop_assert_eq!(crashed.len() % SECTOR_BYTES, 0);
        for (sector, bytes) in crashed.chunks(SECTOR_BYTES).enumerate() {
            let start = sector * SECTOR_BYTES;
            let durable = sector_of(&self.durable, start);
            let from_write = self.unsynced.iter().any(|(offset, data)| {
                start >= *offset
                    && start + SECTOR_BYTES <= offset + data.len()
                    && bytes == &data[start - offset..start - offset + SECTOR_BYTES]
            });
            prop_assert!(
                bytes == durable.as_slice() || from_write,
                "sector {} holds bytes no write put there",
                sector
            );
        }
        Ok(())
    }
}

fn sector_of(bytes: &[u8], start: usize) -> Vec<u8> {
    (start..start + SECTOR_BYTES)
        .map(|i| bytes.get(i).copied().unwrap_or(0))
        .collect()
}

fn put(bytes: &mut Vec<u8>, offset: usize, data: &[u8]) {
    if bytes.len() < offset + data.len() {
        bytes.resize(offset + data.len(), 0);
    }
    bytes[offset..offset + data.len()].copy_from_slice(data);
}

fn path(file: usize) -> PathBuf {
    PathBuf::from(format!("/f{file}"))
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (0..FILE_COUNT, 0..6u64, 1..4usize, 1..=255u8)
            .prop_map(|(file, unit, units, byte)| Op::Write { file, unit, units, byte }),
        2 => (0..FILE_COUNT).prop_map(|file| Op::Sync { file }),
        1 => any::<u64>().prop_map(|seed| Op::Crash { seed }),
    ]
}

fn new_disk() -> SimDisk {
    let mut disk = SimDisk::new();
    for file in 0..FILE_COUNT {
        disk.create_file(&path(file)).unwrap();
    }
    disk.sync_directory(Path::new("/")).unwrap();
    disk
}

fn apply(disk: &mut SimDisk, model: &mut [ModelFile], op: &Op) -> Result<(), TestCaseError> {
    match *op {
        Op::Write {
            file,
            unit,
            units,
            byte,
        } => {
            let offset = usize::try_from(unit).unwrap() * UNIT_BYTES;
            let data = vec![byte; units * UNIT_BYTES];
            disk.write_unsynced(&path(file), offset as u64, &data)
                .unwrap();
            model[file].unsynced.push((offset, data));
        }
        Op::Sync { file } => {
            disk.sync_file(&path(file)).unwrap();
            model[file].durable = model[file].live();
            model[file].unsynced.clear();
        }
        Op::Crash { seed } => {
            let crashed = disk.power_loss(seed);
            prop_assert!(crashed.pending_writes().is_empty());
            for (file, model_file) in model.iter_mut().enumerate() {
                let bytes = crashed.file_bytes(&path(file)).unwrap();
                model_file.check_crashed(&bytes)?;
                *model_file = ModelFile {
                    durable: bytes,
                    unsynced: Vec::new(),
                };
            }
            *disk = crashed;
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]
    #[test]
    fn crash_keeps_synced_bytes_and_only_written_sectors(ops in prop::collection::vec(op(), 1..40)) {
        let mut disk = new_disk();
        let mut model = vec![ModelFile::default(); FILE_COUNT];
        for op in &ops {
            apply(&mut disk, &mut model, op)?;
        }
        let live = disk.live_image();
        let durable = disk.durable_image();
        for (file, model_file) in model.iter().enumerate() {
            prop_assert_eq!(disk.file_bytes(&path(file)).unwrap(), model_file.live());
            prop_assert_eq!(live.file_bytes(&path(file)).unwrap(), model_file.live());
            prop_assert_eq!(durable.file_bytes(&path(file)).unwrap(), model_file.durable.clone());
        }
    }
}
