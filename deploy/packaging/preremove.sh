#!/bin/sh
set -e
if [ -d /run/systemd/system ]; then
  systemctl stop otelcol-erviz.service >/dev/null 2>&1 || true
  if [ "$1" = "remove" ] || [ "$1" = "purge" ] || [ "$1" = "0" ]; then
    systemctl disable otelcol-erviz.service >/dev/null 2>&1 || true
  fi
fi
