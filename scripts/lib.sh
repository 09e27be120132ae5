# Shared helpers for the scripts in this directory. Source it; do not run it.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# The directory holding vrrpd and vtysh: $1 (a script's --bin-dir), else $VRRPD_BIN_DIR, else the
# release build if there is one, else the debug build. The same order as scripts/ssh-access and
# scripts/soak; say_bin_dir tells which it was, as a newer debug build is not taken over an
# older release one.
bin_dir() {
    local given="${1:-}" from
    [ -n "$given" ] || given="${VRRPD_BIN_DIR:-}"
    if [ -n "$given" ]; then
        [ -x "$given/vrrpd" ] && [ -x "$given/vtysh" ] || die "no vrrpd and vtysh in $given (--bin-dir or \$VRRPD_BIN_DIR)"
        (cd "$given" && pwd)
        return
    fi
    for from in release debug; do
        if [ -x "$ROOT/.build/$from/vrrpd" ] && [ -x "$ROOT/.build/$from/vtysh" ]; then
            echo "$ROOT/.build/$from"
            return
        fi
    done
    die "vrrpd and vtysh are not built yet: run scripts/setup (or set VRRPD_BIN_DIR)"
}

# One line on stderr saying which vrrpd and vtysh a script runs, and how old they are.
say_bin_dir() {
    local built
    built=$(date -r "$1/vrrpd" '+%Y-%m-%d %H:%M' 2>/dev/null || echo "?")
    say "vrrpd and vtysh from $1 (built $built)"
}

# Milliseconds since the epoch.
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
