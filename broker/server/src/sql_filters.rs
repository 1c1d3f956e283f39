//! SQL92 subscriptions on the broker: `enablePropertyFilter` and `filterSupportRetry`, compiled
//! selectors (cached by expression, like the `PARSE_CACHE` of Java's `SelectorParser`), the
//! choice of a pull's [`PullFilter`] with the codes and remarks RocketMQ's
//! `PullMessageProcessor` answers, and CHECK_CLIENT_CONFIG (46), which push consumers send at
//! start for every non-TAG subscription.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use ferrimq_config::topic::is_retry_topic;
use ferrimq_filter::{ParseError, SQL92, Selector, is_tag_type};
use ferrimq_remoting::body::{JsonBody, SubscriptionData};
use ferrimq_remoting::{RemotingCommand, ResponseCode};
use ferrimq_transport::HandlerResult;
use serde::{Deserialize, Serialize};

use crate::consumers::ConsumerRegistry;
use crate::filter::{PullFilter, TagFilter};
use crate::response::reject;

/// Distinct expressions kept compiled; the cache is emptied when it would grow past this.
const CACHE_CAPACITY: usize = 1024;

/// The pull answer when SQL92 is used on a broker without `enablePropertyFilter`.
pub fn unsupported_remark(expression_type: &str) -> String {
    format!("The broker does not support consumer to filter message by {expression_type}")
}

/// Remark of FILTER_DATA_NOT_EXIST (a registered SQL92 subscription that does not compile).
pub const FILTER_DATA_NOT_EXIST: &str =
    "The broker's consumer filter data is not exist!Your expression may be wrong!";

/// An error answer of the pull path: code and remark.
pub type Refusal = (ResponseCode, String);

/// SQL92 settings and compiled selectors.
#[derive(Debug)]
pub struct SqlFilters {
    enabled: bool,
    support_retry: bool,
    consumers: Arc<ConsumerRegistry>,
    cache: Mutex<HashMap<String, Result<Arc<Selector>, ParseError>>>,
}

/// Body of CHECK_CLIENT_CONFIG (`CheckClientRequestBody`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CheckClientRequestBody {
    /// The client id.
    pub client_id: String,
    /// The consumer group.
    pub group: String,
    /// The subscription to check.
    pub subscription_data: Option<SubscriptionData>,
}

impl JsonBody for CheckClientRequestBody {}

impl SqlFilters {
    /// Settings `enablePropertyFilter` and `filterSupportRetry`; `consumers` holds the
    /// subscriptions registered by heartbeat.
    pub fn new(enabled: bool, support_retry: bool, consumers: Arc<ConsumerRegistry>) -> Self {
        SqlFilters {
            enabled,
            support_retry,
            consumers,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// `enablePropertyFilter`.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Compiles `expression`, or returns the earlier outcome for the same text.
    pub fn compile(&self, expression: &str) -> Result<Arc<Selector>, ParseError> {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(done) = cache.get(expression) {
            return done.clone();
        }
        let outcome = Selector::compile(expression).map(Arc::new);
        if cache.len() >= CACHE_CAPACITY {
            cache.clear();
        }
        cache.insert(expression.to_owned(), outcome.clone());
        outcome
    }

    /// The compiled SQL92 subscription `group` registered for `topic`, if any and valid.
    pub fn registered_selector(&self, group: &str, topic: &str) -> Option<Arc<Selector>> {
        let sub = self.consumers.subscription(group, topic).ok()?;
        if is_tag_type(sub.expression_type.as_deref()) {
            return None;
        }
        self.compile(&sub.sub_string).ok()
    }

    /// The filter of a pull that carries its subscription (PullSysFlag 0x4).
    pub fn for_request(
        self: &Arc<Self>,
        topic: &str,
        group: &str,
        expression: &str,
        expression_type: Option<&str>,
    ) -> Result<PullFilter, Refusal> {
        if is_tag_type(expression_type) {
            let tags = TagFilter::parse(expression).ok_or_else(|| {
                let remark = "parse the consumer's subscription failed".to_owned();
                (ResponseCode::SubscriptionParseFailed, remark)
            })?;
            return Ok(self.tag_filter(topic, group, tags));
        }
        let kind = expression_type.unwrap_or(SQL92);
        if !self.enabled {
            return Err((ResponseCode::SystemError, unsupported_remark(kind)));
        }
        self.compile(expression).map(PullFilter::Sql).map_err(|e| {
            let remark = format!("parse the consumer's subscription failed: {e}");
            (ResponseCode::SubscriptionParseFailed, remark)
        })
    }

    /// The filter of a subscription registered by heartbeat.
    pub fn for_registered(
        self: &Arc<Self>,
        group: &str,
        sub: &SubscriptionData,
    ) -> Result<PullFilter, Refusal> {
        let kind = sub.expression_type.as_deref();
        if is_tag_type(kind) {
            let tags = TagFilter::from_subscription(sub);
            return Ok(self.tag_filter(&sub.topic, group, tags));
        }
        let compiled = self.compile(&sub.sub_string);
        let Ok(selector) = compiled else {
            return Err((
                ResponseCode::FilterDataNotExist,
                FILTER_DATA_NOT_EXIST.to_owned(),
            ));
        };
        if !self.enabled {
            let remark = unsupported_remark(kind.unwrap_or(SQL92));
            return Err((ResponseCode::SystemError, remark));
        }
        Ok(PullFilter::Sql(selector))
    }

    /// A TAG filter, or the retry filter for `%RETRY%` topics under `filterSupportRetry`.
    fn tag_filter(self: &Arc<Self>, topic: &str, group: &str, tags: TagFilter) -> PullFilter {
        if self.enabled && self.support_retry && is_retry_topic(topic) && tags == TagFilter::All {
            return PullFilter::Retry {
                group: group.to_owned(),
                filters: Arc::clone(self),
            };
        }
        PullFilter::Tags(tags)
    }

    /// CHECK_CLIENT_CONFIG: SUCCESS for TAG subscriptions; SYSTEM_ERROR when SQL92 is off;
    /// SUBSCRIPTION_PARSE_FAILED with the parser's message for an invalid expression.
    pub fn check_client_config(&self, request: &RemotingCommand) -> HandlerResult {
        let body = if request.body.is_empty() {
            CheckClientRequestBody::default()
        } else {
            CheckClientRequestBody::decode(&request.body)?
        };
        if let Some(sub) = body.subscription_data {
            let kind = sub.expression_type.as_deref();
            if !is_tag_type(kind) {
                if !self.enabled {
                    let remark = unsupported_remark(kind.unwrap_or(SQL92));
                    return Ok(Some(reject(request, ResponseCode::SystemError, remark)));
                }
                if let Err(e) = self.compile(&sub.sub_string) {
                    tracing::warn!(client = %body.client_id, group = %body.group,
                        expression = %sub.sub_string, error = %e, "invalid SQL92 subscription");
                    let code = ResponseCode::SubscriptionParseFailed;
                    return Ok(Some(reject(request, code, e.to_string())));
                }
            }
        }
        Ok(Some(RemotingCommand::response_to(
            request,
            ResponseCode::Success,
        )))
    }
}
