//! SQL92 filters over real frames: pulls carrying their subscription, subscriptions registered
//! by heartbeat, CHECK_CLIENT_CONFIG, a broker without enablePropertyFilter, and retry topics
//! filtered by the original topic's selector only with filterSupportRetry.

mod fixture;

use anyhow::Result;
use ferrimq_remoting::body::{ConsumerData, HeartbeatData, JsonBody, SubscriptionData};
use ferrimq_remoting::header::typed::PullMessageRequestHeader;
use ferrimq_remoting::{RemotingCommand, RequestCode, ResponseCode};
use ferrimq_server::sql_filters::CheckClientRequestBody;
use ferrimq_transport::next_opaque;
use fixture::*;

const SUBSCRIPTION: i32 = 0x4;
const ENABLED: &str = "enablePropertyFilter=true";
const UNSUPPORTED: &str = "The broker does not support consumer to filter message by SQL92";

/// Starts a cluster with `extra` broker.conf lines and an HA port of its own (tests of this
/// file run in parallel in one process).
async fn start(extra: &str) -> Result<Cluster> {
    let ha_port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    Cluster::start(&format!("haListenPort={ha_port}\n{extra}")).await
}

/// Ten messages on queue 0 of `topic`: body "m<i>", a=<i>, TAGS x for even i else y, KEYS k<i>.
async fn send_ten(cluster: &Cluster, topic: &str) -> Result<()> {
    for i in 0..10 {
        let tag = if i % 2 == 0 { "x" } else { "y" };
        let p = props(&[
            ("a", &i.to_string()),
            ("TAGS", tag),
            ("KEYS", &format!("k{i}")),
        ]);
        let send = send_v2(topic, 0, &p, b"").with_body(format!("m{i}"));
        let r = cluster.call(send).await?;
        assert_eq!(r.code, 0, "{:?}", r.remark);
    }
    cluster.settle();
    Ok(())
}

fn sql_pull(group: &str, topic: &str, expression: &str) -> PullMessageRequestHeader {
    let mut h = pull_header(group, topic, 0, 0, SUBSCRIPTION);
    h.subscription = Some(expression.into());
    h.expression_type = Some("SQL92".into());
    h
}

async fn bodies(cluster: &Cluster, header: &PullMessageRequestHeader) -> Result<Vec<String>> {
    let r = cluster.call(pull(header)).await?;
    // Every candidate scanned and filtered out: PULL_RETRY_IMMEDIATELY, no body.
    if r.code == ResponseCode::PullRetryImmediately.code()
        && r.remark.as_deref() == Some("NO_MATCHED_MESSAGE")
    {
        anyhow::ensure!(r.body.is_empty(), "a body with NO_MATCHED_MESSAGE");
        return Ok(Vec::new());
    }
    anyhow::ensure!(r.code == 0, "pull answered {} {:?}", r.code, r.remark);
    Ok(decode_pulled(&r.body)?
        .into_iter()
        .map(|p| String::from_utf8_lossy(&p.body).into_owned())
        .collect())
}

fn check_client(kind: &str, expression: &str) -> Result<RemotingCommand> {
    let body = CheckClientRequestBody {
        client_id: "10.0.0.1@1".into(),
        group: "G".into(),
        subscription_data: Some(SubscriptionData {
            topic: "T".into(),
            sub_string: expression.into(),
            expression_type: Some(kind.into()),
            ..Default::default()
        }),
    };
    Ok(
        RemotingCommand::request(RequestCode::CheckClientConfig, next_opaque())
            .with_body(body.encode()?),
    )
}

fn heartbeat(group: &str, subs: &[(&str, &str, &str)]) -> Result<RemotingCommand> {
    let subscription_data_set = subs
        .iter()
        .map(|(topic, kind, expression)| SubscriptionData {
            topic: (*topic).into(),
            sub_string: (*expression).into(),
            sub_version: 1_000,
            expression_type: Some((*kind).into()),
            ..Default::default()
        })
        .collect();
    let data = HeartbeatData {
        client_id: "10.0.0.1@1".into(),
        consumer_data_set: vec![ConsumerData {
            group_name: group.into(),
            subscription_data_set,
            ..Default::default()
        }],
        ..Default::default()
    };
    Ok(RemotingCommand::request(RequestCode::HeartBeat, next_opaque()).with_body(data.encode()?))
}

#[tokio::test]
async fn pulls_carrying_sql92_get_exactly_the_matching_messages() -> Result<()> {
    let cluster = start(ENABLED).await?;
    send_ten(&cluster, "Sql").await?;
    let cases: [(&str, &[&str]); 6] = [
        ("a BETWEEN 3 AND 6", &["m3", "m4", "m5", "m6"]),
        ("a BETWEEN 3 AND 6 AND TAGS = 'x'", &["m4", "m6"]),
        ("TAGS IN ('y') AND a > 6", &["m7", "m9"]),
        ("KEYS = 'k0' OR a >= 9", &["m0", "m9"]),
        ("missing IS NOT NULL OR a < 0", &[]),
        ("NOT (a <> 2)", &["m2"]),
    ];
    for (expression, want) in cases {
        let got = bodies(&cluster, &sql_pull("G", "Sql", expression)).await?;
        assert_eq!(got, want, "{expression}");
    }
    let r = cluster.call(pull(&sql_pull("G", "Sql", "a > 'x'"))).await?;
    assert_eq!(r.code, ResponseCode::SubscriptionParseFailed.code());
    assert_eq!(
        r.remark.as_deref(),
        Some(
            "parse the consumer's subscription failed: Invalid MessageSelector: value ''x'' cannot be compared at position 2"
        )
    );
    // A TAG pull on the same broker still filters by tag code.
    let mut tag = pull_header("G", "Sql", 0, 0, SUBSCRIPTION);
    tag.subscription = Some("y".into());
    assert_eq!(
        bodies(&cluster, &tag).await?,
        ["m1", "m3", "m5", "m7", "m9"]
    );
    cluster.stop().await
}

