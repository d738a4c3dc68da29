# Sourced by the shell-level checks (interop, prometheus): starts a batchexec
# server in the background and waits until it prints its address.
#   start_server WORKDIR SERVER_BINARY [FLAGS...]
# Sets server_pid and address; on failure prints the server's output to
# stderr and returns 1. Output goes to WORKDIR/server.out and server.err.
start_server() {
  local work=$1 server=$2
  shift 2
  # Create the output file first: the background shell opens it only later.
  : >"$work/server.out"
  : >"$work/server.err"
  "$server" --port=0 "$@" >>"$work/server.out" 2>"$work/server.err" &
  server_pid=$!
  address=""
  for _ in $(seq 100); do
    address=$(sed -n 's/^batchexec server listening on //p' "$work/server.out")
    [ -n "$address" ] && return 0
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  cat "$work/server.out" "$work/server.err" >&2
  return 1
}
