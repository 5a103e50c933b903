//! How the services read JSON numbers that must be whole: JSON Schema's `integer` is a
//! mathematical integer, so `2.0` is one and a client (a JavaScript one, say) may well send
//! it; serde's `i64` refuses it. `#[serde(deserialize_with = "sample_views::wire::integer")]`
//! takes `2` and `2.0` alike, and refuses `2.5` and values outside `i64`.

use serde::{Deserialize, Deserializer, de::Error};

/// A whole number, written with or without a zero fraction.
pub fn integer<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
    match serde_json::Number::deserialize(deserializer)? {
        n if n.is_i64() => n.as_i64().ok_or_else(|| D::Error::custom("not an integer")),
        n => match n.as_f64() {
            // 2^63 is the first float above i64::MAX; every float below it with no fraction
            // is a whole i64.
            Some(f)
                if f.fract() == 0.0
                    && (-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&f) =>
            {
                Ok(f as i64)
            }
            _ => Err(D::Error::custom(format!(
                "invalid type: {n}, expected an integer"
            ))),
        },
    }
}

#[cfg(test)]
mod tests {
    #[derive(Debug, serde::Deserialize)]
    struct N {
        #[serde(deserialize_with = "super::integer")]
        n: i64,
    }

    fn read(json: &str) -> Result<i64, String> {
        serde_json::from_str::<N>(json)
            .map(|v| v.n)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn whole_numbers_with_or_without_a_fraction() {
        assert_eq!(read(r#"{"n": 2}"#), Ok(2));
        assert_eq!(read(r#"{"n": 2.0}"#), Ok(2));
        assert_eq!(read(r#"{"n": -14235156.0}"#), Ok(-14_235_156));
        assert!(
            read(r#"{"n": 2.5}"#)
                .unwrap_err()
                .contains("expected an integer")
        );
        assert!(read(r#"{"n": 1e19}"#).is_err());
        assert!(read(r#"{"n": "2"}"#).is_err());
        assert!(read(r#"{"n": 18446744073709551615}"#).is_err());
    }
}
