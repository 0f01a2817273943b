//! Unit tests of rendering: vars once in dependency order, strictness,
//! quoting, secrets, limits.

use super::*;
use std::path::Path;

fn inv(text: &str) -> Inventory {
    Inventory::load_from_str(Path::new("inventories/t.yml"), text).unwrap()
}

#[test]
fn vars_render_through_each_other_per_host() {
    let inv = inv(
        "vars: { app: shop, root: '/srv/{{ app }}', logs: '{{ root }}/log/{{ host.name }}' }\n\
         hosts:\n  web1: {}\n",
    );
    let r = Renderer::new(Secrets::default());
    let ctx = r
        .host_context(&inv, &inv.hosts[0], &Vars::new(), &Vars::new())
        .unwrap();
    assert_eq!(
        r.render("t", "{{ logs }}", &ctx).unwrap(),
        "/srv/shop/log/web1"
    );
}

/// A renderer whose `env()` sees only `vars`.
fn with_env(secrets: &Secrets, vars: &[(&str, &str)]) -> Renderer {
    let vars: BTreeMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Renderer::reading(secrets.clone(), move |name| vars.get(name).cloned())
}

fn host_vars(r: &Renderer, inventory: &str, extra: &Vars) -> Result<Value, RenderError> {
    let inv = inv(&format!("{inventory}hosts:\n  web1: {{}}\n"));
    r.host_context(&inv, &inv.hosts[0], &Vars::new(), extra)
}

/// `source` rendered for web1 of an inventory with `vars`.
fn render_with(r: &Renderer, vars: &str, source: &str) -> Result<String, RenderError> {
    let ctx = host_vars(r, &format!("vars:\n{vars}"), &Vars::new())?;
    r.render("t", source, &ctx)
}

const HOSTILE_BRANCH: &str = r#"{{ "x'; touch /srv/PWNED; echo '" }}"#;

#[test]
fn text_from_env_is_data_and_quote_keeps_it_one_word() {
    let r = with_env(&Secrets::default(), &[("CI_BRANCH", HOSTILE_BRANCH)]);
    let vars = "  branch: \"{{ env('CI_BRANCH') | quote }}\"\n  raw: \"{{ env('CI_BRANCH') }}\"\n";
    assert_eq!(
        render_with(&r, vars, "echo {{ branch }}").unwrap(),
        r#"echo '{{ "x'\''; touch /srv/PWNED; echo '\''" }}'"#
    );
    assert_eq!(render_with(&r, vars, "{{ raw }}").unwrap(), HOSTILE_BRANCH);
}

#[test]
fn env_text_cannot_read_another_secret_past_the_mask() {
    let secrets = Secrets::default();
    let r = with_env(
        &secrets,
        &[
            ("CI_BRANCH", "{{ env('SECRET_KEY') | reverse }}"),
            ("SECRET_KEY", "AKIAEXAMPLESECRET"),
        ],
    );
    let out = render_with(&r, "  branch: \"{{ env('CI_BRANCH') }}\"\n", "{{ branch }}");
    assert_eq!(out.unwrap(), "{{ env('SECRET_KEY') | reverse }}");
    assert_eq!(
        secrets.mask("AKIAEXAMPLESECRET"),
        "AKIAEXAMPLESECRET",
        "never read"
    );
}

#[test]
fn an_env_value_named_in_an_error_is_masked_by_the_process_printer() {
    let secrets = Secrets::default();
    let r = with_env(&secrets, &[("KEY_NAME", "AKIA-ENV-OF-ENV-1")]);
    let err = render_with(&r, "  x: \"{{ env(env('KEY_NAME')) }}\"\n", "{{ x }}").unwrap_err();
    assert!(err.to_string().contains("AKIA-ENV-OF-ENV-1"), "{err}");
    for mask in [secrets, Secrets::process()] {
        assert!(!mask.mask(&err.to_string()).contains("AKIA"), "{err}");
    }
}

