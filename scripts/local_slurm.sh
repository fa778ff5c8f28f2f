#!/usr/bin/env bash
# local_slurm.sh - a real single-node Slurm (Debian's 22.05 packages) on this machine, for tests,
# CI and trying the SLURM workflow without a cluster. Run as root. No systemd needed: `up` starts
# the daemons itself and records them, and `down` stops exactly those (by PID file, never by name).
#
#   bash scripts/local_slurm.sh up                    # install if missing, configure, start, wait
#   bash scripts/local_slurm.sh status                # daemons + sinfo; exit 0 iff the cluster is usable
#   bash scripts/local_slurm.sh down [--cancel-jobs]  # stop what `up` started (jobs first, with the flag)
#
# Settings of `up` (environment variables):
#   LOCAL_SLURM_CPUS=4               CPU slots advertised; more than the cores lets 1-CPU tasks share them
#   LOCAL_SLURM_GPUS=2               fake GPUs, so --gres=gpu:N sets CUDA_VISIBLE_DEVICES (0: no GRES)
#   LOCAL_SLURM_MAX_ARRAY_SIZE=1001  MaxArraySize: array indices must be below it
#   LOCAL_SLURM_REQUEUE_EXIT=        exit codes that requeue a batch job (RequeueExit), e.g. 42; none by default
#   LOCAL_SLURM_CLEAN=0              1: forget every job (controller state and accounting DB)
#   LOCAL_SLURM_WAIT=60              seconds to wait for each daemon, and for the node
#   LOCAL_SLURM_ROOT=/var/spool/local-slurm   state, logs, PID files, started list
set -euo pipefail
shopt -s inherit_errexit   # a failing $(...) fails the script too

CPUS="${LOCAL_SLURM_CPUS:-4}"
GPUS="${LOCAL_SLURM_GPUS:-2}"
MAX_ARRAY_SIZE="${LOCAL_SLURM_MAX_ARRAY_SIZE:-1001}"
REQUEUE_EXIT="${LOCAL_SLURM_REQUEUE_EXIT:-}"
CLEAN="${LOCAL_SLURM_CLEAN:-0}"
WAIT_S="${LOCAL_SLURM_WAIT:-60}"
ROOT="${LOCAL_SLURM_ROOT:-/var/spool/local-slurm}"
RUN="$ROOT/run"; LOG="$ROOT/log"
STARTED="$RUN/started.list"          # "name pidfile" per daemon that `up` started; read by `down`
CONF=/etc/slurm
MARKER="# written by scripts/local_slurm.sh - edit that script, not this file"
PACKAGES=(slurmctld slurmd slurm-client munge mariadb-server slurmdbd)
DB_SOCK=/run/mysqld/mysqld.sock
DB_PASS=local-slurm-only             # MariaDB has no network (--skip-networking), unix socket only
PATH="/usr/sbin:/sbin:$PATH"
T0=$(date +%s%N)

say() { local ds=$(( ($(date +%s%N) - T0) / 100000000 )); printf '[local_slurm %3d.%ds] %s\n' $((ds / 10)) $((ds % 10)) "$*"; }
die() { say "ERROR: $*" >&2; exit 1; }
usage() { sed -n '2,17s/^# \{0,1\}//p' "$0" >&2; exit 2; }
tails() { local f; for f in "$@"; do [ -f "$f" ] && { echo "--- $f"; tail -n 20 "$f"; }; done >&2; return 0; }
require_uint() { [[ "$2" =~ ^[0-9]+$ ]] || die "$1 must be a non-negative integer, got '$2'"; }

