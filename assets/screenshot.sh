#!/usr/bin/env bash
# Regenerates the README's screenshot from a real run: `paneherd demo` in a private tmux server,
# inside an xterm on a virtual X display (Xvfb), captured once the simulated agents are busy.
#
#   assets/screenshot.sh [--light] [--no-color] [--size COLSxROWS] [--delay SECS] [OUT.png]
#
# --light: black on white (default: a dark terminal); --no-color: NO_COLOR=1 for the demo;
# --size: the terminal's columns×rows (default 160x45); --delay: seconds to wait once three
# agents run (default 3; ~15 shows finished tasks too); OUT.png: default assets/dashboard.png.
# The binary is $PANEHERD_BIN, else target/release/paneherd; it is never built here. Nothing of
# the user's is touched: HOME, paneherd's dirs and the tmux socket all live in a temp dir.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
light=0 nocolor=0 size=160x45 delay=3 out=$root/assets/dashboard.png
while (($#)); do
  case $1 in
    --light) light=1 ;;
    --no-color) nocolor=1 ;;
    --size) size=${2:?--size needs COLSxROWS}; shift ;;
    --delay) delay=${2:?--delay needs SECS}; shift ;;
    -h | --help) sed -n '2,11s/^# \{0,1\}//p' "$0"; exit 0 ;;
    -*) echo "unknown option: $1 (see --help)" >&2; exit 2 ;;
    *) out=$1 ;;
  esac
  shift
done
[[ $size =~ ^[0-9]+x[0-9]+$ ]] || { echo "--size wants COLSxROWS, e.g. 120x35" >&2; exit 2; }
out=$(realpath -m "$out")

bin=${PANEHERD_BIN:-$root/target/release/paneherd}
[[ -x $bin ]] || { echo "no paneherd binary at $bin; run: cargo build --release" >&2; exit 1; }
bin=$(realpath "$bin")

# What this needs, from Debian, only when missing.
need=()
command -v Xvfb >/dev/null || need+=(xvfb)
command -v xterm >/dev/null || need+=(xterm)
command -v import >/dev/null || need+=(imagemagick)
command -v xwininfo >/dev/null || need+=(x11-utils)
command -v tmux >/dev/null || need+=(tmux)
[[ $(fc-list : family 2>/dev/null) == *'DejaVu Sans Mono'* ]] || need+=(fontconfig fonts-dejavu-core)
if ((${#need[@]})); then
  echo "installing from Debian: ${need[*]}"
  sudo=; ((EUID == 0)) || sudo=sudo
  if ! log=$($sudo apt-get update -qq 2>&1 &&
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" 2>&1); then
    printf '%s\n' "$log" >&2; echo "could not install: ${need[*]}" >&2; exit 1
  fi
fi

# Everything lives in one temp dir; the trap stops what was started and removes it, also on
# failure or ^C.
tmp=$(mktemp -d "${TMPDIR:-/tmp}/paneherd-shot.XXXXXX")
sock=$tmp/tmux.sock xvfb_pid= xterm_pid=
cleanup() {
  set +e
  # Quit the demo first (it would start a new daemon if that went first), then the daemon.
  local demo; demo=$(tmux -S "$sock" display -p -t shot:0.0 '#{pane_pid}' 2>/dev/null)
  tmux -S "$sock" send-keys -t shot:0.0 q 2>/dev/null
  for _ in $(seq 50); do [[ -n $demo ]] && kill -0 "$demo" 2>/dev/null || break; sleep 0.1; done
  tmux -S "$sock" kill-server 2>/dev/null
  for _ in $(seq 30); do [[ -n $demo ]] && kill -0 "$demo" 2>/dev/null || break; sleep 0.1; done
  timeout 10 "$bin" daemon stop >/dev/null 2>&1
  [[ -n $xterm_pid ]] && kill "$xterm_pid" 2>/dev/null
  [[ -n $xvfb_pid ]] && kill "$xvfb_pid" 2>/dev/null
  wait 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A clean environment, inherited by Xvfb, xterm, tmux, the demo and the daemon it starts. No
# session bus: the demo's desktop notification goes nowhere.
mkdir -p -m 700 "$tmp/home" "$tmp/data" "$tmp/run"
export HOME=$tmp/home PANEHERD_DATA_DIR=$tmp/data PANEHERD_RUNTIME_DIR=$tmp/run
export PANEHERD_CONFIG=$tmp/config.toml TMUX_TMPDIR=$tmp XDG_RUNTIME_DIR=$tmp/run
unset DBUS_SESSION_BUS_ADDRESS TMUX TMUX_PANE NO_COLOR PANEHERD_DEMO_SECS PANEHERD_LOG
((nocolor)) && export NO_COLOR=1
# tmux 3.3a does not tell its panes the terminal's background, so a light terminal is named in
# the config, as a user of one under tmux would.
((light)) && printf '[ui]\ntheme = "light"\n' >"$tmp/config.toml"

# Xvfb picks a free display itself (-displayfd) and writes its number once it is ready.
Xvfb -displayfd 3 -screen 0 2560x1440x24 -dpi 96 -nolisten tcp 3>"$tmp/display" \
  >"$tmp/xvfb.log" 2>&1 &
xvfb_pid=$!
for _ in $(seq 100); do [[ -s $tmp/display ]] && break; sleep 0.1; done
[[ -s $tmp/display ]] || { echo "Xvfb did not start:" >&2; cat "$tmp/xvfb.log" >&2; exit 1; }
export DISPLAY=:$(tr -d '[:space:]' <"$tmp/display")

# The xterm runs a private tmux server (no config) whose one session runs the demo; the demo,
# inside tmux, puts its agents' panes beside the dashboard in that window.
if ((light)); then colors=(-bg white -fg black); else colors=(-bg '#1c1c1c' -fg '#d0d0d0'); fi
xterm -geometry "$size+0+0" -fa 'DejaVu Sans Mono' -fs 11 "${colors[@]}" -b 0 -bw 0 +sb \
  -T paneherd-shot -xrm 'XTerm*allowTitleOps: false' -xrm 'XTerm*cursorBlink: false' \
  -e tmux -S "$sock" -f /dev/null start-server \; set -g default-terminal tmux-256color \; \
  new-session -s shot "$bin" demo >"$tmp/xterm.log" 2>&1 &
xterm_pid=$!

# Wait until three agents run and have printed something, then a little more.
for _ in $(seq 300); do
  screen=$(tmux -S "$sock" capture-pane -p -t shot:0.0 2>/dev/null || true)
  grep -q 'Running (3)' <<<"$screen" && break
  kill -0 "$xterm_pid" 2>/dev/null || break
  sleep 0.1
done
if ! grep -q 'Running (3)' <<<"$screen"; then
  echo "the dashboard never showed 'Running (3)'; its last screen:" >&2
  printf '%s\n' "$screen" >&2
  cat "$tmp/xterm.log" >&2
  exit 1
fi
sleep "$delay"

# Capture just the xterm (no window manager, so it sits at +0+0 with nothing around it).
win=$(xwininfo -name paneherd-shot | awk '/Window id:/ {print $4}')
mkdir -p "$(dirname "$out")"
import -window "$win" "$out"
echo "wrote $out ($(identify -format '%wx%h' "$out") px, $size, $( ((light)) && echo light || echo dark)$( ((nocolor)) && echo ', NO_COLOR'))"
