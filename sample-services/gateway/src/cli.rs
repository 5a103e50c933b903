//! `gateway token --sub NAME --scope "a b" [--ttl SECS | --expired]`: prints a token signed
//! with `JWT_SECRET`, carrying `JWT_ISSUER` and `JWT_AUDIENCE` as `iss` and `aud` (scripts use
//! it to call the gateway; `--expired` makes one that expired an hour ago, for checks that
//! the gateway refuses it). The settings are read as the gateway reads them: without a
//! `JWT_SECRET` of at least 32 bytes it prints nothing and exits 2.

use std::time::Duration;

use crate::{config::JwtSettings, model::Authenticator};

/// The default lifetime of a printed token.
pub const DEFAULT_TTL: Duration = Duration::from_secs(3600);

/// The usage line printed with argument errors.
pub const USAGE: &str =
    "usage: gateway token --sub NAME [--scope \"a b\"] [--ttl SECS | --expired]";

/// The arguments of `gateway token`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenArgs {
    pub sub: String,
    pub scope: String,
    pub ttl: Duration,
    /// Expired an hour ago (`--expired`) instead of valid for `ttl`.
    pub expired: bool,
}

/// Parses the arguments after `token` (`--flag value` or `--flag=value`).
pub fn parse_token_args<I, S>(args: I) -> Result<TokenArgs, String>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    let mut sub = None;
    let mut scope = String::new();
    let mut ttl = DEFAULT_TTL;
    let mut expired = false;
    let mut args = args.into_iter().map(Into::into);
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_owned(), Some(v.to_owned())),
            _ => (arg.clone(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--sub" => sub = Some(value()?),
            "--scope" => scope = value()?,
            "--ttl" => {
                let v = value()?;
                let secs: u64 = v
                    .trim()
                    .parse()
                    .map_err(|_| format!("--ttl {v:?} is not a whole number of seconds"))?;
                if secs == 0 {
                    return Err("--ttl must be at least 1 second".to_owned());
                }
                ttl = Duration::from_secs(secs);
            }
            "--expired" if inline.is_none() => expired = true,
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    let sub = sub
        .filter(|s| !s.trim().is_empty())
        .ok_or("--sub NAME is required")?;
    Ok(TokenArgs {
        sub,
        scope,
        ttl,
        expired,
    })
}

/// Runs the subcommand: the token on stdout, or an error on stderr and exit code 2.
pub fn run_token(args: &[String], env: &service_kit::Env) -> std::process::ExitCode {
    let parsed = match parse_token_args(args.iter().cloned()) {
        Ok(parsed) => parsed,
        Err(e) => {
            eprintln!("gateway token: {e}\n{USAGE}");
            return std::process::ExitCode::from(2);
        }
    };
    let settings = match JwtSettings::from_env(env) {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("gateway token: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let auth = Authenticator::new(&settings);
    let signed = if parsed.expired {
        let exp = jsonwebtoken::get_current_timestamp().saturating_sub(3600);
        auth.sign(&auth.claims(&parsed.sub, &parsed.scope, exp))
    } else {
        auth.issue(&parsed.sub, &parsed.scope, parsed.ttl)
    };
    match signed {
        Ok(token) => {
            println!("{token}");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("gateway token: cannot sign: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_flag_forms_and_defaults() {
        let a = parse_token_args(["--sub", "alice", "--scope", "a b", "--ttl", "60"]).unwrap();
        assert_eq!(
            a,
            TokenArgs {
                sub: "alice".into(),
                scope: "a b".into(),
                ttl: Duration::from_secs(60),
                expired: false,
            }
        );
        let b = parse_token_args(["--sub=bob", "--scope=orders:read"]).unwrap();
        assert_eq!(b.sub, "bob");
        assert_eq!(b.scope, "orders:read");
        assert_eq!(b.ttl, DEFAULT_TTL);
        assert!(!b.expired);
        assert!(
            parse_token_args(["--sub", "a", "--expired"])
                .unwrap()
                .expired
        );
    }

    #[test]
    fn rejects_bad_arguments() {
        assert!(
            parse_token_args(["--scope", "a"])
                .unwrap_err()
                .contains("--sub")
        );
        assert!(
            parse_token_args(["--sub"])
                .unwrap_err()
                .contains("needs a value")
        );
        assert!(
            parse_token_args(["--sub", "a", "--ttl", "soon"])
                .unwrap_err()
                .contains("--ttl")
        );
        assert!(parse_token_args(["--sub", "a", "--ttl", "0"]).is_err());
        assert!(
            parse_token_args(["--sub", "a", "--verbose"])
                .unwrap_err()
                .contains("--verbose")
        );
    }

    #[test]
    fn printed_tokens_verify_with_the_same_settings() {
        let env = service_kit::Env::from_pairs([
            ("JWT_SECRET", "cli-secret-cli-secret-cli-secret-32"),
            ("JWT_AUDIENCE", "cli-api"),
        ]);
        let settings = JwtSettings::from_env(&env).unwrap();
        let token = Authenticator::new(&settings)
            .issue("alice", "catalog:read", DEFAULT_TTL)
            .unwrap();
        let client = Authenticator::new(&settings)
            .authenticate(Some(format!("Bearer {token}").as_bytes()))
            .unwrap();
        assert!(client.has_scope("catalog:read"));
        // The gateway with the default audience refuses it.
        let default_audience = JwtSettings::from_env(&service_kit::Env::from_pairs([(
            "JWT_SECRET",
            "cli-secret-cli-secret-cli-secret-32",
        )]))
        .unwrap();
        assert!(
            Authenticator::new(&default_audience)
                .authenticate(Some(format!("Bearer {token}").as_bytes()))
                .is_err()
        );
    }
}
