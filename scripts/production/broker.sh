#!/usr/bin/env bash
# A RabbitMQ virtual host and a user of the same name with rights on it only, for one AiiDA
# profile. The password is read from standard input (rabbitmqctl reads it from there too), so it
# never appears in `ps` or in logs.
#
#   broker.sh create NAME < password-file   create vhost NAME and user NAME (idempotent)
#   broker.sh drop NAME                     delete vhost NAME (and its queues) and user NAME
set -euo pipefail

usage() {
    echo "usage: $0 create|drop NAME" >&2
    exit 2
}
(($# == 2)) || usage
name=$2
[[ $name =~ ^[A-Za-z0-9_.-]+$ ]] || {
    echo "broker.sh: NAME must match [A-Za-z0-9_.-]+, got '$name'" >&2
    exit 2
}

case $1 in
create)
    IFS= read -r password
    if rabbitmqctl -q list_users | cut -f1 | grep -qx "$name"; then
        printf '%s' "$password" | rabbitmqctl -q change_password "$name" >/dev/null
    else
        printf '%s' "$password" | rabbitmqctl -q add_user "$name" >/dev/null
    fi
    rabbitmqctl -q list_vhosts | grep -qx "$name" || rabbitmqctl -q add_vhost "$name" >/dev/null
    rabbitmqctl -q set_permissions -p "$name" "$name" '.*' '.*' '.*' >/dev/null
    ;;
drop)
    rabbitmqctl -q list_vhosts | grep -qx "$name" && rabbitmqctl -q delete_vhost "$name" >/dev/null
    rabbitmqctl -q list_users | cut -f1 | grep -qx "$name" && rabbitmqctl -q delete_user "$name" >/dev/null
    true
    ;;
*) usage ;;
esac