pidfile_of() {   # where each daemon writes its PID
    case "$1" in
        munged) echo /run/munge/munged.pid ;;
        mariadbd) echo /run/mysqld/mariadbd.pid ;;
        *) echo "$RUN/$1.pid" ;;
    esac
}
pid_of() {   # pid_of NAME -> prints the PID if NAME's PID file points at a live process called NAME
    local f p; f=$(pidfile_of "$1")
    [ -s "$f" ] && [ -r "$f" ] || return 1
    p=$(tr -dc '0-9' < "$f")
    [ -n "$p" ] && [ "$(cat "/proc/$p/comm" 2>/dev/null)" = "$1" ] && echo "$p"
}
owned() { [ -f "$STARTED" ] && grep -q "^$1 " "$STARTED"; }
record_started() { { grep -v "^$1 " "$STARTED" 2>/dev/null || true; echo "$1 $(pidfile_of "$1")"; } > "$STARTED.tmp"; mv "$STARTED.tmp" "$STARTED"; }
wait_until() {   # wait_until CMD... : retry every 0.25 s for WAIT_S seconds
    local _; for _ in $(seq 1 $((WAIT_S * 4))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.25; done; return 1
}
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

stop_owned() {   # stop_owned NAME... : the ones `up` started, together: SIGTERM by PID, bounded wait, SIGKILL last
    local name pid i t0 _ pids=() names=()
    t0=$(date +%s%N)
    for name in "$@"; do
        owned "$name" || continue
        pid=$(pid_of "$name") || { say "$name: already stopped"; continue; }   # pid_of checks /proc/PID/comm
        kill -TERM "$pid" 2>/dev/null || true
        pids+=("$pid"); names+=("$name")
    done
    [ ${#pids[@]} -gt 0 ] || return 0
    for _ in $(seq 1 $((WAIT_S * 10))); do kill -0 "${pids[@]}" 2>/dev/null || break; sleep 0.1; done
    for i in "${!pids[@]}"; do   # kill -0 above succeeds if any one is alive: check each
        for _ in $(seq 1 $((WAIT_S * 10))); do kill -0 "${pids[i]}" 2>/dev/null || break; sleep 0.1; done
        if kill -0 "${pids[i]}" 2>/dev/null; then say "${names[i]} ignored SIGTERM for ${WAIT_S}s: SIGKILL"; kill -KILL "${pids[i]}"; fi
    done
    say "stopped ${names[*]} (pids ${pids[*]}) in $(( ($(date +%s%N) - t0) / 1000000 )) ms"
}

# ---------------------------------------------------------------- up: install
install_packages() {
    local missing=() p
    for p in "${PACKAGES[@]}"; do
        [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" = "install ok installed" ] || missing+=("$p")
    done
    [ ${#missing[@]} = 0 ] && { say "packages present ($(slurmctld -V))"; return 0; }
    say "installing ${missing[*]} (log: /tmp/local_slurm-apt.log)"
    # Keep the packages' init scripts from starting daemons that we would not track.
    local own_policy=0
    [ -e /usr/sbin/policy-rc.d ] || { printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; own_policy=1; }
    local ok=1
    { DEBIAN_FRONTEND=noninteractive apt-get update && DEBIAN_FRONTEND=noninteractive \
        apt-get install -y --no-install-recommends "${missing[@]}"; } > /tmp/local_slurm-apt.log 2>&1 || ok=0
    [ "$own_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d
    [ "$ok" = 1 ] || { tails /tmp/local_slurm-apt.log; die "apt-get failed (log: /tmp/local_slurm-apt.log)"; }
    say "installed ($(slurmctld -V))"
}

# ---------------------------------------------------------------- up: config
node_line() {   # the node's topology from `slurmd -C`, flat if CPUS differs from the real count
    local hw cpus mem
    hw=$(slurmd -C | head -n 1 | cut -d' ' -f2-)   # CPUs=2 Boards=1 SocketsPerBoard=1 ... RealMemory=24105
    cpus=$(echo "$hw" | grep -o 'CPUs=[0-9]*' | cut -d= -f2)
    mem=$(( $(echo "$hw" | grep -o 'RealMemory=[0-9]*' | cut -d= -f2) * 9 / 10 ))   # under RAM, or the node drains
    if [ "$cpus" = "$CPUS" ]; then echo "${hw% RealMemory=*} RealMemory=$mem"
    else echo "CPUs=$CPUS Boards=1 SocketsPerBoard=1 CoresPerSocket=$CPUS ThreadsPerCore=1 RealMemory=$mem"; fi
}

slurm_conf() {   # slurm_conf NODE -> prints slurm.conf
    local node=$1 topo mem gres="" gres_types="" requeue=""
    topo=$(node_line); mem=${topo##*RealMemory=}
    if [ "$GPUS" -gt 0 ]; then gres=" Gres=gpu:$GPUS"; gres_types="GresTypes=gpu"; fi
    requeue="# RequeueExit: none (LOCAL_SLURM_REQUEUE_EXIT)"
    if [ -n "$REQUEUE_EXIT" ]; then requeue="RequeueExit=$REQUEUE_EXIT"; fi
    cat <<EOF
$MARKER
ClusterName=local
SlurmctldHost=$node(127.0.0.1)
SlurmUser=root
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation=$ROOT/ctld
SlurmdSpoolDir=$ROOT/d
SlurmctldPidFile=$(pidfile_of slurmctld)
SlurmdPidFile=$(pidfile_of slurmd)
SlurmctldLogFile=$LOG/slurmctld.log
SlurmdLogFile=$LOG/slurmd.log
MailProg=/bin/true
# linuxproc/none work in any container; cgroups may not be delegated here
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# without DefMemPerCPU a job with no --mem takes all node memory, and jobs run one at a time
DefMemPerCPU=$(( mem / CPUS ))
# lets CPUs exceed the real cores (several 1-CPU tasks on a 2-core machine)
SlurmdParameters=config_overrides
MpiDefault=none
# accounting through slurmdbd: sacct works, and submitit learns job states only from sacct
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/filetxt
JobCompLoc=$LOG/jobcomp.txt
MaxArraySize=$MAX_ARRAY_SIZE
MaxJobCount=100000
# finished jobs stay in scontrol/squeue -t all for 5 minutes
MinJobAge=300
# jobs may be requeued (scontrol requeue, submitit preemption); RequeueExit only if asked for
JobRequeue=1
$requeue
# kill exactly at the time limit and 5 s after SIGTERM, so timeout tests are short and predictable
OverTimeLimit=0
KillWait=5
ReturnToService=2
InactiveLimit=0
Waittime=0
$gres_types
NodeName=$node NodeAddr=127.0.0.1 $topo$gres State=UNKNOWN
PartitionName=debug Nodes=$node Default=YES MaxTime=7-00:00:00 State=UP
EOF
}

slurmdbd_conf() {
    cat <<EOF
$MARKER
AuthType=auth/munge
DbdHost=localhost
DbdAddr=127.0.0.1
SlurmUser=root
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StoragePass=$DB_PASS
StorageLoc=slurm_acct_db
LogFile=$LOG/slurmdbd.log
PidFile=$(pidfile_of slurmdbd)
EOF
}

install_conf() {   # install_conf DEST MODE CONTENT -> exit 0 iff DEST changed
    local dest=$1 new; new=$(mktemp)
    printf '%s\n' "$3" > "$new"
    if cmp -s "$new" "$dest"; then rm -f "$new"; return 1; fi
    if [ -f "$dest" ] && ! grep -qF "$MARKER" "$dest"; then cp -p "$dest" "$dest.before-local_slurm"; say "saved $dest as $dest.before-local_slurm"; fi
    install -m "$2" "$new" "$dest"; rm -f "$new"
}

make_fake_gpus() {   # slurmd only hands out GRES files that are char devices: clones of /dev/null
    local i; mkdir -p "$ROOT/fakegpu"
    for i in $(seq 0 $((GPUS - 1))); do [ -c "$ROOT/fakegpu/nvidia$i" ] || mknod "$ROOT/fakegpu/nvidia$i" c 1 3; done
}

write_configs() {   # sets SLURM_CHANGED / DBD_CHANGED
    local node conf; node=$(hostname -s)
    # job code often uses the node NAME as rendezvous host (submitit sets MASTER_ADDR=<node>)
    getent hosts "$node" >/dev/null || { echo "127.0.0.1 $node" >> /etc/hosts; say "added $node to /etc/hosts"; }
    mkdir -p "$ROOT/ctld" "$ROOT/d" "$RUN" "$LOG" "$CONF"
    SLURM_CHANGED=0; DBD_CHANGED=0
    conf=$(slurm_conf "$node"); install_conf "$CONF/slurm.conf" 644 "$conf" && SLURM_CHANGED=1
    if [ "$GPUS" -gt 0 ]; then
        make_fake_gpus
        conf=$(printf '%s\nName=gpu File=%s/fakegpu/nvidia[0-%d]' "$MARKER" "$ROOT" $((GPUS - 1)))
        install_conf "$CONF/gres.conf" 644 "$conf" && SLURM_CHANGED=1
    elif [ -f "$CONF/gres.conf" ]; then rm -f "$CONF/gres.conf"; SLURM_CHANGED=1; fi
    conf=$(slurmdbd_conf); install_conf "$CONF/slurmdbd.conf" 600 "$conf" && DBD_CHANGED=1   # slurmdbd insists on 0600
    say "config $( [ $((SLURM_CHANGED + DBD_CHANGED)) -gt 0 ] && echo written || echo unchanged ): $CONF (node $node, $CPUS CPUs, $GPUS GPUs, MaxArraySize=$MAX_ARRAY_SIZE)"
}

# ---------------------------------------------------------------- up: daemons
# Every daemon gets </dev/null and a log file as stdout/stderr: a daemon that kept the caller's
# stdout open would make `$(local_slurm.sh up)` or subprocess.run(capture_output=True) hang.
start_munged() {
    if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then say "munged already running"; return 0; fi
    install -d -o munge -g munge -m 0755 /run/munge   # tmpfs: gone after a reboot
    [ -s /etc/munge/munge.key ] || { mungekey --create --keyfile=/etc/munge/munge.key; chown munge:munge /etc/munge/munge.key; }
    runuser -u munge -- munged --pid-file="$(pidfile_of munged)" </dev/null >>"$LOG/munged.out" 2>&1 9>&- \
        || { tails "$LOG/munged.out" /var/log/munge/munged.log; die "munged failed to start"; }
    record_started munged
    wait_until sh -c 'munge -n | unmunge' || { tails /var/log/munge/munged.log; die "munged did not come up"; }
    say "munged started (pid $(pid_of munged))"
}

start_mariadbd() {
    if pid_of mariadbd >/dev/null; then say "mariadbd already running"
    else
        install -d -o mysql -g mysql -m 0755 /run/mysqld "$LOG/mariadb"   # it runs as mysql
        [ -d /var/lib/mysql/mysql ] || mariadb-install-db --user=mysql --datadir=/var/lib/mysql >"$LOG/mariadb-install.log" 2>&1
        setsid -f mariadbd --user=mysql --skip-networking --socket="$DB_SOCK" --pid-file="$(pidfile_of mariadbd)" \
            --log-error="$LOG/mariadb/mariadb.err" </dev/null >/dev/null 2>&1 9>&-
        wait_until mariadb-admin --socket="$DB_SOCK" ping || { tails "$LOG/mariadb/mariadb.err"; die "mariadbd did not come up"; }
        wait_until pid_of mariadbd || die "mariadbd wrote no PID file"
        record_started mariadbd
        say "mariadbd started (pid $(pid_of mariadbd))"
    fi
    # job ids restart at 1 after a clean: old records would mix with new ones in `sacct -j N`
    if [ "$CLEAN" = 1 ]; then
        mariadb --socket="$DB_SOCK" -e "DROP DATABASE IF EXISTS slurm_acct_db"; say "dropped the accounting database"
    fi
    mariadb --socket="$DB_SOCK" -e "CREATE DATABASE IF NOT EXISTS slurm_acct_db;
        CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY '$DB_PASS';
        GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost'; FLUSH PRIVILEGES;"
}

start_slurm_daemon() {   # start_slurm_daemon NAME PORT READY_CMD... (slurmdbd, slurmctld, slurmd)
    local name=$1 port=$2; shift 2
    if pid_of "$name" >/dev/null; then say "$name already running"; return 0; fi
    port_free "$port" || die "port $port is taken by a $name this script did not start"
    local args=(); [ "$name" = slurmd ] && args=(-N "$(hostname -s)")
    "$name" "${args[@]}" </dev/null >>"$LOG/$name.out" 2>&1 9>&- || { tails "$LOG/$name.log" "$LOG/$name.out"; die "$name failed to start"; }
    record_started "$name"
    wait_until "$@" || { tails "$LOG/$name.log"; die "$name does not answer"; }
    say "$name started (pid $(pid_of "$name"))"
}

node_usable() {   # prints the node state; exit 0 iff it takes jobs
    local state; state=$(sinfo -h -n "$(hostname -s)" -o '%T' 2>/dev/null | head -n 1)
    echo "${state:-unreachable}"
    case "$state" in idle|mixed|allocated|completing) return 0 ;; esac
    return 1
}

wait_for_node() {
    local _ state
    for _ in $(seq 1 $((WAIT_S * 4))); do
        state=$(node_usable) && break
        case "$state" in *drain*|down*) scontrol update NodeName="$(hostname -s)" State=RESUME >/dev/null 2>&1 || true ;; esac
        sleep 0.25
    done
    node_usable >/dev/null || { tails "$LOG/slurmctld.log" "$LOG/slurmd.log"; die "node is '$state' after ${WAIT_S}s"; }
    wait_until sacct -n -X -S now || { tails "$LOG/slurmdbd.log"; die "sacct does not answer"; }
    say "node $(hostname -s) is $state, sacct answers"
}

cmd_up() {
    require_uint LOCAL_SLURM_CPUS "$CPUS"; require_uint LOCAL_SLURM_GPUS "$GPUS"; require_uint LOCAL_SLURM_WAIT "$WAIT_S"
    require_uint LOCAL_SLURM_MAX_ARRAY_SIZE "$MAX_ARRAY_SIZE"
    [ "$CPUS" -ge 1 ] || die "LOCAL_SLURM_CPUS must be at least 1"
    [[ "$REQUEUE_EXIT" =~ ^[0-9,-]*$ ]] || die "LOCAL_SLURM_REQUEUE_EXIT must be exit codes like 42 or 40-42,50, got '$REQUEUE_EXIT'"
    [[ "$CLEAN" =~ ^[01]$ ]] || die "LOCAL_SLURM_CLEAN must be 0 or 1, got '$CLEAN'"
    install_packages
    write_configs
    if [ "$CLEAN" = 1 ] || [ "$SLURM_CHANGED" = 1 ] || [ "$DBD_CHANGED" = 1 ]; then
        # both slurmctld and slurmd must restart on a new config (they compare config hashes)
        stop_owned slurmd slurmctld
        if [ "$CLEAN" = 1 ] || [ "$DBD_CHANGED" = 1 ]; then stop_owned slurmdbd; fi
    fi
    if [ "$CLEAN" = 1 ]; then
        pid_of slurmctld >/dev/null && die "LOCAL_SLURM_CLEAN=1: a slurmctld this script did not start is running"
        rm -rf "${ROOT:?}/ctld/"* "${ROOT:?}/d/"*; : > "$LOG/jobcomp.txt"; say "cleared controller state"
    fi
    start_munged
    start_mariadbd
    start_slurm_daemon slurmdbd 6819 bash -c '(exec 3<>/dev/tcp/127.0.0.1/6819)'
    start_slurm_daemon slurmctld 6817 scontrol ping
    start_slurm_daemon slurmd 6818 true
    wait_for_node
    say "READY in $(( ($(date +%s%N) - T0) / 1000000 )) ms. logs: $LOG  stop: bash $0 down"
}

# ---------------------------------------------------------------- down, status
cmd_down() {
    [ "${1:-}" = --cancel-jobs ] && scontrol ping >/dev/null 2>&1 && cancel_all_jobs
    [ -s "$STARTED" ] || { say "nothing recorded in $STARTED: no daemon of ours to stop"; return 0; }
    # in waves, each daemon about 2 s: slurm's before slurmdbd (they report to it), auth and DB last
    stop_owned slurmd slurmctld
    stop_owned slurmdbd
    stop_owned mariadbd munged
    rm -f "$STARTED"
    say "down in $(( ($(date +%s%N) - T0) / 1000000 )) ms"
}

cancel_all_jobs() {
    local ids; ids=$(squeue -h -o '%A' | sort -u | tr '\n' ' ')
    [ -n "${ids// /}" ] || return 0
    say "cancelling jobs: $ids"
    # shellcheck disable=SC2086
    scancel $ids || true
    # shellcheck disable=SC2016  # squeue runs at each retry, in the inner shell
    wait_until sh -c '[ -z "$(squeue -h)" ]' || say "some jobs are still in squeue after ${WAIT_S}s"
}

cmd_status() {
    local name pid usable=0
    for name in munged mariadbd slurmdbd slurmctld slurmd; do
        if pid=$(pid_of "$name"); then echo "$name: running (pid $pid$(owned "$name" || echo ', not started by this script'))"
        elif [ -e "$(pidfile_of "$name")" ] && [ ! -r "$(pidfile_of "$name")" ]; then echo "$name: unknown (PID file not readable; run as root)"
        else echo "$name: not running"; fi
    done
    sinfo 2>&1 || true
    node_usable >/dev/null && sacct -n -X -S now >/dev/null 2>&1 && usable=1
    [ "$usable" = 1 ] && echo "usable: yes" || echo "usable: no (start it with: bash $0 up)"
    [ "$usable" = 1 ]
}

[ $# -ge 1 ] || usage
cmd=$1; shift
case "$cmd" in
    up|status) [ $# = 0 ] || usage ;;
    down) [ $# = 0 ] || { [ $# = 1 ] && [ "$1" = --cancel-jobs ]; } || usage ;;
    -h|--help) usage ;;
    *) usage ;;
esac
if [ "$cmd" != status ]; then
    [ "$(id -u)" = 0 ] || die "must run as root (it installs packages, writes /etc/slurm and starts daemons)"
    mkdir -p "$RUN"; exec 9>"$RUN/lock"   # one `up` or `down` at a time: parallel test sessions all call `up`
    flock -w 600 9 || die "another local_slurm.sh up/down still runs after 600 s"
fi
"cmd_$cmd" "$@"
