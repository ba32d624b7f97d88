package sdnotify

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
)

// Notifier sends notifications to the service manager. The nil Notifier does nothing.
type Notifier struct {
	watchdog time.Duration
}

// FromEnv returns the Notifier the environment describes: $NOTIFY_SOCKET is the socket; $WATCHDOG_USEC
// is the watchdog timeout, which applies to this process only when $WATCHDOG_PID is unset or names it.
// It returns nil and no error when $NOTIFY_SOCKET is unset: not started by a service manager. With an
// error about the watchdog variables the Notifier still works, without a watchdog.
func FromEnv() (*Notifier, error) {
	path := os.Getenv("NOTIFY_SOCKET")
	if path == "" {
		return nil, nil
	}
	// An absolute path, or '@' for Linux's abstract namespace (which the net package understands).
	if !strings.HasPrefix(path, "/") && !strings.HasPrefix(path, "@") {
		return nil, fmt.Errorf("NOTIFY_SOCKET=%q: not a unix socket path (only /path and @abstract are supported)", path)
	}
	n := &Notifier{}
	wd, err := daemon.SdWatchdogEnabled(false)
	if err != nil {
		return n, fmt.Errorf("WATCHDOG_USEC=%q, WATCHDOG_PID=%q: %w", os.Getenv("WATCHDOG_USEC"), os.Getenv("WATCHDOG_PID"), err)
	}
	n.watchdog = wd
	return n, nil
}

// Enabled reports whether a service manager listens.
func (n *Notifier) Enabled() bool { return n != nil }

// WatchdogTimeout is the service's watchdog timeout (WatchdogSec=), or 0 when there is none. Keep-alives
// should go out at least twice within it.
func (n *Notifier) WatchdogTimeout() time.Duration {
	if n == nil {
		return 0
	}
	return n.watchdog
}

// Ready says the service has started, with a first status line ("" for none).
func (n *Notifier) Ready(status string) error {
	if status == "" {
		return n.Send(daemon.SdNotifyReady)
	}
	return n.Send(daemon.SdNotifyReady, "STATUS="+status)
}

// Status sets the line `systemctl status` shows.
func (n *Notifier) Status(status string) error { return n.Send("STATUS=" + status) }

// Watchdog is one keep-alive.
func (n *Notifier) Watchdog() error { return n.Send(daemon.SdNotifyWatchdog) }

// Stopping says the service is shutting down, so the manager does not mistake the shutdown for a hang.
func (n *Notifier) Stopping() error { return n.Send(daemon.SdNotifyStopping) }

// Send sends assignments (KEY=value) in one datagram. A line break inside one would smuggle another
// assignment (READY=1, MAINPID=…) to the manager, so it is refused.
func (n *Notifier) Send(assignments ...string) error {
	if n == nil {
		return nil
	}
	for _, a := range assignments {
		if !strings.Contains(a, "=") || strings.Contains(a, "\n") {
			return fmt.Errorf("sdnotify: %q is not one KEY=value line", a)
		}
	}
	// A fresh socket per message, as sd_notify(3) does: the manager may re-create its socket at any time.
	if _, err := daemon.SdNotify(false, strings.Join(assignments, "\n")); err != nil {
		return fmt.Errorf("sdnotify: %w", err)
	}
	return nil
}
