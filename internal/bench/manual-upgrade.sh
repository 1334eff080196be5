#!/bin/sh
# The manual upgrade procedure, as an operator runs it by hand, with the
# benchmark's paths in place of the usual ones:
#   NEW        the new ten binary          CONFIG    tenement.toml
#   OLD_PORT   the old server's port (8080 in the guide)
#   NEW_PORT   a spare port (8081 in the guide)
#   OLD_PID    the old server's pid        CADDYFILE the Caddyfile
#   CADDY      the caddy binary            LOG       where the new server logs
# Each step prints "STEP name unix-nanoseconds" so the benchmark can mark it.
set -eu
step() { echo "STEP $1 $(date +%s%N)"; }

step start-new
setsid "$NEW" serve --config "$CONFIG" --host 127.0.0.1 --port "$NEW_PORT" >>"$LOG" 2>&1 </dev/null &
sleep 5
step health
curl -fsS "http://127.0.0.1:$NEW_PORT/health"
echo
step rewrite
sed -i "s/reverse_proxy 127.0.0.1:$OLD_PORT/reverse_proxy 127.0.0.1:$NEW_PORT/" "$CADDYFILE"
step reload
"$CADDY" reload --config "$CADDYFILE" --adapter caddyfile
step term-old
kill -TERM "$OLD_PID"
step done
