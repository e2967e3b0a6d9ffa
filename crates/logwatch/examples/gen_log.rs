//! Writes a realistic backend log of about the given size (bytes) to a file, for benchmarks:
//! `cargo run --release -p msgops-logwatch --example gen_log -- OUT BYTES`.
//! About one line in twelve carries `OTP`; timestamps advance 50 ms per record.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let (Some(out), Some(size)) = (args.get(1), args.get(2).and_then(|s| s.parse::<u64>().ok()))
    else {
        eprintln!("usage: gen_log OUT BYTES");
        return ExitCode::from(2);
    };
    match generate(out, size) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gen_log: {e}");
            ExitCode::FAILURE
        }
    }
}

fn generate(out: &str, size: u64) -> std::io::Result<()> {
    let mut w = BufWriter::with_capacity(1 << 20, File::create(out)?);
    let start = chrono::NaiveDate::from_ymd_opt(2025, 10, 29)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .ok_or_else(|| std::io::Error::other("bad start date"))?;
    let mut written = 0u64;
    let mut i = 0u64;
    let mut rng = 0x2545_f491_4f6c_dd1d_u64;
    while written < size {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let ts = (start + chrono::TimeDelta::milliseconds(i64::try_from(i * 50).unwrap_or(0)))
            .format("%Y-%m-%d %H:%M:%S,%3f");
        let phone = 4_165_550_000 + rng % 10_000;
        let code = rng % 1_000_000;
        let line = match i % 24 {
            0 => format!("{ts} - services.otp_service - INFO - OTP created for phone: +1{phone}\n"),
            1 => format!("{ts} - services.otp_service - WARNING - SMS FALLBACK - OTP for +1{phone}: {code:06}\n"),
            2 => "INFO:     127.0.0.1:64825 - \"POST /api/v1/auth/otp/send HTTP/1.1\" 500 Internal Server Error\n".to_owned(),
            3 => format!("{ts} - services.sms - ERROR - Twilio error: HTTP 401 error: Unable to create record: Authenticate\nTraceback (most recent call last):\n  File \"/app/services/sms.py\", line 88, in send\ntwilio.base.exceptions.TwilioRestException: HTTP 401 error\n"),
            4 => format!("{ts} - services.console - INFO - OTP Code: {code:06}\n"),
            5..=9 => format!("INFO:     10.0.{}.{}:{} - \"GET /api/v1/users/me HTTP/1.1\" 200 OK\n", rng % 256, (rng >> 8) % 256, 40_000 + rng % 20_000),
            10..=16 => format!("{ts} - sqlalchemy.engine.Engine - INFO - SELECT users.id, users.email, users.phone FROM users WHERE users.id = {}\n", rng % 100_000),
            _ => format!("{ts} - app.requests - DEBUG - request_id={rng:016x} path=/api/v1/items/{} duration_ms={}\n", rng % 5000, rng % 900),
        };
        w.write_all(line.as_bytes())?;
        written += line.len() as u64;
        i += 1;
    }
    w.flush()
}
