//! The filter of one pull as the store's [`MessageFilter`]: a TAG subscription ("*" or
//! "tagA || tagB") matched on the ConsumeQueue tags code (Java `String.hashCode`), or a SQL92
//! selector evaluated on each candidate's properties (`TAGS`, `KEYS` and user properties), or,
//! for a `%RETRY%` topic with `filterSupportRetry`, the SQL92 selector of the topic each retried
//! message was first sent to. Compiling and choosing the filter is [`crate::sql_filters`]' job.
//!
//! RocketMQ 4.x also keeps a bloom-filter bit map per message in a ConsumeQueue extension to
//! skip CommitLog reads for SQL92 consumers; that is an optimisation ferrimq does not implement:
//! every candidate of a SQL92 pull is read and evaluated.

use std::collections::BTreeSet;
use std::sync::Arc;

use ferrimq_filter::{PropertySource, Selector};
use ferrimq_remoting::body::SubscriptionData;
use ferrimq_store::read::MessageFilter;
use ferrimq_store::record::properties::{java_string_hash, lookup};

use crate::sql_filters::SqlFilters;

/// Expression type of tag subscriptions.
pub const EXPRESSION_TAG: &str = "TAG";

/// A parsed TAG subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagFilter {
    /// `*` or empty: every message.
    All,
    /// The hash codes of the subscribed tags.
    Codes(BTreeSet<i32>),
}

impl TagFilter {
    /// Parses a subscription expression; `None` when it names no tag (e.g. "||").
    pub fn parse(expression: &str) -> Option<TagFilter> {
        let expression = expression.trim();
        if expression.is_empty() || expression == "*" {
            return Some(TagFilter::All);
        }
        let codes: BTreeSet<i32> = expression
            .split("||")
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(java_string_hash)
            .collect();
        (!codes.is_empty()).then_some(TagFilter::Codes(codes))
    }

    /// The filter of a subscription registered by heartbeat.
    pub fn from_subscription(sub: &SubscriptionData) -> TagFilter {
        if sub.sub_string.trim().is_empty() || sub.sub_string.trim() == "*" {
            return TagFilter::All;
        }
        if sub.code_set.is_empty() {
            return TagFilter::parse(&sub.sub_string).unwrap_or(TagFilter::All);
        }
        TagFilter::Codes(sub.code_set.clone())
    }
}

impl MessageFilter for TagFilter {
    fn matches_tags_code(&self, tags_code: i64) -> bool {
        match self {
            TagFilter::All => true,
            // Java compares `tagsCode.intValue()`: the low 32 bits.
            TagFilter::Codes(codes) => codes.contains(&(tags_code as i32)),
        }
    }
}

/// The filter a pull reads with.
#[derive(Debug, Clone)]
pub enum PullFilter {
    /// A TAG subscription.
    Tags(TagFilter),
    /// A SQL92 subscription.
    Sql(Arc<Selector>),
    /// A `%RETRY%<group>` topic read with `filterSupportRetry`: each message is judged by the
    /// group's SQL92 subscription of its `RETRY_TOPIC` (RocketMQ 4.x behaviour).
    Retry {
        /// The consumer group of the retry topic.
        group: String,
        /// Where the group's subscriptions are compiled.
        filters: Arc<SqlFilters>,
    },
}

/// The property of a retried message naming the topic it was first sent to.
pub const PROPERTY_RETRY_TOPIC: &str = "RETRY_TOPIC";

/// A record's encoded properties string (`key\x01value\x02`...) as a selector's input.
#[derive(Debug, Clone, Copy)]
pub struct EncodedProperties<'a>(pub &'a str);

impl PropertySource for EncodedProperties<'_> {
    fn property(&self, name: &str) -> Option<&str> {
        lookup(self.0, name)
    }
}

impl MessageFilter for PullFilter {
    fn matches_tags_code(&self, tags_code: i64) -> bool {
        match self {
            PullFilter::Tags(tags) => tags.matches_tags_code(tags_code),
            PullFilter::Sql(_) | PullFilter::Retry { .. } => true,
        }
    }

    fn needs_properties(&self) -> bool {
        !matches!(self, PullFilter::Tags(_))
    }

    fn matches_properties(&self, properties: &str) -> bool {
        let props = EncodedProperties(properties);
        match self {
            PullFilter::Tags(_) => true,
            PullFilter::Sql(selector) => selector.matches(&props),
            PullFilter::Retry { group, filters } => {
                let Some(topic) = props.property(PROPERTY_RETRY_TOPIC) else {
                    return true;
                };
                filters
                    .registered_selector(group, topic)
                    .is_none_or(|selector| selector.matches(&props))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_star_and_tag_lists() {
        assert_eq!(TagFilter::parse(" * "), Some(TagFilter::All));
        assert_eq!(TagFilter::parse(""), Some(TagFilter::All));
        assert_eq!(TagFilter::parse("||"), None);
        let f = TagFilter::parse("TagA || TagB").expect("parses");
        assert!(f.matches_tags_code(i64::from(java_string_hash("TagA"))));
        assert!(f.matches_tags_code(i64::from(java_string_hash("TagB"))));
        assert!(!f.matches_tags_code(i64::from(java_string_hash("TagC"))));
    }

    #[test]
    fn sql_filter_reads_encoded_properties_last_value_winning() {
        let selector = Arc::new(Selector::compile("a = 2 AND TAGS = 'x'").expect("compiles"));
        let filter = PullFilter::Sql(selector);
        assert!(filter.needs_properties());
        assert!(filter.matches_tags_code(12345));
        assert!(filter.matches_properties("a\u{1}1\u{2}TAGS\u{1}x\u{2}a\u{1}2\u{2}"));
        assert!(!filter.matches_properties("a\u{1}2\u{2}TAGS\u{1}y\u{2}"));
        assert!(!filter.matches_properties("TAGS\u{1}x\u{2}"));
        let tags = PullFilter::Tags(TagFilter::All);
        assert!(!tags.needs_properties());
    }
}
