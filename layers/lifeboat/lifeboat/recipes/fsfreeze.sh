#!/usr/bin/env bash
# Lifeboat recipe: freeze a data filesystem around a backup (docs/concepts/consistency.md).
#
#   fsfreeze.sh freeze MOUNTPOINT [SECONDS]   # pre script: SECONDS is the watchdog (default 60)
#   fsfreeze.sh thaw MOUNTPOINT               # post script
#
# The watchdog starts BEFORE the freeze and thaws the filesystem after SECONDS whatever happens
# (the post script never comes, the SSM agent dies, Lifeboat's run is stopped): an instance is
# never left frozen. The thaw stops the watchdog and unfreezes; thawing a filesystem that is not
# frozen succeeds, so the post script is safe to run when the pre script failed or never ran.
# When the watchdog thawed first, thaw exits 3: the snapshot may have been taken after the thaw,
# and Lifeboat then records the point as crash-consistent. Choose SECONDS longer than the time
# from the pre script to the snapshot call (docs/concepts/consistency.md, "Sizing the timer").
# Never freeze the root filesystem (/): the SSM agent, the shell and this script live there.
# The watchdog's pid is kept under /run (a tmpfs), never on the filesystem being frozen.
set -euo pipefail

FSFREEZE="${LIFEBOAT_FSFREEZE:-fsfreeze}"
STATE_DIR="${LIFEBOAT_STATE_DIR:-/run/lifeboat}"

usage() { echo "usage: $0 freeze MOUNTPOINT [SECONDS] | thaw MOUNTPOINT" >&2; exit 2; }

[ $# -ge 2 ] || usage
action="$1" mount="$2" seconds="${3:-60}"
case "$mount" in
  /) echo "refusing to freeze /: the agent and this script run from it" >&2; exit 2 ;;
  /*) ;;
  *) echo "MOUNTPOINT must be an absolute path, got '$mount'" >&2; exit 2 ;;
esac
case "$seconds" in ''|*[!0-9]*) echo "SECONDS must be a whole number" >&2; exit 2 ;; esac
mkdir -p "$STATE_DIR"
pidfile="$STATE_DIR/fsfreeze$(printf '%s' "$mount" | tr '/' '_').pid"
released="${pidfile%.pid}.released"

stop_watchdog() {
  if [ -f "$pidfile" ]; then
    kill "$(cat "$pidfile")" 2>/dev/null || true
    rm -f "$pidfile"
  fi
}

thaw() {
  # "Invalid argument": the filesystem was not frozen (the watchdog or an earlier thaw did it).
  "$FSFREEZE" -u "$mount" 2>/dev/null || true
}

case "$action" in
  freeze)
    if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
      # The same pre script delivered twice: frozen already, and its watchdog still runs.
      echo "$mount is already frozen (its watchdog runs): nothing to do"
      exit 0
    fi
    stop_watchdog
    rm -f "$released"
    # setsid + nohup: the watchdog outlives this script, its session and the SSM command.
    setsid nohup bash -c "sleep '$seconds'; '$FSFREEZE' -u '$mount' 2>/dev/null; \
      echo \"\$(date -u +%FT%TZ)\" > '$released'; rm -f '$pidfile'" \
      >/dev/null 2>&1 < /dev/null &
    echo $! > "$pidfile"
    sync
    if ! "$FSFREEZE" -f "$mount"; then
      stop_watchdog
      echo "could not freeze $mount" >&2
      exit 1
    fi
    echo "froze $mount (thawed by the post script, or by the watchdog after ${seconds}s)"
    ;;
  thaw)
    stop_watchdog
    thaw
    if [ -f "$released" ]; then
      echo "the watchdog had already thawed $mount at $(cat "$released"): this backup may not" \
        "be consistent (make SECONDS longer)" >&2
      rm -f "$released"
      exit 3
    fi
    echo "thawed $mount"
    ;;
  *) usage ;;
esac
