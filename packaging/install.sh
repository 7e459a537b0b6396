#!/bin/sh
# Installs dlpd as a service on a host without a package manager (or on
# macOS): the binary (stripped), the config (kept if it exists), a systemd
# unit or a launchd plist, the man pages and the bash, zsh and fish
# completions. Running it again upgrades in place; --uninstall undoes it.
#
#   packaging/install.sh                 system service (run as root)
#   packaging/install.sh --user          service for the current user
#   packaging/install.sh --uninstall [--user]
#
# Options:
#   --bin PATH     the dlpd binary to install (default: release/dlpd under
#                  $CARGO_TARGET_DIR or target/, built with cargo if missing)
#   --prefix DIR   where bin/ goes (default /usr/local; ~/.local with --user on Linux)
# Environment:
#   DESTDIR        stage everything under this directory instead of /; no
#                  user is created and no service manager is called.
#
# The state directory (findings store and CSV) is never removed.
set -eu

here=$(cd "$(dirname "$0")/.." && pwd)
mode=install
scope=system
bin_src=
prefix=
while [ $# -gt 0 ]; do
    case "$1" in
        --user) scope=user ;;
        --uninstall) mode=uninstall ;;
        --bin) bin_src=${2:?--bin needs a path}; shift ;;
        --prefix) prefix=${2:?--prefix needs a directory}; shift ;;
        -h|--help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "install.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
destdir=${DESTDIR:-}
os=$(uname -s)

# Where things go, as the running system sees them (DESTDIR is added on write).
case "$os/$scope" in
    Linux/system)
        prefix=${prefix:-/usr/local}
        conf=/etc/dlpd/dlpd.toml
        conf_src=$here/packaging/system/dlpd.toml
        unit_src=$here/systemd/dlpd.service
        unit=/etc/systemd/system/dlpd.service ;;
    Linux/user)
        prefix=${prefix:-$HOME/.local}
        conf=$HOME/.config/dlpd/dlpd.toml
        unit_src=$here/systemd/user/dlpd.service
        unit=$HOME/.config/systemd/user/dlpd.service ;;
    Darwin/system)
        prefix=${prefix:-/usr/local}
        conf=$prefix/etc/dlpd/dlpd.toml
        unit_src=$here/launchd/org.dlpd.dlpd.plist
        unit=/Library/LaunchDaemons/org.dlpd.dlpd.plist
        logdir=$prefix/var/log ;;
    Darwin/user)
        prefix=${prefix:-/usr/local}
        conf=$HOME/.config/dlpd/dlpd.toml
        unit_src=$here/launchd/org.dlpd.agent.plist
        unit=$HOME/Library/LaunchAgents/org.dlpd.agent.plist
        logdir=$HOME/Library/Logs ;;
    *) echo "install.sh: unsupported system $os" >&2; exit 2 ;;
