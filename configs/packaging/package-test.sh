#!/bin/sh
# package-test: what a facility engineer does with the Debian package, checked end to end.
#
#  1. Inspect every package built by `make package` (dpkg-deb): architecture, files and modes, the
#     conffile, the maintainer scripts, the binary's GOARM.
#  2. Check the installed unit: `systemd-analyze verify`, and `systemd-analyze security --offline=true`
#     at most MAX_EXPOSURE.
#  3. As root with dpkg: install an older build of the amd64 package (a fake systemctl records what the
#     maintainer scripts ask of systemd: enabled, not started), check the installed config as the service
#     user, leave an undelivered alarm in the journal, upgrade to the new package (the agent is restarted,
#     state, backlog and the edited config are kept), remove it (stopped; state and config kept), install
#     it again, purge it (nothing left but the system user).
#  4. Where the kernel allows it, boot systemd in private namespaces and run the installed unit for real:
#     READY and the status line, the sandbox letting the agent reach its state and the network, and the
#     watchdog restarting an agent that stopped answering.
#
# Environment: DIST (the packages), PKG_VERSION, NFPM and PKGSTAGE (to build the older package).
# RACKWATCH_REQUIRE_INTEGRATION=1 turns every skip into a failure. RACKWATCH_UPGRADE_FROM=FILE.deb
# upgrades from that package (a previous release) instead of an older build of this tree.
set -eu

