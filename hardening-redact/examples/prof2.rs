//! tmp
use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind, packed};
use std::time::Instant;
fn bench(name: &str, text: &str, f: impl Fn(&str) -> usize) {
    let t = Instant::now();
    let mut n = 0;
    for _ in 0..30 { n += f(text); }
    let el = t.elapsed().as_secs_f64();
    println!("{name:30} {:8.1} MB/s hits/iter={}", (text.len() * 30) as f64 / el / 1e6, n / 30);
}
fn main() {
    let text = std::fs::read_to_string("/tmp/corpus_clean.txt").unwrap();
    let full = ["Bearer ", "bearer ", "BEARER ", "Basic ", "basic ", "BASIC ", "eyJ", "AKIA", "ASIA", "ABIA", "ACCA", "ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_", "sk_live_", "sk_test_", "rk_live_", "rk_test_", "whsec_", "xoxb-", "xoxp-", "xoxa-", "xoxr-", "xoxs-", "xoxe-", "xapp-", "-----BEGIN ", "%3A%2F%2F", "%3a%2f%2f"];
    let small = ["eyJ", "AKIA", "ASIA", "ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_", "sk_live_", "sk_test_", "rk_live_", "rk_test_", "whsec_", "xox", "xapp-", "-----BEGIN ", "%3A%2F%2F", "%3a%2f%2f"];
    for (pname, pats) in [("full", &full[..]), ("small", &small[..])] {
        let ac = AhoCorasickBuilder::new().match_kind(MatchKind::Standard).kind(Some(AhoCorasickKind::DFA)).build(pats).unwrap();
        bench(&format!("{pname} ac dfa"), &text, |t| ac.find_iter(t).count());
        let ac = AhoCorasick::new(pats).unwrap();
        bench(&format!("{pname} ac default"), &text, |t| ac.find_iter(t).count());
        let ac = AhoCorasickBuilder::new().match_kind(MatchKind::LeftmostFirst).build(pats).unwrap();
        bench(&format!("{pname} ac leftmost"), &text, |t| ac.find_iter(t).count());
        let s = packed::Config::new().builder().extend(pats.iter()).build().unwrap();
        bench(&format!("{pname} packed"), &text, |t| s.find_iter(t).count());
    }
    bench("memchr2 = :", &text, |t| memchr::memchr2_iter(b'=', b':', t.as_bytes()).count());
    bench("memchr3 = : /", &text, |t| memchr::memchr3_iter(b'=', b':', b'/', t.as_bytes()).count());
}
