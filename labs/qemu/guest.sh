# Runs inside the chroot of the lab guest (as /bin/sh, which is the host's):
# sets up the environment the host captured and runs the command with its
# stdout/stderr on the virtio-serial ports the host streams from.
# Written by labs/qemu/run into the share on every run, so it can change
# without rebuilding the initramfs.
L=/run/anycastd-lab

port() {
	for p in /sys/class/virtio-ports/*; do
		[ "$(cat "$p/name" 2>/dev/null)" = "$1" ] && { echo "/dev/${p##*/}"; return 0; }
	done
	return 1
}
out=$(port lab.stdout) || out=/dev/console
err=$(port lab.stderr) || err=/dev/console

# Places daemons and tools expect to write to.
mkdir -p /run/netns /run/frr /run/lock /var/tmp
chown frr:frr /run/frr 2>/dev/null
mount -t tmpfs -o mode=0755 netns /run/netns 2>/dev/null

echo started >$L/stage
# bash reads the NUL-separated environment and argv the host wrote, then
# becomes COMMAND; this shell only collects its status. It runs it as a
# background job so a shell's "Killed" notice lands on the console, not in
# COMMAND's stderr.
/bin/bash -c '
	L=/run/anycastd-lab
	while IFS= read -r -d "" kv; do export "$kv"; done <$L/env
	args=()
	while IFS= read -r -d "" a; do args+=("$a"); done <$L/argv
	cd "$(cat $L/cwd)" || { echo "lab: cannot cd to $(cat $L/cwd) in the guest" >&2; exit 125; }
	exec "${args[@]}" </dev/null
' >"$out" 2>"$err" &
wait $!
rc=$?
echo "$rc" >$L/status.tmp && mv $L/status.tmp $L/status
sync
exit $rc
