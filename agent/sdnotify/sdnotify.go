package sdnotify

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// Notifier sends notifications to the service manager. The nil Notifier does nothing.
type Notifier struct {
	addr     *net.UnixAddr
	watchdog time.Duration
}

// FromEnv returns the Notifier the environment describes: $NOTIFY_SOCKET is the socket; $WATCHDOG_USEC
// is the watchdog timeout, which applies to this process only when $WATCHDOG_PID is unset or names it.
// It returns nil and no error when $NOTIFY_SOCKET is unset: not started by a service manager.
func FromEnv() (*Notifier, error) {
	return fromEnv(os.Getenv, os.Getpid())
}

func fromEnv(getenv func(string) string, pid int) (*Notifier, error) {
	path := getenv("NOTIFY_SOCKET")
	if path == "" {
		return nil, nil
	}
	// An absolute path, or '@' for Linux's abstract namespace (which the net package understands).
	if !strings.HasPrefix(path, "/") && !strings.HasPrefix(path, "@") {
		return nil, fmt.Errorf("NOTIFY_SOCKET=%q: not a unix socket path (only /path and @abstract are supported)", path)
	}
	n := &Notifier{addr: &net.UnixAddr{Name: path, Net: "unixgram"}}
	wd, err := watchdog(getenv, pid)
	if err != nil {
		return n, err
	}
	n.watchdog = wd
	return n, nil
}

// watchdog reads the watchdog timeout; 0 means no watchdog for this process.
func watchdog(getenv func(string) string, pid int) (time.Duration, error) {
	usec := getenv("WATCHDOG_USEC")
	if usec == "" {
		return 0, nil
	}
	if p := getenv("WATCHDOG_PID"); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil {
			return 0, fmt.Errorf("WATCHDOG_PID=%q: not a process id", p)
		}
		if n != pid {
			return 0, nil // meant for another process (a parent that exec'd us, a wrapper)
		}
	}
	us, err := strconv.ParseUint(usec, 10, 63)
	if err != nil || us == 0 || us > uint64(time.Duration(1<<63-1)/time.Microsecond) {
		return 0, fmt.Errorf("WATCHDOG_USEC=%q: not a positive number of microseconds", usec)
	}
	return time.Duration(us) * time.Microsecond, nil
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
		return n.Send("READY=1")
	}
	return n.Send("READY=1", "STATUS="+status)
}

// Status sets the line `systemctl status` shows.
func (n *Notifier) Status(status string) error { return n.Send("STATUS=" + status) }

// Watchdog is one keep-alive.
func (n *Notifier) Watchdog() error { return n.Send("WATCHDOG=1") }

// Stopping says the service is shutting down, so the manager does not mistake the shutdown for a hang.
func (n *Notifier) Stopping() error { return n.Send("STOPPING=1") }

// Send sends assignments (KEY=value, without line breaks in the value) in one datagram. Each message uses
// a fresh socket, as sd_notify(3) does: the manager may re-create its socket (daemon-reexec) at any time.
func (n *Notifier) Send(assignments ...string) error {
	if n == nil {
		return nil
	}
	var b strings.Builder
	for i, a := range assignments {
		if !strings.Contains(a, "=") || strings.Contains(a, "\n") {
			return fmt.Errorf("sdnotify: %q is not one KEY=value line", a)
		}
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(a)
	}
	c, err := net.DialUnix("unixgram", nil, n.addr)
	if err != nil {
		return fmt.Errorf("sdnotify: %w", err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(b.String())); err != nil {
		return fmt.Errorf("sdnotify: %w", err)
	}
	return nil
}
