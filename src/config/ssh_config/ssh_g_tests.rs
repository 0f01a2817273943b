//! ferry's resolution against OpenSSH's own: `ssh -G -F FILE NAME` for a
//! set of tricky files.

use std::path::Path;
use std::process::Command;

use super::resolve::Strict;
use super::tests::TRICKY;
use super::SshConfig;

/// `ssh -G -F FILE NAME`: OpenSSH's own answer, as `key value` lines.
fn ssh_g(file: &Path, name: &str) -> Vec<(String, String)> {
    let out = Command::new("ssh")
        .arg("-G")
        .arg("-F")
        .arg(file)
        .arg(name)
        .output()
        .expect("run ssh -G (install openssh-client)");
    assert!(
        out.status.success(),
        "ssh -G {name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn ours(file: &Path, name: &str) -> Vec<(String, String)> {
    let (home, login) = super::local_account();
    let text = std::fs::read_to_string(file).unwrap();
    let c = SshConfig::from_text(file, &text, &home).unwrap();
    let r = c.resolve(name).unwrap();
    let mut out = vec![
        (
            "user".into(),
            r.user.as_ref().map_or(login.clone(), |u| u.value.clone()),
        ),
        ("hostname".into(), r.hostname_for(name).unwrap()),
        (
            "port".into(),
            r.port.as_ref().map_or(22, |p| p.value).to_string(),
        ),
        (
            "identitiesonly".into(),
            if r.identities_only.as_ref().is_some_and(|s| s.value) {
                "yes"
            } else {
                "no"
            }
            .into(),
        ),
        (
            "connecttimeout".into(),
            r.connect_timeout
                .as_ref()
                .map_or("none".into(), |t| t.value.as_secs().to_string()),
        ),
        (
            "serveraliveinterval".into(),
            r.keepalive
                .as_ref()
                .map_or(0, |t| t.value.as_secs())
                .to_string(),
        ),
        (
            "serveralivecountmax".into(),
            r.keepalive_count
                .as_ref()
                .map_or(3, |n| n.value)
                .to_string(),
        ),
        (
            "stricthostkeychecking".into(),
            match r.strict.as_ref().map(|s| s.value) {
                Some(Strict::Yes) => "true",
                Some(Strict::No) => "false",
                Some(Strict::AcceptNew) => "accept-new",
                Some(Strict::Ask) | None => "ask",
            }
            .into(),
        ),
    ];
    for f in &r.identity_files {
        out.push(("identityfile".into(), f.value.clone()));
    }
    if let Some(j) = r.proxy_jump.as_ref().filter(|j| !j.value.is_empty()) {
        // As `ssh -G` prints hops: rebuilt from their parts.
        let texts: Vec<String> = j
            .value
            .iter()
            .map(|h| {
                let host = if h.host.contains(':') {
                    format!("[{}]", h.host)
                } else {
                    h.host.clone()
                };
                let user = h.user.as_ref().map(|u| format!("{u}@")).unwrap_or_default();
                let port = h.port.map(|p| format!(":{p}")).unwrap_or_default();
                format!("{user}{host}{port}")
            })
            .collect();
        out.push(("proxyjump".into(), texts.join(",")));
    }
    if let Some(kh) = &r.known_hosts {
        let files: Vec<String> = kh
            .value
            .iter()
            .map(|f| {
                super::expand_tilde(Path::new(f), &home)
                    .display()
                    .to_string()
            })
            .collect();
        out.push(("userknownhostsfile".into(), files.join(" ")));
    }
    out
}

/// For tricky files, ferry's resolution is what `ssh -G` prints, for every
/// setting ferry reads. Needs `ssh` (CI installs openssh-client).
#[test]
fn resolution_matches_ssh_dash_g() {
    let dir = tempfile::tempdir().unwrap();
    let inc = dir.path().join("inc");
    std::fs::create_dir_all(&inc).unwrap();
    std::fs::write(
        inc.join("20-b.conf"),
        "Host *.b\n  User inc-b\n  Port 2002\n",
    )
    .unwrap();
    std::fs::write(
        inc.join("10-a.conf"),
        "Host *.b a.*\n  User inc-a\nHost zz\n",
    )
    .unwrap();
    let files = [
        TRICKY.to_string(),
        format!(
            "Host x.b y.b a.c\n  Include {}/*.conf\n  ServerAliveCountMax 9\nHost *\n  User last\n  Port 2\n",
            inc.display()
        ),
        "Host a*\n  HostName %h.INTERNAL\nMatch host *.internal,!ab.internal\n  User via-match\n\
         Match !host ac.internal originalhost a*\n  Port 3\nHost ab ac\n  IdentitiesOnly yes\n\
         Host *\n  ProxyJump none\n  ProxyJump never@used\n  StrictHostKeyChecking yes\n"
            .to_string(),
        "Host=q\n\tUser\t=\tq1\nHost \"p q\" r\n  Port = 44\n  ConnectTimeout 2h3m4\nhost Q\n  USER upper\n\
         Match all\n  IdentityFile %d/x\n  ProxyJump u@[::1]:7,h2:\n  StrictHostKeyChecking no\n"
            .to_string(),
        format!(
            "IgnoreUnknown UseKeychain,Foo*\nHost !q\n  User never\nHost nomatch\n  Include {}/*.conf\n\
             Host q r # a comment\n  UseKeychain yes\n  Port=2022 # trailing\n\tFooBar 1\n\
             Match !all\n  User never2\nMatch originalhost a.b,!y.b host *.b\n  Port 5\n\
             Host a.b\n  HostName real.b\nMatch host real.b\n  User via-hostname\n\
             Host *\n  IdentitiesOnly=no\n  ServerAliveCountMax 1\n  ConnectTimeout 1w\n",
            inc.display()
        ),
    ];
    let names = [
        "web-1", "web-bad", "db1", "db2", "DB2", "Web-1", "x.b", "y.b", "a.c", "a.b", "other",
        "aa", "ab", "ac", "b", "q", "Q", "p", "r",
    ];
    for (i, text) in files.iter().enumerate() {
        let file = dir.path().join(format!("config{i}"));
        std::fs::write(&file, text).unwrap();
        for name in names {
            let theirs = ssh_g(&file, name);
            for (key, value) in ours(&file, name) {
                let their: Vec<&str> = theirs
                    .iter()
                    .filter(|(k, _)| *k == key)
                    .map(|(_, v)| v.as_str())
                    .collect();
                let matched = if key == "identityfile" {
                    their.contains(&value.as_str())
                } else {
                    their == [value.as_str()]
                };
                assert!(
                    matched,
                    "config{i} {name}: {key}: ferry `{value}`, ssh -G {their:?}\n{text}"
                );
            }
        }
    }
}

/// Every option the installed OpenSSH knows is applied, refused or
/// harmless for ferry: none reads as an unknown keyword.
#[test]
fn every_openssh_keyword_has_a_treatment() {
    let out = Command::new("ssh")
        .args(["-G", "-F", "/dev/null", "x"])
        .output()
        .expect("run ssh -G (install openssh-client)");
    let text = String::from_utf8_lossy(&out.stdout);
    let unknown: Vec<String> = text
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_ascii_lowercase)
        .filter(|k| k != "host" && super::keywords::kind(k).is_none())
        .collect();
    assert!(unknown.is_empty(), "no treatment for {unknown:?}");
}
