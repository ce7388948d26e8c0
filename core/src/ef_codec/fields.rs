//! What a decoder gives and an encoder takes: named fields with text, number or list values,
//! printable as lines and as JSON, and the `name=value` assignments an edit is made of.

use std::collections::BTreeMap;
use std::fmt;

use serde::ser::{Serialize, SerializeMap, Serializer};

/// The value of one decoded field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// Text (identities, names, hex of opaque bytes).
    Text(String),
    /// A number.
    Number(u64),
    /// Items, one per line (services, PLMNs, access rules).
    List(Vec<String>),
}

impl Value {
    /// The value as an encoder takes it back: lists joined by ", ".
    #[must_use]
    pub fn as_assignment(&self) -> String {
        match self {
            Self::Text(t) => t.clone(),
            Self::Number(n) => n.to_string(),
            Self::List(items) => items.join(", "),
        }
    }
}

/// One named field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field {
    pub name: &'static str,
    pub value: Value,
}

/// A decoded file or record: its fields, or empty (all 'FF').
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Decoded {
    pub fields: Vec<Field>,
    /// All 'FF': nothing written.
    pub empty: bool,
}

impl Decoded {
    /// An all-'FF' file or record.
    #[must_use]
    pub fn empty() -> Self {
        Self {
            fields: Vec::new(),
            empty: true,
        }
    }

    /// Add a text field.
    #[must_use]
    pub fn text(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.fields.push(Field {
            name,
            value: Value::Text(value.into()),
        });
        self
    }

    /// Add a number field.
    #[must_use]
    pub fn number(mut self, name: &'static str, value: u64) -> Self {
        self.fields.push(Field {
            name,
            value: Value::Number(value),
        });
        self
    }

    /// Add a list field.
    #[must_use]
    pub fn list(mut self, name: &'static str, items: Vec<String>) -> Self {
        self.fields.push(Field {
            name,
            value: Value::List(items),
        });
        self
    }

    /// The value of a field.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.fields
            .iter()
            .find(|f| f.name == name)
            .map(|f| &f.value)
    }

    /// The fields as assignments an encoder takes back (a decoded file re-encodes to itself).
    #[must_use]
    pub fn assignments(&self) -> Assignments {
        Assignments(
            self.fields
                .iter()
                .map(|f| (f.name.to_owned(), f.value.as_assignment()))
                .collect(),
        )
    }

    /// One line: "name value, name value".
    #[must_use]
    pub fn summary(&self) -> String {
        if self.empty {
            return "(empty)".into();
        }
        self.fields
            .iter()
            .map(|f| match &f.value {
                Value::List(items) if items.is_empty() => format!("{} (none)", f.name),
                v => format!("{} {}", f.name, v.as_assignment()),
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Lines of `name: value`; a list puts one item a line under its name.
impl fmt::Display for Decoded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.empty {
            return writeln!(f, "(empty)");
        }
        for field in &self.fields {
            match &field.value {
                Value::List(items) if items.is_empty() => writeln!(f, "{}: (none)", field.name)?,
                Value::List(items) => {
                    writeln!(f, "{}:", field.name)?;
                    for i in items {
                        writeln!(f, "  {i}")?;
                    }
                }
                v => writeln!(f, "{}: {}", field.name, v.as_assignment())?,
            }
        }
        Ok(())
    }
}

/// A JSON object of the fields (`{}` when empty).
impl Serialize for Decoded {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.fields.len()))?;
        for f in &self.fields {
            match &f.value {
                Value::Text(t) => m.serialize_entry(f.name, t)?,
                Value::Number(n) => m.serialize_entry(f.name, n)?,
                Value::List(items) => m.serialize_entry(f.name, items)?,
            }
        }
        m.end()
    }
}

/// Field name → value text, as an edit gives them (`imsi=001010000000002`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Assignments(pub BTreeMap<String, String>);

impl Assignments {
    /// Parse `name=value` words; a value may hold spaces when quoted with '"'.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut out = BTreeMap::new();
        let mut rest = text.trim();
        while !rest.is_empty() {
            let (name, after) = rest
                .split_once('=')
                .ok_or_else(|| format!("{rest:?} is not name=value"))?;
            let name = name.trim();
            if name.is_empty() || name.contains(char::is_whitespace) {
                return Err(format!("{name:?} is not a field name"));
            }
            let after = after.trim_start();
            let (value, next) = if let Some(q) = after.strip_prefix('"') {
                let end = q
                    .find('"')
                    .ok_or_else(|| format!("{name}: unterminated quote"))?;
                (&q[..end], &q[end + 1..])
            } else {
                after.split_at(after.find(char::is_whitespace).unwrap_or(after.len()))
            };
            out.insert(name.to_owned(), value.to_owned());
            rest = next.trim_start();
        }
        Ok(Self(out))
    }

    /// The value of a field, if given.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// Overlay `other` on these.
    pub fn extend(&mut self, other: Self) {
        self.0.extend(other.0);
    }
}
