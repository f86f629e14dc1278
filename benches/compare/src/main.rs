//! wsmachine side by side with tungstenite, tokio-websockets, fastwebsockets
//! and ratchet_rs (issue 6): decode W1-W4b (server role, masked client frames
//! read in 64 KiB pieces from memory, every payload checked byte for byte),
//! encode W5a-W5b (client role, into an in-memory sink), plus memory per idle
//! connection. See README.md beside Cargo.toml.
//!
//! cargo run --release --manifest-path benches/compare/Cargo.toml -- [--quick]
//!     [--rounds N] [--only W1,W3,...] [--sink count|copy] [--api batch|poll]

mod alloc;
mod data;
mod impls;
mod io;
mod mem;

use std::hint::black_box;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use tokio::runtime::Runtime;

use data::{Dir, Unit, Workload};
use impls::{IMPLS, run_encode};

#[global_allocator]
static GLOBAL: alloc::Counting = alloc::Counting;

struct Args {
    quick: bool,
    rounds: usize,
    only: Option<Vec<String>>,
}

fn parse_args() -> Result<Args, String> {
    let mut quick = false;
    let mut rounds = None;
    let mut only = None;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--quick" => quick = true,
            "--sink" => match it.next().as_deref() {
                Some("copy") => io::COPY_WRITES.store(true, std::sync::atomic::Ordering::Relaxed),
                Some("count") => io::COPY_WRITES.store(false, std::sync::atomic::Ordering::Relaxed),
                _ => return Err("--sink takes copy or count".into()),
            },
            "--api" => match it.next().as_deref() {
                Some("poll") => impls::POLL_ONLY.store(true, std::sync::atomic::Ordering::Relaxed),
                Some("batch") => {
                    impls::POLL_ONLY.store(false, std::sync::atomic::Ordering::Relaxed)
                }
                _ => return Err("--api takes batch or poll".into()),
            },
            "--rounds" => {
                let v = it.next().ok_or("--rounds needs a number")?;
                rounds = Some(
                    v.parse::<usize>()
                        .map_err(|e| format!("--rounds: {e}"))?
                        .max(1),
                );
            }
            "--only" => {
                let v = it.next().ok_or("--only needs a list such as W1,W3")?;
                only = Some(v.split(',').map(|s| s.trim().to_string()).collect());
            }
            "--bench" => {} // passed by `cargo bench`-style runners; ignored
            "-h" | "--help" => {
                println!(
                    "usage: compare [--quick] [--rounds N] [--only W1,W2,W3,W4a,W4b,W5a,W5b] [--sink count|copy] [--api batch|poll]\n\
                     --quick: smaller workloads, 3 rounds (under a minute); default 7 rounds\n\
                     --sink: encoders write to a counting writer (default) or copy into a Vec cleared every 64 KiB\n\
                     --api: wsmachine lends messages and encodes into its write buffer (batch, default),\n\
                     \x20      or uses poll_output and send_binary_copy alone (poll)"
                );
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?} (try --help)")),
        }
    }
    Ok(Args {
        quick,
        rounds: rounds.unwrap_or(if quick { 3 } else { 7 }),
        only,
    })
}

/// Versions of the compared crates, from the lock file this binary was built with.
fn versions() -> String {
    let lock = include_str!("../Cargo.lock");
    let mut out = Vec::new();
    for name in [
        "tungstenite",
        "tokio-websockets",
        "fastwebsockets",
        "ratchet_rs",
        "tokio",
    ] {
        let needle = format!("name = \"{name}\"\nversion = \"");
        if let Some(i) = lock.find(&needle) {
            let rest = &lock[i + needle.len()..];
            let v = &rest[..rest.find('"').unwrap_or(0)];
            out.push(format!("{name} {v}"));
        }
    }
    out.join(", ")
}

fn median(v: &[Duration]) -> Duration {
    let mut s = v.to_vec();
    s.sort();
    s[s.len() / 2]
}

fn fmt_dur(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s >= 1.0 {
        format!("{s:.3} s")
    } else {
        format!("{:.2} ms", s * 1e3)
    }
}

