package agent

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rackwatch/rackwatch/internal/peer"

	"github.com/rackwatch/rackwatch/agent/contract"
	"github.com/rackwatch/rackwatch/agent/delivery"
	"github.com/rackwatch/rackwatch/agent/journal"
	"github.com/rackwatch/rackwatch/agent/rules"
	"github.com/rackwatch/rackwatch/agent/store"
)

// smokeConfig raises smoke at once: the story starts at minute 8, after the smoke came.
const smokeConfig = `
gateway: {id: gw, site: lab, state_dir: STATE}
mqtt: {embedded_broker: "127.0.0.1:0"}
sensors:
  - {id: room.smoke, driver: sim, scenario: battery-runaway, start_at: 8m, every: 20ms, channels: [smoke]}
rules:
  - {id: smoke, match: {channel: smoke}, above: 0.5, latch: true, severity: critical}
`

var tPrev = time.Date(2026, 11, 25, 3, 0, 0, 0, time.UTC)

// prevAlarm is a transition a previous run of gateway gw made.
func prevAlarm(gw string, seq uint64, key, state, event string) contract.Alarm {
	parts := strings.Split(key, "/")
	a := contract.Alarm{Gateway: gw, Site: "lab", Key: key, Rule: parts[0], Severity: contract.Critical, State: state,
		Acked: state == contract.Cleared, Since: tPrev, Time: tPrev.Add(time.Duration(seq) * time.Second), Seq: seq, Episode: seq,
		Event: event, Message: key + " " + state, Labels: map[string]string{}}
	if len(parts) == 3 {
		a.Sensor, a.Channel = parts[1], parts[2]
	}
	return a
}

// writeJournal leaves transitions in state_dir's journal, as a previous run whose brokers never
// acknowledged them would.
func writeJournal(t testing.TB, stateDir string, as ...contract.Alarm) {
	t.Helper()
	j, err := journal.Open(delivery.JournalDir(stateDir), journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range as {
		b, _ := json.Marshal(a)
		if err := j.Append([]journal.Record{{Time: a.Time, Key: a.Key, Data: b}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
}

// runFor runs the agent with a fake outbox until cond holds for its transitions, or returns Run's error
// if it refuses to start.
func runFor(t *testing.T, plan *Plan, cond func([]contract.Alarm) bool) (*fakeOutbox, error) {
	t.Helper()
	ob := newFakeOutbox()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, plan, testRegistry(), Options{Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Open: Static(ob.link())})
	}()
	deadline := time.After(30 * time.Second)
	for !cond(ob.snapshot()) {
		select {
		case <-ob.notify:
		case <-time.After(20 * time.Millisecond):
		case err := <-done:
			return ob, err
		case <-deadline:
			t.Fatalf("condition never held: %+v", ob.snapshot())
		}
	}
	cancel()
	return ob, <-done
}

func firstOf(trs []contract.Alarm, key string) *contract.Alarm {
	for i := range trs {
		if trs[i].Key == key {
			return &trs[i]
		}
	}
	return nil
}

// Fault 3: a crash between the journal's fsync and the state's save leaves the journal ahead of
// alarms.json (here: transitions up to seq 5 published, the state saved at seq 3). So does a state save
// that failed, with the journal since acknowledged and gone and only alarms.seq knowing. Either way the
// restarted gateway goes on after seq 5: a consumer deduplicating by (gateway, seq) would otherwise throw
// the new smoke raise away as a duplicate.
func TestSeqNeverReusedAfterCrash(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, stateDir string)
	}{
		{"journal ahead of the state", func(t *testing.T, stateDir string) {
			var as []contract.Alarm
			for seq := uint64(1); seq <= 5; seq++ {
				st, ev := contract.Active, contract.EventRaise
				if seq%2 == 0 {
					st, ev = contract.Cleared, contract.EventClear
				}
				as = append(as, prevAlarm("gw", seq, "batt-hot/ups1/battery_temp", st, ev))
			}
			writeJournal(t, stateDir, as...)
		}},
		{"seq file ahead of the state", func(t *testing.T, stateDir string) {
			if err := store.SaveSeq(filepath.Join(stateDir, store.SeqFile), 5); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				plan := writeConfig(t, smokeConfig)
				dir := plan.Config.Gateway.StateDir
				os.MkdirAll(dir, 0o750)
				if err := store.Save(filepath.Join(dir, store.File), "gw", rules.State{Seq: 3}); err != nil {
					t.Fatal(err)
				}
				tc.setup(t, dir)
				ob, err := runFor(t, plan, func(trs []contract.Alarm) bool { return firstOf(trs, "smoke/room.smoke/smoke") != nil })
				if err != nil {
					t.Fatal(err)
				}
				if a := firstOf(ob.snapshot(), "smoke/room.smoke/smoke"); a.Seq != 6 {
					t.Fatalf("the smoke raise got seq %d; seqs up to 5 were handed out before the crash", a.Seq)
				}
				sv, _ := store.Load(filepath.Join(dir, store.File))
				if sv.State.Seq < 6 {
					t.Fatalf("state saved at seq %d", sv.State.Seq)
				}
			})
		})
	}
}

