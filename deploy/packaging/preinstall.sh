#!/bin/sh
set -e
if ! getent group otelcol-erviz >/dev/null; then
  groupadd --system otelcol-erviz
fi
if ! getent passwd otelcol-erviz >/dev/null; then
  useradd --system --gid otelcol-erviz --no-create-home --home-dir /var/lib/otelcol-erviz \
    --shell /usr/sbin/nologin --comment "otelcol-erviz collector" otelcol-erviz
fi
