package mosquittotest

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rackwatch/rackwatch/internal/peer"

	"github.com/rackwatch/rackwatch/agent/internal/freeport"
)

// Options configure the broker.
type Options struct {
	// CAFile, CertFile and KeyFile enable TLS on the listener (PEM files).
	CAFile, CertFile, KeyFile string
	// RequireClientCert asks clients for a certificate signed by CAFile (mutual TLS).
	RequireClientCert bool
	// Users, when set, turns anonymous access off and allows these name/password pairs.
	Users map[string]string
	// ACLFile, when set, is mosquitto's acl_file: what each user may read and write.
	ACLFile string
}

// Broker is a running (or stopped) mosquitto.
type Broker struct {
	t    testing.TB
	bin  string
	dir  string
	conf string
	Port int
	// URL is tcp://127.0.0.1:PORT, or tls://… when TLS is on.
	URL string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	out    peer.Output
}

// Binary returns the mosquitto executable, or skips (fails under RACKWATCH_REQUIRE_INTEGRATION=1).
func Binary(t testing.TB) string {
	t.Helper()
	return peer.Binary(t, "mosquitto", "/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto", "mosquitto")
}

// Start runs mosquitto; it is stopped when the test ends.
func Start(t testing.TB, opt Options) *Broker {
	t.Helper()
	b := &Broker{t: t, bin: Binary(t), dir: t.TempDir()}
	var lastErr error
	for try := 0; try < 5; try++ {
		b.Port = freeport.Get(t)
		if err := b.writeConf(opt); err != nil {
			t.Fatal(err)
		}
		if lastErr = b.start(); lastErr == nil {
			t.Cleanup(b.Kill)
			return b
		}
	}
	t.Fatalf("mosquitto did not start: %v", lastErr)
	return nil
}

func (b *Broker) writeConf(opt Options) error {
	scheme := "tcp"
	var c bytes.Buffer
	fmt.Fprintf(&c, "user root\nlistener %d 127.0.0.1\n", b.Port)
	fmt.Fprintf(&c, "persistence true\npersistence_location %s/\nautosave_interval 0\n", b.dir)
	fmt.Fprintf(&c, "max_queued_messages 100000\nmax_inflight_messages 0\n")
	fmt.Fprintf(&c, "log_dest stderr\nlog_type error\nlog_type warning\nlog_type notice\n")
	if opt.CertFile != "" {
		scheme = "tls"
		fmt.Fprintf(&c, "cafile %s\ncertfile %s\nkeyfile %s\n", opt.CAFile, opt.CertFile, opt.KeyFile)
		if opt.RequireClientCert {
			fmt.Fprintf(&c, "require_certificate true\n")
		}
	}
	if len(opt.Users) > 0 {
		pw := filepath.Join(b.dir, "passwd")
		for u, p := range opt.Users {
			args := []string{"-b", pw, u, p}
			if _, err := os.Stat(pw); err != nil {
				args = append([]string{"-c"}, args...)
			}
			if out, err := exec.Command(filepath.Join(filepath.Dir(b.bin), "..", "bin", "mosquitto_passwd"), args...).CombinedOutput(); err != nil {
				if out2, err2 := exec.Command("mosquitto_passwd", args...).CombinedOutput(); err2 != nil {
					return fmt.Errorf("mosquitto_passwd: %v %s %s", err2, out, out2)
				}
			}
		}
		fmt.Fprintf(&c, "allow_anonymous false\npassword_file %s\n", pw)
	} else {
		fmt.Fprintf(&c, "allow_anonymous true\n")
	}
	if opt.ACLFile != "" {
		fmt.Fprintf(&c, "acl_file %s\n", opt.ACLFile)
	}
	b.conf = filepath.Join(b.dir, "mosquitto.conf")
	b.URL = scheme + "://127.0.0.1:" + strconv.Itoa(b.Port)
	return os.WriteFile(b.conf, c.Bytes(), 0o600)
}

func (b *Broker) start() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	cmd := exec.Command(b.bin, "-c", b.conf)
	cmd.Stdout, cmd.Stderr = &b.out, &b.out
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return fmt.Errorf("mosquitto exited: %s", b.out.String())
		default:
		}
		if c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(b.Port), time.Second); err == nil {
			c.Close()
			b.cmd, b.exited = cmd, exited
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	cmd.Process.Kill()
	return fmt.Errorf("mosquitto did not listen on port %d: %s", b.Port, b.out.String())
}

// Stop shuts mosquitto down gracefully (it saves its persistence file: sessions and queued messages
// survive to the next Start).
func (b *Broker) Stop() {
	b.mu.Lock()
	cmd, exited := b.cmd, b.exited
	b.cmd = nil
	b.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		<-exited
	}
}

// Start starts a stopped broker again on the same port.
func (b *Broker) Start() {
	b.t.Helper()
	if err := b.start(); err != nil {
		b.t.Fatal(err)
	}
}

// Kill stops mosquitto at once (no persistence save).
func (b *Broker) Kill() {
	b.mu.Lock()
	cmd, exited := b.cmd, b.exited
	b.cmd = nil
	b.mu.Unlock()
	if cmd != nil {
		cmd.Process.Kill()
		<-exited
	}
}

// Log is what mosquitto printed so far.
func (b *Broker) Log() string {
	return b.out.String()
}
