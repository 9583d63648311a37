#!/bin/bash
# Installs FTM on the GPU box. Run once per instance, as root, by the user data
# (templates/user_data.sh.tftpl) after it unpacked the code artifact into /opt/ftm/src.
#   - Python venv /opt/ftm/venv with the CUDA build of torch, then the project itself;
#   - DAGSTER_HOME with the dagster.yaml of FTM_DAGSTER_MODE and the workspace;
#   - systemd units: ftm-prepare (secrets, database), ftm-recover-runs, dagster-daemon,
#     dagster-webserver, ftm-spot-watcher.
set -euo pipefail

FTM_SRC=${FTM_SRC:-/opt/ftm/src}
BOX_ENV=${BOX_ENV:-/etc/ftm/box.env}
VENV=/opt/ftm/venv
RDS_CA_URL=https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem

die() { echo "ftm-install: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run as root"
[ -r "$BOX_ENV" ] || die "missing $BOX_ENV (written by the user data)"
set -a
# shellcheck source=/dev/null
. "$BOX_ENV"
set +a
for var in FTM_TORCH_VERSION FTM_TORCH_INDEX_URL FTM_DAGSTER_MODE DAGSTER_HOME; do
  [ -n "${!var:-}" ] || die "$var is not set in $BOX_ENV"
done
instance_yaml="$FTM_SRC/infra/dagster/dagster.$FTM_DAGSTER_MODE.yaml"
[ -r "$instance_yaml" ] || die "no Dagster instance config $instance_yaml for FTM_DAGSTER_MODE=$FTM_DAGSTER_MODE"

export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends python3-venv postgresql-client curl

id ftm >/dev/null 2>&1 || useradd --system --home-dir /var/lib/ftm --create-home --shell /usr/sbin/nologin ftm

python3 -m venv "$VENV"
"$VENV/bin/pip" install --quiet --upgrade pip
"$VENV/bin/pip" install --quiet "torch==$FTM_TORCH_VERSION" --index-url "$FTM_TORCH_INDEX_URL"
"$VENV/bin/pip" install --quiet "$FTM_SRC"
"$VENV/bin/python" - <<'PY'
import torch

if not torch.cuda.is_available():
    raise SystemExit(
        f"ftm-install: torch {torch.__version__} sees no GPU: check that FTM_TORCH_INDEX_URL "
        "matches a CUDA version the AMI's NVIDIA driver supports"
    )
print(f"ftm-install: torch {torch.__version__} on {torch.cuda.get_device_name(0)}")
PY

curl -fsSL --retry 5 "$RDS_CA_URL" -o /etc/ftm/rds-ca-bundle.pem
chmod 0644 /etc/ftm/rds-ca-bundle.pem

install -d -o ftm -g ftm -m 0750 "$DAGSTER_HOME"
install -o ftm -g ftm -m 0640 "$instance_yaml" "$DAGSTER_HOME/dagster.yaml"
install -o ftm -g ftm -m 0640 "$FTM_SRC/infra/box/workspace.yaml" "$DAGSTER_HOME/workspace.yaml"

install -m 0644 "$FTM_SRC"/infra/box/systemd/*.service /etc/systemd/system/
systemctl daemon-reload
units=(ftm-spot-watcher.service ftm-prepare.service dagster-daemon.service dagster-webserver.service)
if [ "$FTM_DAGSTER_MODE" = "single-box" ]; then
  # Runs execute on this box, so a run still "in progress" at boot was lost with the last box.
  units+=(ftm-recover-runs.service)
fi
systemctl enable "${units[@]}"
systemctl start --no-block "${units[@]}"
echo "ftm-install: done; follow progress with: journalctl -fu ftm-prepare -u dagster-daemon"
