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

// listen opens a unix datagram socket as systemd does, points NOTIFY_SOCKET at it, and returns a function
// that reads the next datagram.
func listen(t *testing.T, path string) func() string {
	t.Helper()
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	t.Setenv("NOTIFY_SOCKET", path)
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

func TestMessagesReachTheSocket(t *testing.T) {
	for _, abstract := range []bool{false, true} {
		path := filepath.Join(t.TempDir(), "notify")
		if abstract {
			path = "@rackwatch-sdnotify-test-" + strconv.Itoa(os.Getpid())
		}
		next := listen(t, path)
		n, err := FromEnv()
		if err != nil || !n.Enabled() {
			t.Fatalf("FromEnv(%s) = %v, %v", path, n, err)
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
			{func() error { return n.Send("WATCHDOG=1", "STATUS=ok") }, "WATCHDOG=1\nSTATUS=ok"},
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
	listen(t, filepath.Join(t.TempDir(), "notify"))
	n, _ := FromEnv()
	if err := n.Status("ok\nREADY=1"); err == nil {
		t.Error("a status with a line break was sent")
	}
	if err := n.Send("READY"); err == nil {
		t.Error("an assignment without '=' was sent")
	}
}

func TestWatchdogFromEnvironment(t *testing.T) {
	listen(t, filepath.Join(t.TempDir(), "notify"))
	me, other := strconv.Itoa(os.Getpid()), strconv.Itoa(os.Getpid()+1)
	cases := []struct {
		name      string
		usec, pid string
		want      time.Duration
		bad       bool
	}{
		{"no watchdog", "", "", 0, false},
		{"30s", "30000000", "", 30 * time.Second, false},
		{"for this process", "20000000", me, 20 * time.Second, false},
		{"for another process", "20000000", other, 0, false},
		{"zero", "0", "", 0, true},
		{"garbage", "30s", "", 0, true},
		{"negative", "-5", "", 0, true},
		{"bad pid", "1000", "x", 0, true},
	}
	for _, c := range cases {
		t.Setenv("WATCHDOG_USEC", c.usec)
		t.Setenv("WATCHDOG_PID", c.pid)
		n, err := FromEnv()
		if (err != nil) != c.bad {
			t.Errorf("%s: err = %v", c.name, err)
		}
		if !n.Enabled() {
			t.Errorf("%s: a bad watchdog setting disabled the notifications too", c.name)
		}
		if got := n.WatchdogTimeout(); got != c.want {
			t.Errorf("%s: watchdog = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestOutsideAServiceManager(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	t.Setenv("WATCHDOG_USEC", "1000")
	n, err := FromEnv()
	if n != nil || err != nil {
		t.Fatalf("FromEnv without NOTIFY_SOCKET = %v, %v; want nil, nil", n, err)
	}
	// The nil Notifier does nothing, so callers need no special case.
	if n.Enabled() || n.WatchdogTimeout() != 0 || n.Ready("x") != nil || n.Watchdog() != nil || n.Status("x") != nil || n.Stopping() != nil {
		t.Error("the nil Notifier did something")
	}
	t.Setenv("NOTIFY_SOCKET", "relative/path")
	if _, err := FromEnv(); err == nil || !strings.Contains(err.Error(), "NOTIFY_SOCKET") {
		t.Errorf("relative NOTIFY_SOCKET: err = %v", err)
	}
}

// A manager that went away (the socket is gone) is an error the caller can log, not a panic or a hang.
func TestSocketGone(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", filepath.Join(t.TempDir(), "gone"))
	n, _ := FromEnv()
	if err := n.Watchdog(); err == nil {
		t.Error("no error sending to a socket that does not exist")
	}
}
