//! The product catalogue loaded at start-up: `fixtures/products.json`, embedded in the
//! binary, or the file named by `INVENTORY_SEED_FILE`. A bad file fails start-up with a
//! message naming the file, the entry and the line/column of the problem.

use std::{collections::HashSet, path::Path};

use serde::Deserialize;

use super::{MAX_PRICE_CENTS, Product, Sku};

/// The embedded catalogue (the repository's `fixtures/products.json`).
pub const EMBEDDED: &str = include_str!("../../../../fixtures/products.json");
/// How the embedded catalogue is named in messages.
pub const EMBEDDED_NAME: &str = "embedded fixtures/products.json";

/// Why the seed could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    /// The file could not be read.
    #[error("cannot read seed file {file}: {source}")]
    Read {
        file: String,
        #[source]
        source: std::io::Error,
    },
    /// The file is not a JSON array of products (serde's message carries line and column).
    #[error("seed file {file} is not a valid product list: {location}{source}")]
    Parse {
        file: String,
        /// Where in the document, e.g. `at [3].stock: ` (empty for syntax errors).
        location: String,
        #[source]
        source: serde_json::Error,
    },
    /// An entry parses but breaks a rule.
    #[error("seed file {file}: entry [{index}] ({sku}): {message}")]
    Invalid {
        file: String,
        index: usize,
        sku: String,
        message: String,
    },
}

/// One entry of the seed file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedProduct {
    sku: String,
    name: String,
    price_cents: i64,
    currency: String,
    stock: i32,
}

/// Loads the catalogue from `file`, or the embedded one when `None`.
pub fn load(file: Option<&Path>) -> Result<Vec<Product>, SeedError> {
    match file {
        None => parse(EMBEDDED_NAME, EMBEDDED),
        Some(path) => {
            let name = path.display().to_string();
            let text = std::fs::read_to_string(path).map_err(|source| SeedError::Read {
                file: name.clone(),
                source,
            })?;
            parse(&name, &text)
        }
    }
}

/// Parses and validates a catalogue; `file` names it in errors.
pub fn parse(file: &str, text: &str) -> Result<Vec<Product>, SeedError> {
    let de = &mut serde_json::Deserializer::from_str(text);
    let entries: Vec<SeedProduct> = serde_path_to_error::deserialize(de).map_err(|err| {
        let path = err.path().to_string();
        let source = err.into_inner();
        let location = if source.is_syntax() || source.is_eof() || path == "." {
            String::new()
        } else {
            format!("at {path}: ")
        };
        SeedError::Parse {
            file: file.to_owned(),
            location,
            source,
        }
    })?;
    let mut seen = HashSet::new();
    entries
        .into_iter()
        .enumerate()
        .map(|(index, entry)| {
            let invalid = |message: String| SeedError::Invalid {
                file: file.to_owned(),
                index,
                sku: entry.sku.clone(),
                message,
            };
            let sku = Sku::parse(&entry.sku).map_err(|m| invalid(format!("sku {m}")))?;
            if !seen.insert(sku.clone()) {
                return Err(invalid("duplicate sku".to_owned()));
            }
            if entry.name.trim().is_empty() {
                return Err(invalid("name must not be empty".to_owned()));
            }
            if !(0..=MAX_PRICE_CENTS).contains(&entry.price_cents) {
                return Err(invalid(format!(
                    "price_cents must be between 0 and {MAX_PRICE_CENTS}, got {}",
                    entry.price_cents
                )));
            }
            if entry.currency.len() != 3 || !entry.currency.bytes().all(|b| b.is_ascii_uppercase())
            {
                return Err(invalid(format!(
                    "currency must be three uppercase letters, got {:?}",
                    entry.currency
                )));
            }
            if entry.stock < 0 {
                return Err(invalid(format!(
                    "stock must not be negative, got {}",
                    entry.stock
                )));
            }
            Ok(Product {
                sku,
                name: entry.name,
                price_cents: entry.price_cents,
                currency: entry.currency,
                stock: entry.stock,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_catalogue_parses() {
        let products = load(None).unwrap();
        assert_eq!(products.len(), 10);
        let le = products
            .iter()
            .find(|p| p.sku.as_str() == "LE-010")
            .unwrap();
        assert_eq!(le.stock, 1);
        assert_eq!(le.price_cents, 12_900);
    }

    #[test]
    fn syntax_error_names_file_line_and_column() {
        let text = "[\n  {\"sku\": \"A\", \"name\": \"a\", \"price_cents\": 1, \"currency\": \"EUR\", \"stock\": 1},\n  {\"sku\": \"B\",, }\n]";
        let err = parse("/tmp/seed.json", text).unwrap_err().to_string();
        assert!(err.contains("/tmp/seed.json"), "{err}");
        assert!(err.contains("line 3 column 15"), "{err}");
        assert!(
            !err.contains(" at ["),
            "no field path for a syntax error: {err}"
        );
    }

    #[test]
    fn type_error_names_the_entry_and_field() {
        let text = "[\n {\"sku\": \"A\", \"name\": \"a\", \"price_cents\": 1, \"currency\": \"EUR\",\n  \"stock\": \"many\"}\n]";
        let err = parse("products.json", text).unwrap_err().to_string();
        assert!(err.contains("products.json"), "{err}");
        assert!(err.contains("at [0].stock"), "{err}");
        assert!(err.contains("line 3 column 17"), "{err}");
    }

    #[test]
    fn rule_breaking_entries_are_rejected() {
        let entry = |sku: &str, price: i64, currency: &str, stock: i32| {
            format!(
                r#"{{"sku": "{sku}", "name": "n", "price_cents": {price}, "currency": "{currency}", "stock": {stock}}}"#
            )
        };
        let cases = [
            (format!("[{}]", entry("A", 1, "EUR", -1)), "stock"),
            (format!("[{}]", entry("A", -1, "EUR", 1)), "price_cents"),
            (format!("[{}]", entry("A", 1, "eur", 1)), "currency"),
            (format!("[{}]", entry("", 1, "EUR", 1)), "sku"),
            (
                format!("[{}, {}]", entry("A", 1, "EUR", 1), entry("A", 2, "EUR", 1)),
                "duplicate",
            ),
        ];
        for (text, word) in cases {
            let err = parse("f.json", &text).unwrap_err().to_string();
            assert!(err.contains("f.json") && err.contains(word), "{err}");
        }
    }

    #[test]
    fn missing_file_is_named() {
        let err = load(Some(Path::new("/nonexistent/products.json")))
            .unwrap_err()
            .to_string();
        assert!(err.contains("/nonexistent/products.json"), "{err}");
    }
}
