//! Sensor readings stored at (latitude, longitude, time) points of a 3-D space, and a box
//! query over a region and a time window.
//!
//! A space's coordinates are integers from 0 to 2^bits - 1 in every dimension, so real-world
//! quantities are mapped onto that range first: here latitude and longitude (degrees, as
//! `f64`) are scaled linearly onto it, and time is unix seconds, which fit 32 bits until 2106.
//! Points that are close in every dimension get close keys on the Hilbert curve, so a box
//! over a region and a time window reads few key ranges.
//!
//! Run with `cargo run --release -p infinitedb --example sensor_store`.

use std::path::Path;

use infinitedb::{Db, Options, QueryBox, Readable};

/// Bits per coordinate: latitude and longitude at 180° / 2^32 (about 5 mm), time at one second.
const BITS: u32 = 32;

/// The largest coordinate of a dimension: 2^BITS - 1.
const COORDINATE_MAX: u64 = (1 << BITS) - 1;

/// Maps `value` in `min..=max` linearly onto `0..=COORDINATE_MAX` (out-of-range values clamp).
#[allow(
    clippy::cast_possible_truncation,
    reason = "the product is rounded and clamped to 0..=COORDINATE_MAX, which fits u32"
)]
fn to_coordinate(value: f64, min: f64, max: f64) -> u32 {
    let fraction = ((value - min) / (max - min)).clamp(0.0, 1.0);
    (fraction * COORDINATE_MAX as f64).round() as u32
}

/// The inverse of [`to_coordinate`], to the coordinate's resolution.
fn from_coordinate(coordinate: u32, min: f64, max: f64) -> f64 {
    min + f64::from(coordinate) / COORDINATE_MAX as f64 * (max - min)
}

/// Latitude in degrees (-90 south ..= 90 north) to a coordinate.
fn latitude(degrees: f64) -> u32 {
    to_coordinate(degrees, -90.0, 90.0)
}

/// Longitude in degrees (-180 west ..= 180 east) to a coordinate.
fn longitude(degrees: f64) -> u32 {
    to_coordinate(degrees, -180.0, 180.0)
}

/// Unix seconds to a coordinate (times after 2106 clamp to the last one).
fn time(unix_seconds: u64) -> u32 {
    u32::try_from(unix_seconds).unwrap_or(u32::MAX)
}

/// The point of a reading: the order of the dimensions is the space's own convention.
fn point(latitude_degrees: f64, longitude_degrees: f64, unix_seconds: u64) -> [u32; 3] {
    [
        latitude(latitude_degrees),
        longitude(longitude_degrees),
        time(unix_seconds),
    ]
}

/// First reading's time: 2023-11-14 22:13:20 UTC.
const START: u64 = 1_700_000_000;
/// Seconds between two readings of one sensor.
const EVERY: u64 = 600;
/// Readings per sensor (two hours' worth).
const READINGS: u64 = 12;

fn run(dir: &Path) -> infinitedb::Result<()> {
    let db = Db::open(dir, Options::default())?;
    let space = db.create_space("readings", 3, BITS)?;

    let sensors = [
        ("paris", 48.8566, 2.3522),
        ("berlin", 52.5200, 13.4050),
        ("madrid", 40.4168, -3.7038),
    ];
    for (sensor_index, (name, lat, lon)) in sensors.iter().enumerate() {
        for reading in 0..READINGS {
            let celsius = 10.0 + sensor_index as f64 + reading as f64 * 0.5;
            let value = format!("{name}: {celsius:.1} °C");
            db.put(
                space,
                point(*lat, *lon, START + reading * EVERY),
                value.as_bytes(),
            )?;
        }
    }

    // Around Paris (48–49.5° N, 1.5–3.5° E), from 30 to 60 minutes after the start. Both
    // corners are inclusive: the readings at exactly +30 and +60 minutes are in the box.
    let region = QueryBox::new(
        point(48.0, 1.5, START + 1800).to_vec(),
        point(49.5, 3.5, START + 3600).to_vec(),
    )?;
    let mut found = 0;
    for entry in db.query(space, &region)? {
        let entry = entry?;
        let lat = from_coordinate(entry.point[0], -90.0, 90.0);
        let lon = from_coordinate(entry.point[1], -180.0, 180.0);
        let seconds = u64::from(entry.point[2]);
        println!(
            "{lat:.4}° N {lon:.4}° E at +{:>4} s: {}",
            seconds - START,
            String::from_utf8_lossy(&entry.value)
        );
        assert!(String::from_utf8_lossy(&entry.value).starts_with("paris"));
        assert!((START + 1800..=START + 3600).contains(&seconds));
        found += 1;
    }
    // Paris's readings at +1800, +2400, +3000 and +3600 seconds.
    assert_eq!(found, 4, "the box holds four readings");
    println!("{found} readings in the box");
    db.close()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The database lives in a temporary directory, removed when `dir` drops.
    let dir = tempfile::tempdir()?;
    run(dir.path())?;
    Ok(())
}
