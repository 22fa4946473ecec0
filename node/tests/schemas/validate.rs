//! A small JSON Schema validator for the result shapes in this folder: the keywords those
//! schemas use and nothing else (`type`, `enum`, `pattern`, `minimum`, `maximum`, `required`,
//! `properties`, `additionalProperties` as `false` or a schema, `propertyNames`, `items`,
//! `allOf`, `anyOf`, `oneOf`, `$ref` and `$comment`). A schema with any other keyword is a
//! mistake in the schema, and the check panics rather than ignore it.
//!
//! A `$ref` is `file.json#/Name` or, within the same file, `#/Name`. A failure names the JSON
//! path of the value (`$.transactions[0].gas`), the value, the rule it breaks and the schema
//! that rule comes from.

use std::cell::RefCell;
use std::collections::HashMap;

use regex::Regex;
use serde_json::Value;

/// The schema files, by name.
const FILES: [(&str, &str); 5] = [
    ("base.json", include_str!("base.json")),
    ("eth.json", include_str!("eth.json")),
    ("zkevm.json", include_str!("zkevm.json")),
    ("txpool.json", include_str!("txpool.json")),
    ("debug.json", include_str!("debug.json")),
];

const KEYWORDS: [&str; 16] = [
    "$comment",
    "$ref",
    "type",
    "enum",
    "pattern",
    "minimum",
    "maximum",
    "required",
    "properties",
    "additionalProperties",
    "propertyNames",
    "items",
    "allOf",
    "anyOf",
    "oneOf",
    "title",
];

/// The loaded schema files and the patterns compiled so far.
pub struct Schemas {
    files: HashMap<&'static str, Value>,
    patterns: RefCell<HashMap<String, Regex>>,
}

impl Schemas {
    pub fn load() -> Schemas {
        let files = FILES
            .iter()
            .map(|(name, text)| {
                let v = serde_json::from_str(text)
                    .unwrap_or_else(|e| panic!("schema file {name}: {e}"));
                (*name, v)
            })
            .collect();
        Schemas {
            files,
            patterns: RefCell::default(),
        }
    }

