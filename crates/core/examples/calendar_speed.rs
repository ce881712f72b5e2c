//! How fast are due instants? `cargo run --release -p steward-core --example calendar_speed`
//!
//! Realistic inputs: start instants spread over 2024–2026, targets from 15 minutes to five
//! business days, the China mainland standard calendar. Inputs are generated before timing.

use jiff::Timestamp;
use std::hint::black_box;
use std::time::Instant;
use steward_core::calendar::WorkingCalendar;

/// xorshift64*: enough randomness for inputs, no dependency.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }
}

fn main() {
    const N: usize = 2_000_000;
    const FROM: i64 = 1_704_067_200; // 2024-01-01T00:00Z
    const TO: i64 = 1_798_761_600; // 2027-01-01T00:00Z
    let china = WorkingCalendar::china_mainland_standard();
    // The same hours in a zone with DST, where each day goes through jiff's conversions.
    let mut spec = china.spec().clone();
    spec.time_zone = "America/New_York".into();
    spec.base = None;
    let new_york = WorkingCalendar::from_spec(&spec).unwrap();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let starts: Vec<Timestamp> = (0..N)
        .map(|_| Timestamp::from_second(FROM + rng.below((TO - FROM) as u64) as i64).unwrap())
        .collect();
    let secs: Vec<i64> = (0..N)
        .map(|_| 15 * 60 + rng.below(5 * 8 * 3600 - 15 * 60 + 1) as i64)
        .collect();

    for (label, cal, rounds) in [
        ("China standard", &china, 3),
        ("New York (DST)", &new_york, 1),
    ] {
        for round in 1..=rounds {
            let t = Instant::now();
            let mut acc = 0i64;
            for (s, d) in starts.iter().zip(&secs) {
                acc ^= black_box(cal.add_business(*s, *d)).as_second();
            }
            let add = N as f64 / t.elapsed().as_secs_f64();
            black_box(acc);

            let dues: Vec<Timestamp> = starts
                .iter()
                .zip(&secs)
                .map(|(s, d)| Timestamp::from_second(s.as_second() + d * 3).unwrap())
                .collect();
            let t = Instant::now();
            let mut sum = 0i64;
            for (s, e) in starts.iter().zip(&dues) {
                sum += black_box(cal.business_secs_between(*s, *e));
            }
            let between = N as f64 / t.elapsed().as_secs_f64();
            black_box(sum);
            println!(
            "{label}, round {round}: add_business {:>6.2} M/s, business_secs_between {:>6.2} M/s",
            add / 1e6,
            between / 1e6
        );
        }
    }
}
