//! The broker's one dispatch table: every request code it serves, mapped to the method of the
//! processor that owns it. Each processor is built here with only the handles it needs.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ferrimq_config::BrokerConfig;
use ferrimq_remoting::{RemotingCommand, RequestCode};
use ferrimq_transport::{Channel, DispatchTable, HandlerResult};

use crate::admin::AdminProcessor;
use crate::broker::Handles;
use crate::client::ClientProcessor;
use crate::locks::LockProcessor;
use crate::offset::OffsetProcessor;
use crate::pull::{PullPolicy, PullProcessor};
use crate::retry::RetryProcessor;
use crate::send::{SendPolicy, SendProcessor};
use crate::sql_filters::SqlFilters;

/// A synchronous processor method (it never waits, so it runs inline in its request task).
type SyncMethod<P> = fn(&P, &RemotingCommand, &Channel) -> HandlerResult;

/// Routes `code` to a synchronous method of `processor`.
fn route_sync<P: Send + Sync + 'static>(
    table: &mut DispatchTable,
    code: RequestCode,
    processor: &Arc<P>,
    method: SyncMethod<P>,
) {
    let processor = Arc::clone(processor);
    table.insert(code, move |request: RemotingCommand, channel: Channel| {
        let result = method(&processor, &request, &channel);
        async move { result }
    });
}

/// The table of every request code the broker serves.
pub(crate) fn dispatch_table(
    h: &Handles,
    config: &BrokerConfig,
    store_host: SocketAddr,
) -> DispatchTable {
    let mut table = DispatchTable::new();
    route_messages(&mut table, h, config, store_host);
    route_offsets_and_clients(&mut table, h, config);
    route_admin(&mut table, h, config);
    crate::consumer_calls::route_consumer_calls(&mut table, h, &config.broker.broker_name);
    crate::transaction::end::route_transactions(&mut table, h, config, store_host);
    route_group_admin(&mut table, h);
    route_sync_source(&mut table, h);
    if !config.broker.broker_role.is_master() {
        crate::slave::route_slave(&mut table, &h.metadata, &h.local_commits);
    }
    table
}

/// Send, send-back and pull: the asynchronous processors.
fn route_messages(
    table: &mut DispatchTable,
    h: &Handles,
    config: &BrokerConfig,
    store_host: SocketAddr,
) {
    let s = &config.broker;
    let policy = SendPolicy {
        store_host,
        cluster: s.broker_cluster_name.clone(),
        region: s.region_id.clone(),
        trace_on: s.trace_on,
        broker_permission: s.broker_permission,
        max_message_size: config.store.max_message_size as usize,
        sync_flush_timeout: Duration::from_millis(config.store.sync_flush_timeout),
        auto_create_group: s.auto_create_subscription_group,
        max_delay_level: config.store.message_delay_level.max_level() as i32,
        reject_transaction_message: s.reject_transaction_message,
    };
    let retry = Arc::new(RetryProcessor {
        store: Arc::clone(&h.store),
        topics: Arc::clone(&h.topics),
        metadata: Arc::clone(&h.metadata),
        policy: policy.clone(),
        replication: Arc::clone(&h.ha),
    });
    table.insert(RequestCode::ConsumerSendMsgBack, move |req, _ch| {
        Arc::clone(&retry).handle(req)
    });
    let send = Arc::new(SendProcessor {
        store: Arc::clone(&h.store),
        topics: Arc::clone(&h.topics),
        metadata: Arc::clone(&h.metadata),
        policy,
        replication: Arc::clone(&h.ha),
    });
    for code in [
        RequestCode::SendMessage,
        RequestCode::SendMessageV2,
        RequestCode::SendBatchMessage,
    ] {
        let p = Arc::clone(&send);
        table.insert(code, move |req, ch| Arc::clone(&p).handle(req, ch));
    }
    let filters = Arc::new(SqlFilters::new(
        s.enable_property_filter,
        s.filter_support_retry,
        Arc::clone(&h.consumers),
    ));
    route_sync(
        table,
        RequestCode::CheckClientConfig,
        &filters,
        |p, r, _| p.check_client_config(r),
    );
    let pull = Arc::new(PullProcessor {
        store: Arc::clone(&h.store),
        topics: Arc::clone(&h.topics),
        metadata: Arc::clone(&h.metadata),
        consumers: Arc::clone(&h.consumers),
        hold: Arc::clone(&h.hold),
        filters: Arc::clone(&filters),
        policy: PullPolicy {
            broker_permission: s.broker_permission,
            auto_create_group: s.auto_create_subscription_group,
            long_polling: s.long_polling_enable,
            short_polling: Duration::from_millis(s.short_polling_time_mills),
            slave: !s.broker_role.is_master(),
            slave_read_enable: s.slave_read_enable,
        },
    });
    for code in [RequestCode::PullMessage, RequestCode::LitePullMessage] {
        let p = Arc::clone(&pull);
        table.insert(code, move |req, ch| Arc::clone(&p).handle(req, ch));
    }
}

