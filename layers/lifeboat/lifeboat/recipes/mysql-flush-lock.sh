#!/usr/bin/env bash
# Lifeboat recipe: MySQL / MariaDB read lock around a backup (docs/concepts/consistency.md).
#
#   mysql-flush-lock.sh freeze [SECONDS]   # pre script: SECONDS is how long the lock may be held
#   mysql-flush-lock.sh thaw               # post script
#
# freeze opens one background client session that runs FLUSH TABLES WITH READ LOCK, reports
# that it holds the lock, then SELECT SLEEP(SECONDS) and UNLOCK TABLES: the lock is released
# when the timer ends even if the post script never comes (and the server releases it anyway
# when the session ends). The pre script returns only once the lock is held (exit 1 if it is not
# within SECONDS: the snapshot then follows on_pre_failure). thaw ends that session (KILL of its
# connection id, then its client process): the lock goes at once. thaw with no session held
# succeeds (safe when the pre script failed or never ran). When the timer released the lock
# first, thaw exits 3: the snapshot may have been taken after that, and Lifeboat then records
# the point as crash-consistent. Choose SECONDS longer than the time from the pre script to the
# snapshot call (docs/concepts/consistency.md, "Sizing the timer").
# Credentials: the client's option files (/root/.my.cnf with [client] user and password), or
# LIFEBOAT_MYSQL="mysql --defaults-extra-file=/etc/lifeboat/my.cnf".
set -euo pipefail

read -r -a MYSQL <<< "${LIFEBOAT_MYSQL:-mysql}"
STATE_DIR="${LIFEBOAT_STATE_DIR:-/run/lifeboat}"
session="$STATE_DIR/mysql-lock"

usage() { echo "usage: $0 freeze [SECONDS] | thaw" >&2; exit 2; }

timer_released() { grep -qx 'lifeboat-timer-released' "$session.out" 2>/dev/null; }

release() {
  if [ -f "$session.id" ]; then
    id="$(cat "$session.id")"
    case "$id" in ''|*[!0-9]*) ;; *) "${MYSQL[@]}" -e "KILL $id" 2>/dev/null || true ;; esac
  fi
  if [ -f "$session.pid" ]; then
    kill "$(cat "$session.pid")" 2>/dev/null || true
  fi
  rm -f "$session.id" "$session.pid" "$session.out"
}

[ $# -ge 1 ] || usage
case "$1" in
  freeze)
    seconds="${2:-60}"
    case "$seconds" in ''|*[!0-9]*) echo "SECONDS must be a whole number" >&2; exit 2 ;; esac
    mkdir -p "$STATE_DIR"
    release
    # The session: its statements run in order; SLEEP holds the lock, then UNLOCK releases it.
    printf '%s\n' \
      "SET SESSION lock_wait_timeout = $seconds;" \
      "SELECT CONNECTION_ID();" \
      "FLUSH TABLES WITH READ LOCK;" \
      "SELECT 'lifeboat-locked';" \
      "SELECT SLEEP($seconds);" \
      "UNLOCK TABLES;" \
      "SELECT 'lifeboat-timer-released';" |
      setsid nohup "${MYSQL[@]}" --batch --skip-column-names > "$session.out" 2>&1 &
    echo $! > "$session.pid"
    for _ in $(seq 1 $((seconds * 10))); do
      if grep -qx 'lifeboat-locked' "$session.out" 2>/dev/null; then
        head -n 1 "$session.out" > "$session.id"
        echo "read lock held (released by the post script, or after ${seconds}s)"
        exit 0
      fi
      if ! kill -0 "$(cat "$session.pid")" 2>/dev/null; then break; fi
      sleep 0.1
    done
    echo "could not take the read lock: $(cat "$session.out" 2>/dev/null)" >&2
    release
    exit 1
    ;;
  thaw)
    if timer_released; then
      release
      echo "the timer had already released the read lock: this backup may not be consistent" \
        "(make SECONDS longer)" >&2
      exit 3
    fi
    release
    echo "read lock released"
    ;;
  *) usage ;;
esac
