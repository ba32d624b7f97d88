package pager_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rackwatch/rackwatch/internal/peer"

	"github.com/rackwatch/rackwatch/agent/contract"
	"github.com/rackwatch/rackwatch/agent/internal/freeport"
	"github.com/rackwatch/rackwatch/agent/internal/mosquittotest"
	"github.com/rackwatch/rackwatch/agent/mqtt"
)

// fleetWait bounds every wait of the fleet test: a failure timeout for a loaded CI machine, never a
// measurement.
const fleetWait = 90 * time.Second

// TestFleet runs the whole central path with real parts: two simulated gateways in thermal runaway
// publishing to two Mosquittos, two pager replicas following both, and two Alertmanagers clustered with
// each other, which notify a webhook sink (standing in for PagerDuty behind Alertmanager). Every alarm
// episode the gateways publish must become exactly one Alertmanager notification, resolved once on
// clear; killing one pager replica (SIGKILL) and starting it again must lose no page and add none; a
// gateway killed with SIGKILL must give one "gateway offline" page after the grace.
func TestFleet(t *testing.T) {
	if testing.Short() {
		t.Skip("the fleet test starts a dozen processes")
	}
	amBin := alertmanagerBinary(t)
	b1 := mosquittotest.Start(t, mosquittotest.Options{})
	b2 := mosquittotest.Start(t, mosquittotest.Options{})
	bin := buildRackwatch(t)
	dir := t.TempDir()

	sink := newSink(t)
	am1, am2 := freeport.Get(t), freeport.Get(t)
	c1, c2 := freeport.Get(t), freeport.Get(t)
	startAlertmanager(t, amBin, dir, "am1", am1, c1, c2, sink.URL)
	startAlertmanager(t, amBin, dir, "am2", am2, c2, c1, sink.URL)
	waitClustered(t, am1)
	waitClustered(t, am2)

	truth := observe(t, b1.URL, b2.URL)
	pagerCfg := func(id string) string {
		p := filepath.Join(dir, id+".yaml")
		writeFile(t, p, fmt.Sprintf(`pager:
  id: %s
  state_dir: %s
  http: 127.0.0.1:%d
  brokers:
    - {url: %s, keepalive: 5s}
    - {url: %s, keepalive: 5s}
  gateways: {offline_grace: 2s, silent_after: 0}
receivers:
  - name: am
    alertmanager: {urls: ["http://127.0.0.1:%d", "http://127.0.0.1:%d"], resend_every: 5s}
`, id, filepath.Join(dir, id), freeport.Get(t), b1.URL, b2.URL, am1, am2))
		return p
	}
	gwCfg := func(id string) string {
		p := filepath.Join(dir, id+".yaml")
		writeFile(t, p, fmt.Sprintf(`gateway: {id: %s, site: dc1, state_dir: %s}
mqtt:
  brokers:
    - {url: %s, keepalive: 2s}
    - {url: %s, keepalive: 2s}
  readings: {every: 1s, deadband: 1000}
sensors:
  # The battery-runaway story, 120 times faster than real time and looped: every five seconds the
  # off-gas, the battery heat and the UPS going on battery raise, and the loop's restart clears them.
  - {id: ups1, driver: sim, scenario: battery-runaway, time_scale: 120, loop: true, start_at: 3m, every: 100ms, channels: [battery_temp, on_battery], labels: {room: battery}}
  - {id: batt-room.offgas, driver: sim, scenario: battery-runaway, time_scale: 120, loop: true, start_at: 3m, every: 100ms, seed: 2, channels: [voc, h2], labels: {room: battery}}
rules:
  - {id: offgas-voc, match: {channel: voc}, above: 1000, clear: 500, severity: warning}
  - {id: offgas-h2, match: {channel: h2}, above: 50, clear: 20, severity: critical}
  - {id: batt-hot, match: {channel: battery_temp}, above: 45, clear: 40, severity: critical}
  - {id: on-battery, match: {channel: on_battery}, state: true, severity: warning}
`, id, filepath.Join(dir, id), b1.URL, b2.URL))
		return p
	}
	pa := startProc(t, "pager-a", bin, "pager", "-c", pagerCfg("pager-a"))
	startProc(t, "pager-b", bin, "pager", "-c", pagerCfg("pager-b"))
	startProc(t, "gw1", bin, "run", "-c", gwCfg("gw1"))
	gw2 := startProc(t, "gw2", bin, "run", "-c", gwCfg("gw2"))

	// A first round of episodes raised and cleared on both gateways, then replica A dies in the middle
	// of the second round and comes back during the third.
	waitFor(t, "a first round of cleared episodes on both gateways", func() bool {
		return truth.cleared("gw1") >= 2 && truth.cleared("gw2") >= 2
	})
	waitFor(t, "the second round raising", func() bool { return truth.raised("gw1") >= 6 })
	pa.kill()
	waitFor(t, "the second round clearing without replica A", func() bool { return truth.cleared("gw1") >= 6 })
	startProc(t, "pager-a", bin, "pager", "-c", filepath.Join(dir, "pager-a.yaml"))
	waitFor(t, "a third round", func() bool { return truth.cleared("gw1") >= 10 && truth.cleared("gw2") >= 10 })

	killedAt := time.Now()
	gw2.kill()
	waitFor(t, "a gateway-offline page for gw2", func() bool { return sink.firing("gw2", "gateway/offline") > 0 })
	offlineDelay := sink.firstFiring("gw2", "gateway/offline").Sub(killedAt)

	// Every episode published before this moment must be paged, and resolved if it cleared.
	eps := truth.snapshot()
	waitFor(t, "every episode paged and every cleared one resolved", func() bool {
		for _, e := range eps {
			if sink.firing(e.gateway, e.alarm, e.episode) == 0 || (e.cleared && sink.resolved(e.gateway, e.alarm, e.episode) == 0) {
				return false
			}
		}
		return true
	})
	// Give a second Alertmanager (or a restarted replica) time to make a duplicate, if it were going to:
	// the cluster's peer timeout after a group interval, a resend interval.
	time.Sleep(6 * time.Second)
	known := map[string]bool{}
	for _, e := range truth.snapshot() {
		known[e.gateway+" "+e.alarm+" "+e.episode] = true
	}
	var delays []time.Duration
	for _, e := range eps {
		if n := sink.firing(e.gateway, e.alarm, e.episode); n != 1 {
			t.Errorf("%s %s episode %s: %d firing notifications, want 1 (raised %s)", e.gateway, e.alarm, e.episode, n, e.raisedAt.Format("15:04:05.000"))
			for _, a := range sink.all() {
				if a.labels["gateway"] == e.gateway && a.labels["alarm"] == e.alarm && a.labels["episode"] == e.episode {
					t.Logf("   %s %s from %s", a.at.Format("15:04:05.000"), a.status, a.from)
				}
			}
		}
		if n := sink.resolved(e.gateway, e.alarm, e.episode); e.cleared && n != 1 {
			t.Errorf("%s %s episode %s: %d resolved notifications, want 1", e.gateway, e.alarm, e.episode, n)
		}
		delays = append(delays, sink.firstFiring(e.gateway, e.alarm, e.episode).Sub(e.raisedAt))
	}
	for _, a := range sink.all() {
		if a.labels["alarm"] == "gateway/offline" {
			if a.labels["gateway"] != "gw2" {
				t.Errorf("gateway-offline page for %s, which never died", a.labels["gateway"])
			}
			continue
		}
		if !known[a.labels["gateway"]+" "+a.labels["alarm"]+" "+a.labels["episode"]] {
			t.Errorf("a notification for an episode no gateway published: %v", a.labels)
		}
	}
	if n := sink.firing("gw2", "gateway/offline"); n != 1 {
		t.Errorf("%d gateway-offline notifications for gw2, want 1", n)
	}
	slices.Sort(delays)
	t.Logf("%d episodes on 2 gateways; raise at the broker -> Alertmanager's notification: median %v, max %v (group_wait 500ms)",
		len(eps), delays[len(delays)/2].Round(time.Millisecond), delays[len(delays)-1].Round(time.Millisecond))
	t.Logf("gateway SIGKILL -> gateway-offline notification: %v (offline_grace 2s)", offlineDelay.Round(time.Millisecond))
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(fleetWait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// alertmanagerBinary finds Debian's Alertmanager, or skips (fails under RACKWATCH_REQUIRE_INTEGRATION=1).
func alertmanagerBinary(t testing.TB) string {
	t.Helper()
	return peer.Binary(t, "prometheus-alertmanager", "/usr/bin/prometheus-alertmanager", "prometheus-alertmanager", "alertmanager")
}

// buildRackwatch builds the binary once into the test's temporary directory.
func buildRackwatch(t testing.TB) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "rackwatch")
	cmd := exec.Command("go", "build", "-o", out, "github.com/rackwatch/rackwatch/cmd/rackwatch")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	return out
}

