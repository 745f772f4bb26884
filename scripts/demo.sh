#!/usr/bin/env bash
# make demo: the whole loop on the embedded local AWS endpoint, on the example estate in specs/.
#   validate -> plan -> apply -> plan (no changes) -> a change made by hand in AWS -> plan shows the
#   drift -> apply corrects it -> plan (no changes).
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
PORT=${DEMO_PORT:-$($BIN/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')}
mkdir -p .demo
$BIN/controller local-aws --port "$PORT" > .demo/local-aws.log 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; wait $SERVER 2>/dev/null' EXIT
export AWS_ENDPOINT_URL="http://127.0.0.1:$PORT" AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing \
       AWS_DEFAULT_REGION=us-east-1
for _ in $(seq 100); do curl -sf "$AWS_ENDPOINT_URL/moto-api/data.json" -o /dev/null && break; sleep 0.1; done

step() { printf '\n\033[1m== %s\033[0m\n$ %s\n' "$1" "${*:2}"; "${@:2}"; rc=$?; echo "(exit $rc)"; }
expect() { if [ "$rc" != "$1" ]; then echo "demo: expected exit $1, got $rc" >&2; exit 1; fi; }

step "local AWS endpoint on $AWS_ENDPOINT_URL; validate the specs" $BIN/controller validate; expect 0
step "plan: everything is to be created" $BIN/controller plan; expect 2
step "apply" $BIN/controller apply --auto-approve; expect 0
step "plan again: no changes" $BIN/controller plan; expect 0
step "someone opens RDP on the web firewall, renames the VPC and stops a VM by hand" \
     $BIN/python scripts/drift.py; expect 0
step "plan: the drift, field by field" $BIN/controller plan; expect 2
step "apply corrects it" $BIN/controller apply --auto-approve; expect 0
step "plan: no changes" $BIN/controller plan; expect 0
printf '\n\033[1mdemo complete\033[0m\n'