/// Consumer offsets, queue offsets and the client table.
fn route_offsets_and_clients(table: &mut DispatchTable, h: &Handles, config: &BrokerConfig) {
    let offsets = Arc::new(OffsetProcessor {
        store: Arc::clone(&h.store),
        metadata: Arc::clone(&h.metadata),
    });
    route_sync(
        table,
        RequestCode::QueryConsumerOffset,
        &offsets,
        |p, r, _| p.query(r),
    );
    route_sync(
        table,
        RequestCode::UpdateConsumerOffset,
        &offsets,
        |p, r, _| p.update(r),
    );
    route_sync(table, RequestCode::GetMaxOffset, &offsets, |p, r, _| {
        p.max(r)
    });
    route_sync(table, RequestCode::GetMinOffset, &offsets, |p, r, _| {
        p.min(r)
    });
    route_sync(
        table,
        RequestCode::GetEarliestMsgStoretime,
        &offsets,
        |p, r, _| p.earliest_time(r),
    );
    route_sync(
        table,
        RequestCode::SearchOffsetByTimestamp,
        &offsets,
        |p, r, _| p.search(r),
    );
    let clients = Arc::new(ClientProcessor {
        consumers: Arc::clone(&h.consumers),
        producers: Arc::clone(&h.producers),
        topics: Arc::clone(&h.topics),
        notify_ids_changed: config.broker.notify_consumer_ids_changed_enable,
    });
    route_sync(table, RequestCode::HeartBeat, &clients, |p, r, ch| {
        p.heartbeat(r, ch)
    });
    route_sync(table, RequestCode::UnregisterClient, &clients, |p, r, _| {
        p.unregister(r)
    });
    route_sync(
        table,
        RequestCode::GetConsumerListByGroup,
        &clients,
        |p, r, _| p.consumer_list(r),
    );
    route_sync(
        table,
        RequestCode::GetConsumerConnectionList,
        &clients,
        |p, r, _| p.consumer_connections(r),
    );
    let locks = Arc::new(LockProcessor {
        locks: Arc::clone(&h.locks),
    });
    route_sync(table, RequestCode::LockBatchMq, &locks, |p, r, _| p.lock(r));
    route_sync(table, RequestCode::UnlockBatchMq, &locks, |p, r, _| {
        p.unlock(r)
    });
}

/// Administration, statistics and message lookups.
fn route_admin(table: &mut DispatchTable, h: &Handles, config: &BrokerConfig) {
    let admin = Arc::new(AdminProcessor {
        store: Arc::clone(&h.store),
        topics: Arc::clone(&h.topics),
        metadata: Arc::clone(&h.metadata),
        consumers: Arc::clone(&h.consumers),
        broker_name: config.broker.broker_name.clone(),
        replication: Arc::clone(&h.replication),
    });
    let routes: [(RequestCode, SyncMethod<AdminProcessor>); 11] = [
        (RequestCode::GetTopicConfig, |p, r, _| p.topic_config(r)),
        (RequestCode::UpdateAndCreateTopic, |p, r, _| {
            p.create_topic(r)
        }),
        (RequestCode::DeleteTopicInBroker, |p, r, _| {
            p.delete_topic(r)
        }),
        (RequestCode::GetAllTopicConfig, |p, r, _| {
            p.all_topic_config(r)
        }),
        (RequestCode::UpdateAndCreateSubscriptionGroup, |p, r, _| {
            p.update_group(r)
        }),
        (RequestCode::GetTopicStatsInfo, |p, r, _| p.topic_stats(r)),
        (RequestCode::GetConsumeStats, |p, r, _| p.consume_stats(r)),
        (RequestCode::QueryTopicConsumeByWho, |p, r, _| {
            p.consumed_by(r)
        }),
        (RequestCode::GetBrokerRuntimeInfo, |p, r, _| {
            p.runtime_info(r)
        }),
        (RequestCode::ViewMessageById, |p, r, _| p.view_message(r)),
        (RequestCode::QueryMessage, |p, r, _| p.query_message(r)),
    ];
    for (code, method) in routes {
        route_sync(table, code, &admin, method);
    }
}

/// Subscription-group removal (DELETE_SUBSCRIPTIONGROUP).
fn route_group_admin(table: &mut DispatchTable, h: &Handles) {
    let groups = Arc::new(crate::admin_groups::GroupAdminProcessor {
        metadata: Arc::clone(&h.metadata),
    });
    route_sync(
        table,
        RequestCode::DeleteSubscriptionGroup,
        &groups,
        |p, r, _| p.delete_group(r),
    );
}

/// What a slave copies from its master (GET_ALL_CONSUMER_OFFSET, GET_ALL_DELAY_OFFSET,
/// GET_ALL_SUBSCRIPTIONGROUP_CONFIG); served by every broker.
fn route_sync_source(table: &mut DispatchTable, h: &Handles) {
    let source = Arc::new(crate::admin_sync::AdminSyncProcessor {
        metadata: Arc::clone(&h.metadata),
    });
    let routes: [(
        RequestCode,
        SyncMethod<crate::admin_sync::AdminSyncProcessor>,
    ); 3] = [
        (RequestCode::GetAllConsumerOffset, |p, r, _| {
            p.all_consumer_offsets(r)
        }),
        (RequestCode::GetAllDelayOffset, |p, r, _| {
            p.all_delay_offsets(r)
        }),
        (RequestCode::GetAllSubscriptionGroupConfig, |p, r, _| {
            p.all_groups(r)
        }),
    ];
    for (code, method) in routes {
        route_sync(table, code, &source, method);
    }
}
