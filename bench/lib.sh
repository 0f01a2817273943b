# Shared by the bench scripts (sourced, not run).

# make_artifact PATH: the benchmark's 5 MiB tarball of random bytes, made
# once (kept while PATH exists).
make_artifact() {
    local art=$1 tmp
    [ -s "$art" ] && return 0
    tmp=$(mktemp -d "$(dirname "$art")/art.XXXXXX")
    head -c 5242880 /dev/urandom >"$tmp/blob.bin"
    tar -C "$tmp" -czf "$art" blob.bin
    rm -rf "$tmp"
}
