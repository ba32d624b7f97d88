package agent

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	mb "github.com/simonvetter/modbus"
	pgpio "periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"

	"github.com/rackwatch/rackwatch/agent/contract"
	"github.com/rackwatch/rackwatch/agent/delivery"
	"github.com/rackwatch/rackwatch/agent/driver"
	"github.com/rackwatch/rackwatch/agent/journal"
	"github.com/rackwatch/rackwatch/agent/mqtt"
	"github.com/rackwatch/rackwatch/agent/outputs"
	"github.com/rackwatch/rackwatch/agent/reading"
	"github.com/rackwatch/rackwatch/agent/store"
	"github.com/rackwatch/rackwatch/drivers/gpio"
	"github.com/rackwatch/rackwatch/drivers/modbus"
	"github.com/rackwatch/rackwatch/drivers/modbus/modbussim"
	"github.com/rackwatch/rackwatch/drivers/sim"
)

// actionOutbox is the fake outbox that also takes action events, as the MQTT delivery does.
type actionOutbox struct {
	*fakeOutbox
	amu     sync.Mutex
	actions []contract.Action
}

func newActionOutbox() *actionOutbox { return &actionOutbox{fakeOutbox: newFakeOutbox()} }

func (o *actionOutbox) Actions(as []contract.Action) error {
	o.amu.Lock()
	o.actions = append(o.actions, as...)
	o.amu.Unlock()
	return nil
}

func (o *actionOutbox) link() *Link {
	return &Link{Outbox: o, Monitor: o, Flush: o.Flush, Close: o.Close}
}

func (o *actionOutbox) events() []contract.Action {
	o.amu.Lock()
	defer o.amu.Unlock()
	return append([]contract.Action(nil), o.actions...)
}

// waitEvent waits (a failure timeout, not a measurement) for an action event that ok accepts.
func (o *actionOutbox) waitEvent(t *testing.T, what string, ok func(*contract.Action) bool) contract.Action {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		for _, a := range o.events() {
			if ok(&a) {
				return a
			}
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Fatalf("never saw %s; events: %+v", what, o.events())
	return contract.Action{}
}

// outputRegistry is the test registry with the output families of the battery room: a Modbus BMS, a
// GPIO sounder on a gpiotest pin, simulated outputs.
func outputRegistry(pin pgpio.PinIO) *driver.Registry {
	r := testRegistry()
	modbus.Register(r)
	r.AddOutput(gpio.OutputType(func(name string) pgpio.PinIO {
		if name == "GPIO22" {
			return pin
		}
		return nil
	}))
	return r
}

// simulatedBMS serves a BMS with a writable charge enable coil (0x1201) and fan register (40) over Modbus
// TCP, and records when each write arrived.
type simulatedBMS struct {
	dev    *modbussim.Sim
	addr   string
	mu     sync.Mutex
	writes []modbussim.Write
}

func startBMS(t testing.TB) *simulatedBMS {
	t.Helper()
	dev, err := modbussim.NewSim([]modbus.RegSpec{
		{Channel: "charging", Table: "coil", Address: intp(0x1201)},
		{Channel: "fan", Table: "holding", Address: intp(40), Type: "uint16"},
	}, func(ch reading.Channel) (float64, bool) { return 1, ch == "charging" })
	if err != nil {
		t.Fatal(err)
	}
	b := &simulatedBMS{dev: dev}
	dev.AcceptWrites(func(w modbussim.Write) { b.mu.Lock(); b.writes = append(b.writes, w); b.mu.Unlock() })
	for try := 0; ; try++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		b.addr = l.Addr().String()
		l.Close()
		srv, err := mb.NewServer(&mb.ServerConfiguration{URL: "tcp://" + b.addr, MaxClients: 4}, dev)
		if err == nil {
			err = srv.Start()
		}
		if err == nil {
			t.Cleanup(func() { srv.Stop() })
			return b
		}
		if try == 5 {
			t.Fatal(err)
		}
	}
}

func (b *simulatedBMS) written(table modbus.Table, addr uint16) (modbussim.Write, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for i := len(b.writes) - 1; i >= 0; i-- {
		if w := b.writes[i]; w.Table == table && w.Addr == addr {
			return w, true
		}
	}
	return modbussim.Write{}, false
}