MAX_EXPOSURE=2.0
DIST=${DIST:-dist}
require=${RACKWATCH_REQUIRE_INTEGRATION:-}
work=$(mktemp -d /tmp/rackwatch-package-test.XXXXXX)
ns_pid= sysd=
# stop_ns ends the systemd namespace: killing its init (systemd) kills everything in it.
stop_ns() {
	if [ -n "$sysd" ]; then kill -9 "$sysd" 2>/dev/null || true; fi
	if [ -n "$ns_pid" ]; then kill -9 "$ns_pid" 2>/dev/null || true; wait "$ns_pid" 2>/dev/null || true; fi
	sysd= ns_pid=
}
cleanup() {
	stop_ns
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM

fail() { echo "package-test: FAIL: $*" >&2; exit 1; }
ok() { echo "package-test: ok: $*"; }
skip() {
	if [ -n "$require" ]; then fail "$* (RACKWATCH_REQUIRE_INTEGRATION=1)"; fi
	echo "package-test: SKIP: $*"
}

for tool in dpkg-deb systemd-analyze; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		skip "$tool not found (apt-get install dpkg systemd): the packages were built but not tested"
		exit 0
	fi
done

deb_version="$PKG_VERSION-1"
deb() { echo "$DIST/rackwatch_${deb_version}_$1.deb"; }

# --- 1. Inspect the packages ---------------------------------------------------------------------------
for arch in armhf arm64 amd64; do
	f=$(deb "$arch")
	[ -f "$f" ] || fail "$f was not built"
	[ "$(dpkg-deb -f "$f" Package)" = rackwatch ] || fail "$f: wrong Package"
	[ "$(dpkg-deb -f "$f" Architecture)" = "$arch" ] || fail "$f: Architecture $(dpkg-deb -f "$f" Architecture), want $arch"
	[ "$(dpkg-deb -f "$f" Version)" = "$deb_version" ] || fail "$f: Version $(dpkg-deb -f "$f" Version), want $deb_version"
	dpkg-deb -c "$f" | awk '{print $1, $2, $6}' | sed 's#^\([^ ]*\) \([^ ]*\) \./#\1 \2 /#' > "$work/contents"
	for want in \
		"-rwxr-xr-x root/root /usr/bin/rackwatch" \
		"-rw-r--r-- root/root /etc/rackwatch/rackwatch.yaml" \
		"-rw-r--r-- root/root /usr/lib/systemd/system/rackwatch.service" \
		"-rw-r--r-- root/root /usr/lib/udev/rules.d/60-rackwatch.rules" \
		"-rw-r--r-- root/root /usr/share/rackwatch/examples/demo.yaml" \
		"-rw-r--r-- root/root /usr/share/rackwatch/profiles/ups.yaml" \
		"-rw-r--r-- root/root /usr/share/doc/rackwatch/docs/install.md" \
		"-rw-r--r-- root/root /usr/share/doc/rackwatch/README.md"; do
		grep -qxF -- "$want" "$work/contents" || fail "$f lacks '$want'; it has:
$(cat "$work/contents")"
	done
	if ls configs/grafana/*.json >/dev/null 2>&1; then
		grep -q " /usr/share/rackwatch/grafana/.*\.json$" "$work/contents" || fail "$f lacks the Grafana dashboards"
	fi
	# Nothing writable by others, nothing setuid, nothing outside the expected trees.
	if grep -E '^(.{5}w|.{8}w|...s|......s)' "$work/contents"; then fail "$f: files writable by group or others, or setuid"; fi
	if grep -vE ' /(usr/bin/rackwatch|etc/rackwatch/|usr/lib/systemd/system/|usr/lib/udev/rules.d/|usr/share/rackwatch/|usr/share/doc/rackwatch/|$)' "$work/contents" |
		grep -vE ' /(etc|usr|usr/bin|usr/lib|usr/lib/systemd|usr/lib/udev|usr/share|usr/share/doc)/?$'; then
		fail "$f installs files outside its own places"
	fi
	rm -rf "$work/control" && dpkg-deb -e "$f" "$work/control"
	[ "$(cat "$work/control/conffiles")" = /etc/rackwatch/rackwatch.yaml ] || fail "$f: conffiles are '$(cat "$work/control/conffiles")'"
	for s in postinst prerm postrm; do
		[ -x "$work/control/$s" ] || fail "$f: no executable $s"
		sh -n "$work/control/$s" || fail "$f: $s does not parse"
	done
	# armhf carries the armv6 build: it runs on the Pi Zero and on every newer board.
	rm -rf "$work/data" && mkdir "$work/data" && dpkg-deb -x "$f" "$work/data"
	if command -v go >/dev/null 2>&1; then
		info=$(go version -m "$work/data/usr/bin/rackwatch")
		goarch=$(echo "$info" | awk '$2 == "GOARCH=arm" || $2 == "GOARCH=arm64" || $2 == "GOARCH=amd64" {print $2}')
		case "$arch" in
		armhf) [ "$goarch" = GOARCH=arm ] && echo "$info" | grep -q 'GOARM=6' || fail "$f: the binary is not GOARCH=arm GOARM=6: $info" ;;
		*) [ "$goarch" = "GOARCH=$arch" ] || fail "$f: the binary is $goarch" ;;
		esac
	fi
	# The udev rules set the owner of device types and nothing else (udevadm has no offline syntax check
	# in every systemd release; `udevadm test` would change the host's devices).
	rules="$work/data/usr/lib/udev/rules.d/60-rackwatch.rules"
	if grep -vE '^(#.*)?$' "$rules" | grep -vE '^SUBSYSTEM=="[a-z0-9-]+", KERNEL=="[][A-Za-z0-9*|-]+", OWNER="rackwatch"$'; then
		fail "$f: udev rules other than SUBSYSTEM, KERNEL and OWNER=rackwatch"
	fi
	[ "$(grep -c 'OWNER="rackwatch"$' "$rules")" = 3 ] || fail "$f: want 3 udev rules (I2C, GPIO, serial)"
	echo "package-test: $(basename "$f"): $(stat -c %s "$f") bytes, installed $(dpkg-deb -f "$f" Installed-Size) KiB"
done
ok "the three packages hold the right files, modes, conffile, scripts and binaries"

# --- 2. The unit as installed ----------------------------------------------------------------------------
# (verify needs the binary where the unit says: it runs once the package is installed, below.)
exposure=$(systemd-analyze security --offline=true "$work/data/usr/lib/systemd/system/rackwatch.service" 2>/dev/null |
	sed -n 's/.*Overall exposure level for rackwatch.service: \([0-9.]*\).*/\1/p')
[ -n "$exposure" ] || fail "systemd-analyze security printed no exposure level"
awk -v e="$exposure" -v m="$MAX_EXPOSURE" 'BEGIN { exit !(e <= m) }' || fail "exposure $exposure is above $MAX_EXPOSURE"
ok "systemd-analyze security --offline=true: exposure $exposure (at most $MAX_EXPOSURE)"

# --- 3. Install, upgrade, remove, purge -------------------------------------------------------------------
if [ "$(id -u)" != 0 ] || ! command -v dpkg >/dev/null 2>&1 || ! command -v unshare >/dev/null 2>&1; then
	skip "installing needs root, dpkg and unshare (run as root in a container or VM: sudo make package-test)"
	exit 0
fi
installed=$(dpkg-query -W -f='${Status} ${Version}' rackwatch 2>/dev/null || true)
case "$installed" in
"" | *not-installed* | *config-files*0~pkgtest* | *" $deb_version" | *" 0~pkgtest-1")
	dpkg --purge rackwatch >/dev/null 2>&1 || true ;; # nothing, or what an interrupted run left