esac
conf_src=${conf_src:-$here/etc/dlpd.toml}
bin=$prefix/bin/dlpd
share=$prefix/share
# The man pages and completions, as packaging/share holds them.
extras() {
    for page in "$here"/packaging/share/man/*.1; do
        echo "$page $share/man/man1/$(basename "$page")"
    done
    echo "$here/packaging/share/completions/dlpd.bash $share/bash-completion/completions/dlpd"
    echo "$here/packaging/share/completions/_dlpd $share/zsh/site-functions/_dlpd"
    echo "$here/packaging/share/completions/dlpd.fish $share/fish/vendor_completions.d/dlpd.fish"
}

say() { echo "install.sh: $*"; }
live() { [ -z "$destdir" ]; }
has_systemd() { live && [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; }
systemctl_scope() { if [ "$scope" = user ]; then systemctl --user "$@"; else systemctl "$@"; fi; }
launchd_domain() { if [ "$scope" = user ]; then echo "gui/$(id -u)"; else echo system; fi; }

# Writes stdin to $1 (under DESTDIR) atomically with mode $2.
put() {
    target=$destdir$1
    mkdir -p "$(dirname "$target")"
    tmp=$target.tmp.$$
    cat >"$tmp"
    chmod "$2" "$tmp"
    mv -f "$tmp" "$target"
}

# Removes $1 (under DESTDIR), then its parent directories while empty: all
# the way up when staging, else only directories named dlpd.
remove() {
    target=$destdir$1
    [ -e "$target" ] || return 0
    rm -f "$target"
    dir=$(dirname "$target")
    while [ "$dir" != "$destdir" ] && [ "$dir" != / ] && [ "$dir" != . ]; do
        if live && [ "$(basename "$dir")" != dlpd ]; then break; fi
        rmdir "$dir" 2>/dev/null || break
        dir=$(dirname "$dir")
    done
}

render() {
    sed -e "s#/usr/bin/dlpd#$bin#g" \
        -e "s#/usr/local/bin/dlpd#$bin#g" \
        -e "s#/usr/local/etc/dlpd/dlpd.toml#$conf#g" \
        -e "s#/usr/local/var/log#${logdir:-/usr/local/var/log}#g" \
        -e "s#@HOME@#$HOME#g" "$unit_src"
}

if [ "$mode" = uninstall ]; then
    if has_systemd; then
        systemctl_scope disable --now dlpd.service 2>/dev/null || true
    elif live && [ "$os" = Darwin ]; then
        launchctl bootout "$(launchd_domain)" "$unit" 2>/dev/null || true
    fi
    remove "$unit"
    has_systemd && systemctl_scope daemon-reload || true
    remove "$bin"
    extras | while read -r _ target; do remove "$target"; done
    if [ -f "$destdir$conf" ] && ! cmp -s "$destdir$conf" "$conf_src"; then
        say "kept $conf: it was edited; remove it yourself if you no longer need it"
    else
        remove "$conf"
    fi
    say "uninstalled; the state directory (findings store and CSV) is left in place"
    if live && [ "$os/$scope" = Linux/system ] && id dlpd >/dev/null 2>&1; then
        say "the system user dlpd is left in place; \`userdel dlpd\` removes it"
    fi
    exit 0
fi

if [ -z "$bin_src" ]; then
    bin_src=${CARGO_TARGET_DIR:-$here/target}/release/dlpd
    if [ ! -x "$bin_src" ]; then
        command -v cargo >/dev/null 2>&1 || { echo "install.sh: no $bin_src and no cargo to build it; pass --bin PATH" >&2; exit 2; }
        say "building dlpd (cargo build --release)"
        (cd "$here" && cargo build --release --locked)
    fi
fi
[ -x "$bin_src" ] || { echo "install.sh: $bin_src is not an executable" >&2; exit 2; }

# Stripped: debug symbols are most of a release build's size.
stripped=$(mktemp)
trap 'rm -f "$stripped"' EXIT
cp "$bin_src" "$stripped"
if command -v strip >/dev/null 2>&1; then strip "$stripped" 2>/dev/null || true; fi
put "$bin" 0755 <"$stripped"
extras | while read -r src target; do put "$target" 0644 <"$src"; done
if [ -f "$destdir$conf" ]; then
    say "kept the existing $conf"
else
    put "$conf" 0644 <"$conf_src"
fi
render | put "$unit" 0644

if live && [ "$os/$scope" = Linux/system ] && ! id dlpd >/dev/null 2>&1; then
    nologin=$(command -v nologin || echo /usr/sbin/nologin)
    useradd --system --home-dir /var/lib/dlpd --no-create-home --shell "$nologin" dlpd
    say "created the system user dlpd"
fi
if live && [ "$os/$scope" = Linux/system ]; then
    # The unit's StateDirectory makes it too, but `dlpd status` run by
    # hand before the first start should find it.
    install -d -m 0700 -o dlpd -g dlpd /var/lib/dlpd
fi
if ! live; then
    say "staged under $destdir: $bin, $conf, $unit, man pages and completions under $share"
elif has_systemd; then
    systemctl_scope daemon-reload
    if [ "$scope" = user ]; then s="systemctl --user"; else s=systemctl; fi
    say "installed. Check $conf (watch.paths) with: $bin --config $conf doctor; then: $s enable --now dlpd"
elif [ "$os" = Darwin ]; then
    mkdir -p "$logdir"
    launchctl bootout "$(launchd_domain)" "$unit" 2>/dev/null || true
    launchctl bootstrap "$(launchd_domain)" "$unit"
    say "installed and started ($unit). Grant $bin Full Disk Access to watch Documents and Desktop."
else
    say "installed $bin. No service manager found: run it with"
    if [ "$scope" = user ]; then
        say "  $bin --config $conf run --daemonize --pidfile \$HOME/.local/state/dlpd/dlpd.pid"
        say "  (set [log] file first, for example to \$HOME/.local/state/dlpd/dlpd.log)"
    else
        say "  $bin --config $conf run --daemonize --pidfile /run/dlpd.pid   (set [log] file first)"
    fi
fi
