#!/usr/bin/env bash
# The before/after story in one command, recorded under docs/demo/:
#   fresh local EC2-like host -> compliance audit (before) -> scans of the original app
#   -> converge with playbooks/site.yml -> audit (after) -> scans of the hardened app and host.
# docs/demo/demo.cast is a terminal recording (asciinema, or util-linux `script` with timing
# when asciinema is missing); docs/demo/transcript.txt is the same output as plain text.
#
#   scripts/demo_story.sh                 host $DOCKHARD_DEMO_HOST (default dockhard-local)
#   DOCKHARD_DEMO_HOST=my-host scripts/demo_story.sh
# The host is removed first if it exists (the story starts from a fresh host) and kept at the end;
# `DOCKHARD_DEMO_HOST=... ./dockhard demo-down` removes it. Needs the venv, the Docker engine
# and the host image (./dockhard demo or ./dockhard images installs them).
set -euo pipefail
cd "$(dirname "$0")/.."
HOST="${DOCKHARD_DEMO_HOST:-dockhard-local}"
# nginx's loopback listener on the host, as the app role defines it.
LISTEN="$(sed -n 's/^docker_app_proxy_local_listen: //p' roles/docker_app/defaults/main.yml)"
OUT=docs/demo
VENV=.venv
export PATH="$PWD/$VENV/bin:$PATH" ANSIBLE_FORCE_COLOR=0 PY_COLORS=0 NO_COLOR=1
# Only what changes (and failures) from the plays: the story, not every ok task or its timing.
export ANSIBLE_DISPLAY_OK_HOSTS=false ANSIBLE_DISPLAY_SKIPPED_HOSTS=false ANSIBLE_CALLBACKS_ENABLED=ansible.posix.timer
BANDIT_LINE="{relpath}:{line} {test_id} {severity} {msg}"

record() {
  mkdir -p "$OUT"
  rm -f "$OUT/demo.cast" "$OUT/demo.timing"
  if command -v asciinema >/dev/null; then
    asciinema rec --quiet --overwrite --cols 120 --rows 40 \
      -c "bash scripts/demo_story.sh --story" "$OUT/demo.cast"
  else
    script --quiet --return --log-timing "$OUT/demo.timing" --log-out "$OUT/demo.cast" \
      -c "bash scripts/demo_story.sh --story"
  fi
  echo "recording: $OUT/demo.cast   transcript: $OUT/transcript.txt"
}