*)
	fail "rackwatch is installed here ($installed); this test installs and purges it: run it in a container or VM" ;;
esac

# The older package: this tree under a lower version, unless a previous release is given.
old=${RACKWATCH_UPGRADE_FROM:-}
if [ -z "$old" ]; then
	PKG_ARCH=amd64 PKG_VERSION=0~pkgtest PKG_BIN="$DIST/rackwatch-linux-amd64" PKG_SHARE="$PKGSTAGE/share" PKG_DOC="$PKGSTAGE/doc" \
		"$NFPM" package --config configs/packaging/nfpm.yaml --packager deb --target "$work/old.deb" >/dev/null
	old="$work/old.deb"
fi

# dpkg runs in a mount namespace of its own whose /run says systemd runs, with a systemctl that only
# records what it is asked; the host's /run and services are untouched.
mkdir -p "$work/bin"
real_systemctl=$(command -v systemctl || true)
cat > "$work/bin/systemctl" <<EOF
#!/bin/sh
# Records the call. Offline work on unit files (--root=/, as deb-systemd-helper's "preset" on a first
# install) goes to the real systemctl, which needs no running systemd for it.
echo "systemctl \$*" >> $work/systemctl.log
case "\$*" in
*--root=*) [ -n "$real_systemctl" ] && exec "$real_systemctl" "\$@" ;;
*is-enabled*) echo enabled ;;
esac
exit 0
EOF
chmod +x "$work/bin/systemctl"
# A policy-rc.d that forbids starting services (as container images have) is lifted there too.
printf '#!/bin/sh\nexit 0\n' > "$work/policy-rc.d" && chmod +x "$work/policy-rc.d"
indpkg() {
	: > "$work/systemctl.log"
	PATH="$work/bin:$PATH" unshare --mount --propagation private sh -c '
		mount -t tmpfs tmpfs /run && mkdir -p /run/systemd/system
		if [ -e /usr/sbin/policy-rc.d ]; then mount --bind "$0" /usr/sbin/policy-rc.d; fi
		exec "$@"' "$work/policy-rc.d" \
		dpkg --force-confold "$@" > "$work/dpkg.log" 2>&1 || fail "dpkg $*: $(cat "$work/dpkg.log")"
}
asked() { grep -q -- "$1" "$work/systemctl.log"; }
# as_service runs a command as the service user, as systemd would (setpriv execs: $! is the command).
as_service() { setpriv --reuid=rackwatch --regid=rackwatch --init-groups --reset-env "$@"; }
# backlog is `journal inspect` without the ages, which grow while the test runs.
backlog() {
	rackwatch journal inspect --state-dir /var/lib/rackwatch |
		awk '/^broker / || /no broker/ {print} /upgrade-test/ {print $1, $2, $4, $5, $6, $7}'
}

