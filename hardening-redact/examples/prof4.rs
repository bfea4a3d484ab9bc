//! tmp
fn cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat").unwrap().split_whitespace().next().unwrap().parse().unwrap()
}
fn main() {
    let r = hardening_redact::Redactor::default();
    for k in ["request_id", "version", "rows_affected", "connection", "key", "password"] {
        let t = cpu_ns();
        let mut n = 0;
        for _ in 0..1_000_000 { n += std::hint::black_box(&r).is_sensitive_field(std::hint::black_box(k)) as usize; }
        println!("{k:15} {:.1} ns {n}", (cpu_ns() - t) as f64 / 1e6);
    }
}
