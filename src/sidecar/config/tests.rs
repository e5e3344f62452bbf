use super::overrides::apply_env_fallbacks;
use super::*;

const GMAIL: &str = "channels:
  email:
    username: alerts@example.org
    password: {file: /run/secrets/smtp}
    to: [oncall@example.org]
    send_resolved: false
  slack:
    webhook_url: {env: WW_TEST_SLACK_URL}
  file: {}
";

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// Why `yaml` is refused: when it is read (a value that cannot exist) or validated.
fn invalid(yaml: &str) -> String {
    match SidecarConfig::from_yaml(yaml, "sidecar.yaml") {
        Ok(cfg) => cfg.validate("sidecar.yaml").unwrap_err().to_string(),
        Err(e) => e.to_string(),
    }
}

/// The email channel `name` of `c`.
fn email<'a>(c: &'a ChannelsSection, name: &str) -> &'a EmailSection {
    match c.0.get(name) {
        Some(ChannelSection::Email(e)) => e,
        other => panic!("{name}: {other:?}"),
    }
}

/// The Slack channel `name` of `c`.
fn slack<'a>(c: &'a mut ChannelsSection, name: &str) -> &'a mut SlackSection {
    match c.0.get_mut(name) {
        Some(ChannelSection::Slack(e)) => e,
        other => panic!("{name}: {other:?}"),
    }
}

#[test]
fn embedded_default_validates_and_routes_everything_to_the_file_channel() {
    let v = SidecarConfig::embedded_default().validate(EMBEDDED_ORIGIN).unwrap();
    assert_eq!(v.listen_address, DEFAULT_LISTEN_ADDRESS.parse().unwrap());
    assert_eq!(v.channel_names(), ["file"]);
    assert_eq!(v.route(&labels(&[("severity", "critical")]), false), ["file"]);
    assert_eq!(v.route(&labels(&[]), true), ["file"]);
    assert_eq!(v.queue.queue_config(), QueueConfig::new("wardwatch-queue"));
    assert_eq!(v.queue.stale_after.get(), std::time::Duration::from_secs(600));
    assert_eq!(v.max_body_bytes as u64, DEFAULT_MAX_BODY_BYTES);
    assert_eq!(v.max_in_flight, 256);
    assert_eq!(v.retry.cap.get(), std::time::Duration::from_secs(300));
    assert_eq!(v.resolve_secrets().unwrap(), ResolvedSecrets::default());
}

#[test]
fn no_channels_at_all_means_the_file_channel_with_defaults() {
    let v = SidecarConfig::from_yaml("{}", "s.yaml").unwrap().validate("s.yaml").unwrap();
    assert_eq!(v.channels.0.get("file"), Some(&ChannelSection::File(FileSection::default())));
    assert_eq!(v.channel_names(), ["file"]);
}

#[test]
fn unknown_field_is_rejected_naming_it() {
    let err = SidecarConfig::from_yaml("channels:\n  email:\n    hots: x\n    to: [a@b]\n", "s.yaml").unwrap_err();
    let msg = err.to_string();
    assert!(msg.starts_with("s.yaml: "), "{msg}");
    assert!(msg.contains("hots"), "{msg}");
}

#[test]
fn invalid_port_names_file_and_dotted_field() {
    let msg = invalid("channels:\n  email: {port: 0, from: a@b.org, to: [c@d.org]}\n");
    assert_eq!(msg, "sidecar.yaml: field `channels.email.port`: 0 is not a port");
}

#[test]
fn rescoring_errors_name_their_field() {
    let documented = SidecarConfig::embedded_default().rescoring;
    assert_eq!(documented, crate::rescore::config::RescoringSection::default(), "the default file shows the defaults");
    let e = invalid("rescoring: {policy: {reescalate_after: 20m}}");
    assert!(e.contains("rescoring.policy.reescalate_after") && e.contains("stale_after"), "{e}");
    let e = invalid("rescoring: {policy: {escalate_at: 1.5}}");
    assert!(e.contains("rescoring.policy.escalate_at"), "{e}");
    let e = invalid("rescoring: {lookback: soon}");
    assert!(e.starts_with("sidecar.yaml") && e.contains("rescoring.lookback"), "{e}");
    let e = invalid("rescoring: {targets: {targets: [{entity: patient, match: {patient: '('}, key: [patient], queries: [{query: x, signal: y}]}]}}");
    assert!(e.contains("rescoring.targets") && e.contains("invalid regex"), "{e}");
}

