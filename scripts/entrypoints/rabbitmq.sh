#!/bin/sh
# Start RabbitMQ with the user from the environment (no guest, no default password).
set -eu
: "${RABBITMQ_USER:?set RABBITMQ_USER}"
: "${RABBITMQ_PASSWORD:?set RABBITMQ_PASSWORD}"
conf=/etc/rabbitmq/rabbitmq.conf
cp /etc/rabbitmq/rabbitmq.base.conf "$conf"
printf 'default_user = %s\ndefault_pass = %s\n' "$RABBITMQ_USER" "$RABBITMQ_PASSWORD" >> "$conf"
if [ "${RABBITMQ_MANAGEMENT:-false}" = "true" ]; then
  echo '[rabbitmq_management].' > /etc/rabbitmq/enabled_plugins
else
  echo '[].' > /etc/rabbitmq/enabled_plugins
fi
chown rabbitmq:rabbitmq "$conf" /etc/rabbitmq/enabled_plugins
exec runuser -u rabbitmq -- /usr/lib/rabbitmq/bin/rabbitmq-server
