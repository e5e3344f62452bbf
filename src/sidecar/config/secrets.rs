//! Secrets: how they are written, shown (never) and read.

use super::*;

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Secret::Inline(_) => f.debug_tuple("Inline").field(&format_args!("{REDACTED}")).finish(),
            Secret::File(path) => f.debug_tuple("File").field(path).finish(),
            Secret::Env(name) => f.debug_tuple("Env").field(name).finish(),
        }
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let (key, value) = match self {
            Secret::Inline(_) => return s.serialize_str(REDACTED),
            Secret::File(path) => ("file", path.display().to_string()),
            Secret::Env(name) => ("env", name.clone()),
        };
        let mut map = s.serialize_map(Some(1))?;
        map.serialize_entry(key, &value)?;
        map.end()
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(SecretVisitor)
    }
}

/// Reads a [`Secret`]; errors on numbers and booleans do not echo the value.
struct SecretVisitor;

const SECRET_SHAPES: &str = "a secret: a quoted string, {file: PATH} or {env: NAME}";

impl<'de> Visitor<'de> for SecretVisitor {
    type Value = Secret;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(SECRET_SHAPES)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Secret, E> {
        Ok(Secret::Inline(v.to_owned()))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Secret, E> {
        Err(E::custom(format_args!("expected {SECRET_SHAPES}, found a boolean")))
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Secret, E> {
        Err(E::custom(format_args!("expected {SECRET_SHAPES}, found a number (quote it)")))
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Secret, E> {
        Err(E::custom(format_args!("expected {SECRET_SHAPES}, found a number (quote it)")))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Secret, E> {
        Err(E::custom(format_args!("expected {SECRET_SHAPES}, found a number (quote it)")))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Secret, A::Error> {
        let Some(key) = map.next_key::<String>()? else {
            return Err(de::Error::custom(format_args!("empty map: expected {SECRET_SHAPES}")));
        };
        let secret = match key.as_str() {
            "file" => Secret::File(map.next_value::<PathBuf>()?),
            "env" => Secret::Env(map.next_value::<String>()?),
            other => return Err(de::Error::unknown_field(other, &["file", "env"])),
        };
        if map.next_key::<String>()?.is_some() {
            return Err(de::Error::custom("a secret takes exactly one of `file` or `env`"));
        }
        Ok(secret)
    }
}

impl Secret {
    /// Check the reference without reading it (pure).
    pub(super) fn check(&self) -> Result<(), String> {
        match self {
            Secret::Inline(v) if v.is_empty() => Err("the secret is empty".into()),
            Secret::Inline(v) if v == REDACTED => {
                Err(format!("`{REDACTED}` is the placeholder of a dumped configuration, not a secret"))
            }
            Secret::File(p) if p.as_os_str().is_empty() => Err("`file` is empty".into()),
            Secret::Env(n) if n.is_empty() || n.contains(['=', '\0']) => {
                Err(format!("`{n}` is not an environment variable name"))
            }
            _ => Ok(()),
        }
    }

    /// Read the secret (the only I/O of configuration): a file, without its trailing line
    /// break, or an environment variable. `field` names it in errors; the value never appears.
    pub fn resolve(&self, field: &str) -> Result<String, ConfigError> {
        let err = |reason: String| ConfigError::Secret { field: field.to_string(), reason };
        let value = match self {
            Secret::Inline(v) => v.clone(),
            Secret::File(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| err(format!("cannot read file {}: {e}", path.display())))?;
                let trimmed = text.strip_suffix('\n').unwrap_or(&text);
                let trimmed = trimmed.strip_suffix('\r').unwrap_or(trimmed);
                if trimmed.is_empty() {
                    return Err(err(format!("file {} is empty", path.display())));
                }
                trimmed.to_string()
            }
            Secret::Env(name) => match std::env::var(name) {
                Ok(v) if !v.is_empty() => v,
                Ok(_) => return Err(err(format!("environment variable {name} is empty"))),
                Err(e) => return Err(err(format!("environment variable {name}: {e}"))),
            },
        };
        Ok(value)
    }
}

/// Secret values read by [`Validated::resolve_secrets`]; `Debug` redacts them.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ResolvedSecrets {
    /// Each channel's secret by channel name: an email channel's SMTP password (when it logs
    /// in), a Slack channel's webhook URL.
    pub channels: BTreeMap<String, String>,
    /// Credentials Alertmanager must present (open when empty).
    pub inbound_auth: crate::sidecar::receiver::InboundAuth,
    /// Credentials the REST API asks for (open when empty).
    pub api_auth: crate::sidecar::receiver::InboundAuth,
    /// Credentials `/metrics` asks for (open when empty).
    pub metrics_auth: crate::sidecar::receiver::InboundAuth,
}

impl fmt::Debug for ResolvedSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let channels: BTreeMap<&str, &str> = self.channels.keys().map(|k| (k.as_str(), REDACTED)).collect();
        f.debug_struct("ResolvedSecrets")
            .field("channels", &channels)
            .field("inbound_auth", &self.inbound_auth)
            .field("api_auth", &self.api_auth)
            .field("metrics_auth", &self.metrics_auth)
            .finish()
    }
}
