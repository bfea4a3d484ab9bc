//! tmp
use hardening_redact::{Pattern, Redactor};
fn cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat").unwrap().split_whitespace().next().unwrap().parse().unwrap()
}
fn main() {
    for file in ["/tmp/corpus_clean.txt", "/tmp/corpus_secret_every_line.txt"] {
    let text = std::fs::read_to_string(file).unwrap();
    println!("{file}");
    let configs: Vec<(&str, Redactor)> = vec![
        ("all", Redactor::default()),
        ("only card", Pattern::ALL.iter().filter(|p| **p != Pattern::CardNumber).fold(Redactor::builder(), |b, p| b.disable(*p)).build().unwrap()),
        ("only kv", Pattern::ALL.iter().filter(|p| **p != Pattern::KeyValue).fold(Redactor::builder(), |b, p| b.disable(*p)).build().unwrap()),
        ("only anchors", [Pattern::CardNumber, Pattern::KeyValue, Pattern::UrlUserinfo, Pattern::QueryParam].iter().fold(Redactor::builder(), |b, p| b.disable(*p)).build().unwrap()),
    ];
    for (name, r) in configs {
        let t = cpu_ns();
        let mut n = 0;
        for _ in 0..50 { n += r.redact(&text).len(); }
        let el = (cpu_ns() - t) as f64 / 1e9;
        println!("{name:14} {:8.1} MB/s (cpu time) {n}", (text.len() * 50) as f64 / el / 1e6);
    }
    }
}
