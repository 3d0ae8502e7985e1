#!/usr/bin/env bash
# PostgreSQL and RabbitMQ for AiiDA's production storage and broker, without systemd (Debian 12, root).
#
#   services.sh start USER   install what is missing, start what is not running, register USER
#   services.sh stop USER    unregister USER; when no other user is left, stop what any of them
#                            started (services found running already are never stopped)
#
# USER is a name (the production set-up uses its state directory, a test session its own). Users
# live in a small registry ($MLIP_AUTOPIPE_SERVICES_REGISTRY, default /run/mlip-autopipe-services);
# with MLIP_AUTOPIPE_SERVICES_PID set, a user whose process has died no longer counts, so that a test
# session killed hard does not keep the services up forever. This lets a test session run while the
# production stack is up, or two test sessions at once, without one stopping the other's services.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../../src/aiida_mlip_autopipe/installers/debian.sh"

PG_VERSION=${PG_VERSION:-15}
PG_CLUSTER=${PG_CLUSTER:-main}
PACKAGES=(postgresql locales rabbitmq-server)
REGISTRY=${MLIP_AUTOPIPE_SERVICES_REGISTRY:-/run/mlip-autopipe-services}

log() { printf '[services] %s\n' "$*"; }

usage() {
    echo "usage: $0 start|stop USER" >&2
    exit 2
}
(($# == 2)) || usage
action=$1
user_key=$(printf '%s' "$2" | sha256sum | cut -c1-16)
started=$REGISTRY/started
mkdir -p "$REGISTRY/users"
chmod 700 "$REGISTRY"
exec 9>"$REGISTRY/lock"
flock -w 600 9 || {
    echo "[services] could not lock $REGISTRY/lock within 600 s" >&2
    exit 1
}

# daemons started from here must not inherit the registry lock (fd 9): they would hold it forever
pg_running() { pg_lsclusters -h "$PG_VERSION" "$PG_CLUSTER" 2>/dev/null | grep -q ' online'; }
rabbit_running() { timeout 30 rabbitmqctl -q status >/dev/null 2>&1 9>&-; }
epmd_running() { epmd -names >/dev/null 2>&1 9>&-; }

install_missing() {
    # no systemd here: the packages' own start attempts are refused, which is what we want
    ensure_debian_packages "${PACKAGES[@]}"
}

ensure_locale() {
    # AiiDA creates its database with the en_US.UTF-8 collation; PostgreSQL sees a newly generated
    # locale only after a restart
    if locale -a 2>/dev/null | grep -qix 'en_US.utf8'; then
        return 1
    fi
    log "generating the en_US.UTF-8 locale"
    sed -i 's/^# *\(en_US.UTF-8 UTF-8\)/\1/' /etc/locale.gen
    grep -q '^en_US.UTF-8 UTF-8' /etc/locale.gen || echo 'en_US.UTF-8 UTF-8' >>/etc/locale.gen
    locale-gen >/dev/null
    return 0
}

# AiiDA's tasks can wait longer than RabbitMQ's default 30 min consumer timeout: undefined in
# advanced.config (read at start, so it survives restarts by anyone) when the file does not exist;
# an existing file is left alone. start() also sets it at runtime, for a RabbitMQ already running.
RABBITMQ_ADVANCED_CONFIG=${RABBITMQ_ADVANCED_CONFIG:-/etc/rabbitmq/advanced.config}
ensure_consumer_timeout_config() {
    if [[ ! -e $RABBITMQ_ADVANCED_CONFIG ]]; then
        log "writing $RABBITMQ_ADVANCED_CONFIG (consumer_timeout undefined)"
        mkdir -p "$(dirname "$RABBITMQ_ADVANCED_CONFIG")"
        echo '[{rabbit, [{consumer_timeout, undefined}]}].' >"$RABBITMQ_ADVANCED_CONFIG"
    elif ! grep -q consumer_timeout "$RABBITMQ_ADVANCED_CONFIG"; then
        log "$RABBITMQ_ADVANCED_CONFIG exists without consumer_timeout: set at runtime only"
    fi
}

start() {
    printf '%s %s\n' "${MLIP_AUTOPIPE_SERVICES_PID:-0}" "$2" >"$REGISTRY/users/$user_key"
    touch "$started"
    install_missing
    ensure_consumer_timeout_config
    local locale_new=0
    ensure_locale && locale_new=1
    if pg_running; then
        if ((locale_new)); then
            log "restarting PostgreSQL $PG_VERSION/$PG_CLUSTER for the new locale"
            pg_ctlcluster "$PG_VERSION" "$PG_CLUSTER" restart 9>&-
        fi
        log "PostgreSQL $PG_VERSION/$PG_CLUSTER is running"
    else
        log "starting PostgreSQL $PG_VERSION/$PG_CLUSTER"
        pg_ctlcluster "$PG_VERSION" "$PG_CLUSTER" start 9>&-
        echo postgresql >>"$started"
    fi
    # checked first: any rabbitmqctl call starts epmd
    local epmd_before=1
    epmd_running || epmd_before=0
    if rabbit_running; then
        log "RabbitMQ is running"
    else
        ((epmd_before)) || echo epmd >>"$started"
        log "starting RabbitMQ (about 20 s)"
        rabbitmq-server -detached 9>&-
        echo rabbitmq >>"$started"
        local deadline=$((SECONDS + 120))
        until timeout 60 rabbitmqctl -q await_startup >/dev/null 2>&1 9>&-; do
            if ((SECONDS > deadline)); then
                echo "[services] RabbitMQ did not start within 120 s; see /var/log/rabbitmq/" >&2
                exit 1
            fi
            sleep 1
        done
        log "RabbitMQ is ready"
    fi
    # for a RabbitMQ started before advanced.config was written (or with its own advanced.config)
    rabbitmqctl -q eval 'application:set_env(rabbit, consumer_timeout, undefined).' >/dev/null 9>&-
}

other_users() {  # users still registered, those with a dead process pruned
    local file pid name
    for file in "$REGISTRY"/users/*; do
        [[ -e $file ]] || continue
        read -r pid name <"$file"
        if [[ $pid != 0 ]] && ! kill -0 "$pid" 2>/dev/null; then
            rm -f "$file"
            continue
        fi
        echo "$name"
    done
}

stop() {
    rm -f "$REGISTRY/users/$user_key"
    local others
    others=$(other_users)
    if [[ -n $others ]]; then
        log "services still used by: $(echo "$others" | tr '\n' ' ')(left running)"
        return 0
    fi
    [[ -f $started ]] || return 0
    if grep -qx rabbitmq "$started"; then
        log "stopping RabbitMQ"
        timeout 60 rabbitmqctl -q shutdown >/dev/null 2>&1 || log "rabbitmqctl shutdown failed (already stopped?)"
    fi
    if grep -qx epmd "$started"; then
        timeout 10 epmd -kill >/dev/null 2>&1 || true
    fi
    if grep -qx postgresql "$started"; then
        log "stopping PostgreSQL $PG_VERSION/$PG_CLUSTER"
        pg_ctlcluster "$PG_VERSION" "$PG_CLUSTER" stop -m fast || log "PostgreSQL stop failed (already stopped?)"
    fi
    rm -f "$started"
}

case $action in
start) start "$@" ;;
stop) stop ;;
*) usage ;;
esac
