package sdnotify

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// listen opens a unix datagram socket as systemd does and returns its path and a function that reads the
// next datagram.
func listen(t *testing.T, path string) func() string {
	t.Helper()
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return func() string {
		t.Helper()
		// A failure timeout only: the datagram was sent before this read starts.
		c.SetReadDeadline(time.Now().Add(30 * time.Second))
		buf := make([]byte, 4096)
		n, err := c.Read(buf)
		if err != nil {
			t.Fatalf("no notification: %v", err)
		}
		return string(buf[:n])
	}
}

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestMessagesReachTheSocket(t *testing.T) {
	for _, abstract := range []bool{false, true} {
		path := filepath.Join(t.TempDir(), "notify")
		if abstract {
			path = "@rackwatch-sdnotify-test-" + strconv.Itoa(os.Getpid())
		}
		next := listen(t, path)
		n, err := fromEnv(env(map[string]string{"NOTIFY_SOCKET": path}), 42)
		if err != nil || !n.Enabled() {
			t.Fatalf("fromEnv(%s) = %v, %v", path, n, err)
		}
		steps := []struct {
			send func() error
			want string
		}{
			{func() error { return n.Ready("2 of 2 brokers connected") }, "READY=1\nSTATUS=2 of 2 brokers connected"},
			{func() error { return n.Ready("") }, "READY=1"},
			{n.Watchdog, "WATCHDOG=1"},
			{func() error { return n.Status("1 alarm active") }, "STATUS=1 alarm active"},
			{n.Stopping, "STOPPING=1"},
		}
		for _, s := range steps {
			if err := s.send(); err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			if got := next(); got != s.want {
				t.Errorf("%s: got %q, want %q", path, got, s.want)
			}
		}
	}
}

// A status with a line break would smuggle another assignment (READY=1, MAINPID=…) to the manager.
func TestSendRefusesLineBreaks(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notify")
	listen(t, path)
	n, _ := fromEnv(env(map[string]string{"NOTIFY_SOCKET": path}), 1)
	if err := n.Status("ok\nREADY=1"); err == nil {
		t.Error("a status with a line break was sent")
	}
	if err := n.Send("READY"); err == nil {
		t.Error("an assignment without '=' was sent")
	}
}

func TestWatchdogFromEnvironment(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "notify")
	cases := []struct {
		name string
		env  map[string]string
		want time.Duration
		bad  bool
	}{
		{"no watchdog", map[string]string{}, 0, false},
		{"30s", map[string]string{"WATCHDOG_USEC": "30000000"}, 30 * time.Second, false},
		{"for this pid", map[string]string{"WATCHDOG_USEC": "20000000", "WATCHDOG_PID": "42"}, 20 * time.Second, false},
		{"for another pid", map[string]string{"WATCHDOG_USEC": "20000000", "WATCHDOG_PID": "43"}, 0, false},
		{"zero", map[string]string{"WATCHDOG_USEC": "0"}, 0, true},
		{"garbage", map[string]string{"WATCHDOG_USEC": "30s"}, 0, true},
		{"negative", map[string]string{"WATCHDOG_USEC": "-5"}, 0, true},
		{"overflow", map[string]string{"WATCHDOG_USEC": "99999999999999999999"}, 0, true},
		{"bad pid", map[string]string{"WATCHDOG_USEC": "1000", "WATCHDOG_PID": "x"}, 0, true},
	}
	for _, c := range cases {
		c.env["NOTIFY_SOCKET"] = sock
		n, err := fromEnv(env(c.env), 42)
		if (err != nil) != c.bad {
			t.Errorf("%s: err = %v", c.name, err)
		}
		if got := n.WatchdogTimeout(); got != c.want {
			t.Errorf("%s: watchdog = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestOutsideAServiceManager(t *testing.T) {
	n, err := fromEnv(env(map[string]string{"WATCHDOG_USEC": "1000"}), 1)
	if n != nil || err != nil {
		t.Fatalf("fromEnv without NOTIFY_SOCKET = %v, %v; want nil, nil", n, err)
	}
	// The nil Notifier does nothing, so callers need no special case.
	if n.Enabled() || n.WatchdogTimeout() != 0 || n.Ready("x") != nil || n.Watchdog() != nil || n.Status("x") != nil || n.Stopping() != nil {
		t.Error("the nil Notifier did something")
	}
	if _, err := fromEnv(env(map[string]string{"NOTIFY_SOCKET": "relative/path"}), 1); err == nil || !strings.Contains(err.Error(), "NOTIFY_SOCKET") {
		t.Errorf("relative NOTIFY_SOCKET: err = %v", err)
	}
}

// A manager that went away (the socket is gone) is an error the caller can log, not a panic or a hang.
func TestSocketGone(t *testing.T) {
	n, _ := fromEnv(env(map[string]string{"NOTIFY_SOCKET": filepath.Join(t.TempDir(), "gone")}), 1)
	if err := n.Watchdog(); err == nil {
		t.Error("no error sending to a socket that does not exist")
	}
}
