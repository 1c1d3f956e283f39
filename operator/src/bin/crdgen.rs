//! Prints the `BrokerCluster` CustomResourceDefinition as YAML.
//!
//! The committed copy lives at `crds/brokerclusters.ferrimq.io.yaml`; regenerate it with
//! `cargo run -p ferrimq-operator --bin crdgen > crds/brokerclusters.ferrimq.io.yaml`.

fn main() -> anyhow::Result<()> {
    print!("{}", ferrimq_operator::crd::crd_yaml()?);
    Ok(())
}