/// Throughput: messages per second or payload bytes per second.
fn rate(w: &Workload, d: Duration) -> f64 {
    let s = d.as_secs_f64().max(1e-12);
    match w.unit {
        Unit::Msgs => w.n as f64 / s,
        Unit::Bytes => w.total_payload() as f64 / s,
    }
}

fn fmt_rate(unit: Unit, r: f64) -> String {
    match unit {
        Unit::Msgs => format!("{:.2} M msg/s", r / 1e6),
        Unit::Bytes => format!("{:.2} GB/s", r / 1e9),
    }
}

/// The memcpy reference: the W3 stream copied in 64 KiB pieces into a buffer.
fn memcpy_stream(w: &Workload) {
    let mut buf: Vec<u8> = Vec::with_capacity(io::PIECE);
    for piece in w.stream.chunks(io::PIECE) {
        buf.clear();
        buf.extend_from_slice(piece);
        black_box(&mut buf);
    }
}

/// The least work any implementation does on this workload, with nothing
/// else: decode, the stream copied in 64 KiB pieces (as `memcpy_stream`)
/// plus, for text, each payload validated with simdutf8 (the expected
/// bodies, which stay in cache: an optimistic figure); encode, each payload
/// masked into a reused buffer. Unmasking, parsing and the check are left
/// out, so this is a lower bound on time, and best peer ÷ floor an upper
/// bound on the speedup any implementation can show here.
fn floor(w: &Workload) {
    match w.dir {
        Dir::Decode => {
            memcpy_stream(w);
            if w.text {
                let len = w.msg_len;
                for i in 0..w.n {
                    let b = i % w.k * len;
                    black_box(simdutf8::basic::from_utf8(&w.bodies[b..b + len]).is_ok());
                }
            }
        }
        Dir::Encode => {
            let mut out = Vec::with_capacity(w.msg_len);
            for i in 0..w.n {
                out.clear();
                masked_copy(&mut out, w.payload(i), [1, 2, 3, 4]);
                black_box(&mut out);
            }
        }
    }
}

/// The encode floor's masked copy: one fused pass, a word at a time.
/// Inlined into the floor's loop (the key and the buffer known), this is the
/// fastest form for every payload here, 16 bytes included, where a call to
/// `memcpy` followed by a masking pass (what `wsmachine::frame::mask_into`
/// does up to 48 KiB, as it is faster where the library calls it) costs
/// twice the time.
#[inline(always)]
fn masked_copy(out: &mut Vec<u8>, src: &[u8], key: [u8; 4]) {
    let k = u64::from(u32::from_ne_bytes(key));
    let k64 = k | (k << 32);
    let words = src.chunks_exact(8);
    let rest = words.remainder();
    out.reserve(src.len());
    out.extend(words.flat_map(|w| {
        let mut word = [0u8; 8];
        word.copy_from_slice(w);
        (u64::from_ne_bytes(word) ^ k64).to_ne_bytes()
    }));
    out.extend(rest.iter().zip(key.iter().cycle()).map(|(b, k)| b ^ k));
}

/// What a timed slot runs.
#[derive(Clone, Copy)]
enum Slot {
    Impl(usize),
    Memcpy,
    Floor,
}

/// One timed run of a slot.
fn run_once(rt: &Runtime, w: &Workload, slot: Slot) -> Result<Duration, String> {
    let start = Instant::now();
    match (slot, w.dir) {
        (Slot::Memcpy, _) => memcpy_stream(w),
        (Slot::Floor, _) => floor(w),
        (Slot::Impl(i), Dir::Decode) => (IMPLS[i].decode)(rt, w)?,
        (Slot::Impl(i), Dir::Encode) => {
            let r = run_encode(rt, IMPLS[i].encode, w, w.n, false)?;
            let want = w.wire_len(w.n);
            if r.written != want {
                return Err(format!("wrote {} bytes, expected {want}", r.written));
            }
        }
    }
    Ok(start.elapsed())
}

