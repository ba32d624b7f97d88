package agent

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rackwatch/rackwatch/agent/internal/freeport"
	"github.com/rackwatch/rackwatch/agent/internal/mosquittotest"
	"github.com/rackwatch/rackwatch/agent/mqtt"
	"github.com/rackwatch/rackwatch/agent/reading"
	"github.com/rackwatch/rackwatch/drivers/modbus"
	"github.com/rackwatch/rackwatch/drivers/modbus/modbussim"
)

// minTags are the build tags of `make release-min`, the smallest useful gateway (I2C, GPIO, Modbus, MQTT
// over TLS). TestMinTagsMatchMakefile keeps the Makefile's MIN_TAGS the same.
const minTags = "nosnmp,nonut,nomegatec,nobridge,nobroker,nohttp,nopager,nosim"

// The Makefile's MIN_TAGS (make release-min, the tag sets CI builds) are the minTags this benchmark
// measures: a tag added to one and not the other would measure a binary nobody ships.
func TestMinTagsMatchMakefile(t *testing.T) {
	mk, err := os.ReadFile("../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^MIN_TAGS\s*:=\s*(\S+)\s*$`).FindSubmatch(mk)
	if m == nil {
		t.Fatal("no MIN_TAGS := line in the Makefile")
	}
	if string(m[1]) != minTags {
		t.Errorf("Makefile MIN_TAGS = %s, the footprint benchmark measures %s", m[1], minTags)
	}
}

// The 64-register job: 8 Modbus TCP devices (unit ids 1-8 behind one address), 8 input registers each,
// read every second; every reading published to one Mosquitto (deadband 0, so nearly every poll publishes
// all 64), one level rule over every channel. Device 1's eighth register is a step the benchmark moves
// across the rule's limit, to time the agent's own delay.
const (
	jobDevices   = 8
	jobRegisters = 8
	stepAbove    = 50.0 // the step's values: above the rule's limit (40), and back below its clear (30)
	stepBelow    = 20.0
)

// BenchmarkModbus64Job runs the real binary (built here, stripped, as `make release` and `make release-min`
// build it) on the 64-register job against a local Mosquitto for a fixed number of polls (FOOTPRINT_POLLS,
// default 60), then reports its memory from /proc/PID/status: VmHWM (peak resident set), RssAnon (private:
// heap, stacks) and RssFile (the executable's pages), and its own delay for the steps made meanwhile:
// the median time from the device serving a new value to the value, and to the alarm it raises or
// clears, arriving at a subscriber on the broker. It says whether each budget is met, and fails on none:
// a shared machine's timing is not a test.
//
//	go test -run '^$' -bench Modbus64Job -benchtime 1x ./agent/
func BenchmarkModbus64Job(b *testing.B) {
	polls := 60
	if s := os.Getenv("FOOTPRINT_POLLS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 5 {
			b.Fatalf("FOOTPRINT_POLLS=%q: want a number of polls, at least 5", s)
		}
		polls = n
	}
	// The budgets (docs/footprint.md): peak and private memory per build, own delay for both.
	for _, build := range []struct {
		name, tags   string
		hwm, private float64 // MiB; 0: no budget
	}{{"default", "", 10, 4}, {"min", minTags, 8, 0}} {
		b.Run(build.name, func(b *testing.B) {
			bin := buildAgent(b, build.tags)
			for i := 0; i < b.N; i++ {
				f := runJob(b, bin, polls)
				private := "no budget of its own"
				if build.private > 0 {
					private = fmt.Sprintf("≤ %g MiB: %s", build.private, verdict(f.anon <= build.private))
				}
				b.Logf("budget: VmHWM ≤ %g MiB: %s; private %s; own delay ≤ 5 ms median: value %s, alarm %s",
					build.hwm, verdict(f.hwm <= build.hwm), private, verdict(f.value <= 5), verdict(f.alarm <= 5))
			}
		})
	}
}

// buildAgent builds the binary with tags, stripped, into a temporary directory.
func buildAgent(b *testing.B, tags string) string {
	b.Helper()
	out := filepath.Join(b.TempDir(), "rackwatch")
	args := []string{"build", "-trimpath", "-ldflags", "-s -w", "-o", out}
	if tags != "" {
		args = append(args, "-tags", tags)
	}
	cmd := exec.Command("go", append(args, "../cmd/rackwatch")...)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("go build -tags %q: %v\n%s", tags, err, msg)
	}
	return out
}

// stepDevice is the simulated devices' values: noise around 20-27 °C on t0..t7, and the step.
type stepDevice struct {
	mu       sync.Mutex
	step     float64
	changed  bool      // the step moved and has not been served yet
	servedAt time.Time // when the step's current value was first served
}