func repoFile(t testing.TB, rel string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", rel))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// batteryRoom is the reference battery room (configs/battery-room.yaml's ids, the shipped rules) playing
// the battery-runaway story, with the docs/actions.md recipe on real devices: the BMS's charge enable
// coil and fan register over Modbus TCP, a GPIO sounder, a simulated beacon.
func batteryRoom(t testing.TB, bmsAddr string, extra string) string {
	return `
gateway: {id: dc1-b3-battery, site: dc1, state_dir: STATE}
mqtt: {embedded_broker: "127.0.0.1:0"}
buses:
  - {id: bms, type: modbus-tcp, address: "` + bmsAddr + `", timeout: 2s}
sensors:
  - {id: string1, driver: sim, scenario: battery-runaway, seed: 1, every: 10s, channels: [battery_temp], labels: {room: battery-room}}
  - {id: string2, driver: sim, scenario: battery-runaway, seed: 2, every: 10s, channels: [battery_temp], labels: {room: battery-room}}
  - {id: batt-room.air, driver: sim, scenario: battery-runaway, seed: 3, every: 10s, channels: [temperature, humidity], labels: {room: battery-room}}
  - {id: batt-room.offgas, driver: sim, scenario: battery-runaway, seed: 4, every: 10s, channels: [voc, h2], labels: {room: battery-room}}
  - {id: batt-room.smoke, driver: sim, scenario: battery-runaway, every: 5s, channels: [smoke], labels: {room: battery-room}}
include:
  - ` + repoFile(t, "configs/rules/battery-room.yaml") + `
outputs:
  - {id: stop-charge, type: modbus, bus: bms, unit_id: 1, table: coil, address: 0x1201, on: 0, off: 1}
  - {id: vent-fan, type: modbus, bus: bms, unit_id: 1, table: holding, address: 40, on: 1, off: 0}
  - {id: sounder, type: gpio, pin: GPIO22, role: sounder}
  - {id: beacon, type: sim, role: beacon}
` + extra
}

func writePlan(t testing.TB, reg *driver.Registry, body string) *Plan {
	t.Helper()
	dir := t.TempDir()
	p := filepath.Join(dir, "rackwatch.yaml")
	body = strings.ReplaceAll(body, "STATE", filepath.Join(dir, "state"))
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	plan, err := LoadAndCheck(p, reg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(plan.Config.Gateway.StateDir, 0o750); err != nil {
		t.Fatal(err)
	}
	return plan
}

const recipe = `actions:
  - {when: {rule: pre-runaway, state: active}, do: [stop-charge, vent-fan, sounder]}
  - {when: {severity: critical}, do: [beacon], until: ack}
`

// TestBatteryRoomPreRunawayStopsChargeAndStartsFan is the "done when": the reference battery
// room's pre-runaway critical stops the charge (the BMS's charge enable coil written 0 and read back) and
// starts the fan, and sounds the sounder, as soon as it is raised. The story is played on a simulated
// clock through the agent's own loop (the shipped rules need minutes of story), while the outputs switch
// in real time on real devices: the time from the reading that raised the alarm to each device change is
// measured and logged.
func TestBatteryRoomPreRunawayStopsChargeAndStartsFan(t *testing.T) {
	bms := startBMS(t)
	pin := &gpiotest.Pin{N: "GPIO22", Num: 22}
	reg := outputRegistry(pin)
	plan := writePlan(t, reg, batteryRoom(t, bms.addr, recipe))
	ob := newActionOutbox()
	var raised bool
	var trs []contract.Alarm
	a := &runner{log: slog.New(slog.NewTextHandler(io.Discard, nil)), reg: reg, out: ob.link(),
		statePath: filepath.Join(plan.Config.Gateway.StateDir, store.File),
		opt: Options{OnTransition: func(al *contract.Alarm) {
			trs = append(trs, *al)
			if al.Rule == "pre-runaway" && al.Event == contract.EventRaise {
				raised = true
			}
		}}}
	if err := a.setPlan(plan, nil); err != nil {
		t.Fatal(err)
	}
	a.startActions()
	defer a.stopActions()

	start := time.Date(2026, 3, 2, 2, 0, 0, 0, time.UTC)
	clock := start
	var devs []*sim.Device
	for _, s := range plan.Sensors {
		d, err := sim.Open(s, func() time.Time { return clock })
		if err != nil {
			t.Fatal(err)
		}
		devs = append(devs, d)
	}
	var raisedAt time.Time // wall clock: just before the reading that raised pre-runaway was handed over
	var storyAt time.Duration
	for ms := 0; ms <= 12*60_000 && raisedAt.IsZero(); ms += 5000 {
		now := start.Add(time.Duration(ms) * time.Millisecond)
		clock = now
		for i, d := range devs {
			if time.Duration(ms)*time.Millisecond%plan.Sensors[i].Every != 0 {
				continue
			}
			samples, err := d.Read(context.Background(), nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range samples {
				r := reading.Reading{Sensor: plan.Sensors[i].ID, Channel: s.Channel, Value: s.Value, At: now}
				before := time.Now()
				a.reading(&r)
				if raised && raisedAt.IsZero() {
					raisedAt, storyAt = before, now.Sub(start)
				}
			}
		}
		a.commit(a.engine.Tick(now, a.trs[:0]))
		// Before the critical nothing may act: a warning (off-gas alone) stops no charge.
		if raisedAt.IsZero() {
			if _, ok := bms.written(modbus.Coil, 0x1201); ok {
				t.Fatalf("the charge was stopped before pre-runaway, at story time %s", now.Sub(start))
			}
		}
	}
	if raisedAt.IsZero() {
		var b strings.Builder
		for _, al := range trs {
			b.WriteString(al.Key + " " + al.Event + "\n")
		}
		t.Fatalf("pre-runaway never raised in the story:\n%s", b.String())
	}

	// The charge stops and the fan starts on the BMS, the sounder sounds: wait (generously) for each.
	coil := waitUntil(t, "the charge enable coil written 0", func() bool { w, ok := bms.written(modbus.Coil, 0x1201); return ok && w.Value == 0 })
	fan := waitUntil(t, "the fan register written 1", func() bool { w, ok := bms.written(modbus.Holding, 40); return ok && w.Value == 1 })
	sounder := waitUntil(t, "the sounder pin high", func() bool { return pin.Read() == pgpio.High })
	w, _ := bms.written(modbus.Coil, 0x1201)
	f, _ := bms.written(modbus.Holding, 40)
	t.Logf("pre-runaway raised at story time %s; from the reading that raised it: charge enable coil written after %s, fan after %s, sounder seen after %s",
		storyAt, w.At.Sub(raisedAt), f.At.Sub(raisedAt), sounder.Sub(raisedAt))
	_, _ = coil, fan

	for _, out := range []string{"stop-charge", "vent-fan", "sounder", "beacon"} {
		ev := ob.waitEvent(t, out+" on, ok", func(e *contract.Action) bool {
			return e.Output == out && e.State == contract.OutputOn && e.Result == contract.ResultOK
		})
		if ev.Alarm != "pre-runaway" || ev.Severity != contract.Critical || ev.By != contract.ByRules || ev.AlarmSeq == 0 {
			t.Errorf("%s: event %+v", out, ev)
		}
	}
	ev := ob.waitEvent(t, "stop-charge", func(e *contract.Action) bool { return e.Output == "stop-charge" })
	if ev.Detail != "coil 4609 (0x1201) on unit 1 of bus bms = 0, read back 0" {
		t.Errorf("stop-charge detail %q", ev.Detail)
	}
	rows, _ := a.actionStatus()
	for _, r := range rows {
		if r.State != "on" || !r.OK {
			t.Errorf("status row %+v", r)
		}
	}
}

// waitUntil polls cond with a failure timeout and returns when it first held.
func waitUntil(t testing.TB, what string, cond func() bool) time.Time {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("never: %s", what)
		}
		time.Sleep(100 * time.Microsecond)
	}
	return time.Now()
}

// TestActionEventsThroughMQTT runs the whole agent with its MQTT delivery: the action events go through
// the journal to …/events (and never to a retained alarm topic), the status page and /metrics show the
// outputs, and an operator's output test over the control socket is journaled and published too.
func TestActionEventsThroughMQTT(t *testing.T) {
	reg := testRegistry()
	plan := writePlan(t, reg, `
gateway: {id: gw, site: lab, state_dir: STATE, http: "127.0.0.1:0"}
mqtt: {embedded_broker: "127.0.0.1:0"}
sensors:
  # One reading, hot, then none for an hour (the loop's own counters are not safe to read from /metrics
  # while readings arrive: a race of the agent's loop that this test need not hit).
  - {id: ups1, driver: sim, scenario: battery-runaway, start_at: 9m, every: 1h, channels: [battery_temp], labels: {room: battery-room}}
rules:
  - {id: batt-hot, match: {sensor: ups1, channel: battery_temp}, above: 45, clear: 40, latch: true, severity: critical}
outputs:
  - {id: vent-fan, type: sim, what: battery room fan}
  - {id: sounder, type: sim, role: sounder}
actions:
  - {when: {rule: batt-hot}, do: [vent-fan]}
`)
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan Ready, 1)
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, plan, reg, Options{Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Ready: func(r Ready) { ready <- r }})
	}()
	var rd Ready
	select {
	case rd = <-ready:
	case err := <-done:
		t.Fatal(err)
	}
	defer func() { cancel(); <-done }()
	sub := subscribeAll(t, "tcp://"+rd.Broker, "act-sub")
	ms := sub.wait(t, "the fan's action event", func(ms []mqtt.Received) bool {
		for _, m := range on(ms, "rackwatch/gw/events") {
			if strings.Contains(string(m.Payload), `"output":"vent-fan"`) {
				return true
			}
		}
		return false
	})
	for _, m := range ms {
		if strings.HasPrefix(m.Topic, "rackwatch/gw/alarms/") && strings.Contains(string(m.Payload), `"kind":"action"`) {
			t.Errorf("an action event on a retained alarm topic: %s", m.Topic)
		}
	}
	var act contract.Action
	for _, m := range on(ms, "rackwatch/gw/events") {
		if _, a, err := contract.ParseEvent(m.Payload); err == nil && a != nil {
			act = *a
			if m.Retain {
				t.Error("action event retained")
			}
		}
	}
	if act.State != "on" || act.Result != "ok" || act.Alarm != "batt-hot/ups1/battery_temp" || act.Detail != "battery room fan on, read back on" ||
		act.Latency <= 0 || act.Latency > time.Minute {
		t.Errorf("event %+v", act)
	}

	// The status page and /metrics.
	get := func(path string) string {
		resp, err := http.Get("http://" + rd.HTTP + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	if page := get("/"); !strings.Contains(page, "<h2>Outputs</h2>") || !strings.Contains(page, "vent-fan") {
		t.Errorf("status page:\n%s", page)
	}
	if m := get("/metrics"); !strings.Contains(m, `rackwatch_output_on{output="vent-fan",type="sim"} 1`) ||
		!strings.Contains(m, `rackwatch_output_on{output="sounder",type="sim"} 0`) {
		t.Errorf("metrics:\n%s", m)
	}

	// A sounder test through the running agent, over the control socket.
	tctx, tcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer tcancel()
	evs, err := outputs.TestThroughAgent(tctx, outputs.SocketPath(plan.Config.Gateway.StateDir), "sounder", 100*time.Millisecond)
	if err != nil || len(evs) != 2 {
		t.Fatalf("test: %v %+v", err, evs)
	}
	if _, err := outputs.TestThroughAgent(tctx, outputs.SocketPath(plan.Config.Gateway.StateDir), "vent-fan", time.Second); err == nil ||
		!strings.Contains(err.Error(), "is on for batt-hot") {
		t.Errorf("testing an output the rules hold: %v", err)
	}
	sub.wait(t, "the test's events", func(ms []mqtt.Received) bool {
		n := 0
		for _, m := range on(ms, "rackwatch/gw/events") {
			if strings.Contains(string(m.Payload), `"by":"test:local:`) {
				n++
			}
		}
		return n == 2
	})
}

// TestDryRunTouchesNothing: with actions.dry_run the outputs are reported as they would be switched, and
// the GPIO line is never even opened.
func TestDryRunTouchesNothing(t *testing.T) {
	bms := startBMS(t)
	pin := &gpiotest.Pin{N: "GPIO22", Num: 22, L: pgpio.High} // a level no open would leave
	reg := outputRegistry(pin)
	plan := writePlan(t, reg, batteryRoom(t, bms.addr, `actions:
  dry_run: true
  list:
    - {when: {rule: batt-critical}, do: [stop-charge, sounder]}
`))
	ob := newActionOutbox()
	a := &runner{log: slog.New(slog.NewTextHandler(io.Discard, nil)), reg: reg, out: ob.link(),
		statePath: filepath.Join(plan.Config.Gateway.StateDir, store.File)}
	if err := a.setPlan(plan, nil); err != nil {
		t.Fatal(err)
	}
	a.startActions()
	defer a.stopActions()
	now := time.Now()
	for i := 0; i < 4; i++ { // above 60 °C for 20 s
		r := reading.Reading{Sensor: "string1", Channel: reading.BatteryTemp, Value: 70, At: now.Add(time.Duration(i) * 10 * time.Second)}
		a.reading(&r)
	}
	for _, out := range []string{"stop-charge", "sounder"} {
		ev := ob.waitEvent(t, out+" dry run", func(e *contract.Action) bool { return e.Output == out })
		if ev.Result != contract.ResultDryRun || !ev.DryRun || !strings.HasPrefix(ev.Detail, "would switch ") {
			t.Errorf("%s: %+v", out, ev)
		}
	}
	if _, ok := bms.written(modbus.Coil, 0x1201); ok {
		t.Error("dry run wrote to the BMS")
	}
	if pin.Read() != pgpio.High {
		t.Error("dry run opened the GPIO line")
	}
}

// TestShutdownSequenceThroughTheAgent: the UPS on battery and then low: after the delay the journal is
// flushed (the last gasp), then the command runs; each step is an action event.
func TestShutdownSequenceThroughTheAgent(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "powered-off")
	plan := writeConfig(t, `
gateway: {id: gw, state_dir: STATE}
mqtt: {embedded_broker: "127.0.0.1:0"}
sensors:
  - {id: ups1, driver: sim, scenario: steady, every: 1h, channels: [on_battery, low_battery]}
rules:
  - {id: ups-on-battery, match: {channel: on_battery}, state: true}
  - {id: ups-low-battery, match: {channel: low_battery}, state: true, severity: critical}
shutdown:
  when: [ups-low-battery]
  on_battery: [ups-on-battery]
  delay: 1s
  flush: 5s
  command: [/bin/sh, -c, "touch `+marker+`"]
`)
	ob := newActionOutbox()
	a := &runner{log: slog.New(slog.NewTextHandler(io.Discard, nil)), reg: testRegistry(), out: ob.link(),
		statePath: filepath.Join(plan.Config.Gateway.StateDir, store.File)}
	if err := os.MkdirAll(plan.Config.Gateway.StateDir, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := a.setPlan(plan, nil); err != nil {
		t.Fatal(err)
	}
	a.startActions()
	defer a.stopActions()
	now := time.Now()
	feed := func(ch reading.Channel, v float64) {
		r := reading.Reading{Sensor: "ups1", Channel: ch, Value: v, At: now}
		a.reading(&r)
	}
	feed(reading.LowBattery, 1) // low battery while on mains: no shutdown
	a.actTick(now)
	a.actTick(now.Add(2 * time.Second))
	if len(ob.events()) != 0 {
		t.Fatalf("low battery on mains started something: %+v", ob.events())
	}
	feed(reading.OnBattery, 1)
	a.actTick(now.Add(3 * time.Second))
	ev := ob.waitEvent(t, "pending", func(e *contract.Action) bool { return e.State == contract.ShutdownPending })
	if ev.Output != "shutdown" || ev.Rule != "ups-low-battery" || !strings.Contains(ev.Detail, "shutting down in 1s unless power returns") {
		t.Errorf("pending: %+v", ev)
	}
	a.actTick(now.Add(4 * time.Second))
	ob.waitEvent(t, "the command's result", func(e *contract.Action) bool {
		return e.State == contract.ShutdownCommand && strings.HasSuffix(e.Detail, " done")
	})
	if _, err := os.Stat(marker); err != nil {
		t.Errorf("the command did not run: %v", err)
	}
	var states []string
	for _, e := range ob.events() {
		states = append(states, e.State+":"+e.Result)
	}
	if strings.Join(states, " ") != "pending:ok started:ok command:ok command:ok" {
		t.Errorf("steps %v", states)
	}
	ob.mu.Lock()
	flushes := ob.flushes
	ob.mu.Unlock()
	if flushes < 1 {
		t.Error("the journal was not flushed before the command")
	}
	if _, st := a.actionStatus(); !strings.HasPrefix(st, "command ran") {
		t.Errorf("status %q", st)
	}
}

// TestActionEventsSurviveInTheJournal: action events go through the same durable journal as transitions:
// written before publishing, kept for a broker that is down, in order with the alarms.
func TestActionEventsSurviveInTheJournal(t *testing.T) {
	plan := writeConfig(t, `
gateway: {id: gw, state_dir: STATE}
mqtt: {brokers: [{url: "tcp://127.0.0.1:1"}]}
sensors:
  - {id: ups1, driver: sim, scenario: steady, every: 1h, channels: [battery_temp]}
rules:
  - {id: batt-hot, match: {sensor: ups1, channel: battery_temp}, above: 45, severity: critical}
outputs:
  - {id: vent-fan, type: sim}
actions:
  - {when: {rule: batt-hot}, do: [vent-fan]}
`)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	link, err := OpenMQTT(context.Background(), plan.Config, nil, log)
	if err != nil {
		t.Fatal(err)
	}
	a := &runner{log: log, reg: testRegistry(), out: link, statePath: filepath.Join(plan.Config.Gateway.StateDir, store.File)}
	if err := a.setPlan(plan, nil); err != nil {
		t.Fatal(err)
	}
	a.startActions()
	r := reading.Reading{Sensor: "ups1", Channel: reading.BatteryTemp, Value: 50, At: time.Now()}
	a.reading(&r)
	waitUntil(t, "the action event", func() bool { return a.acts.events.Load() == 1 })
	a.stopActions()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	link.Close(ctx) // the broker is unreachable: everything stays in the journal

	snap, err := journal.Inspect(delivery.JournalDir(plan.Config.Gateway.StateDir))
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, rec := range snap.Records {
		keys = append(keys, rec.Key)
		if contract.IsActionKey(rec.Key) {
			var act contract.Action
			if err := json.Unmarshal(rec.Data, &act); err != nil || act.Output != "vent-fan" {
				t.Errorf("journaled action %s: %v", rec.Data, err)
			}
		}
	}
	sort.Strings(keys)
	if strings.Join(keys, " ") != "action:vent-fan batt-hot/ups1/battery_temp" {
		t.Errorf("journal holds %v", keys)
	}
}

func intp(v int) *int { return &v }

// TestReloadActions: a reload applies new actions and dry_run at once, switching only what changes; the
// outputs themselves stay (changing them takes a restart).
func TestReloadActions(t *testing.T) {
	body := func(actions string) string {
		return `
gateway: {id: gw, state_dir: STATE}
mqtt: {embedded_broker: "127.0.0.1:0"}
sensors:
  - {id: ups1, driver: sim, scenario: steady, every: 1h, channels: [battery_temp]}
rules:
  - {id: batt-hot, match: {sensor: ups1, channel: battery_temp}, above: 45, severity: critical}
outputs:
  - {id: vent-fan, type: sim}
  - {id: beacon, type: sim}
` + actions
	}
	plan := writeConfig(t, body("actions:\n  dry_run: true\n  list:\n    - {when: {rule: batt-hot}, do: [vent-fan, beacon]}\n"))
	ob := newActionOutbox()
	a := &runner{log: slog.New(slog.NewTextHandler(io.Discard, nil)), reg: testRegistry(), out: ob.link(),
		statePath: filepath.Join(plan.Config.Gateway.StateDir, store.File)}
	if err := os.MkdirAll(plan.Config.Gateway.StateDir, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := a.setPlan(plan, nil); err != nil {
		t.Fatal(err)
	}
	a.startActions()
	defer a.stopActions()
	r := reading.Reading{Sensor: "ups1", Channel: reading.BatteryTemp, Value: 50, At: time.Now()}
	a.reading(&r)
	waitUntil(t, "two dry-run events", func() bool { return len(ob.events()) == 2 })

	// The reloaded config drops the beacon from the action and leaves dry run: the fan is switched for
	// real (it was only reported on), the beacon is switched off.
	next := writeConfig(t, body("actions:\n  - {when: {rule: batt-hot}, do: [vent-fan]}\n"))
	st := a.engine.Snapshot()
	if err := a.setPlan(next, &st); err != nil {
		t.Fatal(err)
	}
	a.reloadActions(next)
	ob.waitEvent(t, "the fan switched on for real", func(e *contract.Action) bool {
		return e.Output == "vent-fan" && e.State == "on" && e.Result == contract.ResultOK && !e.DryRun
	})
	for _, e := range ob.events() {
		if e.Output == "beacon" && e.Result != contract.ResultDryRun {
			t.Errorf("the beacon, only ever reported in dry run, was switched: %+v", e)
		}
	}
	rows, _ := a.actionStatus()
	if rows[0].ID != "vent-fan" || rows[0].State != "on" || rows[1].State != "off" || len(ob.events()) != 3 {
		t.Errorf("status %+v", rows)
	}
}