/// How many encoded frames are decoded and compared (untimed, once each).
fn encode_check_count(w: &Workload) -> usize {
    if w.msg_len > 1024 { 16 } else { 2000 }
}

struct Result1 {
    id: &'static str,
    ratio: f64,
    best: &'static str,
    /// Best peer ÷ floor: the most any implementation could show here.
    ceiling: f64,
}

/// Every decoder must reject a stream with one flipped payload bit.
fn check_harness(rt: &Runtime, w: &Workload) -> Result<(), String> {
    let bad = w.corrupted();
    for imp in IMPLS {
        if (imp.decode)(rt, &bad).is_ok() {
            return Err(format!(
                "{} {}: harness check failed: a flipped payload bit went undetected",
                w.id, imp.name
            ));
        }
    }
    println!(
        "    harness check: with one payload bit flipped, all {} decoders fail verification",
        IMPLS.len()
    );
    Ok(())
}

fn run_workload(rt: &Runtime, w: &Workload, rounds: usize) -> Result<Result1, String> {
    println!();
    println!("{}  {}", w.id, w.title);
    if w.dir == Dir::Decode {
        check_harness(rt, w)?;
    }
    let mut slots: Vec<Slot> = (0..IMPLS.len()).map(Slot::Impl).collect();
    let with_memcpy = w.id == "W3";
    if with_memcpy {
        slots.push(Slot::Memcpy);
    }
    slots.push(Slot::Floor);
    let name = |s: Slot| match s {
        Slot::Impl(i) => IMPLS[i].name,
        Slot::Memcpy => "memcpy (reference)",
        Slot::Floor => match w.dir {
            Dir::Decode if w.text => "floor: copy+utf8",
            Dir::Decode => "floor: copy",
            Dir::Encode => "floor: masked copy",
        },
    };

    // Encoders: check what each writes, frame by frame, once (untimed).
    if w.dir == Dir::Encode {
        let count = w.n.min(encode_check_count(w));
        for imp in IMPLS {
            let r = run_encode(rt, imp.encode, w, count, true)
                .map_err(|e| format!("{} {}: {e}", w.id, imp.name))?;
            data::verify_client_frames(&r.captured, w, count)
                .map_err(|e| format!("{} {}: {e}", w.id, imp.name))?;
        }
    }

    // One untimed warm-up run each (also fully verified), then the rounds,
    // round-robin, starting one later each round.
    let mut times: Vec<Vec<Duration>> = vec![Vec::new(); slots.len()];
    for round in 0..=rounds {
        for k in 0..slots.len() {
            let s = (k + round) % slots.len();
            let d = run_once(rt, w, slots[s])
                .map_err(|e| format!("{} {}: {e}", w.id, name(slots[s])))?;
            if round > 0 {
                times[s].push(d);
            }
        }
    }

    let med: Vec<Duration> = times.iter().map(|t| median(t)).collect();
    let ours = med[0];
    let memcpy = with_memcpy.then(|| rate(w, med[IMPLS.len()]));
    let floor_t = med[slots.len() - 1];
    let volume = match w.dir {
        Dir::Decode => format!("stream {:.1} MB", w.stream.len() as f64 / 1e6),
        Dir::Encode => format!("wire {:.1} MB", w.wire_len(w.n) as f64 / 1e6),
    };
    let verified = match w.dir {
        Dir::Decode => format!("all {} messages verified byte for byte in every run", w.n),
        Dir::Encode => format!(
            "first {} frames decoded and verified once per implementation, byte count checked in every run",
            w.n.min(encode_check_count(w))
        ),
    };
    println!(
        "    {volume}, payload {:.1} MB, {rounds} rounds; {verified}",
        w.total_payload() as f64 / 1e6,
    );
    println!(
        "    {:<20} {:>10} {:>10} {:>10} {:>16} {:>15}{}",
        "implementation",
        "median",
        "min",
        "max",
        "throughput",
        "wsmachine÷this",
        if with_memcpy { "   ÷memcpy" } else { "" }
    );
    for (s, slot) in slots.iter().enumerate() {
        let t = &times[s];
        let min = *t.iter().min().unwrap();
        let max = *t.iter().max().unwrap();
        let r = rate(w, med[s]);
        let rel = med[s].as_secs_f64() / ours.as_secs_f64();
        let vs = if matches!(slot, Slot::Impl(_)) {
            format!("{rel:.2}")
        } else {
            String::new()
        };
        let mc = memcpy.map_or(String::new(), |m| format!("{:>10.2}", r / m));
        println!(
            "    {:<20} {:>10} {:>10} {:>10} {:>16} {:>15}{}",
            name(*slot),
            fmt_dur(med[s]),
            fmt_dur(min),
            fmt_dur(max),
            fmt_rate(w.unit, r),
            vs,
            mc
        );
    }
    // Best peer: the fastest median among the others (memcpy excluded).
    let (best, best_t) = (1..IMPLS.len())
        .map(|i| (i, med[i]))
        .min_by_key(|&(_, d)| d)
        .unwrap();
    let ratio = best_t.as_secs_f64() / ours.as_secs_f64();
    println!(
        "    wsmachine {} vs best peer {} {} -> {ratio:.2}x",
        fmt_rate(w.unit, rate(w, ours)),
        IMPLS[best].name,
        fmt_rate(w.unit, rate(w, best_t)),
    );
    let ceiling = best_t.as_secs_f64() / floor_t.as_secs_f64();
    println!(
        "    floor: no implementation can show more than {ceiling:.2}x the best peer here (best peer ÷ floor)"
    );
    Ok(Result1 {
        id: w.id,
        ratio,
        best: IMPLS[best].name,
        ceiling,
    })
}