#[test]
fn vars_resolve_in_dependency_order_nested_values_included() {
    let r = Renderer::new(Secrets::default());
    let vars = "  dirs: ['{{ logs }}/a', { b: '{{ app }}' }, 3]\n  logs: '{{ root }}/log'\n  root: '/srv/{{ app }}'\n  app: shop\n";
    assert_eq!(
        render_with(&r, vars, "{{ dirs[0] }} {{ dirs[1].b }} {{ dirs[2] }}").unwrap(),
        "/srv/shop/log/a shop 3"
    );
}

#[test]
fn a_rendered_var_is_never_rendered_again() {
    let r = Renderer::new(Secrets::default());
    // `open` renders to template text; `shown` must get that text.
    let vars = "  open: \"{{ '{{' }} 7 * 6 }}\"\n  shown: '[{{ open }}]'\n";
    assert_eq!(
        render_with(&r, vars, "{{ shown }}").unwrap(),
        "[{{ 7 * 6 }}]"
    );
}

#[test]
fn extra_vars_are_data_over_all_vars() {
    let r = Renderer::new(Secrets::default());
    let mut extra = Vars::new();
    extra.insert("app".into(), "{{ 7 * 6 }}".into());
    let ctx = host_vars(&r, "vars: { app: shop, root: '/srv/{{ app }}' }\n", &extra).unwrap();
    assert_eq!(
        r.render("t", "{{ app }} {{ root }}", &ctx).unwrap(),
        "{{ 7 * 6 }} /srv/{{ 7 * 6 }}"
    );
}

#[test]
fn a_cycle_of_vars_is_an_error_naming_them_and_the_file() {
    let r = Renderer::new(Secrets::default());
    let err = render_with(
        &r,
        "  a: '{{ b }}'\n  b: '{{ c }}'\n  c: '{{ a }}'\n  d: x\n",
        "",
    )
    .unwrap_err();
    assert_eq!(err.place, "inventories/t.yml: vars of host `web1`");
    assert_eq!(
        err.message,
        "vars refer to each other in a cycle: `a` -> `b` -> `c` -> `a`"
    );
    let err = render_with(&r, "  path: '{{ path }}/x'\n", "").unwrap_err();
    assert!(err.message.ends_with("`path` -> `path`"), "{}", err.message);
}

#[test]
fn a_var_named_like_a_builtin_does_not_make_a_cycle() {
    let r = Renderer::new(Secrets::default());
    let out = render_with(&r, "  host: '{{ host.name }}'\n", "{{ host.name }}").unwrap();
    assert_eq!(out, "web1");
}

#[test]
fn templates_have_a_size_limit() {
    let r = Renderer::new(Secrets::default());
    // The 160-byte inventory that ran `ferry check` out of memory.
    let vars = "  a: \"{{ 'a' * 10000000 }}\"\n  b: \"{{ a ~ a ~ a ~ a ~ a ~ a ~ a ~ a }}\"\n  c: \"{{ b ~ b ~ b ~ b ~ b ~ b ~ b ~ b }}\"\n";
    let err = render_with(&r, vars, "{{ c }}").unwrap_err();
    assert_eq!(err.place, "inventories/t.yml: vars of host `web1`, var `b`");
    assert!(
        err.message
            .contains("more text or does more work than ferry allows"),
        "{}",
        err.message
    );
    let err = r
        .render(
            "t",
            "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
            &Value::from(()),
        )
        .unwrap_err();
    assert!(err.message.contains("than ferry allows"), "{}", err.message);
}