#[test]
fn invalid_duration_names_the_field() {
    let msg = invalid("retry: {base: 10 parsecs}\n");
    assert!(msg.starts_with("sidecar.yaml: field `retry.base`: "), "{msg}");
    let msg = invalid("queue: {stale_after: 0s}\n");
    assert!(msg.starts_with("sidecar.yaml: field `queue.stale_after`: `0s` must be longer than zero"), "{msg}");
    assert!(msg.ends_with("at line 1 column 22"), "the value's own place: {msg}");
    let msg = invalid("channels:\n  email:\n    to: [ward3@example.org, nobody]\n");
    assert!(msg.starts_with("sidecar.yaml: field `channels.email.to[1]`: `nobody` is not an email address"), "{msg}");
}

#[test]
fn route_naming_an_unconfigured_channel_names_its_index() {
    let yaml = "channels: {file: {}}\nroutes:\n  - channels: [file]\n  - matchers: {a: b}\n    channels: [slack]\n";
    let msg = invalid(yaml);
    assert!(msg.starts_with("sidecar.yaml: field `routes[1].channels[0]`: `slack` is not"), "{msg}");
}

#[test]
fn other_invalid_values_are_refused() {
    let msg = invalid("listen_address: localhost\n");
    assert!(msg.contains("`listen_address`: `localhost` is not an IP:port address"), "{msg}");
    assert!(invalid("max_body_bytes: 0\n").contains("`max_body_bytes`"));
    assert!(invalid("channels: {email: {from: nobody, to: [a@b]}}\n").contains("`channels.email.from`"));
    assert!(invalid("channels: {email: {username: a@b.org, to: [a@b]}}\n").contains("`channels.email.password`"));
    assert!(invalid("channels: {slack: {}}\n").contains("`channels.slack.webhook_url`"));
    assert!(invalid("links: {grafana_url: grafana:3000}\n").contains("`links.grafana_url`"));
    assert!(invalid("inbound_auth: {}\n").contains("`inbound_auth`"));
    assert!(invalid("retry: {base: 10m, cap: 1m}\n").contains("`retry.cap`"));
}

#[test]
fn routes_first_match_wins_else_every_channel() {
    let routes = r#"routes:
  - matchers: {severity: "critical|page"}
    channels: [slack, email, slack]
  - matchers: {severity: critical, ward: icu-1}
    channels: [file]
  - matchers: {ward: ""}
    channels: [file]
"#;
    let yaml = format!("{GMAIL}{routes}");
    let v = SidecarConfig::from_yaml(&yaml, "s").unwrap().validate("s").unwrap();
    assert_eq!(v.channel_names(), ["email", "file", "slack"]);
    let critical = labels(&[("severity", "critical"), ("ward", "icu-1")]);
    assert_eq!(v.route(&critical, false), ["email", "slack"]);
    assert_eq!(v.route(&labels(&[("severity", "page"), ("ward", "a")]), false), ["email", "slack"]);
    assert_eq!(v.route(&labels(&[("severity", "warning")]), false), ["file"], "missing label counts as empty");
    assert_eq!(v.route(&labels(&[("severity", "warning"), ("ward", "a")]), false), ["email", "file", "slack"]);
}

#[test]
fn resolved_alerts_skip_channels_with_send_resolved_off() {
    let v = SidecarConfig::from_yaml(GMAIL, "s").unwrap().validate("s").unwrap();
    assert_eq!(v.route(&labels(&[]), true), ["file", "slack"]);
    assert_eq!(v.route(&labels(&[]), false), ["email", "file", "slack"]);
}

#[test]
fn secrets_resolve_from_file_env_and_inline() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("smtp");
    std::fs::write(&path, "app-password-1234\n").unwrap();
    std::env::set_var("WW_TEST_SECRETS_RESOLVE_URL", "https://hooks.slack.com/services/T/B/x");
    let yaml = format!(
        "inbound_auth:
  bearer_token: tok-inline
  basic: {{username: am, password: {{env: WW_TEST_SECRETS_RESOLVE_URL}}}}
channels:
  email: {{username: a@b.org, password: {{file: {}}}, to: [c@d.org]}}
  slack: {{webhook_url: {{env: WW_TEST_SECRETS_RESOLVE_URL}}}}
",
        path.display()
    );
    let v = SidecarConfig::from_yaml(&yaml, "s").unwrap().validate("s").unwrap();
    let s = v.resolve_secrets().unwrap();
    assert_eq!(s.channels.get("email").map(String::as_str), Some("app-password-1234"));
    assert_eq!(s.channels.get("slack").map(String::as_str), Some("https://hooks.slack.com/services/T/B/x"));
    assert_eq!(s.inbound_auth.bearer_token.as_deref(), Some("tok-inline"));
    assert_eq!(s.inbound_auth.basic, Some(("am".into(), "https://hooks.slack.com/services/T/B/x".into())));
    assert_eq!(s.api_auth.bearer_token.as_deref(), Some("tok-inline"), "the API asks for the same by default");
    assert_eq!(s.metrics_auth.bearer_token, None, "/metrics is open by default");
    let email = email(&v.channels, "email").config(s.channels.get("email").map(String::as_str));
    assert_eq!((email.password.as_str(), email.from.as_str()), ("app-password-1234", "a@b.org"));
}