// proc is a child process whose output is shown if the test fails.
type proc struct {
	t    testing.TB
	name string
	cmd  *exec.Cmd
	out  *peer.Output
	done chan struct{}
}

func startProc(t testing.TB, name, bin string, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, name: name, cmd: exec.Command(bin, args...), out: &peer.Output{}, done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("--- %s (%s) output:\n%s", name, strings.Join(args, " "), tail(p.out.String(), 4000))
		}
	})
	return p
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// kill ends the process with SIGKILL, as a power cut or the OOM killer would.
func (p *proc) kill() {
	p.cmd.Process.Kill()
	<-p.done
}

// stop ends the process with SIGTERM, then SIGKILL if it does not exit.
func (p *proc) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.kill()
	}
}

func startAlertmanager(t testing.TB, bin, dir, name string, port, clusterPort, peerPort int, hook string) {
	t.Helper()
	cfg := filepath.Join(dir, name+".yml")
	// One group per alarm episode, so every notification is about one page; short waits for the test,
	// with group_interval above the cluster's peer timeout as in production (5m and 15s by default):
	// otherwise the second Alertmanager, waiting out its peer timeout with a snapshot taken at its last
	// flush, may notify an alert that resolved meanwhile as firing.
	writeFile(t, cfg, fmt.Sprintf(`route:
  receiver: sink
  group_by: [gateway, alarm, episode]
  group_wait: 500ms
  group_interval: 4s
  repeat_interval: 24h
receivers:
  - name: sink
    webhook_configs: [{url: %q, send_resolved: true}]
`, hook+"?am="+name))
	startProc(t, name, bin, "--config.file="+cfg, "--storage.path="+filepath.Join(dir, name),
		fmt.Sprintf("--web.listen-address=127.0.0.1:%d", port),
		fmt.Sprintf("--cluster.listen-address=127.0.0.1:%d", clusterPort),
		fmt.Sprintf("--cluster.peer=127.0.0.1:%d", peerPort),
		"--cluster.gossip-interval=100ms", "--cluster.pushpull-interval=1s", "--cluster.peer-timeout=2s",
		"--log.level=warn")
}

