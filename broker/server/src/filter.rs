//! Tag filtering of pulls: a TAG subscription ("*" or "tagA || tagB") as the store's
//! [`MessageFilter`], matched on the ConsumeQueue tags code (Java `String.hashCode`).

use std::collections::BTreeSet;

use ferrimq_remoting::body::SubscriptionData;
use ferrimq_store::read::MessageFilter;
use ferrimq_store::record::properties::java_string_hash;

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
}