    /// Checks `v` against the schema `reference` names (`file.json#/Name`): every rule it
    /// breaks, or nothing.
    pub fn check(&self, reference: &str, v: &Value) -> Result<(), Vec<String>> {
        let mut errors = Vec::new();
        let (file, schema) = self.resolve("", reference);
        self.validate(file, schema, reference, v, "$", &mut errors);
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// Every `$ref` in every file, resolved: a typo in a reference fails here, before a value
    /// happens to reach it.
    pub fn check_references(&self) {
        fn walk(s: &Schemas, file: &'static str, v: &Value) {
            match v {
                Value::Object(o) => {
                    if let Some(Value::String(r)) = o.get("$ref") {
                        s.resolve(file, r);
                    }
                    o.values().for_each(|x| walk(s, file, x));
                }
                Value::Array(a) => a.iter().for_each(|x| walk(s, file, x)),
                _ => {}
            }
        }
        for (name, v) in &self.files {
            walk(self, name, v);
        }
    }

    /// The file and schema a reference names, from inside `current`.
    fn resolve(&self, current: &'static str, reference: &str) -> (&'static str, &Value) {
        let (file, pointer) = reference
            .split_once('#')
            .unwrap_or_else(|| panic!("reference {reference:?} has no '#'"));
        let (name, doc) = if file.is_empty() {
            let doc = self.files.get(current);
            (current, doc)
        } else {
            match self.files.get_key_value(file) {
                Some((k, v)) => (*k, Some(v)),
                None => (current, None),
            }
        };
        let doc = doc.unwrap_or_else(|| panic!("reference {reference:?}: no such file"));
        let schema = doc
            .pointer(pointer)
            .unwrap_or_else(|| panic!("reference {reference:?}: no such schema in {name}"));
        (name, schema)
    }

    fn pattern_matches(&self, pattern: &str, s: &str) -> bool {
        let mut cache = self.patterns.borrow_mut();
        let re = cache.entry(pattern.to_string()).or_insert_with(|| {
            Regex::new(pattern).unwrap_or_else(|e| panic!("pattern {pattern:?}: {e}"))
        });
        re.is_match(s)
    }

    /// Checks `v` at `path` against `schema` (from `file`; `at` names it in messages).
    fn validate(
        &self,
        file: &'static str,
        schema: &Value,
        at: &str,
        v: &Value,
        path: &str,
        errors: &mut Vec<String>,
    ) {
        let s = match schema {
            Value::Bool(true) => return,
            Value::Bool(false) => {
                errors.push(format!("{path}: {} is not allowed here ({at})", short(v)));
                return;
            }
            Value::Object(s) => s,
            other => panic!("{at}: a schema must be an object, not {other}"),
        };
        for k in s.keys() {
            assert!(
                KEYWORDS.contains(&k.as_str()),
                "{at}: unknown keyword {k:?}"
            );
        }
        let mut fail = |rule: String| errors.push(format!("{path}: {} {rule} ({at})", short(v)));

        if let Some(Value::String(r)) = s.get("$ref") {
            let (f, target) = self.resolve(file, r);
            let name = if r.starts_with('#') {
                format!("{f}{r}")
            } else {
                r.clone()
            };
            self.validate(f, target, &name, v, path, errors);
            return;
        }
        if let Some(t) = s.get("type") {
            let allowed: Vec<&str> = match t {
                Value::String(t) => vec![t.as_str()],
                Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
                other => panic!("{at}: type {other}"),
            };
            if !allowed.iter().any(|t| has_type(v, t)) {
                fail(format!("is not of type {}", allowed.join(" or ")));
                return;
            }
        }
        if let Some(Value::Array(options)) = s.get("enum") {
            if !options.contains(v) {
                fail(format!("is not one of {}", Value::Array(options.clone())));
            }
        }
        if let (Some(Value::String(p)), Value::String(text)) = (s.get("pattern"), v) {
            if !self.pattern_matches(p, text) {
                fail(format!("does not match {p}"));
            }
        }
        if let Some(x) = v.as_f64() {
            if let Some(min) = s.get("minimum").and_then(Value::as_f64) {
                if x < min {
                    fail(format!("is below the minimum {min}"));
                }
            }
            if let Some(max) = s.get("maximum").and_then(Value::as_f64) {
                if x > max {
                    fail(format!("is above the maximum {max}"));
                }
            }
        }
        if let Value::Object(o) = v {
            self.object(file, s, at, o, path, errors);
        }
        if let (Some(items), Value::Array(a)) = (s.get("items"), v) {
            for (i, x) in a.iter().enumerate() {
                self.validate(file, items, at, x, &format!("{path}[{i}]"), errors);
            }
        }
        if let Some(Value::Array(all)) = s.get("allOf") {
            for sub in all {
                self.validate(file, sub, at, v, path, errors);
            }
        }
        for (keyword, at_least, at_most) in [("anyOf", 1, usize::MAX), ("oneOf", 1, 1)] {
            let Some(Value::Array(options)) = s.get(keyword) else {
                continue;
            };
            let mut matched = 0;
            let mut reasons = Vec::new();
            for sub in options {
                let mut e = Vec::new();
                self.validate(file, sub, at, v, path, &mut e);
                if e.is_empty() {
                    matched += 1;
                } else {
                    reasons.push(e.join("; "));
                }
            }
            if matched < at_least || matched > at_most {
                errors.push(format!(
                    "{path}: {} matches {matched} of the {} schemas of {keyword} ({at}){}",
                    short(v),
                    options.len(),
                    if matched == 0 {
                        format!(": [{}]", reasons.join("] | ["))
                    } else {
                        String::new()
                    }
                ));
            }
        }
    }

    /// The object keywords: required, properties, additionalProperties, propertyNames.
    fn object(
        &self,
        file: &'static str,
        s: &serde_json::Map<String, Value>,
        at: &str,
        o: &serde_json::Map<String, Value>,
        path: &str,
        errors: &mut Vec<String>,
    ) {
        if let Some(Value::Array(required)) = s.get("required") {
            for k in required.iter().filter_map(Value::as_str) {
                if !o.contains_key(k) {
                    errors.push(format!(
                        "{path}: the required field {k:?} is missing ({at})"
                    ));
                }
            }
        }
        let props = s.get("properties").and_then(Value::as_object);
        for (k, x) in o {
            let child = format!("{path}.{k}");
            if let Some(p) = props.and_then(|p| p.get(k)) {
                self.validate(file, p, at, x, &child, errors);
                continue;
            }
            match s.get("additionalProperties") {
                Some(Value::Bool(false)) => {
                    errors.push(format!("{child}: the field is not allowed here ({at})"))
                }
                Some(extra @ Value::Object(_)) => self.validate(file, extra, at, x, &child, errors),
                _ => {}
            }
        }
        if let Some(names) = s.get("propertyNames") {
            for k in o.keys() {
                let key = Value::String(k.clone());
                self.validate(file, names, at, &key, &format!("{path} key {k:?}"), errors);
            }
        }
    }
}

fn has_type(v: &Value, t: &str) -> bool {
    match t {
        "null" => v.is_null(),
        "boolean" => v.is_boolean(),
        "string" => v.is_string(),
        "number" => v.is_number(),
        "integer" => v.is_i64() || v.is_u64(),
        "array" => v.is_array(),
        "object" => v.is_object(),
        other => panic!("unknown type {other:?}"),
    }
}

/// A value for a message: itself, cut short when long.
fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.len() <= 80 {
        s
    } else {
        format!("{}…", &s[..s.floor_char_boundary(77)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn errors(reference: &str, v: Value) -> Vec<String> {
        Schemas::load()
            .check(reference, &v)
            .err()
            .unwrap_or_default()
    }

    #[test]
    fn quantities_and_byte_strings() {
        let s = Schemas::load();
        s.check_references();
        for ok in ["0x0", "0x1", "0x1f", "0xabcdef0123"] {
            assert!(s.check("base.json#/uint", &json!(ok)).is_ok(), "{ok}");
        }
        for bad in ["0x01", "0x", "0X1", "0xAB", "1", "0x1g", "0x00"] {
            let e = errors("base.json#/uint", json!(bad));
            assert_eq!(e.len(), 1, "{bad}: {e:?}");
            assert!(e[0].starts_with("$: "), "{e:?}");
        }
        let e = errors("base.json#/uint", json!(1));
        assert!(e[0].contains("not of type string"), "{e:?}");
        assert!(s
            .check("base.json#/uint64", &json!("0x1ffffffffffffffff"))
            .is_err());
        assert!(s.check("base.json#/bytes", &json!("0x")).is_ok());
        for bad in ["0x0", "0xABCD", "0x123", "abcd"] {
            assert!(s.check("base.json#/bytes", &json!(bad)).is_err(), "{bad}");
        }
        let upper = format!("0x{}", "AB".repeat(32));
        assert!(s.check("base.json#/hash32", &json!(upper)).is_err());
        let mixed = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed";
        assert!(s.check("base.json#/address", &json!(mixed)).is_ok());
        assert!(s.check("base.json#/address", &json!(&mixed[..41])).is_err());
        assert!(s.check("base.json#/ratio", &json!(0.5)).is_ok());
        assert!(s.check("base.json#/ratio", &json!(1.5)).is_err());
        assert!(s.check("base.json#/ratio", &json!("0.5")).is_err());
    }

    fn log() -> Value {
        json!({
            "address": format!("0x{}", "11".repeat(20)),
            "topics": [format!("0x{}", "22".repeat(32))],
            "data": "0x",
            "blockNumber": "0x1",
            "blockHash": format!("0x{}", "33".repeat(32)),
            "transactionHash": format!("0x{}", "44".repeat(32)),
            "transactionIndex": "0x0",
            "logIndex": "0x0",
            "removed": false,
        })
    }

    #[test]
    fn objects_required_and_closed() {
        let s = Schemas::load();
        assert!(s.check("eth.json#/Log", &log()).is_ok());
        let mut missing = log();
        missing.as_object_mut().unwrap().remove("transactionHash");
        let e = errors("eth.json#/Log", missing);
        assert!(e[0].contains("\"transactionHash\" is missing"), "{e:?}");
        let mut extra = log();
        extra["extra"] = json!(1);
        let e = errors("eth.json#/Log", extra);
        assert!(
            e[0].starts_with("$.extra: the field is not allowed"),
            "{e:?}"
        );
        let mut nested = log();
        nested["topics"] = json!(["0x01"]);
        let e = errors("eth.json#/Log", nested);
        assert!(e[0].starts_with("$.topics[0]: \"0x01\""), "{e:?}");
        assert!(s.check("eth.json#/Logs", &json!([log(), log()])).is_ok());
        let mut wrong = log();
        wrong["removed"] = json!("false");
        assert!(s.check("eth.json#/Logs", &json!([log(), wrong])).is_err());
    }

    #[test]
    fn one_of_any_of_and_maps() {
        let s = Schemas::load();
        assert!(s.check("eth.json#/SyncingStatus", &json!(false)).is_ok());
        assert!(s.check("eth.json#/SyncingStatus", &json!(true)).is_err());
        let progress =
            json!({"startingBlock": "0x0", "currentBlock": "0x1", "highestBlock": "0x2"});
        assert!(s.check("eth.json#/SyncingStatus", &progress).is_ok());
        let e = errors("eth.json#/SyncingStatus", json!({"currentBlock": "0x01"}));
        assert!(
            e[0].contains("matches 0 of the 2 schemas of oneOf"),
            "{e:?}"
        );
        let hash = json!(format!("0x{}", "aa".repeat(32)));
        assert!(s.check("eth.json#/FilterResults", &json!([])).is_ok());
        assert!(s.check("eth.json#/FilterResults", &json!([hash])).is_ok());
        assert!(s.check("eth.json#/FilterResults", &json!([log()])).is_ok());
        assert!(s.check("eth.json#/FilterResults", &json!([1])).is_err());
        // A map: keys by propertyNames, values by additionalProperties.
        let status = json!({"pending": "0x0", "queued": "0x2"});
        assert!(s.check("txpool.json#/Status", &status).is_ok());
        let e = errors(
            "txpool.json#/ContentFrom",
            json!({"pending": {"01": {}}, "queued": {}}),
        );
        assert!(e.iter().any(|e| e.contains("key \"01\"")), "{e:?}");
    }

    #[test]
    fn transactions_by_type() {
        let s = Schemas::load();
        let word = |b: &str| format!("0x{}", b.repeat(32));
        let legacy = json!({
            "type": "0x0", "nonce": "0x0", "gas": "0x5208", "value": "0x1", "input": "0x",
            "gasPrice": "0x3b9aca00", "v": "0x7f5", "r": word("12"), "s": word("34"),
            "to": null, "chainId": "0x3e9",
            "blockHash": word("56"), "blockNumber": "0x2", "blockTimestamp": "0x5",
            "transactionIndex": "0x0", "from": format!("0x{}", "78".repeat(20)),
            "hash": word("9a"),
        });
        assert!(s.check("eth.json#/TransactionInfo", &legacy).is_ok());
        // A legacy transaction that claims type 2 lacks the fee fields of one.
        let mut typed = legacy.clone();
        typed["type"] = json!("0x2");
        assert!(s.check("eth.json#/TransactionInfo", &typed).is_err());
        let mut padded = legacy.clone();
        padded["blockNumber"] = json!("0x02");
        let e = errors("eth.json#/TransactionInfo", padded);
        assert!(e[0].starts_with("$.blockNumber: \"0x02\""), "{e:?}");
        // A mined transaction has a position; a pending one has none.
        let mut pending = legacy.clone();
        for k in [
            "blockHash",
            "blockNumber",
            "blockTimestamp",
            "transactionIndex",
        ] {
            pending[k] = Value::Null;
        }
        assert!(s.check("eth.json#/TransactionInfo", &pending).is_err());
        assert!(s
            .check("eth.json#/PendingTransactionInfo", &pending)
            .is_ok());
        assert!(s
            .check("eth.json#/PendingTransactionInfo", &legacy)
            .is_err());
    }
}
