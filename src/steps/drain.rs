//! Host commands of the `health_file` drain provider.

use super::quote;

/// One command to `HAProxy`'s admin socket from a `via` host, with socat:
/// `UNIX-CONNECT:` for a path (never creates a file when the socket is
/// missing, unlike a bare path), `TCP:` for `host:port`. The answer is
/// checked by the controller, like a direct one.
pub fn haproxy_ask(socket: &str, command: &str) -> String {
    let address = if socket.contains('/') {
        format!("UNIX-CONNECT:{socket}")
    } else {
        format!("TCP:{socket}")
    };
    format!(
        "command -v socat >/dev/null || {{ echo 'socat is not installed on this host' >&2; exit 127; }}\n\
         printf '%s\\n' {} | timeout 15 socat -t 10 stdio {}",
        quote(command),
        quote(&address)
    )
}

/// Take the host out: the balancer's health check stops finding the file.
pub fn remove_health_file(path: &str) -> String {
    format!("rm -f -- {}", quote(path))
}

/// Put the host back: recreate the file (its folder must exist).
pub fn create_health_file(path: &str) -> String {
    format!("touch -- {}", quote(path))
}

/// One line per established TCP connection to the app's port.
pub fn established(port: u16) -> String {
    format!("ss -Htn state established '( sport = :{port} )'")
}

/// How many connections [`established`] printed.
pub fn count_established(output: &str) -> usize {
    output.lines().filter(|l| !l.trim().is_empty()).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn haproxy_commands_through_a_via_host() {
        assert_eq!(
            haproxy_ask("/run/haproxy/admin.sock", "set server app/h1 state drain"),
            "command -v socat >/dev/null || { echo 'socat is not installed on this host' >&2; exit 127; }\n\
             printf '%s\\n' 'set server app/h1 state drain' | timeout 15 socat -t 10 stdio 'UNIX-CONNECT:/run/haproxy/admin.sock'"
        );
        assert_eq!(
            haproxy_ask("127.0.0.5:9999", "show stat"),
            "command -v socat >/dev/null || { echo 'socat is not installed on this host' >&2; exit 127; }\n\
             printf '%s\\n' 'show stat' | timeout 15 socat -t 10 stdio 'TCP:127.0.0.5:9999'"
        );
    }

    #[test]
    fn health_file_commands() {
        assert_eq!(
            remove_health_file("/srv/app/shared/healthy it's"),
            "rm -f -- '/srv/app/shared/healthy it'\\''s'"
        );
        assert_eq!(create_health_file("/srv/h"), "touch -- /srv/h");
        assert_eq!(
            established(8080),
            "ss -Htn state established '( sport = :8080 )'"
        );
        assert_eq!(count_established(""), 0);
        assert_eq!(
            count_established(
                "0 0 127.0.0.1:8080 127.0.0.1:5000\n0 0 127.0.0.1:8080 127.0.0.1:5001\n\n"
            ),
            2
        );
    }
}
