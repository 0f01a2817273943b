//! The Vagrant lab (`vagrant/`, `inventories/vagrant.yml`,
//! `playbooks/vagrant.yml`) cannot boot here: it is checked statically.
//! Ruby parses the Vagrantfile and runs it against a stub of Vagrant's
//! configuration object (what it would configure: machines, addresses,
//! forwarded ports, provisioners); the real `ferry check` accepts the
//! inventory and playbook and agrees with `vagrant/machines` on every port;
//! the shell scripts parse; and no file of the lab names a private-range
//! address (the Vagrantfile computes them from `FERRY_VAGRANT_SUBNET`).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `ruby`, or `None` (the test is skipped, loudly) when it is missing on a
/// developer machine. In CI (`CI=true`) a missing ruby fails the test:
/// `.ci/run` installs it.
fn ruby() -> Option<&'static str> {
    if Command::new("ruby").arg("--version").output().is_ok() {
        return Some("ruby");
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "ruby is missing in CI: .ci/run installs Debian's `ruby` package"
    );
    eprintln!("SKIPPED: the Vagrantfile checks need ruby (apt-get install -y ruby); CI runs them");
    None
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A stand-in for Vagrant's configuration object: every call it receives
/// is printed as `path.of.calls ARGS key=value...`, blocks are entered.
const VAGRANT_STUB: &str = r##"
class Rec
  def initialize(path) = @path = path
  def respond_to_missing?(*) = true
  def method_missing(name, *args, **kw, &blk)
    n = name.to_s
    if n.end_with?("=")
      puts "#{(@path + [n.chomp("=")]).join(".")} = #{args[0]}"
      return args[0]
    end
    named = %w[define provider].include?(n) && args.first.is_a?(String)
    path = @path + [n] + (named ? [args.first] : [])
    unless args.empty? && kw.empty?
      puts "#{path.join(".")} #{(args.map(&:to_s) + kw.map { |k, v| "#{k}=#{Array(v).join(",")}" }).join(" ")}"
    end
    sub = Rec.new(path)
    blk&.call(sub)
    sub
  end
end
module Vagrant
  def self.configure(_version) = yield(Rec.new([]))
end
load ARGV.shift
"##;

fn run_vagrantfile(ruby: &str, subnet: Option<&str>) -> Output {
    let mut cmd = Command::new(ruby);
    cmd.args(["-e", VAGRANT_STUB, "vagrant/Vagrantfile"])
        .current_dir(repo())
        .env_remove("FERRY_VAGRANT_SUBNET");
    if let Some(subnet) = subnet {
        cmd.env("FERRY_VAGRANT_SUBNET", subnet);
    }
    cmd.output().expect("run ruby")
}

#[test]
fn the_vagrantfile_parses_and_configures_the_lab() {
    let Some(ruby) = ruby() else { return };
    let out = Command::new(ruby)
        .args(["-c", "vagrant/Vagrantfile"])
        .current_dir(repo())
        .output()
        .unwrap();
    assert!(out.status.success(), "ruby -c: {:?}", text(&out));
    assert_eq!(text(&out).0.trim(), "Syntax OK");

    // TEST-NET-2 (RFC 5737): documentation addresses, not a private range.
    let out = run_vagrantfile(ruby, Some("198.51.100"));
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    for (name, octet, port) in machines() {
        for want in [
            format!("vm.define.{name}.vm.network private_network ip=198.51.100.{octet}"),
            format!(
                "vm.define.{name}.vm.network forwarded_port id=ssh guest=22 host={port} \
                 host_ip=127.0.0.1 auto_correct=false"
            ),
            format!("vm.define.{name}.vm.provision shell path=provision/common.sh"),
        ] {
            assert!(lines.contains(&want.as_str()), "no `{want}` in\n{stdout}");
        }
    }
    let lb = "vm.define.lb.vm.provision shell path=provision/lb.sh \
              args=web1=198.51.100.11,web2=198.51.100.12,web3=198.51.100.13";
    assert!(lines.contains(&lb), "no `{lb}` in\n{stdout}");
    assert!(lines.contains(&"vm.box = debian/bookworm64"), "{stdout}");
}

#[test]
fn the_vagrantfile_asks_for_its_subnet() {
    let Some(ruby) = ruby() else { return };
    let out = run_vagrantfile(ruby, None);
    let (stdout, stderr) = text(&out);
    assert!(!out.status.success(), "{stdout}");
    assert!(
        stderr.contains("FERRY_VAGRANT_SUBNET is not set") && stderr.contains("vagrant/README.md"),
        "{stderr}"
    );
    let out = run_vagrantfile(ruby, Some("198.51.100.0/24"));
    let (stdout, stderr) = text(&out);
    assert!(!out.status.success(), "{stdout}");
    assert!(stderr.contains("write three octets, A.B.C"), "{stderr}");
}

