# examples/kubernetes/pods.sh: what the kubelet does, on one machine, to try the recipe without
# a cluster (docs/kubernetes.md). Source it in bash, in a folder holding entrypoint.py:
#
#   start_pod NAME [VAR=VALUE ...]  start entrypoint.py as pod NAME (its HOSTNAME, unless a
#                                   VAR=VALUE says otherwise) on a free port, logging to
#                                   NAME.log; return once its liveness probe, /healthz, answers
#   ready NAME                      wait until its readiness probe, /ready, answers 200
#   url NAME                        its address, http://127.0.0.1:PORT
#   stop_pod NAME                   SIGTERM (what the kubelet sends after preStop), then wait_pod
#   wait_pod NAME [STATUS]          wait for it to exit; fail unless with STATUS (default 0)
#
# Pods still running when the shell exits are killed (SIGKILL).

_pods=()
trap 'for _p in "${_pods[@]}"; do kill -KILL "$(cat "$_p.pid")" 2>/dev/null || true; done' EXIT

start_pod() {
    local name=$1 port
    shift
    port=$(python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    echo "$port" >"$name.port"
    env HOSTNAME="$name" PORT="$port" "$@" python entrypoint.py >"$name.log" 2>&1 &
    echo $! >"$name.pid"
    _pods+=("$name")
    _probe "$name" healthz
}

ready() { _probe "$1" ready; }

url() { echo "http://127.0.0.1:$(cat "$1.port")"; }

stop_pod() {
    kill -TERM "$(cat "$1.pid")"
    wait_pod "$1"
}

wait_pod() {
    local status=0
    wait "$(cat "$1.pid")" || status=$?
    echo "$1 exited with status $status"
    if [ "$status" != "${2:-0}" ]; then
        cat "$1.log" >&2
        return 1
    fi
}

_probe() {  # poll http://.../$2 every 0.1 s while the pod runs, for up to 2 minutes
    local i
    for ((i = 0; i < 1200; i++)); do
        curl -sf "$(url "$1")/$2" >/dev/null && return 0
        kill -0 "$(cat "$1.pid")" 2>/dev/null || break
        sleep 0.1
    done
    echo "$1: /$2 never answered 200; its log:" >&2
    cat "$1.log" >&2
    return 1
}
