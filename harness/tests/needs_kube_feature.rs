//! Says out loud, in a plain `cargo test`, that the kube-rs tests (`kube_ops.rs`) were
//! compiled out: they need the `kube` feature, which `cargo xtask ci` turns on. Run with
//! `--include-ignored` and it fails, naming the command. (The Forgejo client's tests need
//! the `forgejo` feature, which xtask turns on, so a workspace `cargo test` runs them.)
#![cfg(not(feature = "kube"))]

#[test]
#[ignore = "the kube-rs tests need it: cargo test -p harness --features kube"]
fn kube_ops_tests_need_the_kube_feature() {
    panic!("kube_ops.rs was compiled out: run cargo test -p harness --features kube");
}