/// `vagrant/machines`: name, last octet, forwarded SSH port.
fn machines() -> Vec<(String, String, String)> {
    let text = std::fs::read_to_string(repo().join("vagrant/machines")).unwrap();
    let rows: Vec<_> = text
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f[0].to_string(), f[1].to_string(), f[2].to_string())
        })
        .collect();
    assert_eq!(rows.len(), 4, "one lb and three app hosts: {rows:?}");
    rows
}

#[test]
fn ferry_check_accepts_the_vagrant_inventory_and_playbook() {
    let out = Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args(["check", "vagrant", "vagrant"])
        .current_dir(repo())
        .env_remove("FERRY_LIMIT")
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("inventories/vagrant.yml and playbooks/vagrant.yml valid; 4 hosts"),
        "{stderr}"
    );
    for (name, _, port) in machines() {
        let want = format!("{name} (deploy@127.0.0.1:{port})");
        assert!(
            stdout.lines().any(|l| l == want),
            "no `{want}` in\n{stdout}"
        );
    }
    assert!(
        stdout.contains("set server app/web1 state drain on /run/haproxy/admin.sock via lb"),
        "{stdout}"
    );
}

#[test]
fn the_vagrant_scripts_parse() {
    for script in [
        "vagrant/keys.sh",
        "vagrant/provision/common.sh",
        "vagrant/provision/app.sh",
        "vagrant/provision/lb.sh",
    ] {
        let out = Command::new("sh")
            .args(["-n", script])
            .current_dir(repo())
            .output()
            .unwrap();
        assert!(out.status.success(), "{script}: {:?}", text(&out));
    }
}

/// `haproxy`, or `None` when it is missing off CI (as [`ruby`]).
fn haproxy() -> Option<PathBuf> {
    let found = ["/usr/sbin/haproxy", "/usr/bin/haproxy"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file());
    if found.is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "haproxy is missing in CI: .ci/run installs it"
        );
        eprintln!("SKIPPED: the lab's HAProxy configuration check needs haproxy");
    }
    found
}

#[test]
fn the_lab_haproxy_configuration_is_valid() {
    let Some(haproxy) = haproxy() else { return };
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("haproxy.cfg");
    let path = format!(
        "{}:{}",
        haproxy.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("sh")
        .args([
            "vagrant/provision/lb.sh",
            "web1=198.51.100.11",
            "web2=198.51.100.12",
            "web3=198.51.100.13",
        ])
        .current_dir(repo())
        .env("PATH", path)
        .env("FERRY_LAB_CONFIG_ONLY", "1")
        .env("FERRY_LAB_HAPROXY_CFG", &cfg)
        // The lab's `deploy` group does not exist here.
        .env("FERRY_LAB_SOCKET_GROUP", "root")
        .output()
        .unwrap();
    assert!(out.status.success(), "lb.sh: {:?}", text(&out));
    let written = std::fs::read_to_string(&cfg).unwrap();
    for want in [
        "stats socket /run/haproxy/admin.sock mode 660 level admin group root",
        "backend app",
        "  server web2 198.51.100.12:8080 check",
    ] {
        assert!(written.contains(want), "no `{want}` in\n{written}");
    }
}

/// An IPv4 address in 10/8, 172.16/12 or 192.168/16.
fn private_address(word: &str) -> bool {
    let octets: Vec<u8> = word.split('.').filter_map(|o| o.parse().ok()).collect();
    if octets.len() != 4 || word.split('.').count() != 4 {
        return false;
    }
    octets[0] == 10
        || (octets[0] == 172 && (16..=31).contains(&octets[1]))
        || (octets[0] == 192 && octets[1] == 168)
}

#[test]
fn the_lab_and_the_docs_name_no_private_address() {
    // Built, not written: no private-range address appears in the sources.
    let (ten, one_seven_two) = (format!("{}.1.2.3", 5 * 2), format!("{}.20.0.1", 172));
    assert!(private_address(&ten) && private_address(&one_seven_two));
    assert!(!private_address("172.32.0.1") && !private_address("198.51.100.7"));
    let mut files: Vec<PathBuf> = vec![
        "inventories/vagrant.yml".into(),
        "playbooks/vagrant.yml".into(),
    ];
    for dir in ["vagrant", "vagrant/provision", "docs"] {
        for entry in std::fs::read_dir(repo().join(dir)).unwrap() {
            let path = entry.unwrap().path();
            if path.is_file() {
                files.push(path.strip_prefix(repo()).unwrap().to_path_buf());
            }
        }
    }
    for file in &files {
        // Pictures (docs/timeline.png) hold no address to read.
        let Ok(text) = std::fs::read_to_string(repo().join(file)) else {
            continue;
        };
        for (i, line) in text.lines().enumerate() {
            for word in line.split(|c: char| !c.is_ascii_digit() && c != '.') {
                assert!(
                    !private_address(word.trim_matches('.')),
                    "{}:{}: a private-range address `{word}`",
                    Path::new(file).display(),
                    i + 1
                );
            }
        }
    }
}