indpkg -i "$old"
[ -x /usr/bin/rackwatch ] || fail "install: no /usr/bin/rackwatch"
getent passwd rackwatch | grep -q ':/var/lib/rackwatch:/usr/sbin/nologin$' || fail "install: no system user rackwatch with nologin: $(getent passwd rackwatch)"
[ "$(stat -c '%a %U %G' /var/lib/rackwatch)" = "750 rackwatch rackwatch" ] || fail "install: /var/lib/rackwatch is $(stat -c '%a %U %G' /var/lib/rackwatch)"
[ -L /etc/systemd/system/multi-user.target.wants/rackwatch.service ] || fail "install: the service is not enabled"
asked daemon-reload || fail "install: no daemon-reload"
if asked "start"; then fail "install: the service was started before it was configured: $(cat "$work/systemctl.log")"; fi
ok "first install: user, /var/lib/rackwatch 0750, enabled, not started"

as_service rackwatch check -c /etc/rackwatch/rackwatch.yaml > "$work/check.out" 2>&1 ||
	fail "the installed config does not pass check as the service user: $(cat "$work/check.out")"
systemd-analyze verify /usr/lib/systemd/system/rackwatch.service > "$work/verify.out" 2>&1 ||
	fail "systemd-analyze verify: $(cat "$work/verify.out")"
exposure=$(systemd-analyze security --offline=true /usr/lib/systemd/system/rackwatch.service 2>/dev/null |
	sed -n 's/.*Overall exposure level for rackwatch.service: \([0-9.]*\).*/\1/p')
awk -v e="$exposure" -v m="$MAX_EXPOSURE" 'BEGIN { exit !(e <= m) }' || fail "installed unit: exposure '$exposure'"
ok "installed: check passes as user rackwatch; systemd-analyze verify is clean; exposure $exposure"

# An alarm that cannot be delivered (its broker is down) waits in the journal across the upgrade. The
# engineer's edited config must survive it too.
cat >> /etc/rackwatch/rackwatch.yaml <<'EOF'
  - {id: upgrade-test, match: {sensor: ups1, channel: on_battery}, state: true, severity: critical}
EOF
sed -i -e 's#^sensors:#sensors:\n  - {id: ups1, driver: sim, scenario: battery-runaway, start_at: 9m, every: 100ms, channels: [on_battery]}#' \
	-e 's#^  embedded_broker: .*#  brokers: [{url: "tcp://127.0.0.1:9"}]#' -e 's#^  http: .*##' /etc/rackwatch/rackwatch.yaml
as_service rackwatch check -c /etc/rackwatch/rackwatch.yaml > "$work/check.out" 2>&1 || fail "edited config: $(cat "$work/check.out")"
setpriv --reuid=rackwatch --regid=rackwatch --init-groups --reset-env rackwatch run -c /etc/rackwatch/rackwatch.yaml > "$work/run.log" 2>&1 &
agent=$!
i=0
until rackwatch journal inspect --state-dir /var/lib/rackwatch 2>/dev/null | grep -q upgrade-test; do
	i=$((i + 1)); [ $i -lt 300 ] || { kill "$agent"; fail "no alarm in the journal after 30s: $(cat "$work/run.log")"; }
	sleep 0.1
done
kill -TERM "$agent"; wait "$agent" || fail "the agent did not stop cleanly on SIGTERM: $(cat "$work/run.log")"
backlog > "$work/backlog.before"
(cd /var/lib/rackwatch && find . -type f ! -name lock -exec sha256sum {} + | sort -k2) > "$work/state.before"
cp /etc/rackwatch/rackwatch.yaml "$work/config.before"

