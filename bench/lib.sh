# Shared by the bench scripts (sourced, not run).

# make_artifact PATH [KB]: the benchmark's tarball of KB (default 5120,
# 5 MiB) random bytes, made once (kept while PATH exists).
make_artifact() {
    local art=$1 kb=${2:-5120} tmp
    [ -s "$art" ] && return 0
    tmp=$(mktemp -d "$(dirname "$art")/art.XXXXXX")
    head -c $((kb * 1024)) /dev/urandom >"$tmp/blob.bin"
    tar -C "$tmp" -czf "$art" blob.bin
    rm -rf "$tmp"
}

# write_deploy_playbook DIR: DIR/playbooks/deploy.yml, the workload's deploy
# (keep 5 releases, one health command on the host).
write_deploy_playbook() {
    mkdir -p "$1/playbooks"
    cat >"$1/playbooks/deploy.yml" <<'YML'
keep_releases: 5
health:
  - name: blob present
    command: "test -f {{ deploy_to }}/current/blob.bin"
YML
}
