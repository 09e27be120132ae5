# Shared helpers for the scripts in this directory. Source it; do not run it.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# The directory holding vrrpd and vtysh: $VRRPD_BIN_DIR, else the newest of the release and
# debug builds.
bin_dir() {
    if [ -n "${VRRPD_BIN_DIR:-}" ]; then echo "$VRRPD_BIN_DIR"; return; fi
    local release="$ROOT/.build/release" debug="$ROOT/.build/debug"
    if [ -x "$release/vtysh" ] && { [ ! -x "$debug/vtysh" ] || [ "$release/vtysh" -nt "$debug/vtysh" ]; }; then
        echo "$release"
    elif [ -x "$debug/vtysh" ]; then
        echo "$debug"
    else
        die "vrrpd and vtysh are not built yet: run scripts/setup"
    fi
}

# Milliseconds since the epoch.
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
