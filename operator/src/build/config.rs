//! broker.conf rendering and the ConfigMaps that carry it.
//!
//! Each broker StatefulSet gets one ConfigMap with one file per pod ordinal
//! (`broker-<index>.conf`): `brokerId` and `brokerIP1` differ per pod, and the container picks
//! its file through the `POD_INDEX` environment variable (downward API on the
//! `apps.kubernetes.io/pod-index` label). Rendering lives in the one function
//! [`render_broker_conf`] and goes through `ferrimq_config::Properties`, and
//! [`crate::validate`] resolves the result with `ferrimq_config::BrokerConfig`, so the operator
//! and the broker agree on every key and value.

use std::collections::BTreeMap;

use ferrimq_config::Properties;
use k8s_openapi::api::core::v1::ConfigMap;

use super::Context;
use super::names::{BROKER_HA_PORT, BROKER_PORT, Names, Role};
use crate::crd::BrokerClusterSpec;

/// Mount point of the broker's persistent volume.
pub const STORE_ROOT: &str = "/var/lib/ferrimq/store";

/// broker.conf keys the operator sets itself; `spec.brokers.config` may not override them.
pub const MANAGED_BROKER_KEYS: &[&str] = &[
    "brokerClusterName",
    "brokerName",
    "brokerId",
    "brokerRole",
    "flushDiskType",
    "namesrvAddr",
    "brokerIP1",
    "listenPort",
    "haListenPort",
    "storePathRootDir",
    "storePathCommitLog",
];

/// Renders broker.conf (Java properties, RocketMQ key names, sorted by key) of the pod `index`
/// of `role` in `group`: the managed keys plus the user's extra keys, escaped by
/// [`ferrimq_config::Properties`], the same code the broker parses it with.
pub fn render_broker_conf(
    spec: &BrokerClusterSpec,
    names: &Names,
    group: i32,
    role: Role,
    index: i32,
) -> String {
    broker_properties(spec, names, group, role, index).render()
}

/// The properties behind [`render_broker_conf`] (managed keys win over user keys).
pub fn broker_properties(
    spec: &BrokerClusterSpec,
    names: &Names,
    group: i32,
    role: Role,
    index: i32,
) -> Properties {
    let broker_role = match role {
        Role::Master => spec.brokers.replication_mode.broker_role(),
        Role::Slave => "SLAVE",
    };
    let mut props: Properties = spec
        .brokers
        .config
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    props.set("brokerClusterName", names.cluster.clone());
    props.set("brokerName", names.broker_name(group));
    props.set("brokerId", role.broker_id(index).to_string());
    props.set("brokerRole", broker_role);
    props.set("flushDiskType", spec.brokers.flush_disk_type.as_str());
    props.set("namesrvAddr", names.namesrv_addr(spec.name_server.replicas));
    props.set("brokerIP1", names.broker_host(group, role, index));
    props.set("listenPort", BROKER_PORT.to_string());
    props.set("haListenPort", BROKER_HA_PORT.to_string());
    props.set("storePathRootDir", STORE_ROOT);
    props.set("storePathCommitLog", format!("{STORE_ROOT}/commitlog"));
    props
}

/// Pods of `role` in each group.
pub fn role_replicas(spec: &BrokerClusterSpec, role: Role) -> i32 {
    match role {
        Role::Master => 1,
        Role::Slave => spec.brokers.slaves_per_group,
    }
}

/// File name of pod `index`'s broker.conf inside its ConfigMap.
pub fn conf_file(index: i32) -> String {
    format!("broker-{index}.conf")
}

/// The ConfigMaps of `group`: master, and slave when the group has slaves.
pub(super) fn group_config_maps(ctx: &Context<'_>, group: i32) -> Vec<ConfigMap> {
    [Role::Master, Role::Slave]
        .into_iter()
        .filter(|role| role_replicas(ctx.spec, *role) > 0)
        .map(|role| config_map(ctx, group, role))
        .collect()
}

