//! Writer of the fastjson dialect. Numeric keys are written unquoted (`{0:123}`) and object keys
//! as compact JSON objects (`{{"queueId":0,"topic":"T"}:{...}}`), which is what Java's fastjson
//! writes and what it needs to read a `Map<MessageQueue, _>` back. The pretty form mirrors
//! fastjson's `prettyFormat` (tab indentation, no space after `:`), as RocketMQ's config files use.

use std::fmt::Write as _;

use crate::value::{Key, Object, Value};

/// Compact text of `value`.
pub fn write_compact(value: &Value) -> String {
    let mut out = String::new();
    Writer {
        out: &mut out,
        pretty: false,
    }
    .value(value, 0);
    out
}

/// Pretty text of `value` (tabs, one entry per line), as fastjson's `prettyFormat`.
pub fn write_pretty(value: &Value) -> String {
    let mut out = String::new();
    Writer {
        out: &mut out,
        pretty: true,
    }
    .value(value, 0);
    out
}

struct Writer<'a> {
    out: &'a mut String,
    pretty: bool,
}

impl Writer<'_> {
    fn value(&mut self, value: &Value, depth: usize) {
        match value {
            Value::Null => self.out.push_str("null"),
            Value::Bool(b) => self.out.push_str(if *b { "true" } else { "false" }),
            Value::Number(n) => write!(self.out, "{n}").expect("writing to a String"),
            Value::String(s) => self.string(s),
            Value::Array(items) => self.array(items, depth),
            Value::Object(obj) => self.object(obj, depth),
        }
    }

    fn string(&mut self, s: &str) {
        let quoted = serde_json::to_string(s).expect("a str always serializes");
        self.out.push_str(&quoted);
    }

    fn newline(&mut self, depth: usize) {
        if self.pretty {
            self.out.push('\n');
            for _ in 0..depth {
                self.out.push('\t');
            }
        }
    }

    fn array(&mut self, items: &[Value], depth: usize) {
        self.out.push('[');
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                self.out.push(',');
            }
            self.newline(depth + 1);
            self.value(item, depth + 1);
        }
        if !items.is_empty() {
            self.newline(depth);
        }
        self.out.push(']');
    }

    fn object(&mut self, obj: &Object, depth: usize) {
        self.out.push('{');
        for (i, (key, value)) in obj.entries().iter().enumerate() {
            if i > 0 {
                self.out.push(',');
            }
            self.newline(depth + 1);
            self.key(key);
            self.out.push(':');
            self.value(value, depth + 1);
        }
        if !obj.is_empty() {
            self.newline(depth);
        }
        self.out.push('}');
    }

    fn key(&mut self, key: &Key) {
        match key {
            Key::String(s) => self.string(s),
            Key::Number(n) => write!(self.out, "{n}").expect("writing to a String"),
            Key::Object(o) => Writer {
                out: self.out,
                pretty: false,
            }
            .object(o, 0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::parse;

    const MIXED: &str = r#"{"offsetTable":{{"brokerName":"b","queueId":0,"topic":"T"}:{"brokerOffset":5}},"t":{0:"a\"b",1:[]},"e":{},"f":1.5}"#;

    #[test]
    fn compact_round_trips_the_dialect() {
        let v = parse(MIXED).unwrap();
        assert_eq!(write_compact(&v), MIXED);
    }

    #[test]
    fn pretty_matches_fastjson_layout() {
        let v = parse(r#"{"offsetTable":{"T@g":{0:1,1:2}},"list":["x"],"empty":[]}"#).unwrap();
        let expected = "{\n\t\"offsetTable\":{\n\t\t\"T@g\":{\n\t\t\t0:1,\n\t\t\t1:2\n\t\t}\n\t},\n\t\"list\":[\n\t\t\"x\"\n\t],\n\t\"empty\":[]\n}";
        assert_eq!(write_pretty(&v), expected);
        assert_eq!(parse(expected).unwrap(), v);
    }

    #[test]
    fn object_keys_stay_compact_in_pretty_mode() {
        let v = parse(r#"{{"queueId":0,"topic":"T"}:1}"#).unwrap();
        assert_eq!(
            write_pretty(&v),
            "{\n\t{\"queueId\":0,\"topic\":\"T\"}:1\n}"
        );
    }
}