func (d *stepDevice) value(ch reading.Channel) (float64, bool) {
	if ch == "step" {
		d.mu.Lock()
		defer d.mu.Unlock()
		if d.changed {
			d.changed, d.servedAt = false, time.Now()
		}
		return d.step, true
	}
	i, _ := strconv.Atoi(strings.TrimPrefix(string(ch), "t"))
	return 20 + float64(i) + rand.Float64(), true
}

func (d *stepDevice) set(v float64) {
	d.mu.Lock()
	d.step, d.changed, d.servedAt = v, true, time.Time{}
	d.mu.Unlock()
}

// served returns when the current step value was first served, or zero.
func (d *stepDevice) served() time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.servedAt
}

func jobConfig(stateDir, modbusAddr, brokerURL string) string {
	var c strings.Builder
	fmt.Fprintf(&c, `gateway: {id: job64, state_dir: %s, log_level: warn}
mqtt:
  brokers: [{url: "%s"}]
  readings: {every: 60s, deadband: 0}
buses:
  - {id: lan, type: modbus-tcp, address: "%s", timeout: 500ms}
sensors:
`, stateDir, brokerURL, modbusAddr)
	for u := 1; u <= jobDevices; u++ {
		fmt.Fprintf(&c, "  - id: dev%d\n    driver: modbus\n    bus: lan\n    unit_id: %d\n    every: 1s\n    registers:\n", u, u)
		for r := 0; r < jobRegisters; r++ {
			ch, addr := fmt.Sprintf("t%d", r), r
			if u == 1 && r == jobRegisters-1 {
				ch, addr = "step", jobRegisters
			}
			fmt.Fprintf(&c, "      - {channel: %s, table: input, address: %d, type: int16, scale: 0.1, unit: \"°C\"}\n", ch, addr)
		}
	}
	c.WriteString(`rules:
  - {id: hot, match: {sensor: "dev*"}, above: 40, clear: 30, severity: warning}
`)
	return c.String()
}

// figures are what one run of the job measured: memory in MiB, own delays (medians) in ms.
type figures struct{ hwm, anon, file, value, alarm float64 }

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT met"
}

