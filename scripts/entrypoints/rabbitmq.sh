#!/bin/sh
# Start RabbitMQ with the user from the environment (no guest, no default password).
# The configuration is written to /tmp: the root file system may be read-only.
set -eu
: "${RABBITMQ_USER:?set RABBITMQ_USER}"
: "${RABBITMQ_PASSWORD:?set RABBITMQ_PASSWORD}"
mkdir -p /tmp/rabbitmq/log
umask 077
conf=/tmp/rabbitmq/rabbitmq.conf
cp /etc/rabbitmq/rabbitmq.base.conf "$conf"
printf 'default_user = %s\ndefault_pass = %s\n' "$RABBITMQ_USER" "$RABBITMQ_PASSWORD" >> "$conf"
if [ "${RABBITMQ_MANAGEMENT:-false}" = "true" ]; then
  echo '[rabbitmq_management].' > /tmp/rabbitmq/enabled_plugins
else
  echo '[].' > /tmp/rabbitmq/enabled_plugins
fi
exec /usr/lib/rabbitmq/bin/rabbitmq-server