// waitClustered waits until the Alertmanager answers and sees its peer.
func waitClustered(t testing.TB, port int) {
	t.Helper()
	waitFor(t, fmt.Sprintf("Alertmanager on port %d to join its cluster", port), func() bool {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/api/v2/status", port))
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var st struct {
			Cluster struct {
				Status string
				Peers  []any
			}
		}
		json.NewDecoder(resp.Body).Decode(&st)
		return st.Cluster.Status == "ready" && len(st.Cluster.Peers) == 2
	})
}

// sink is the Alertmanagers' webhook receiver: it records every alert of every notification.
type sink struct {
	URL    string
	mu     sync.Mutex
	alerts []sunk
}

type sunk struct {
	from   string
	status string
	labels map[string]string
	at     time.Time
}

func newSink(t testing.TB) *sink {
	s := &sink{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var msg struct {
			Alerts []struct {
				Status string            `json:"status"`
				Labels map[string]string `json:"labels"`
			} `json:"alerts"`
		}
		if err := json.Unmarshal(body, &msg); err != nil {
			t.Errorf("sink: %v: %s", err, body)
		}
		s.mu.Lock()
		for _, a := range msg.Alerts {
			s.alerts = append(s.alerts, sunk{from: r.URL.Query().Get("am"), status: a.Status, labels: a.Labels, at: time.Now()})
		}
		s.mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	s.URL = srv.URL + "/alertmanager"
	return s
}

func (s *sink) count(status, gw, alarm string, episode ...string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, a := range s.alerts {
		if a.status == status && a.labels["gateway"] == gw && a.labels["alarm"] == alarm && (len(episode) == 0 || a.labels["episode"] == episode[0]) {
			n++
		}
	}
	return n
}

func (s *sink) firing(gw, alarm string, episode ...string) int {
	return s.count("firing", gw, alarm, episode...)
}

func (s *sink) resolved(gw, alarm string, episode ...string) int {
	return s.count("resolved", gw, alarm, episode...)
}

func (s *sink) firstFiring(gw, alarm string, episode ...string) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range s.alerts {
		if a.status == "firing" && a.labels["gateway"] == gw && a.labels["alarm"] == alarm && (len(episode) == 0 || a.labels["episode"] == episode[0]) {
			return a.at
		}
	}
	return time.Time{}
}

