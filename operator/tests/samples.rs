//! The samples under deploy/samples parse as BrokerClusters and validate as documented.

use ferrimq_operator::build::desired_children;
use ferrimq_operator::crd::BrokerCluster;
use ferrimq_operator::validate::validate;

fn sample(file: &str) -> BrokerCluster {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../deploy/samples")
        .join(file);
    let text = std::fs::read_to_string(&path).expect("sample file");
    serde_norway::from_str(&text).expect("sample parses")
}

#[test]
fn demo_sample_is_valid_and_builds_every_child() {
    let mut cluster = sample("brokercluster.yaml");
    assert_eq!(validate("demo", &cluster.spec, None), vec![]);
    cluster.metadata.namespace = Some("mq".into());
    cluster.metadata.uid = Some("uid-1".into());
    let children = desired_children(&cluster).expect("children");
    assert_eq!(children.stateful_sets.len(), 5);
    assert_eq!(children.config_maps.len(), 4);
    assert_eq!(children.services.len(), 3);
    assert_eq!(children.pdbs.len(), 3);
}

#[test]
fn invalid_sample_reports_exactly_its_two_problems() {
    let cluster = sample("brokercluster-invalid.yaml");
    let fields: Vec<String> = validate("invalid", &cluster.spec, None)
        .into_iter()
        .map(|p| p.field)
        .collect();
    assert_eq!(
        fields,
        vec!["spec.brokers.config.brokerId", "spec.topics[0].name"]
    );
}