#[tokio::test]
async fn registered_sql92_subscriptions_filter_pulls() -> Result<()> {
    let cluster = start(ENABLED).await?;
    send_ten(&cluster, "Reg").await?;
    let hb = heartbeat("G", &[("Reg", "SQL92", "a = 1 OR a = 8")])?;
    assert_eq!(cluster.call(hb).await?.code, 0);
    let h = pull_header("G", "Reg", 0, 0, 0);
    assert_eq!(bodies(&cluster, &h).await?, ["m1", "m8"]);
    let hb = heartbeat("Bad", &[("Reg", "SQL92", "a = ")])?;
    assert_eq!(cluster.call(hb).await?.code, 0);
    let r = cluster
        .call(pull(&pull_header("Bad", "Reg", 0, 0, 0)))
        .await?;
    assert_eq!(r.code, ResponseCode::FilterDataNotExist.code());
    assert_eq!(
        r.remark.as_deref(),
        Some("The broker's consumer filter data is not exist!Your expression may be wrong!")
    );
    cluster.stop().await
}

#[tokio::test]
async fn check_client_config_compiles_sql92() -> Result<()> {
    let cluster = start(ENABLED).await?;
    let ok = cluster
        .call(check_client("SQL92", "a IS NOT NULL")?)
        .await?;
    assert_eq!((ok.code, ok.remark.as_deref()), (0, None));
    let tag = cluster.call(check_client("TAG", "a ||| b")?).await?;
    assert_eq!(tag.code, 0);
    let bad = cluster
        .call(check_client("SQL92", "a BETWEEN 5 AND 1")?)
        .await?;
    assert_eq!(bad.code, ResponseCode::SubscriptionParseFailed.code());
    assert_eq!(
        bad.remark.as_deref(),
        Some(
            "Invalid MessageSelector: illegal values of between, left value (5) must be less than or equal to right value (1) at position 2"
        )
    );
    cluster.stop().await
}

#[tokio::test]
async fn a_broker_without_property_filter_refuses_sql92() -> Result<()> {
    let cluster = start("").await?;
    send_ten(&cluster, "Off").await?;
    let r = cluster.call(check_client("SQL92", "a = 1")?).await?;
    assert_eq!(
        (r.code, r.remark.as_deref()),
        (ResponseCode::SystemError.code(), Some(UNSUPPORTED))
    );
    let r = cluster.call(check_client("TAG", "*")?).await?;
    assert_eq!(r.code, 0);
    let r = cluster.call(pull(&sql_pull("G", "Off", "a = 1"))).await?;
    assert_eq!(
        (r.code, r.remark.as_deref()),
        (ResponseCode::SystemError.code(), Some(UNSUPPORTED))
    );
    let hb = heartbeat("G", &[("Off", "SQL92", "a = 1")])?;
    assert_eq!(cluster.call(hb).await?.code, 0);
    let r = cluster
        .call(pull(&pull_header("G", "Off", 0, 0, 0)))
        .await?;
    assert_eq!(
        (r.code, r.remark.as_deref()),
        (ResponseCode::SystemError.code(), Some(UNSUPPORTED))
    );
    cluster.stop().await
}

/// Retried copies of "Orig" messages (a=0..9) in %RETRY%G, read by a group subscribing
/// "a >= 7" on Orig and "*" on its retry topic.
async fn retry_bodies(extra: &str) -> Result<Vec<String>> {
    let cluster = start(extra).await?;
    let hb = heartbeat(
        "G",
        &[("Orig", "SQL92", "a >= 7"), ("%RETRY%G", "TAG", "*")],
    )?;
    assert_eq!(cluster.call(hb).await?.code, 0);
    for i in 0..10 {
        let p = props(&[("a", &i.to_string()), ("RETRY_TOPIC", "Orig")]);
        let send = send_v2("%RETRY%G", 0, &p, b"").with_body(format!("m{i}"));
        let r = cluster.call(send).await?;
        assert_eq!(r.code, 0, "{:?}", r.remark);
    }
    cluster.settle();
    let got = bodies(&cluster, &pull_header("G", "%RETRY%G", 0, 0, 0)).await?;
    cluster.stop().await?;
    Ok(got)
}

#[tokio::test]
async fn retry_topics_use_the_original_selector_only_with_filter_support_retry() -> Result<()> {
    let all: Vec<String> = (0..10).map(|i| format!("m{i}")).collect();
    assert_eq!(retry_bodies(ENABLED).await?, all);
    let with = retry_bodies("enablePropertyFilter=true\nfilterSupportRetry=true").await?;
    assert_eq!(with, ["m7", "m8", "m9"]);
    Ok(())
}