func (s *sink) all() []sunk {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.alerts)
}

// truth is what the gateways published on …/events, seen on either broker.
type truth struct {
	mu  sync.Mutex
	eps map[string]*published
}

type published struct {
	gateway, alarm, episode string
	raisedAt                time.Time
	cleared                 bool
}

func observe(t testing.TB, urls ...string) *truth {
	tr := &truth{eps: map[string]*published{}}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i, u := range urls {
		cfg := mqtt.Config{URL: u, ClientID: "fleet-observer-" + strconv.Itoa(i), CleanSession: true, KeepAlive: 30 * time.Second,
			Subscribe: map[string]byte{"rackwatch/+/events": 1},
			OnMessage: func(m mqtt.Received) {
				var a contract.Alarm
				if json.Unmarshal(m.Payload, &a) != nil || a.Episode == 0 {
					return
				}
				tr.mu.Lock()
				k := a.Gateway + " " + a.Key + " " + strconv.FormatUint(a.Episode, 10)
				e := tr.eps[k]
				if e == nil {
					e = &published{gateway: a.Gateway, alarm: a.Key, episode: strconv.FormatUint(a.Episode, 10), raisedAt: time.Now()}
					tr.eps[k] = e
				}
				if a.State == contract.Cleared {
					e.cleared = true
				}
				tr.mu.Unlock()
			}}
		wg.Add(1)
		go func() { defer wg.Done(); mqtt.Follow(ctx, cfg, true, func(string, ...any) {}) }()
	}
	t.Cleanup(func() { cancel(); wg.Wait() })
	return tr
}

func (tr *truth) snapshot() []published {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	out := make([]published, 0, len(tr.eps))
	for _, e := range tr.eps {
		out = append(out, *e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].raisedAt.Before(out[j].raisedAt) })
	return out
}

func (tr *truth) raised(gw string) (n int) {
	for _, e := range tr.snapshot() {
		if e.gateway == gw {
			n++
		}
	}
	return n
}

func (tr *truth) cleared(gw string) (n int) {
	for _, e := range tr.snapshot() {
		if e.gateway == gw && e.cleared {
			n++
		}
	}
	return n
}
