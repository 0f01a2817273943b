//! What ferry does with each `ssh_config` keyword. Applied ones feed the
//! host's settings; refused ones change where or how OpenSSH would connect
//! in a way ferry does not reproduce, so reading past them would connect
//! somewhere or somehow else than `ssh NAME` does: an error naming the
//! line. Harmless ones only matter to interactive `ssh` (or make ferry no
//! less safe when skipped) and are listed by `ferry check --ssh`. Any other
//! keyword is unknown, an error as in OpenSSH (unless `IgnoreUnknown`).

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    Applied,
    Refused,
    /// Refused unless its value is one of these (lowercased).
    RefusedUnless(&'static [&'static str]),
    Harmless,
}

const APPLIED: &[&str] = &[
    "hostname",
    "user",
    "port",
    "identityfile",
    "identitiesonly",
    "proxyjump",
    "userknownhostsfile",
    "stricthostkeychecking",
    "connecttimeout",
    "serveraliveinterval",
    "serveralivecountmax",
    "ignoreunknown",
];

const REFUSED: &[&str] = &[
    // Where to connect, or through what.
    "proxycommand",
    "proxyusefdpass",
    "bindaddress",
    "bindinterface",
    "canonicaldomains",
    "canonicalizefallbacklocal",
    "canonicalizemaxdots",
    "canonicalizepermittedcnames",
    "localforward",
    "remoteforward",
    "dynamicforward",
    "remotecommand",
    "setenv",
    "localcommand",
    // Which keys prove who we are, or who the host is.
    "certificatefile",
    "hostkeyalias",
    "globalknownhostsfile",
    "knownhostscommand",
    "revokedhostkeys",
    "pkcs11provider",
    "securitykeyprovider",
    "smartcarddevice",
    "identityagent",
    "refuseconnection",
    // Which algorithms may be used.
    "ciphers",
    "macs",
    "kexalgorithms",
    "hostkeyalgorithms",
    "pubkeyacceptedalgorithms",
    "pubkeyacceptedkeytypes",
    "hostbasedacceptedalgorithms",
    "casignaturealgorithms",
    "requiredrsasize",
];

const HARMLESS: &[&str] = &[
    "addkeystoagent",
    "batchmode",
    "challengeresponseauthentication",
    "checkhostip",
    "clearallforwardings",
    "compression",
    "compressionlevel",
    "connectionattempts",
    "controlmaster",
    "controlpath",
    "controlpersist",
    "enableescapecommandline",
    "escapechar",
    "exitonforwardfailure",
    "fingerprinthash",
    "forkafterauthentication",
    "forwardagent",
    "forwardx11",
    "forwardx11timeout",
    "forwardx11trusted",
    "gatewayports",
    "gssapiauthentication",
    "gssapidelegatecredentials",
    "hashknownhosts",
    "hostbasedauthentication",
    "ipqos",
    "kbdinteractiveauthentication",
    "kbdinteractivedevices",
    "loglevel",
    "logverbose",
    "nohostauthenticationforlocalhost",
    "numberofpasswordprompts",
    "obscurekeystroketiming",
    "passwordauthentication",
    "permitremoteopen",
    "preferredauthentications",
    "protocol",
    "rekeylimit",
    "requesttty",
    "sendenv",
    "stdinnull",
    "streamlocalbindmask",
    "streamlocalbindunlink",
    "tag",
    "tcpkeepalive",
    "updatehostkeys",
    "useprivilegedport",
    "enablesshkeysign",
    "gssapikexalgorithms",
    "gssapikeyexchange",
    "gssapirenewalforcesrekey",
    "gssapitrustdns",
    "gssapiclientidentity",
    "gssapiserveridentity",
    "syslogfacility",
    "hostbasedkeytypes",
    "dsaauthentication",
    "channeltimeout",
    "warnweakcrypto",
    "useroaming",
    "verifyhostkeydns",
    "visualhostkey",
    "xauthlocation",
    "rsaauthentication",
    "rhostsrsaauthentication",
    "fallbacktorsh",
    "usersh",
    "cipher",
];

/// How ferry treats `keyword` (lowercased); `None`: unknown.
pub(super) fn kind(keyword: &str) -> Option<Kind> {
    if APPLIED.contains(&keyword) {
        return Some(Kind::Applied);
    }
    if REFUSED.contains(&keyword) {
        return Some(Kind::Refused);
    }
    if HARMLESS.contains(&keyword) {
        return Some(Kind::Harmless);
    }
    Some(match keyword {
        "addressfamily" => Kind::RefusedUnless(&["any"]),
        "pubkeyauthentication" => Kind::RefusedUnless(&["yes", "unbound", "host-bound"]),
        "canonicalizehostname" | "permitlocalcommand" | "tunnel" => Kind::RefusedUnless(&["no"]),
        "tunneldevice" => Kind::Harmless,
        "sessiontype" => Kind::RefusedUnless(&["default"]),
        _ => return None,
    })
}

/// Why a refused keyword stops ferry, in a few words.
pub(super) fn why_refused(keyword: &str) -> &'static str {
    match keyword {
        "proxycommand" | "proxyusefdpass" => {
            "ferry does not run proxy commands; use `ProxyJump` (or the inventory's `proxy_jump:`)"
        }
        "certificatefile"
        | "pkcs11provider"
        | "securitykeyprovider"
        | "smartcarddevice"
        | "identityagent" => {
            "ferry authenticates with plain key files and the agent at SSH_AUTH_SOCK only"
        }
        "hostkeyalias" | "globalknownhostsfile" | "knownhostscommand" | "revokedhostkeys" => {
            "ferry checks host keys only against known_hosts files under the host's own name"
        }
        "ciphers"
        | "macs"
        | "kexalgorithms"
        | "hostkeyalgorithms"
        | "pubkeyacceptedalgorithms"
        | "pubkeyacceptedkeytypes"
        | "hostbasedacceptedalgorithms"
        | "casignaturealgorithms"
        | "requiredrsasize" => "ferry uses its own algorithm lists and cannot honour this one",
        "localforward" | "remoteforward" | "dynamicforward" | "tunnel" => {
            "ferry opens no forwards or tunnels"
        }
        "remotecommand" | "setenv" | "localcommand" | "permitlocalcommand" | "sessiontype" => {
            "ferry runs its own commands with its own environment"
        }
        "refuseconnection" => "ssh would refuse to connect to this host",
        _ => "ferry connects straight to the name it resolves, without this",
    }
}
