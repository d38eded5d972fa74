//! Benchmark helper (bench/run.sh): the time of one argon2id hash with pwreset's parameters
//! (m=19456 KiB, t=2, p=1), on one thread.
//!
//! `cargo run --release --example argon2_once -- N` hashes N times (after one warm-up hash)
//! and prints the mean seconds per hash on stdout.

use std::process::ExitCode;
use std::time::Instant;

use argon2::{Algorithm, Argon2, Params, Version};

fn main() -> ExitCode {
    let count: u32 = match std::env::args().nth(1).map(|s| s.parse()) {
        None => 20,
        Some(Ok(n)) if n > 0 => n,
        Some(_) => {
            eprintln!("usage: argon2_once [N > 0]");
            return ExitCode::from(2);
        }
    };
    let params = match Params::new(19456, 2, 1, None) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("argon2 params: {e}");
            return ExitCode::FAILURE;
        }
    };
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
    let salt = [7_u8; 16];
    let mut out = [0_u8; 32];
    let mut hash = |i: u32| {
        let password = format!("temporary-password-{i}");
        argon2.hash_password_into(password.as_bytes(), &salt, &mut out)
    };
    if let Err(e) = hash(0) {
        eprintln!("argon2: {e}");
        return ExitCode::FAILURE;
    }
    let started = Instant::now();
    for i in 1..=count {
        if let Err(e) = hash(i) {
            eprintln!("argon2: {e}");
            return ExitCode::FAILURE;
        }
    }
    let mean = started.elapsed().as_secs_f64() / f64::from(count);
    println!("{mean:.6}");
    ExitCode::SUCCESS
}