fn run() -> Result<(), String> {
    let args = parse_args()?;
    let t0 = Instant::now();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))?;
    let only = |id: &str| {
        args.only
            .as_ref()
            .is_none_or(|o| o.iter().any(|x| x.eq_ignore_ascii_case(id)))
    };

    println!(
        "wsmachine side-by-side comparison ({} mode, {} rounds, median per implementation)",
        if args.quick { "quick" } else { "full" },
        args.rounds
    );
    println!("peers: {}", versions());
    println!(
        "input: in-memory, at most 64 KiB per read; encode sink: {}; async peers on a current-thread tokio runtime",
        if io::COPY_WRITES.load(std::sync::atomic::Ordering::Relaxed) {
            "copy into a Vec cleared every 64 KiB"
        } else {
            "counting writer"
        }
    );
    println!(
        "wsmachine api: {}",
        if impls::POLL_ONLY.load(std::sync::atomic::Ordering::Relaxed) {
            "poll (poll_output and send_binary_copy alone)"
        } else {
            "batch (poll_messages, send_binary_into; poll_output for the rest)"
        }
    );
    println!("how each implementation is driven:");
    for imp in IMPLS {
        println!("    {:<18} {}", imp.name, imp.note);
    }

    let workloads = data::workloads(args.quick, &only);
    println!(
        "(workloads generated in {:.1} s)",
        t0.elapsed().as_secs_f64()
    );
    let mut results = Vec::new();
    for w in &workloads {
        results.push(run_workload(&rt, w, args.rounds)?);
    }
    drop(workloads);

    println!();
    println!("memory per idle server connection after one 16-byte message (size_of + live heap):");
    let ours = mem::wsmachine()?;
    let mut lines = vec![Ok(ours)];
    lines.extend(mem::peers(&rt));
    for m in &lines {
        match m {
            Ok(m) => println!(
                "    {:<18} {:>6} B + {:>7} B heap = {:>7} B",
                m.name,
                m.size,
                m.heap,
                m.total()
            ),
            Err(e) => println!("    (not measured: {e})"),
        }
    }
    let ours = lines.remove(0)?;
    println!("(total {:.1} s)", t0.elapsed().as_secs_f64());
    println!();
    for r in &results {
        println!("ceiling {} {:.2}", r.id, r.ceiling);
    }
    for r in &results {
        println!("ratio {} {:.2} {}", r.id, r.ratio, r.best);
    }
    println!("mem {}", ours.total());
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