/// `word` split and expanded by a real POSIX shell.
fn shell_words(word: &str) -> Vec<String> {
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("for w in {word}; do printf '%s\\0' \"$w\"; done"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{word}: {out:?}");
    String::from_utf8(out.stdout)
        .unwrap()
        .split_terminator('\0')
        .map(str::to_string)
        .collect()
}

#[test]
fn quote_yields_exactly_one_shell_word() {
    let r = Renderer::new(Secrets::default());
    let table: &[(serde_json::Value, &str)] = &[
        ("".into(), ""),
        ("plain".into(), "plain"),
        ("two words".into(), "two words"),
        ("it's; rm -rf /".into(), "it's; rm -rf /"),
        ("line\nbreak\ttab".into(), "line\nbreak\ttab"),
        ("$(id) `id` ${HOME} *".into(), "$(id) `id` ${HOME} *"),
        ("a\"b\\c!d".into(), "a\"b\\c!d"),
        ("-n".into(), "-n"),
        ("ünï cödé".into(), "ünï cödé"),
        (42.into(), "42"),
        (serde_json::Value::Null, "None"),
        (serde_json::json!(["a b", 1]), "['a b', 1]"),
    ];
    for (value, expected) in table {
        let ctx = Value::from(minijinja::value::Serde(serde_json::json!({ "v": value })));
        let word = r.render("t", "{{ v | quote }}", &ctx).unwrap();
        assert_eq!(
            shell_words(&word),
            vec![expected.to_string()],
            "{value} -> {word}"
        );
    }
}

#[test]
fn undefined_variable_names_place_variable_and_line() {
    let r = Renderer::new(Secrets::default());
    let err = r
        .render(
            "playbooks/site.yml:7: task `x` (run)",
            "echo ok\necho {{ missing }}",
            &Value::from(()),
        )
        .unwrap_err();
    assert_eq!(err.place, "playbooks/site.yml:7: task `x` (run)");
    assert!(
        err.message.starts_with("undefined variable"),
        "{}",
        err.message
    );
    assert!(err.message.contains("missing"), "{}", err.message);
    assert!(err.message.contains("template line 2"), "{}", err.message);
}

#[test]
fn quote_filter_shell_quotes() {
    let r = Renderer::new(Secrets::default());
    let ctx = Value::from(minijinja::value::Serde(
        serde_json::json!({"v": "it's; rm -rf /"}),
    ));
    assert_eq!(
        r.render("t", "echo {{ v | quote }}", &ctx).unwrap(),
        r"echo 'it'\''s; rm -rf /'"
    );
}

#[test]
fn env_values_are_secrets_and_unset_needs_default() {
    let secrets = Secrets::default();
    let r = Renderer::new(secrets.clone());
    let ctx = Value::from(());
    // PATH is always set for a test process.
    let path = r.render("t", "{{ env('PATH') }}", &ctx).unwrap();
    assert_eq!(secrets.mask(&format!("x {path} y")), "x **** y");
    let err = r
        .render("t", "{{ env('FERRY_SURELY_UNSET_VAR') }}", &ctx)
        .unwrap_err();
    assert!(
        err.message.contains("FERRY_SURELY_UNSET_VAR"),
        "{}",
        err.message
    );
    assert_eq!(
        r.render("t", "{{ env('FERRY_SURELY_UNSET_VAR', 'd') }}", &ctx)
            .unwrap(),
        "d"
    );
}

#[test]
fn durations_from_templates_render_per_host_or_say_what_they_gave() {
    use crate::config::values::DurationValue;
    use std::time::Duration;
    let r = Renderer::new(Secrets::default());
    let ctx = host_vars(&r, "vars:\n  t: 90s\n  n: 7\n  bad: soon\n", &Vars::new()).unwrap();
    let value = |text: &str| DurationValue::Template(text.into());
    let ok = |text: &str| render_duration(&r, "here", &value(text), &ctx);
    assert_eq!(ok("{{ t }}").unwrap(), Duration::from_secs(90));
    assert_eq!(ok("{{ n }}s").unwrap(), Duration::from_secs(7));
    assert_eq!(
        render_duration(
            &r,
            "here",
            &DurationValue::Fixed(Duration::from_secs(3)),
            &ctx
        )
        .unwrap(),
        Duration::from_secs(3)
    );
    let err = ok("{{ bad }}").unwrap_err();
    assert_eq!(err.place, "here");
    assert!(
        err.message
            .starts_with("`{{ bad }}` must render to a duration: invalid duration `soon`"),
        "{}",
        err.message
    );
    assert!(ok("{{ n * 1000000 }}h")
        .unwrap_err()
        .message
        .contains("at most 30 days"));
    assert!(ok("{{ nope }}").unwrap_err().message.contains("undefined"));
}
