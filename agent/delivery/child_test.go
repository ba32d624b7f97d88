package delivery

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rackwatch/rackwatch/agent/internal/mosquittotest"
	"github.com/rackwatch/rackwatch/agent/mqtt"
)

// TestMain lets this test binary double as the agent process of the kill -9 test and the RSS
// benchmark: with RACKWATCH_DELIVERY_CHILD set it runs childMain instead of the tests.
func TestMain(m *testing.M) {
	if os.Getenv("RACKWATCH_DELIVERY_CHILD") != "" {
		childMain()
		return
	}
	os.Exit(m.Run())
}

// childMain opens a Delivery on $STATE with the broker $BROKER and obeys lines on stdin:
// "feed A B" journals transitions A..B and answers "durable B"; "flush" waits for every broker and
// answers "flushed"; "rss" answers "rss <VmHWM> <RssAnon>" in KiB.
func childMain() {
	t := &childT{}
	cfg := testConfig(t, os.Getenv("STATE"), "  brokers:\n    - {url: "+os.Getenv("BROKER")+", keepalive: 5s}")
	d, err := Open(context.Background(), cfg, nil)
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		f := strings.Fields(in.Text())
		switch f[0] {
		case "feed":
			a, _ := strconv.ParseUint(f[1], 10, 64)
			b, _ := strconv.ParseUint(f[2], 10, 64)
			batch, _ := strconv.Atoi(os.Getenv("BATCH"))
			feedBatch(t, d, a, b, max(batch, 1))
			fmt.Println("durable", b)
		case "stream":
			// Journal transitions one at a time from A on until killed, saying each is durable.
			a, _ := strconv.ParseUint(f[1], 10, 64)
			for seq := a; ; seq++ {
				feedBatch(t, d, seq, seq, 1)
				fmt.Println("durable", seq)
			}
		case "flush":
			d.Flush(context.Background())
			fmt.Println("flushed")
		case "rss":
			fmt.Println("rss", procStatus("VmHWM:"), procStatus("RssAnon:"))
		case "close":
			ctx, cancel := context.WithTimeout(context.Background(), failAfter)
			d.Close(ctx)
			cancel()
			fmt.Println("closed")
			os.Exit(0)
		}
	}
}

// childT is the little of testing.TB the helpers use (Helper, Fatal, Fatalf), for the child process.
type childT struct{ testing.TB }

func (childT) Helper()           {}
func (childT) Fatal(args ...any) { fmt.Println("error", fmt.Sprint(args...)); os.Exit(1) }
func (childT) Fatalf(f string, args ...any) {
	fmt.Println("error", fmt.Sprintf(f, args...))
	os.Exit(1)
}

// procStatus returns a kB figure of /proc/self/status: VmHWM is the peak resident set, RssAnon the part
// of the current one that is not file-backed (heap and stacks rather than the binary's own pages).
func procStatus(key string) int {
	b, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, key) {
			n, _ := strconv.Atoi(strings.Fields(l)[1])
			return n
		}
	}
	return -1
}

type child struct {
	t   testing.TB
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Scanner
}

func startChild(t testing.TB, stateDir, broker string, env ...string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), append(env, "RACKWATCH_DELIVERY_CHILD=1", "STATE="+stateDir, "BROKER="+broker)...)
	cmd.Stderr = os.Stderr
	in, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return &child{t: t, cmd: cmd, in: in, out: bufio.NewScanner(out)}
}

// do sends a command and waits for the answer starting with want.
func (c *child) do(cmd, want string) string {
	c.t.Helper()
	fmt.Fprintln(c.in, cmd)
	done := make(chan string, 1)
	go func() {
		for c.out.Scan() {
			if l := c.out.Text(); strings.HasPrefix(l, want) || strings.HasPrefix(l, "error") {
				done <- l
				return
			}
		}
		done <- "exited"
	}()
	select {
	case l := <-done:
		if !strings.HasPrefix(l, want) {
			c.t.Fatalf("child: %s (waiting for %q)", l, want)
		}
		return l
	case <-time.After(2 * failAfter):
		c.t.Fatalf("child did not answer %q", cmd)
		return ""
	}
}

// kill -9 of the agent process while the broker is down and it is writing transitions to the journal
// one after another (so the kill may land mid-write): the restarted agent delivers every transition it had
// reported durable, in order, with no gap, to a persistent subscriber.
func TestKill9DuringOutage(t *testing.T) {
	m := mosquittotest.Start(t, mosquittotest.Options{})
	central := subscribe(t, m.URL, "central", false, "rackwatch/gw1/events", "rackwatch/gw1/status")
	state := t.TempDir()

	c := startChild(t, state, m.URL)
	c.do("feed 1 50", "durable 50")
	m.Stop()
	fmt.Fprintln(c.in, "stream 51")
	var last uint64
	for c.out.Scan() {
		if f := strings.Fields(c.out.Text()); len(f) == 2 && f[0] == "durable" {
			last, _ = strconv.ParseUint(f[1], 10, 64)
			if last >= 150 {
				break
			}
		}
	}
	c.cmd.Process.Signal(syscall.SIGKILL) // the child is still writing
	c.cmd.Wait()
	if last < 150 {
		t.Fatalf("child stopped at %d", last)
	}

	m.Start()
	c = startChild(t, state, m.URL)
	c.do("flush", "flushed")
	c.do("close", "closed") // its offline status follows every event on the same connection
	central.reconnect(m.URL, "central", false, "rackwatch/gw1/events", "rackwatch/gw1/status")
	ms := central.waitFor("all events, then the offline status", func(ms []mqtt.Received) bool {
		var max uint64
		for _, m := range ms {
			if m.Topic == "rackwatch/gw1/events" {
				var a struct{ Seq uint64 }
				json.Unmarshal(m.Payload, &a)
				max = a.Seq
			} else if max >= last && strings.Contains(string(m.Payload), `"offline"`) {
				return true
			}
		}
		return false
	})
	seqs := eventSeqs(t, ms, "rackwatch/gw1/events")
	top := slices.Max(seqs)
	// The child keeps writing until the kill lands, so later transitions may be on disk too and arrive
	// as well; nothing it reported durable may be missing, and there is no gap.
	if top < last {
		t.Fatalf("last seq received %d; the child reported %d durable", top, last)
	}
	t.Logf("child reported %d durable before the kill; %d arrived", last, top)
	checkInOrder(t, seqs, top)
}
