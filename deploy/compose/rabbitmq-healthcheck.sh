#!/usr/bin/env bash
# The rabbitmq service's healthcheck: the broker takes connections, and the HTTP gateway's own
# user exists (made on the first healthy check, like mongo's replica set). The gateway connects
# as that user, which the services trust to act for API keys (INVOICEBUS_GATEWAYS); its
# permissions are a principal's with no grants (`invoicebus access broker-permissions`, for
# the default prefix `invoicebus`): publish commands and list requests, consume replies, and
# bind no tenant event key. tests/unit/test_compose.py checks them against that.
set -euo pipefail
rabbitmq-diagnostics -q check_port_connectivity
user="$RABBITMQ_GATEWAY_USER"
if ! rabbitmqctl -q list_users --no-table-headers | cut -f1 | grep -qxF "$user"; then
  # The password goes through stdin, not the command line.
  printf '%s\n' "$RABBITMQ_GATEWAY_PASSWORD" | rabbitmqctl -q add_user "$user"
  rabbitmqctl -q set_permissions -p / "$user" \
    '^amq\.gen-.*$' \
    '^(amq\.gen-.*|invoicebus\.commands|invoicebus\.queries)$' \
    '^(amq\.gen-.*|invoicebus\.tenant\-events)$'
  rabbitmqctl -q set_topic_permissions -p / "$user" invoicebus.tenant-events '^$' '^$'
fi
