#!/usr/bin/env bash
# Starts a one-node Slurm on this host (Debian 12's slurm-wlm 22.05 and munge, as root), for
# the scheduler test (tests/slurm_sweep.rs) and CI (.ci/run):
#
#   bash scripts/slurm-one-node.sh          # install if missing, configure, start; waits until the node is idle
#   bash scripts/slurm-one-node.sh stop     # stops the daemons this script started
#
# The configuration is the smallest that runs jobs in a container: one node described by
# `slurmd -C`, one partition, ProctrackType=proctrack/linuxproc and TaskPlugin=task/none (no
# cgroups, no cgroup.conf), SlurmUser=root, select/cons_tres by core, no accounting. State and
# logs go under /var/spool/slurm-rimager and /var/log/slurm-rimager. Exit status 0: `sinfo`
# shows the node idle; non-zero with a one-line reason otherwise.
set -euo pipefail
STATE=/var/spool/slurm-rimager
LOGS=/var/log/slurm-rimager
CONF=/etc/slurm/slurm.conf

fail() { echo "slurm-one-node: $*" >&2; exit 1; }

if [ "${1:-}" = stop ]; then
    for p in "$STATE"/slurmd.pid "$STATE"/slurmctld.pid; do
        [ -s "$p" ] && kill "$(cat "$p")" 2>/dev/null || true
    done
    exit 0
fi

[ "$(id -u)" = 0 ] || fail "needs root (SlurmUser=root, munged, /etc/slurm)"
if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
    command -v apt-get >/dev/null || fail "slurm-wlm and munge are not installed and there is no apt-get"
    # A fresh machine may have no package lists yet: update them when the first try fails.
    install() {
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
            slurm-wlm munge >/dev/null
    }
    install || { apt-get update -q >/dev/null && install; } \
        || fail "apt-get install slurm-wlm munge failed"
fi

# munge: a key, its directories owned by the munge user, the daemon.
mkdir -p /etc/munge /var/lib/munge /var/log/munge /run/munge
if [ ! -s /etc/munge/munge.key ]; then
    dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key status=none
fi
chown -R munge:munge /etc/munge /var/lib/munge /var/log/munge /run/munge
chmod 0700 /etc/munge /var/lib/munge /var/log/munge
chmod 0755 /run/munge
chmod 0400 /etc/munge/munge.key
if ! munge -n </dev/null >/dev/null 2>&1; then
    runuser -u munge -- /usr/sbin/munged || fail "munged did not start (see /var/log/munge/munged.log)"
    for _ in $(seq 50); do munge -n </dev/null >/dev/null 2>&1 && break; sleep 0.1; done
    munge -n </dev/null >/dev/null 2>&1 || fail "munge does not answer"
fi

# slurm.conf for this one node.
mkdir -p /etc/slurm "$STATE/ctld" "$STATE/d" "$LOGS"
node=$(slurmd -C | head -1) || fail "slurmd -C failed"
host=$(echo "$node" | sed -n 's/^NodeName=\([^ ]*\).*/\1/p')
[ -n "$host" ] || fail "cannot read the node name from: $node"
cat > "$CONF" <<EOF
# One-node Slurm for rimager's tests, written by scripts/slurm-one-node.sh.
ClusterName=rimager-test
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/d
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$LOGS/slurmctld.log
SlurmdLogFile=$LOGS/slurmd.log
SlurmctldPort=6817
SlurmdPort=6818
$node State=UNKNOWN
PartitionName=test Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
EOF
sed -i 's/ UpTime=.*//' "$CONF"

running() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
running "$STATE/slurmctld.pid" || slurmctld || fail "slurmctld did not start (see $LOGS/slurmctld.log)"
running "$STATE/slurmd.pid" || slurmd || fail "slurmd did not start (see $LOGS/slurmd.log)"
for _ in $(seq 100); do
    state=$(sinfo -h -N -o %t 2>/dev/null | head -1 || true)
    case "$state" in idle | mix | alloc) echo "slurm-one-node: node $host $state"; exit 0 ;; esac
    [ "$state" = down ] || [ "$state" = "down*" ] && scontrol update nodename="$host" state=resume 2>/dev/null || true
    sleep 0.2
done
fail "node $host not idle after 20 s (state '${state:-none}'; see $LOGS)"