func runJob(b *testing.B, bin string, polls int) figures {
	b.Helper()
	mq := mosquittotest.Start(b, mosquittotest.Options{})
	dev := &stepDevice{step: stepBelow}
	specs := make([]modbus.RegSpec, 0, jobRegisters+1)
	scale := 0.1
	for r := 0; r <= jobRegisters; r++ {
		addr, ch := r, fmt.Sprintf("t%d", r)
		if r == jobRegisters {
			ch = "step"
		}
		specs = append(specs, modbus.RegSpec{Channel: ch, Table: "input", Address: &addr, Type: "int16", Scale: &scale, Unit: "°C"})
	}
	units := make([]uint8, jobDevices)
	for i := range units {
		units[i] = uint8(i + 1)
	}
	sim, err := modbussim.NewSim(specs, dev.value, units...)
	if err != nil {
		b.Fatal(err)
	}
	simAddr := fmt.Sprintf("127.0.0.1:%d", freeport.Get(b))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan struct{})
	go modbussim.Serve(ctx, modbussim.Options{Device: sim, Listen: simAddr, Ready: func(string, string) { close(ready) }})
	select {
	case <-ready:
	case <-time.After(time.Minute):
		b.Fatal("the Modbus simulator did not start")
	}

	// The subscriber notes when each step's value and alarm arrive.
	type arrival struct {
		alarm bool
		value float64
		at    time.Time
	}
	arrivals := make(chan arrival, 256)
	sub, err := mqtt.Connect(ctx, mqtt.Config{URL: mq.URL, ClientID: "bench", CleanSession: true,
		Subscribe: map[string]byte{"rackwatch/job64/readings/dev1/step": 0, "rackwatch/job64/events": 1},
		OnMessage: func(m mqtt.Received) {
			now := time.Now()
			var p struct {
				Value   float64 `json:"value"`
				Channel string  `json:"channel"`
			}
			if json.Unmarshal(m.Payload, &p) != nil {
				return
			}
			isAlarm := strings.HasSuffix(m.Topic, "/events")
			if isAlarm && p.Channel != "step" {
				return
			}
			select {
			case arrivals <- arrival{alarm: isAlarm, value: p.Value, at: now}:
			default:
			}
		}})
	if err != nil {
		b.Fatal(err)
	}
	defer sub.Disconnect(0)

	dir := b.TempDir()
	cfgPath := filepath.Join(dir, "job64.yaml")
	if err := os.WriteFile(cfgPath, []byte(jobConfig(filepath.Join(dir, "state"), simAddr, mq.URL)), 0o600); err != nil {
		b.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd := exec.Command(bin, "run", "-c", cfgPath)
	cmd.Stderr = &stderr
	if trace := os.Getenv("FOOTPRINT_GCTRACE"); trace != "" {
		// The runtime's line per GC (heap before, after, live) goes to this file.
		f, err := os.Create(trace)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		cmd.Env = append(os.Environ(), "GODEBUG=gctrace=1")
		cmd.Stderr = f
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
		}
	}()

	// Steps: every 2-3 s, at a random phase of the poll, flip the step across the rule's limit; note
	// when the device first served the new value and when the value and the alarm arrived.
	var valueDelays, alarmDelays []time.Duration
	var polled atomic.Int64
	nextSample := int64(60)
	next := time.Now().Add(3 * time.Second)
	want := stepBelow
	var pendingValue, pendingAlarm bool
	deadline := time.Now().Add(time.Duration(polls)*time.Second + 2*time.Minute)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for polled.Load() < int64(polls) {
		select {
		case err := <-exited:
			b.Fatalf("the agent exited: %v\n%s", err, stderr.String())
		case a := <-arrivals:
			if math.Abs(a.value-want) > 0.01 {
				continue
			}
			served := dev.served()
			if served.IsZero() {
				continue
			}
			if a.alarm && pendingAlarm {
				alarmDelays = append(alarmDelays, a.at.Sub(served))
				pendingAlarm = false
			} else if !a.alarm && pendingValue {
				valueDelays = append(valueDelays, a.at.Sub(served))
				pendingValue = false
			}
		case now := <-tick.C:
			polled.Store(int64(sim.Requests(jobDevices)))
			if p := polled.Load(); p >= nextSample {
				// A long run (FOOTPRINT_POLLS=3600: an hour) shows whether the private memory grows.
				h, a, f := procRSS(b, cmd.Process.Pid)
				// Printed as it comes (a benchmark's log comes only at its end): an hour is long to wait.
				fmt.Printf("    %s: after %4d polls: VmHWM %.2f MiB, RssAnon %.2f MiB, RssFile %.2f MiB\n", b.Name(), p, h, a, f)
				nextSample += 60
			}
			if now.After(deadline) {
				b.Fatalf("only %d polls of %d in time\n%s", polled.Load(), polls, stderr.String())
			}
			if now.After(next) && !pendingValue && !pendingAlarm {
				if want == stepBelow {
					want = stepAbove
				} else {
					want = stepBelow
				}
				dev.set(want)
				pendingValue, pendingAlarm = true, true
				next = now.Add(2*time.Second + rand.N(time.Second))
			}
		}
	}
	hwm, anon, file := procRSS(b, cmd.Process.Pid)
	if path := os.Getenv("FOOTPRINT_SMAPS"); path != "" {
		// Where the resident pages are, mapping by mapping.
		if data, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps", cmd.Process.Pid)); err == nil {
			os.WriteFile(path, data, 0o644)
		}
	}
	b.ReportMetric(hwm, "VmHWM-MiB")
	b.ReportMetric(anon, "RssAnon-MiB")
	b.ReportMetric(file, "RssFile-MiB")
	if len(valueDelays) > 0 {
		b.ReportMetric(median(valueDelays), "value-p50-ms")
	}
	if len(alarmDelays) > 0 {
		b.ReportMetric(median(alarmDelays), "alarm-p50-ms")
	}
	b.Logf("%d polls; VmHWM %.1f MiB, RssAnon %.1f MiB, RssFile %.1f MiB; own delay over %d steps: value p50 %.2f ms (max %.2f), alarm p50 %.2f ms (max %.2f)",
		polls, hwm, anon, file, len(valueDelays), median(valueDelays), maxMS(valueDelays), median(alarmDelays), maxMS(alarmDelays))
	return figures{hwm, anon, file, median(valueDelays), median(alarmDelays)}
}

var statusLine = regexp.MustCompile(`^(VmHWM|RssAnon|RssFile):\s+(\d+) kB`)

// procRSS reads VmHWM, RssAnon and RssFile of a process, in MiB.
func procRSS(b *testing.B, pid int) (hwm, anon, file float64) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		m := statusLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		kb, _ := strconv.ParseFloat(m[2], 64)
		switch m[1] {
		case "VmHWM":
			hwm = kb / 1024
		case "RssAnon":
			anon = kb / 1024
		case "RssFile":
			file = kb / 1024
		}
	}
	return hwm, anon, file
}

func median(ds []time.Duration) float64 {
	if len(ds) == 0 {
		return math.NaN()
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return float64(s[len(s)/2].Microseconds()) / 1000
}

func maxMS(ds []time.Duration) float64 {
	if len(ds) == 0 {
		return math.NaN()
	}
	return float64(slices.Max(ds).Microseconds()) / 1000
}