#[test]
fn missing_secret_file_names_field_and_path_not_content() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("absent");
    let yaml = format!("channels:\n  slack: {{webhook_url: {{file: {}}}}}\n", path.display());
    let v = SidecarConfig::from_yaml(&yaml, "s").unwrap().validate("s").unwrap();
    let msg = v.resolve_secrets().unwrap_err().to_string();
    assert!(msg.starts_with("secret `channels.slack.webhook_url`: cannot read file "), "{msg}");
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    let msg = Secret::Env("WW_TEST_SECRET_NEVER_SET_7f3a".into()).resolve("x.y").unwrap_err().to_string();
    assert!(msg.contains("WW_TEST_SECRET_NEVER_SET_7f3a"), "{msg}");
}

#[test]
fn debug_and_serialize_never_show_secret_values() {
    let yaml = "inbound_auth: {bearer_token: hunter2-token}
channels: {slack: {webhook_url: https://hooks.example/SECRETPATH}}
";
    let cfg = SidecarConfig::from_yaml(yaml, "s").unwrap();
    let v = cfg.validate("s").unwrap();
    let secrets = v.resolve_secrets().unwrap();
    for text in [format!("{cfg:?}"), format!("{v:?}"), format!("{secrets:?}"), serde_yaml::to_string(&cfg).unwrap()] {
        assert!(!text.contains("hunter2") && !text.contains("SECRETPATH"), "{text}");
    }
    let dumped = SidecarConfig::from_yaml(&serde_yaml::to_string(&cfg).unwrap(), "dump").unwrap();
    assert!(dumped.validate("dump").unwrap_err().to_string().contains("placeholder"));
    let err = SidecarConfig::from_yaml("inbound_auth: {bearer_token: 314159265}\n", "s").unwrap_err();
    assert!(!err.to_string().contains("314159265"), "{err}");
}

#[test]
fn overrides_beat_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sidecar.yaml");
    std::fs::write(&path, format!("listen_address: 127.0.0.1:1\nqueue: {{dir: from-file}}\n{GMAIL}")).unwrap();
    let overrides = Overrides {
        config: Some(path.clone()),
        listen_address: Some("127.0.0.1:2".parse().unwrap()),
        queue_dir: Some("from-flag".into()),
        smtp_password_file: Some("/run/flag-smtp".into()),
        slack_webhook_url_file: Some("/run/flag-slack".into()),
        inbound_token_file: Some("/run/flag-token".into()),
        ..Overrides::default()
    };
    let (cfg, origin) = overrides.load().unwrap();
    assert_eq!(origin, path.display().to_string());
    let v = cfg.validate(&origin).unwrap();
    assert_eq!(v.listen_address, "127.0.0.1:2".parse().unwrap());
    assert_eq!(v.queue.dir, PathBuf::from("from-flag"));
    assert_eq!(email(&v.channels, "email").password, Some(Secret::File("/run/flag-smtp".into())));
    let mut channels = v.channels.clone();
    assert_eq!(slack(&mut channels, "slack").webhook_url, Some(Secret::File("/run/flag-slack".into())));
    assert_eq!(v.inbound_auth.unwrap().bearer_token, Some(Secret::File("/run/flag-token".into())));
}

#[test]
fn secret_flag_for_an_absent_channel_is_an_error() {
    let overrides = Overrides { smtp_password_file: Some("/run/x".into()), ..Overrides::default() };
    let msg = overrides.load().unwrap_err().to_string();
    assert!(msg.starts_with("<embedded default>: field `channels.email`: --smtp.password-file"), "{msg}");
}

#[test]
fn plain_env_vars_fill_only_unnamed_secrets() {
    let mut cfg = SidecarConfig::from_yaml(GMAIL, "s").unwrap();
    slack(&mut cfg.channels, "slack").webhook_url = None;
    apply_env_fallbacks(&mut cfg, |_| true);
    assert_eq!(email(&cfg.channels, "email").password, Some(Secret::File("/run/secrets/smtp".into())));
    assert_eq!(slack(&mut cfg.channels, "slack").webhook_url, Some(Secret::Env(ENV_SLACK_WEBHOOK_URL.into())));
    assert_eq!(cfg.inbound_auth.unwrap().bearer_token, Some(Secret::Env(ENV_INBOUND_TOKEN.into())));
    let mut cfg = SidecarConfig::embedded_default();
    apply_env_fallbacks(&mut cfg, |_| false);
    assert_eq!(cfg, SidecarConfig::embedded_default());
}

#[test]
fn flags_parse_with_clap() {
    use clap::{CommandFactory, Parser};
    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        overrides: Overrides,
    }
    Cli::command().debug_assert();
    let cli = Cli::try_parse_from(["x", "--web.listen-address", "[::1]:9", "--queue.dir", "q"]).unwrap();
    assert_eq!(cli.overrides.listen_address, Some("[::1]:9".parse().unwrap()));
    assert_eq!(cli.overrides.queue_dir, Some(PathBuf::from("q")));
}