# Print a command as it could be typed, then run it (the transcript shows what produced
# each number). Words with shell characters are shown in single quotes.
run() {
  local shown="" word
  for word in "$@"; do
    if [[ $word =~ ^[A-Za-z0-9_./:=%+,-]+$ ]]; then
      shown+=" $word"
    elif [[ $word != *"'"* ]]; then
      shown+=" '$word'"
    elif [[ $word != *[\"\$\`\\]* ]]; then
      shown+=" \"$word\""
    else
      shown+=" '${word//\'/\'\\\'\'}'"
    fi
  done
  printf '\n$%s\n' "$shown"
  "$@"
}
chapter() { printf '\n==== %s ====\n' "$*"; }

# An inventory for the host: the embedded one names dockhard-local only.
inventory() {
  if [ "$HOST" = dockhard-local ]; then
    echo inventory/local/hosts.yml
    return
  fi
  mkdir -p build/demo-story
  cat >build/demo-story/hosts.yml <<INV
---
docker_hosts:
  hosts:
    $HOST:
      ansible_connection: community.docker.docker
      ansible_python_interpreter: /usr/bin/python3
app_hosts:
  hosts:
    $HOST:
INV
  echo build/demo-story/hosts.yml
}

local_host() {
  ansible-playbook playbooks/local_host.yml -e "$(printf \
    '{"dockhard_local_hosts": [{"name": "%s", "image": "dockhard/host:trixie"}], "dockhard_local_host_state": "%s"}' \
    "$HOST" "$1")"
}

# One request through nginx on the host, as a client on the host would send it.
fetch() {
  docker exec "$HOST" python3 -c '
import sys, urllib.error, urllib.request
try:
    r = urllib.request.urlopen("http://" + sys.argv[1] + sys.argv[2], timeout=10)
    print(r.status, r.read().decode()[:200])
except urllib.error.HTTPError as e:
    print(e.code, e.read().decode()[:200])' "$LISTEN" "$1"
}

story() {
  local inv start=$SECONDS
  inv="$(inventory)"
  chapter "1. a fresh EC2-like host: $HOST (Debian 13, systemd, no Docker yet)"
  rm -f reports/compliance/"$HOST".*
  run local_host absent >/dev/null
  # A second try when the first asks systemd before its bus is up (the container is kept).
  run local_host started || run local_host started || return 1
  chapter "2. compliance audit before (read-only)"
  run ansible-playbook -i "$inv" playbooks/audit.yml -l "$HOST" -e docker_compliance_phase=before ||
    echo "(the audit of the bare host failed; site.yml audits it again before converging)"
  chapter "3. the original app (files/original): scans, and what its endpoints do"
  run bandit -q -r files/original --format custom --msg-template "$BANDIT_LINE" || true
  run hadolint files/original/Dockerfile || true
  run python3 tools/docker_security_fixes.py --check files/original/Dockerfile files/original/compose.yaml || true
  # In-process, sandboxed (scripts/measure.py): the registry images of the original stack
  # cannot be pulled here, so the app itself answers, as its Flask dev server would.
  run python3 scripts/measure.py --probe original /ping ip '127.0.0.1; id; touch /tmp/pwned'
  run python3 scripts/measure.py --probe original /calculate expr "__import__('os').popen('id').read()"
  chapter "4. converge: playbooks/site.yml"
  run ansible-playbook -i "$inv" playbooks/site.yml -l "$HOST" || return 1
  chapter "5. compliance audit after (read-only)"
  run ansible-playbook -i "$inv" playbooks/audit.yml -l "$HOST"
  run python3 scripts/compliance_table.py "$HOST" || true
  chapter "6. re-scan: the hardened app, its images, hostile input through nginx"
  run bandit -q -r files/app --format custom --msg-template "$BANDIT_LINE" || true
  run python3 scripts/measure.py --probe hardened /ping ip '127.0.0.1; id; touch /tmp/pwned'
  run hadolint files/app/Dockerfile files/app/db/Dockerfile || true
  run python3 tools/docker_security_fixes.py --check files/app/Dockerfile files/app/db/Dockerfile files/app/compose.yaml
  run python3 scripts/measure.py --scan-images --host "$HOST"
  run fetch '/calculate?expr=2%2B3'
  run fetch '/calculate?expr=__import__(%27os%27).system(%27id%27)'
  run fetch '/calculate?expr=9**9**9'
  run fetch '/ping?ip=127.0.0.1%3B%20id'
  run docker exec "$HOST" sh -c 'docker ps --format "{{.Names}}: {{.Ports}}"; ss -ltnH "sport = :'"${LISTEN##*:}"'"'
  chapter "7. the numbers of docs/summary_report.md"
  run python3 scripts/measure.py --host "$HOST"
  run python3 scripts/gen_docs.py
  chapter "done in $(( (SECONDS - start) / 60 )) min $(( (SECONDS - start) % 60 )) s; the host $HOST keeps running"
}

case "${1:-}" in
  --story)
    # Plain-text copy of everything the recording shows.
    rc=0
    story 2>&1 | tee "$OUT/transcript.raw" || rc=$?
    sed 's/\x1b\[[0-9;?]*[A-Za-z]//g; s/\r$//' "$OUT/transcript.raw" >"$OUT/transcript.txt"
    rm -f "$OUT/transcript.raw"
    exit "$rc"
    ;;
  "") record ;;
  *) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