// Fault 4: an alarm state file that is empty, cut short or garbled does not stop the gateway: it is
// moved aside, the state is rebuilt from the journal's latest transitions (the smoke alarm active before
// stays active, not raised again), and the gateway raises a warning saying what happened.
func TestDamagedStateIsRebuiltFromJournal(t *testing.T) {
	for name, content := range map[string]string{
		"empty":     "",
		"truncated": `{"format":2,"gateway":"gw","seq":7,"alarms":[{"gateway":"gw","alarm":"smoke/room.`,
		"garbage":   "\x00\x17\xff garbage",
		"invalid":   `{"seq":7,"alarms":[{"alarm":"a/b","state":"active"}]}`,
	} {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				plan := writeConfig(t, smokeConfig)
				dir := plan.Config.Gateway.StateDir
				writeJournal(t, dir,
					prevAlarm("gw", 5, "smoke/room.smoke/smoke", contract.Active, contract.EventRaise),
					prevAlarm("gw", 6, "smoke/room.smoke/smoke", contract.Cleared, contract.EventClear),
					prevAlarm("gw", 7, "smoke/room.smoke/smoke", contract.Active, contract.EventRaise))
				path := filepath.Join(dir, store.File)
				os.WriteFile(path, []byte(content), 0o600)
				ob, err := runFor(t, plan, func(trs []contract.Alarm) bool { return len(trs) >= 1 })
				if err != nil {
					t.Fatalf("the gateway did not start: %v", err)
				}
				trs := ob.snapshot()
				a := trs[0]
				if a.Key != rules.SystemKey("state-rebuilt") || a.Event != contract.EventRaise || a.Seq != 8 ||
					a.Severity != contract.Warning || !strings.Contains(a.Message, "damaged") || !strings.Contains(a.Message, ".damaged-") {
					t.Fatalf("first transition %+v: want the gateway's warning, seq 8, saying where the file went", a)
				}
				if s := firstOf(trs, "smoke/room.smoke/smoke"); s != nil {
					t.Fatalf("the restored smoke alarm was raised again: %+v", s)
				}
				moved, _ := filepath.Glob(path + ".damaged-*")
				if len(moved) != 1 {
					t.Fatalf("the damaged file was not moved aside: %v", moved)
				}
				sv, err := store.Load(path)
				if err != nil || sv.Gateway != "gw" || sv.State.Seq < 8 || len(sv.State.Alarms) != 2 {
					t.Fatalf("rebuilt state not saved: %+v %v", sv, err)
				}
			})
		})
	}
}

// Fault 5: a state_dir belongs to one gateway. Another gateway id started on it (the demo's directory
// reused by a real config) is refused, with what to do, and publishes nothing of the other's alarms;
// whether the owner shows in alarms.json (either format) or only in the journal.
func TestStateDirOfAnotherGatewayIsRefused(t *testing.T) {
	fire := prevAlarm("demo-gw", 9, "fire-suspected", contract.Active, contract.EventRaise)
	for name, setup := range map[string]func(t *testing.T, dir string){
		"alarms.json": func(t *testing.T, dir string) {
			store.Save(filepath.Join(dir, store.File), "demo-gw", rules.State{Seq: 9, Alarms: []contract.Alarm{fire}})
		},
		"alarms.json of format 1": func(t *testing.T, dir string) {
			b, _ := json.Marshal(rules.State{Seq: 9, Alarms: []contract.Alarm{fire}})
			os.WriteFile(filepath.Join(dir, store.File), b, 0o600)
		},
		"journal only": func(t *testing.T, dir string) { writeJournal(t, dir, fire) },
	} {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				plan := writeConfig(t, smokeConfig+"  - {id: fire-suspected, all: [smoke], severity: critical}\n")
				dir := plan.Config.Gateway.StateDir
				os.MkdirAll(dir, 0o750)
				setup(t, dir)
				ob, err := runFor(t, plan, func(trs []contract.Alarm) bool { return len(trs) > 0 })
				if err == nil || !strings.Contains(err.Error(), `belongs to gateway "demo-gw", not "gw"`) || !strings.Contains(err.Error(), "mv ") {
					t.Fatalf("started on another gateway's state_dir: err %v, published %+v", err, ob.snapshot())
				}
				if n := len(ob.snapshot()); n != 0 {
					t.Fatalf("published %d transitions", n)
				}
			})
		})
	}
}

