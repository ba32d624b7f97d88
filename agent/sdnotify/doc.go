// Package sdnotify tells the service manager how the agent is doing, with the sd_notify protocol: one
// datagram per message to the unix socket named by $NOTIFY_SOCKET, carrying "READY=1" once the agent
// runs, "STATUS=…" for `systemctl status`, "WATCHDOG=1" keep-alives and "STOPPING=1" at shutdown.
//
// systemd restarts a service whose keep-alives stop for longer than its WatchdogSec=. The agent sends
// them from its rules loop, so a loop that freezes (a deadlock, a call that never returns) gets the agent
// restarted instead of leaving a gateway that looks alive and raises nothing.
//
// The socket I/O and the watchdog variables are go-systemd's daemon package; this package adds the nil
// Notifier, the check of $NOTIFY_SOCKET and the refusal of assignments that would smuggle others.
//
// Outside a service manager (no $NOTIFY_SOCKET) a Notifier is nil and every method does nothing, so
// callers need no special case for `rackwatch run` started from a shell.
package sdnotify
