//! Says out loud, in a plain `cargo test`, that the Forgejo client and kube-rs tests
//! (`forgejo_api.rs`, `kube_ops.rs`) were compiled out: they need the `kube` feature, which
//! `cargo xtask ci` turns on. Run with `--include-ignored` and it fails, naming the command.
#![cfg(not(feature = "kube"))]

#[test]
#[ignore = "the Forgejo API and kube-rs tests need it: cargo test -p harness --features kube"]
fn forgejo_api_and_kube_ops_tests_need_the_kube_feature() {
    panic!("forgejo_api.rs and kube_ops.rs were compiled out: run cargo test -p harness --features kube");
}