indpkg -i "$(deb amd64)"
[ "$(dpkg-query -W -f='${Version}' rackwatch)" = "$deb_version" ] || fail "upgrade: version $(dpkg-query -W -f='${Version}' rackwatch)"
asked "try-restart rackwatch.service" || fail "upgrade: the agent was not restarted: $(cat "$work/systemctl.log")"
(cd /var/lib/rackwatch && find . -type f ! -name lock -exec sha256sum {} + | sort -k2) > "$work/state.after"
cmp -s "$work/state.before" "$work/state.after" || fail "upgrade: the state changed: $(diff "$work/state.before" "$work/state.after")"
cmp -s "$work/config.before" /etc/rackwatch/rackwatch.yaml || fail "upgrade: the edited config was replaced"
backlog > "$work/backlog.after"
cmp -s "$work/backlog.before" "$work/backlog.after" || fail "upgrade: the backlog differs: $(diff "$work/backlog.before" "$work/backlog.after")"
[ -L /etc/systemd/system/multi-user.target.wants/rackwatch.service ] || fail "upgrade: no longer enabled"
ok "upgrade from $(basename "$old"): restarted, state and backlog kept ($(grep -c upgrade-test "$work/backlog.after") pending), edited config kept"

indpkg -r rackwatch
asked "stop rackwatch.service" || fail "remove: the agent was not stopped"
[ ! -e /usr/bin/rackwatch ] || fail "remove: the binary is still there"
[ -f /etc/rackwatch/rackwatch.yaml ] && [ -d /var/lib/rackwatch/journal ] || fail "remove: config or state gone"
indpkg -i "$(deb amd64)"
(cd /var/lib/rackwatch && find . -type f ! -name lock -exec sha256sum {} + | sort -k2) > "$work/state.after"
cmp -s "$work/state.before" "$work/state.after" || fail "remove and reinstall: the state changed"
ok "remove: stopped, config and state kept; a reinstall finds them"

