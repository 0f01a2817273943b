//! Host commands of the `health_file` drain provider.

use super::quote;

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
