#!/bin/sh
# Installs what building and testing booklore-syncd needs on Debian 12 (run as root).
set -eu
export DEBIAN_FRONTEND=noninteractive
apt-get update
# libboost1.81-dev conflicts with the default libboost-dev (1.74): only 1.81 is installed.
apt-get install -y --no-install-recommends \
    g++ cmake ninja-build pkg-config \
    libboost1.81-dev libssl-dev libsqlite3-dev rapidjson-dev libspdlog-dev catch2 \
    sqlite3 openssl ca-certificates curl python3 python3-pytest \
    iproute2 strace faketime luajit lua-check busybox systemd procps util-linux \
    clang-14 clang-format-14 libclang-rt-14-dev nftables
