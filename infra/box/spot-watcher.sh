#!/bin/bash
# ftm-spot-watcher.service (root): watch for a spot interruption notice and stop the runs cleanly.
#
# Every FTM_SPOT_POLL_SECONDS it asks the instance metadata service (IMDSv2, token first) for
# spot/instance-action: 404 means no notice; 200 means the instance is reclaimed in about two
# minutes. On a notice it sends SIGTERM to each Dagster run worker (the process a code server
# spawned for a run; Dagster turns SIGTERM into an interrupt, the pipeline rolls back the current
# firm and the run ends FAILED), waits up to FTM_SPOT_GRACE_SECONDS for them to exit, then stops
# the Dagster services so no queued run starts. The next box marks anything left as failed
# (ftm-recover-runs) and the sensor or retry job resumes the quarter.
set -euo pipefail

IMDS=${FTM_IMDS_ENDPOINT:-http://169.254.169.254}
POLL_SECONDS=${FTM_SPOT_POLL_SECONDS:-5}
GRACE_SECONDS=${FTM_SPOT_GRACE_SECONDS:-90}
RUN_USER=${FTM_RUN_USER:-ftm}
# Command line of the code server that spawns run workers (DefaultRunLauncher).
CODE_SERVER_MARK=${FTM_CODE_SERVER_MARK:-dagster api grpc}
STOP_UNITS=${FTM_SPOT_STOP_UNITS-dagster-daemon.service dagster-webserver.service}

log() { echo "ftm-spot-watcher: $*"; }

command -v curl >/dev/null || { echo "ftm-spot-watcher: curl is required" >&2; exit 1; }

# Prints the HTTP status of spot/instance-action, or "000" when the metadata service is unreachable.
notice_status() {
  local token
  token=$(curl -fsS -m 2 -X PUT "$IMDS/latest/api/token" \
    -H "X-aws-ec2-metadata-token-ttl-seconds: 60" 2>/dev/null) || { echo 000; return; }
  curl -sS -m 2 -o /dev/null -w '%{http_code}' \
    -H "X-aws-ec2-metadata-token: $token" "$IMDS/latest/meta-data/spot/instance-action" 2>/dev/null || echo 000
}

# Run workers: multiprocessing children of a Dagster code server, owned by RUN_USER.
run_worker_pids() {
  local pid parent
  for pid in $(pgrep -u "$RUN_USER" -f 'multiprocessing.spawn import spawn_main' || true); do
    parent=$(ps -o ppid= -p "$pid" | tr -d ' ') || continue
    [ -r "/proc/$parent/cmdline" ] || continue
    if tr '\0' ' ' <"/proc/$parent/cmdline" | grep -qF -- "$CODE_SERVER_MARK"; then
      echo "$pid"
    fi
  done
}

stop_runs() {
  local pids pid waited=0
  pids=$(run_worker_pids)
  if [ -z "$pids" ]; then
    log "no run in progress"
  else
    for pid in $pids; do
      log "SIGTERM to run worker $pid"
      kill -TERM "$pid" 2>/dev/null || true
    done
    while [ "$waited" -lt "$GRACE_SECONDS" ]; do
      local alive=""
      for pid in $pids; do
        if kill -0 "$pid" 2>/dev/null; then alive="$alive $pid"; fi
      done
      [ -z "$alive" ] && break
      sleep 1
      waited=$((waited + 1))
    done
    log "run workers gone after ${waited}s"
  fi
  if [ -n "$STOP_UNITS" ]; then
    # shellcheck disable=SC2086 # a list of unit names
    systemctl stop $STOP_UNITS || log "could not stop $STOP_UNITS"
  fi
}

log "watching $IMDS for a spot interruption notice every ${POLL_SECONDS}s"
while true; do
  status=$(notice_status)
  if [ "$status" = "200" ]; then
    log "spot interruption notice received"
    stop_runs
    exit 0
  fi
  sleep "$POLL_SECONDS"
done
