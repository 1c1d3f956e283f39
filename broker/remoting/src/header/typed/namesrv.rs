//! Name-server headers: REGISTER/UNREGISTER_BROKER (103, 104), GET_ROUTEINFO_BY_TOPIC (105),
//! KV config (100–102, 219), WIPE/ADD_WRITE_PERM_OF_BROKER (205, 327), DELETE_TOPIC_IN_NAMESRV
//! (216), GET_TOPICS_BY_CLUSTER (224).

use super::command_header;

command_header! {
    /// REGISTER_BROKER request (broker -> every namesrv, every 30 s).
    pub struct RegisterBrokerRequestHeader {
        /// Broker name.
        pub broker_name: String => "brokerName",
        /// "ip:port" of the broker.
        pub broker_addr: String => "brokerAddr",
        /// Cluster name.
        pub cluster_name: String => "clusterName",
        /// "ip:haPort" for slaves to connect to.
        pub ha_server_addr: String => "haServerAddr",
        /// 0 for the master.
        pub broker_id: i64 => "brokerId",
        /// 5.x: expiry override, ms.
        pub heartbeat_timeout_millis: Option<i64> => "heartbeatTimeoutMillis",
        /// 5.x: acting-master mode.
        pub enable_acting_master: Option<bool> => "enableActingMaster",
        /// Body is the zlib form (Java primitive, absent means false).
        pub compressed: Option<bool> => "compressed",
        /// CRC32 of the body masked with 0x7FFFFFFF; 0 or absent = not checked.
        pub body_crc32: Option<i32> => "bodyCrc32",
    }
}

command_header! {
    /// REGISTER_BROKER response: the master's addresses, for a slave.
    pub struct RegisterBrokerResponseHeader {
        /// Master's HA address.
        pub ha_server_addr: Option<String> => "haServerAddr",
        /// Master's broker address.
        pub master_addr: Option<String> => "masterAddr",
    }
}

command_header! {
    /// UNREGISTER_BROKER request.
    pub struct UnregisterBrokerRequestHeader {
        /// Broker name.
        pub broker_name: String => "brokerName",
        /// "ip:port" of the broker.
        pub broker_addr: String => "brokerAddr",
        /// Cluster name.
        pub cluster_name: String => "clusterName",
        /// Broker id.
        pub broker_id: i64 => "brokerId",
    }
}

command_header! {
    /// GET_ROUTEINFO_BY_TOPIC request.
    pub struct GetRouteInfoRequestHeader {
        /// Topic.
        pub topic: String => "topic",
        /// Ask for standard JSON (quoted numeric keys) regardless of version.
        pub accept_standard_json_only: Option<bool> => "acceptStandardJsonOnly",
    }
}

command_header! {
    /// PUT_KV_CONFIG request.
    pub struct PutKvConfigRequestHeader {
        /// Namespace.
        pub namespace: String => "namespace",
        /// Key.
        pub key: String => "key",
        /// Value.
        pub value: String => "value",
    }
}

command_header! {
    /// GET_KV_CONFIG and DELETE_KV_CONFIG request.
    pub struct KvConfigKeyRequestHeader {
        /// Namespace.
        pub namespace: String => "namespace",
        /// Key.
        pub key: String => "key",
    }
}

/// GET_KV_CONFIG request header.
pub type GetKvConfigRequestHeader = KvConfigKeyRequestHeader;
/// DELETE_KV_CONFIG request header.
pub type DeleteKvConfigRequestHeader = KvConfigKeyRequestHeader;

command_header! {
    /// GET_KV_CONFIG response.
    pub struct GetKvConfigResponseHeader {
        /// The value, absent when the key is unknown.
        pub value: Option<String> => "value",
    }
}

command_header! {
    /// GET_KVLIST_BY_NAMESPACE request.
    pub struct GetKvListByNamespaceRequestHeader {
        /// Namespace.
        pub namespace: String => "namespace",
    }
}

command_header! {
    /// WIPE_WRITE_PERM_OF_BROKER and ADD_WRITE_PERM_OF_BROKER request.
    pub struct BrokerNameRequestHeader {
        /// Broker name.
        pub broker_name: String => "brokerName",
    }
}

/// WIPE_WRITE_PERM_OF_BROKER request header.
pub type WipeWritePermOfBrokerRequestHeader = BrokerNameRequestHeader;
/// ADD_WRITE_PERM_OF_BROKER request header.
pub type AddWritePermOfBrokerRequestHeader = BrokerNameRequestHeader;

command_header! {
    /// WIPE_WRITE_PERM_OF_BROKER response.
    pub struct WipeWritePermOfBrokerResponseHeader {
        /// Number of topics whose write permission was removed.
        pub wipe_topic_count: i32 => "wipeTopicCount",
    }
}

command_header! {
    /// ADD_WRITE_PERM_OF_BROKER response.
    pub struct AddWritePermOfBrokerResponseHeader {
        /// Number of topics whose write permission was restored.
        pub add_topic_count: i32 => "addTopicCount",
    }
}

command_header! {
    /// DELETE_TOPIC_IN_NAMESRV request.
    pub struct DeleteTopicFromNamesrvRequestHeader {
        /// Topic.
        pub topic: String => "topic",
        /// 4.9.x: only from this cluster.
        pub cluster_name: Option<String> => "clusterName",
    }
}

command_header! {
    /// GET_TOPICS_BY_CLUSTER request.
    pub struct GetTopicsByClusterRequestHeader {
        /// Cluster name.
        pub cluster: String => "cluster",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::{RemotingCommand, SerializeType};
    use crate::frame::FrameCodec;
    use bytes::BytesMut;

    #[test]
    fn register_broker_survives_both_serializations() {
        let header = RegisterBrokerRequestHeader {
            broker_name: "broker-a".into(),
            broker_addr: "10.0.0.1:10911".into(),
            cluster_name: "DefaultCluster".into(),
            ha_server_addr: "10.0.0.1:10912".into(),
            broker_id: 0,
            compressed: Some(false),
            body_crc32: Some(0x7FFF_FFFF),
            ..Default::default()
        };
        for serialize_type in [SerializeType::Json, SerializeType::RocketMq] {
            let cmd = RemotingCommand::request(103, 9)
                .with_header(&header)
                .with_serialize_type(serialize_type);
            let mut buf = BytesMut::new();
            let codec = FrameCodec::default();
            codec.encode(&cmd, &mut buf).expect("encodes");
            let decoded = codec.decode(&mut buf).expect("valid").expect("complete");
            assert_eq!(decoded.decode_header(), Ok(header.clone()));
        }
    }
}