#[test]
fn several_channels_of_a_kind_are_named_and_checked_by_name() {
    let yaml = "channels:
  email: {to: [ward-7@example.org], from: a@example.org}
  email-charge-nurse: {to: [charge@example.org], from: a@example.org}
  file: {}
  file-audit: {path: second.jsonl}
routes:
  - matchers: {severity: critical}
    channels: [email, file]
";
    let v = SidecarConfig::from_yaml(yaml, "s.yaml").unwrap().validate("s.yaml").unwrap();
    assert_eq!(v.channel_names(), ["email", "email-charge-nurse", "file", "file-audit"]);
    assert_eq!(email(&v.channels, "email-charge-nurse").to[0].as_str(), "charge@example.org");
    let labels: BTreeMap<String, String> = [("severity".to_string(), "warning".to_string())].into();
    assert_eq!(v.route(&labels, false), v.channel_names(), "no route matches: every channel");

    let invalid = |yaml: &str| match SidecarConfig::from_yaml(yaml, "s.yaml").and_then(|c| c.validate("s.yaml")) {
        Ok(_) => panic!("accepted: {yaml}"),
        Err(e) => e.to_string(),
    };
    let e = invalid("channels: {email-charge-nurse: {to: [], from: a@example.org}}");
    assert!(e.contains("channels.email-charge-nurse.to") && e.contains("at least one recipient"), "{e}");
    let e = invalid("channels: {pager: {}}");
    assert!(e.contains("`pager` is not a channel name"), "{e}");
    let e = invalid("channels: {Email-X: {}}");
    assert!(e.contains("`Email-X` is not a channel name"), "{e}");
    let e = invalid("channels: {file: {}, file-b: {path: wardwatch-notifications.jsonl}}");
    assert!(e.contains("channels.file-b.path") && e.contains("also the path of channel `file`"), "{e}");
    let e = invalid("channels: {email-x: {to: [a@b.org], from: a@b.org}}\nroutes: [{channels: [email]}]");
    assert!(e.contains("routes[0].channels[0]") && e.contains("configured: email-x"), "{e}");
}

#[test]
fn escalation_steps_are_checked_in_order_against_the_channels_and_the_queue() {
    let base = "channels:\n  file: {}\n  file-b: {path: b.jsonl}\n  file-c: {path: c.jsonl}\nroutes:\n  - channels: [file]\n    escalation:\n";
    let check =
        |steps: &str| SidecarConfig::from_yaml(&format!("{base}{steps}"), "s.yaml").and_then(|c| c.validate("s.yaml"));
    let v = check("      - {after: 2m, channels: [file-b]}\n      - {after: 5m, channels: [file-c]}\n").unwrap();
    let steps = v.escalation(&BTreeMap::new());
    assert_eq!(steps.len(), 2);
    assert_eq!(steps[1], (std::time::Duration::from_secs(300), vec!["file-c".to_string()]));
    let e = |steps: &str| check(steps).unwrap_err().to_string();
    let msg = e("      - {after: 5m, channels: [file-b]}\n      - {after: 2m, channels: [file-c]}\n");
    assert!(msg.contains("routes[0].escalation[1].after") && msg.contains("not later"), "{msg}");
    let msg = e("      - {after: 2m, channels: [file]}\n");
    assert!(msg.contains("routes[0].escalation[0].channels[0]") && msg.contains("already has"), "{msg}");
    let msg = e("      - {after: 2m, channels: [email]}\n");
    assert!(msg.contains("not a configured channel"), "{msg}");
    let msg = e("      - {after: 10m, channels: [file-b]}\n");
    assert!(msg.contains("queue.stale_after"), "{msg}");
    let msg = e("      - {after: 2m, channels: []}\n");
    assert!(msg.contains("at least one channel"), "{msg}");
    let off = format!("acknowledge: {{enabled: false}}\n{base}      - {{after: 2m, channels: [file-b]}}\n");
    let msg = SidecarConfig::from_yaml(&off, "s.yaml").unwrap().validate("s.yaml").unwrap_err().to_string();
    assert!(msg.contains("routes[0].escalation") && msg.contains("acknowledge.enabled"), "{msg}");
}