// Restored alarms of rules that no longer exist are cleared, with an event saying so, under this
// gateway's name.
func TestRestoredAlarmOfRemovedRuleIsCleared(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		plan := writeConfig(t, smokeConfig)
		dir := plan.Config.Gateway.StateDir
		os.MkdirAll(dir, 0o750)
		old := prevAlarm("gw", 4, "batt-hot/ups1/battery_temp", contract.Active, contract.EventRaise)
		store.Save(filepath.Join(dir, store.File), "gw", rules.State{Seq: 4, Alarms: []contract.Alarm{old}})
		ob, err := runFor(t, plan, func(trs []contract.Alarm) bool { return firstOf(trs, old.Key) != nil })
		if err != nil {
			t.Fatal(err)
		}
		c := firstOf(ob.snapshot(), old.Key)
		if c.Event != contract.EventClear || c.Seq != 5 || c.Gateway != "gw" || !strings.Contains(c.Message, "no longer applies") {
			t.Fatalf("orphan: %+v", c)
		}
	})
}

// The gateway raises its own critical alarm while the journal cannot write, and clears it once it can;
// /healthz fails meanwhile with the reason. (The journal's and delivery's own tests fail the disk; here
// the link says so, as delivery does.)
func TestStorageAlarm(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		plan := writeConfig(t, smokeConfig)
		ob := newFakeOutbox()
		var mu = make(chan struct{}, 1)
		var failing error = journalFull
		link := ob.link()
		link.Durable = func() error {
			mu <- struct{}{}
			defer func() { <-mu }()
			return failing
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			done <- Run(ctx, plan, testRegistry(), Options{Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Open: Static(link)})
		}()
		wait := func(what string, cond func([]contract.Alarm) bool) {
			t.Helper()
			for !cond(ob.snapshot()) {
				select {
				case <-ob.notify:
				case <-time.After(50 * time.Millisecond):
				case err := <-done:
					t.Fatalf("Run returned: %v", err)
				}
			}
		}
		key := rules.SystemKey("storage")
		wait("the storage alarm", func(trs []contract.Alarm) bool { return firstOf(trs, key) != nil })
		a := firstOf(ob.snapshot(), key)
		if a.Severity != contract.Critical || !strings.Contains(a.Message, "no space left on device") || !strings.Contains(a.Message, "from memory") {
			t.Fatalf("storage alarm %+v", a)
		}
		mu <- struct{}{}
		failing = nil
		<-mu
		wait("the storage alarm cleared", func(trs []contract.Alarm) bool {
			return trs[len(trs)-1].Key == key && trs[len(trs)-1].Event == contract.EventClear
		})
		cancel()
		<-done
	})
}

var journalFull error = &os.PathError{Op: "write", Path: "00000000000000000001.seg", Err: syscall.ENOSPC}

// fakeInbox feeds commands to the agent and keeps its answers.
type fakeInbox struct {
	cmds    chan delivery.Inbound
	mu      sync.Mutex
	answers []contract.Result
}

func (f *fakeInbox) Commands() <-chan delivery.Inbound { return f.cmds }
func (f *fakeInbox) Answer(r contract.Result) {
	f.mu.Lock()
	f.answers = append(f.answers, r)
	f.mu.Unlock()
}

// Fault 10: refused commands sent in a loop are each answered, but logged once a minute, not once each.
func TestRefusedCommandsDoNotFloodTheLog(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		plan := writeConfig(t, smokeConfig)
		ob := newFakeOutbox()
		in := &fakeInbox{cmds: make(chan delivery.Inbound)}
		link := ob.link()
		link.Inbox = in
		var log peer.Output
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			done <- Run(ctx, plan, testRegistry(), Options{Log: slog.New(slog.NewTextHandler(&log, nil)), Open: Static(link)})
		}()
		for i := 0; i < 200; i++ {
			in.cmds <- delivery.Inbound{Kind: "ack", Payload: []byte(`{"alarm":"no/such/alarm","by":"x"}`), Broker: "tcp://b:1883"}
		}
		synctest.Wait()
		cancel()
		<-done
		in.mu.Lock()
		n := len(in.answers)
		in.mu.Unlock()
		if n != 200 {
			t.Fatalf("%d answers to 200 commands", n)
		}
		if c := strings.Count(log.String(), `msg="command refused"`); c != 1 {
			t.Fatalf("%d log lines for 200 refused commands, want 1:\n%s", c, log.String())
		}
	})
}
