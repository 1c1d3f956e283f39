//! Fails when the committed CRD YAML differs from what `crdgen` generates.

use std::path::Path;

#[test]
fn committed_crd_matches_generated() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../crds/brokerclusters.ferrimq.io.yaml");
    let committed = std::fs::read_to_string(&path).expect("committed CRD file");
    let generated = ferrimq_operator::crd::crd_yaml().expect("generate CRD");
    assert!(
        committed == generated,
        "{} is stale: run `cargo run -p ferrimq-operator --bin crdgen > crds/brokerclusters.ferrimq.io.yaml`",
        path.display()
    );
}