fn config_map(ctx: &Context<'_>, group: i32, role: Role) -> ConfigMap {
    let data: BTreeMap<String, String> = (0..role_replicas(ctx.spec, role))
        .map(|i| {
            (
                conf_file(i),
                render_broker_conf(ctx.spec, &ctx.names, group, role, i),
            )
        })
        .collect();
    ConfigMap {
        metadata: ctx.meta(
            ctx.names.broker_config_map(group, role),
            &ctx.names.set_selector(group, role),
        ),
        data: Some(data),
        ..ConfigMap::default()
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixture;
    use super::*;

    #[test]
    fn master_conf_has_every_managed_and_user_key_sorted() {
        let bc = fixture::cluster();
        let conf = render_broker_conf(&bc.spec, &Names::new("bc", "mq"), 1, Role::Master, 0);
        assert_eq!(
            conf,
            "autoCreateTopicEnable=false\n\
             brokerClusterName=bc\n\
             brokerIP1=bc-broker-1-master-0.bc-broker-headless.mq.svc\n\
             brokerId=0\n\
             brokerName=bc-broker-1\n\
             brokerRole=SYNC_MASTER\n\
             deleteWhen=04\n\
             flushDiskType=ASYNC_FLUSH\n\
             haListenPort=10912\n\
             listenPort=10911\n\
             namesrvAddr=bc-namesrv-0.bc-namesrv-headless.mq.svc\\:9876;bc-namesrv-1.bc-namesrv-headless.mq.svc\\:9876\n\
             storePathCommitLog=/var/lib/ferrimq/store/commitlog\n\
             storePathRootDir=/var/lib/ferrimq/store\n"
        );
    }

    #[test]
    fn slave_conf_uses_slave_role_and_ordinal_based_id() {
        let bc = fixture::cluster();
        let conf = render_broker_conf(&bc.spec, &Names::new("bc", "mq"), 0, Role::Slave, 1);
        assert!(conf.contains("brokerId=2\n"));
        assert!(conf.contains("brokerRole=SLAVE\n"));
        assert!(conf.contains("brokerIP1=bc-broker-0-slave-1.bc-broker-headless.mq.svc\n"));
    }

    #[test]
    fn every_managed_key_is_rendered() {
        let bc = fixture::cluster();
        let conf = render_broker_conf(&bc.spec, &Names::new("bc", "mq"), 0, Role::Master, 0);
        for key in MANAGED_BROKER_KEYS {
            assert_eq!(
                conf.matches(&format!("\n{key}=")).count()
                    + usize::from(conf.starts_with(&format!("{key}="))),
                1,
                "{key}"
            );
        }
    }

    #[test]
    fn property_values_with_line_breaks_are_escaped_and_parse_back() {
        let mut bc = fixture::cluster();
        bc.spec
            .brokers
            .config
            .insert("brokerPermission".into(), "6\nbrokerId=9".into());
        let conf = render_broker_conf(&bc.spec, &Names::new("bc", "mq"), 0, Role::Master, 0);
        let parsed = Properties::parse(&conf).expect("parses");
        assert_eq!(parsed.get("brokerId"), Some("0"));
        assert_eq!(parsed.get("brokerPermission"), Some("6\nbrokerId=9"));
    }

    #[test]
    fn managed_keys_win_over_user_keys() {
        let mut bc = fixture::cluster();
        bc.spec
            .brokers
            .config
            .insert("brokerName".into(), "evil".into());
        let props = broker_properties(&bc.spec, &Names::new("bc", "mq"), 0, Role::Master, 0);
        assert_eq!(props.get("brokerName"), Some("bc-broker-0"));
    }

    #[test]
    fn config_maps_hold_one_file_per_pod() {
        let bc = fixture::cluster();
        let children = super::super::desired_children(&bc).expect("children");
        let names: Vec<_> = children
            .config_maps
            .iter()
            .map(|c| c.metadata.name.clone().unwrap_or_default())
            .collect();
        assert_eq!(
            names,
            vec![
                "bc-broker-0-master-config",
                "bc-broker-0-slave-config",
                "bc-broker-1-master-config",
                "bc-broker-1-slave-config"
            ]
        );
        let slave = &children.config_maps[1];
        let files: Vec<_> = slave
            .data
            .as_ref()
            .map(|d| d.keys().cloned().collect())
            .unwrap_or_default();
        assert_eq!(files, vec!["broker-0.conf", "broker-1.conf"]);
        fixture::assert_owned_and_labelled(&slave.metadata);
    }

    #[test]
    fn groups_without_slaves_get_no_slave_config_map() {
        let mut bc = fixture::cluster();
        bc.spec.brokers.slaves_per_group = 0;
        let children = super::super::desired_children(&bc).expect("children");
        assert_eq!(children.config_maps.len(), 2);
    }
}
