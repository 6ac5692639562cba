//! Every signature with a captured log (`fixtures/diagnosis/logs/<id>.log`, real lines from
//! real failures) is found in it first; a healthy daemon's log yields nothing.

use harness::diagnose::{diagnose, signatures};

#[test]
fn each_captured_failure_is_diagnosed_as_itself() {
    let sigs = signatures().expect("signatures load");
    let dir = harness::fixtures_dir().join("diagnosis/logs");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("logs dir") {
        let path = entry.expect("entry").path();
        let id = path.file_stem().expect("stem").to_string_lossy().into_owned();
        assert!(sigs.iter().any(|s| s.id == id), "{} names no signature", path.display());
        let log = std::fs::read_to_string(&path).expect("log");
        let found = diagnose(&sigs, &log);
        assert_eq!(found.first().map(|d| d.id.as_str()), Some(id.as_str()), "{}: {found:?}", path.display());
        assert!(!found[0].evidence.is_empty() && !found[0].fix.is_empty());
        seen += 1;
    }
    assert!(seen >= 8, "only {seen} captured logs");
}

#[test]
fn a_healthy_rootless_start_matches_nothing() {
    let sigs = signatures().expect("signatures load");
    let healthy = "+ exec rootlesskit --net=slirp4netns --port-driver=builtin -p 0.0.0.0:2376:2376/tcp dockerd-rootless.sh\n\
        time=\"2026-11-27T21:15:33Z\" level=info msg=\"Daemon has completed initialization\"\n\
        time=\"2026-11-27T21:15:33Z\" level=info msg=\"API listen on [::]:2376\"\n";
    assert_eq!(diagnose(&sigs, healthy), Vec::new());
}

#[test]
fn every_signature_can_match_something() {
    for s in signatures().expect("signatures load") {
        assert!(!(s.patterns.is_empty() && s.any.is_empty()), "{}: neither `match` nor `any`", s.id);
    }
}
