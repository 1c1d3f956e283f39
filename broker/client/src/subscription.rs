//! Consumer subscriptions: TAG expressions ("*" or "tagA || tagB") turned into Java's
//! `SubscriptionData` (tags set, `String.hashCode` code set, version), SQL92 selectors
//! (`MessageSelector.bySql`: type "SQL92", evaluated by the broker, which must run with
//! `enablePropertyFilter=true`), and the client-side tag filter applied to pulled messages (the
//! broker filters by tag hash only, so collisions pass; SQL92 results are taken as they come).

use std::collections::BTreeSet;

use ferrimq_remoting::body::SubscriptionData;

use crate::message::MessageExt;

/// Java `String.hashCode` (UTF-16 code units, wrapping): the tag code of subscriptions.
pub fn java_string_hash(text: &str) -> i32 {
    text.encode_utf16().fold(0i32, |h, unit| {
        h.wrapping_mul(31).wrapping_add(i32::from(unit))
    })
}

/// SubscriptionData of a TAG expression ("*" or "a || b").
pub fn subscription(topic: &str, expression: &str, version: i64) -> SubscriptionData {
    let expression = expression.trim();
    let all = expression.is_empty() || expression == "*";
    let tags: BTreeSet<String> = if all {
        BTreeSet::new()
    } else {
        expression
            .split("||")
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .collect()
    };
    SubscriptionData {
        class_filter_mode: false,
        code_set: tags.iter().map(|t| java_string_hash(t)).collect(),
        expression_type: Some("TAG".to_owned()),
        sub_string: if all {
            "*".to_owned()
        } else {
            expression.to_owned()
        },
        sub_version: version,
        tags_set: tags,
        topic: topic.to_owned(),
    }
}

/// Expression type of SQL92 subscriptions.
pub const EXPRESSION_SQL92: &str = "SQL92";

/// SubscriptionData of a SQL92 selector (no tags: the broker evaluates the expression).
pub fn sql92_subscription(topic: &str, expression: &str, version: i64) -> SubscriptionData {
    SubscriptionData {
        class_filter_mode: false,
        code_set: BTreeSet::new(),
        expression_type: Some(EXPRESSION_SQL92.to_owned()),
        sub_string: expression.trim().to_owned(),
        sub_version: version,
        tags_set: BTreeSet::new(),
        topic: topic.to_owned(),
    }
}

/// Whether `message` passes the subscription's tag filter.
pub fn matches(sub: &SubscriptionData, message: &MessageExt) -> bool {
    sub.tags_set.is_empty() || message.tags().is_some_and(|t| sub.tags_set.contains(t))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_hash_matches_known_values() {
        assert_eq!(java_string_hash(""), 0);
        assert_eq!(java_string_hash("TagA"), 2_598_919);
        assert_eq!(java_string_hash("hello world"), 1_794_106_052);
    }

    #[test]
    fn tag_expression_parses_like_java() {
        let sub = subscription("T", " TagA || TagB ||  ", 5);
        assert_eq!(sub.sub_string, "TagA || TagB ||");
        assert_eq!(sub.tags_set.iter().collect::<Vec<_>>(), ["TagA", "TagB"]);
        assert!(sub.code_set.contains(&2_598_919));
        assert_eq!(subscription("T", "*", 1).tags_set.len(), 0);
        assert_eq!(subscription("T", "", 1).sub_string, "*");
    }

    #[test]
    fn sql92_subscription_carries_the_expression_and_no_tags() {
        let sub = sql92_subscription("T", " a > 1 AND TAGS = 'x' ", 7);
        assert_eq!(sub.expression_type.as_deref(), Some("SQL92"));
        assert_eq!(sub.sub_string, "a > 1 AND TAGS = 'x'");
        assert_eq!((sub.sub_version, sub.topic.as_str()), (7, "T"));
        assert!(sub.tags_set.is_empty() && sub.code_set.is_empty());
    }
}
