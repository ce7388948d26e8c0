//! Arguments of the REPL's commands: hex of a fixed size, numbers (decimal or 0x hex),
//! record numbers, and the fields of a decoded edit (`name=value …` or a JSON object).

use gbau_core::ef_codec::Assignments;
use gbau_core::hexutil::parse_fixed;

pub fn hex_arg<const N: usize>(name: &'static str, text: Option<&&str>) -> Result<[u8; N], String> {
    let t = text.ok_or_else(|| format!("missing {name}"))?;
    parse_fixed::<N>(t).map_err(|e| format!("{name}: {e}"))
}

pub fn num_arg(name: &str, text: Option<&&str>, default: Option<usize>) -> Result<usize, String> {
    match text {
        None => default.ok_or_else(|| format!("missing {name}")),
        Some(t) => {
            let t = t.trim();
            let parsed = match t.strip_prefix("0x") {
                Some(h) => usize::from_str_radix(h, 16),
                None => t.parse(),
            };
            parsed.map_err(|_| format!("{name}: {t:?} is not a number"))
        }
    }
}

pub fn record_arg(text: Option<&&str>) -> Result<u8, String> {
    let n = num_arg("N", text, None)?;
    u8::try_from(n)
        .ok()
        .filter(|n| (1..=254).contains(n))
        .ok_or_else(|| "N is 1..254".to_owned())
}

/// Fields from `name=value …` or a JSON object (`{"imsi": "001…"}`; lists become "a, b").
pub fn fields_arg(text: &str) -> Result<Assignments, String> {
    let t = text.trim();
    if t.is_empty() {
        return Err("no fields given: FIELD=VALUE … or a JSON object".into());
    }
    if !t.starts_with('{') {
        return Assignments::parse(t);
    }
    let v: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(t).map_err(|e| format!("JSON: {e}"))?;
    let text = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    Ok(Assignments(
        v.iter()
            .map(|(k, v)| {
                let s = match v {
                    serde_json::Value::Array(items) => {
                        items.iter().map(text).collect::<Vec<_>>().join(", ")
                    }
                    other => text(other),
                };
                (k.clone(), s)
            })
            .collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_from_words_or_json() {
        let a = fields_arg("imsi=001010000000002").unwrap();
        assert_eq!(a.get("imsi"), Some("001010000000002"));
        let j = fields_arg(r#"{"services": [27, 68], "b_tid": "x@y"}"#).unwrap();
        assert_eq!(j.get("services"), Some("27, 68"));
        assert_eq!(j.get("b_tid"), Some("x@y"));
        assert!(fields_arg("{not json").is_err());
        assert!(fields_arg("").is_err());
        assert!(record_arg(Some(&"0")).is_err());
        assert_eq!(num_arg("N", Some(&"0x10"), None), Ok(16));
    }
}
