//! Services: headless ones give NameServer and broker pods stable DNS names (`namesrvAddr`,
//! `brokerIP1`) and publish not-ready pods so brokers resolve each other while starting; the
//! client Service is the one address clients need (any NameServer knows every broker).

use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::Context;
use super::names::{BROKER_HA_PORT, BROKER_PORT, BROKER_VIP_PORT, Component, NAMESRV_PORT};

/// NameServer headless, NameServer client and broker headless Services.
pub(super) fn all(ctx: &Context<'_>) -> Vec<Service> {
    let namesrv_ports = vec![service_port("namesrv", NAMESRV_PORT)];
    let broker_ports = vec![
        service_port("broker", BROKER_PORT),
        service_port("vip", BROKER_VIP_PORT),
        service_port("ha", BROKER_HA_PORT),
    ];
    vec![
        service(
            ctx,
            ctx.names.namesrv_headless_service(),
            Component::NameServer,
            namesrv_ports.clone(),
            true,
        ),
        service(
            ctx,
            ctx.names.namesrv_client_service(),
            Component::NameServer,
            namesrv_ports,
            false,
        ),
        service(
            ctx,
            ctx.names.broker_headless_service(),
            Component::Broker,
            broker_ports,
            true,
        ),
    ]
}

fn service(
    ctx: &Context<'_>,
    name: String,
    component: Component,
    ports: Vec<ServicePort>,
    headless: bool,
) -> Service {
    let selector = ctx.names.component_selector(component);
    Service {
        metadata: ctx.meta(name, &selector),
        spec: Some(ServiceSpec {
            cluster_ip: headless.then(|| "None".to_string()),
            publish_not_ready_addresses: headless.then_some(true),
            selector: Some(selector),
            ports: Some(ports),
            ..ServiceSpec::default()
        }),
        status: None,
    }
}

fn service_port(name: &str, port: i32) -> ServicePort {
    ServicePort {
        name: Some(name.to_string()),
        port,
        target_port: Some(IntOrString::Int(port)),
        protocol: Some("TCP".to_string()),
        ..ServicePort::default()
    }
}

#[cfg(test)]
mod tests {
    use super::super::{desired_children, fixture};

    fn summary(
        s: &k8s_openapi::api::core::v1::Service,
    ) -> (String, Option<String>, Option<bool>, Vec<i32>, String) {
        let spec = s.spec.as_ref().expect("spec");
        let ports = spec
            .ports
            .as_ref()
            .map(|p| p.iter().map(|p| p.port).collect())
            .unwrap_or_default();
        let component = spec
            .selector
            .as_ref()
            .and_then(|s| s.get("app.kubernetes.io/component"))
            .cloned()
            .unwrap_or_default();
        (
            s.metadata.name.clone().unwrap_or_default(),
            spec.cluster_ip.clone(),
            spec.publish_not_ready_addresses,
            ports,
            component,
        )
    }

    #[test]
    fn services_have_exact_names_ports_and_headlessness() {
        let children = desired_children(&fixture::cluster()).expect("children");
        let got: Vec<_> = children.services.iter().map(summary).collect();
        assert_eq!(
            got,
            vec![
                (
                    "bc-namesrv-headless".into(),
                    Some("None".into()),
                    Some(true),
                    vec![9876],
                    "namesrv".into()
                ),
                (
                    "bc-namesrv".into(),
                    None,
                    None,
                    vec![9876],
                    "namesrv".into()
                ),
                (
                    "bc-broker-headless".into(),
                    Some("None".into()),
                    Some(true),
                    vec![10911, 10909, 10912],
                    "broker".into()
                ),
            ]
        );
        for s in &children.services {
            fixture::assert_owned_and_labelled(&s.metadata);
        }
    }
}