# --- 4. The unit under a real systemd -------------------------------------------------------------------
# child_of prints the pid of a child of $1; procs_of the pids of user $1's processes (by /proc: procps
# may not be installed).
child_of() {
	for st in /proc/[0-9]*/stat; do
		set -- "$1" $(sed 's/^.*) //' "$st" 2>/dev/null)
		if [ "${3:-}" = "$1" ]; then basename "$(dirname "$st")"; return; fi
	done
}
procs_of() {
	uid=$(id -u "$1")
	for st in /proc/[0-9]*/status; do
		awk -v u="$uid" '$1 == "Uid:" && $2 == u {found=1} END {exit !found}' "$st" 2>/dev/null && basename "$(dirname "$st")"
	done
	return 0
}
live() {
	# The test's own /run holds the test target, a drop-in and masks; the host's units are never
	# started: the target pulls in rackwatch.service only, and its default dependencies are off.
	cat > "$work/boot.sh" <<EOF
#!/bin/sh
set -e
mount -t tmpfs -o mode=755 tmpfs /run
mkdir -p /run/systemd/system/rackwatch.service.d /run/rwtest
printf '[Unit]\nDefaultDependencies=no\nWants=rackwatch.service\n' > /run/systemd/system/rwtest.target
printf '[Unit]\nDefaultDependencies=no\n[Service]\nStandardOutput=append:/run/rwtest/out.log\nStandardError=inherit\nWatchdogSec=6s\nTimeoutAbortSec=3s\n' > /run/systemd/system/rackwatch.service.d/test.conf
ln -s /dev/null /run/systemd/system/network-online.target
mount -t proc proc /proc
umount -l /sys/fs/cgroup 2>/dev/null || true
mount -t cgroup2 cgroup2 /sys/fs/cgroup
exec env container=rackwatch-package-test /lib/systemd/systemd --system --unit=rwtest.target --log-target=null
EOF
	chmod +x "$work/boot.sh"
	if ! unshare --pid --fork --mount --uts --ipc --propagation private true 2>/dev/null || [ ! -x /lib/systemd/systemd ]; then
		skip "cannot boot systemd in private namespaces here: the unit was verified, not run"
		return 0
	fi
	unshare --pid --fork --mount --uts --ipc --propagation private "$work/boot.sh" > "$work/boot.log" 2>&1 &
	ns_pid=$!
	i=0
	while [ -z "$sysd" ]; do
		sysd=$(child_of "$ns_pid")
		i=$((i + 1)); [ $i -lt 100 ] || fail "systemd did not boot: $(cat "$work/boot.log")"
		sleep 0.1
	done
	in_ns() { nsenter -t "$sysd" -m -p -u -i "$@"; }
	prop() { in_ns systemctl show rackwatch.service -p "$1" --value 2>/dev/null; }
	i=0
	until [ "$(prop StatusText)" = "0 of 1 brokers connected, 1 alarm active (1 critical)" ]; do
		i=$((i + 1)); [ $i -lt 300 ] || fail "live: no READY and status: $(in_ns systemctl status rackwatch.service 2>&1; in_ns cat /run/rwtest/out.log)"
		sleep 0.1
	done
	[ "$(prop ActiveState)" = active ] || fail "live: not active"
	ok "live: under systemd the sandboxed agent reads its state, is READY and says '$(prop StatusText)'"
	# An agent that stops answering (SIGSTOP) stops the keep-alives: systemd aborts and restarts it.
	main=$(prop MainPID)
	in_ns kill -STOP "$main"
	i=0
	until [ "$(prop NRestarts)" = 1 ] && [ "$(prop ActiveState)" = active ] && [ "$(prop MainPID)" != "$main" ]; do
		i=$((i + 1)); [ $i -lt 600 ] || fail "live: the watchdog did not restart a frozen agent: $(in_ns systemctl status rackwatch.service 2>&1)"
		sleep 0.1
	done
	in_ns grep -q "SIGABRT" /run/rwtest/out.log || fail "live: no stack dump from the watchdog's SIGABRT"
	ok "live: the watchdog restarted a frozen agent (SIGABRT with a stack dump, then a new process)"
	stop_ns
	i=0
	while [ -n "$(procs_of rackwatch)" ]; do
		i=$((i + 1)); [ $i -lt 100 ] || fail "live: processes of rackwatch outlived the test's systemd"
		sleep 0.1
	done
}
live

indpkg -P rackwatch
asked "daemon-reload" || fail "purge: no daemon-reload"
for p in /usr/bin/rackwatch /etc/rackwatch /var/lib/rackwatch /usr/lib/systemd/system/rackwatch.service \
	/usr/lib/udev/rules.d/60-rackwatch.rules /usr/share/rackwatch /usr/share/doc/rackwatch \
	/etc/systemd/system/rackwatch.service /etc/systemd/system/multi-user.target.wants/rackwatch.service; do
	if [ -e "$p" ] || [ -L "$p" ]; then fail "purge left $p"; fi
done
if grep -rqs rackwatch /var/lib/systemd/deb-systemd-helper-enabled /var/lib/systemd/deb-systemd-helper-masked; then
	fail "purge left systemd helper state: $(grep -rl rackwatch /var/lib/systemd/deb-systemd-helper-enabled /var/lib/systemd/deb-systemd-helper-masked)"
fi
[ -z "$(dpkg-query -W -f='${Status}' rackwatch 2>/dev/null | grep -v not-installed)" ] || fail "purge: dpkg still knows rackwatch"
getent passwd rackwatch >/dev/null || fail "purge removed the system user (it must stay: files it owned would pass to its uid's next owner)"
ok "purge: package, config, state and systemd links gone; the system user stays, by design"
echo "package-test: passed"
