package shutdown

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

var t0 = time.Date(2026, 3, 2, 2, 0, 0, 0, time.UTC)

func upsmon() Config {
	return Config{When: []string{"ups-low-battery", "ups-runtime-critical"}, OnBattery: []string{"ups-on-battery"},
		Delay: 30 * time.Second, Flush: 10 * time.Second, Timeout: time.Minute, Command: []string{"/usr/bin/systemctl", "poweroff"}}
}

type rules map[string]bool

func (r rules) active(id string) bool { return r[id] }

func TestCountdownThenStart(t *testing.T) {
	s := New(upsmon())
	r := rules{}
	if st := s.Update(r.active, t0); st.Kind != None {
		t.Fatalf("idle: %+v", st)
	}
	r["ups-on-battery"] = true
	if st := s.Update(r.active, t0); st.Kind != None {
		t.Fatalf("on battery alone: %+v", st)
	}
	r["ups-runtime-critical"] = true
	st := s.Update(r.active, t0.Add(time.Second))
	if st.Kind != Pend || st.Rule != "ups-runtime-critical" || !st.At.Equal(t0.Add(31*time.Second)) ||
		st.Why != "ups-runtime-critical is active while ups-on-battery is: shutting down in 30s unless power returns" {
		t.Fatalf("pend: %+v", st)
	}
	if st := s.Update(r.active, t0.Add(30*time.Second)); st.Kind != None {
		t.Fatalf("before the deadline: %+v", st)
	}
	// The trigger clearing (a runtime estimate that jitters) does not cancel: only power returning does.
	r["ups-runtime-critical"] = false
	if st := s.Update(r.active, t0.Add(30500*time.Millisecond)); st.Kind != None {
		t.Fatalf("trigger jitter: %+v", st)
	}
	st = s.Update(r.active, t0.Add(31*time.Second))
	if st.Kind != Start || st.Rule != "ups-runtime-critical" {
		t.Fatalf("start: %+v", st)
	}
	// Started is final: power returning now changes nothing.
	r["ups-on-battery"] = false
	if st := s.Update(r.active, t0.Add(32*time.Second)); st.Kind != None {
		t.Fatalf("after start: %+v", st)
	}
	if p, _ := s.Phase(); p != Started {
		t.Errorf("phase %v", p)
	}
}

func TestPowerReturningCancels(t *testing.T) {
	s := New(upsmon())
	r := rules{"ups-on-battery": true, "ups-low-battery": true}
	if st := s.Update(r.active, t0); st.Kind != Pend {
		t.Fatalf("%+v", st)
	}
	r["ups-on-battery"] = false // mains back; the UPS still says low battery while it recharges
	st := s.Update(r.active, t0.Add(10*time.Second))
	if st.Kind != Cancel || st.Why != "power returned (ups-on-battery cleared): shutdown cancelled" {
		t.Fatalf("cancel: %+v", st)
	}
	if st := s.Update(r.active, t0.Add(time.Minute)); st.Kind != None {
		t.Fatalf("after cancel, low battery alone while online: %+v", st)
	}
	// Mains lost again: a fresh countdown, from now.
	r["ups-on-battery"] = true
	if st := s.Update(r.active, t0.Add(2*time.Minute)); st.Kind != Pend || !st.At.Equal(t0.Add(150*time.Second)) {
		t.Fatalf("second outage: %+v", st)
	}
}

func TestWithoutOnBatteryTheTriggerDecides(t *testing.T) {
	cfg := upsmon()
	cfg.OnBattery = nil
	s := New(cfg)
	r := rules{"ups-low-battery": true}
	if st := s.Update(r.active, t0); st.Kind != Pend {
		t.Fatalf("%+v", st)
	}
	r["ups-low-battery"] = false
	if st := s.Update(r.active, t0.Add(time.Second)); st.Kind != Cancel || st.Rule != "ups-low-battery" {
		t.Fatalf("%+v", st)
	}
	cfg.Delay = 0
	s = New(cfg)
	r["ups-low-battery"] = true
	if st := s.Update(r.active, t0); st.Kind != Start {
		t.Fatalf("no delay: %+v", st)
	}
}

type report struct {
	at                  time.Duration
	state, detail, errs string
	ok                  bool
}

func TestExecuteFlushesThenRuns(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		var reps []report
		var ran []string
		x := &Executor{
			// A broker that never acknowledges: the last gasp gives up at Flush, then the command runs anyway.
			Flush: func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() },
			Run: func(ctx context.Context, argv []string) (string, error) {
				ran = append(ran, fmt.Sprint(time.Since(start), argv))
				return "", nil
			},
			Report: func(state string, ok bool, detail string, err error) {
				r := report{at: time.Since(start), state: state, ok: ok, detail: detail}
				if err != nil {
					r.errs = err.Error()
				}
				reps = append(reps, r)
			},
		}
		if err := x.Execute(context.Background(), upsmon()); err != nil {
			t.Fatal(err)
		}
		want := []report{
			{10 * time.Second, StateStarted, "last gasp: not everything reached the brokers within 10s; it stays in the journal", "context deadline exceeded", false},
			{10 * time.Second, StateCommand, "running /usr/bin/systemctl poweroff", "", true},
			{12 * time.Second, StateCommand, "/usr/bin/systemctl poweroff done", "", true},
		}
		if fmt.Sprint(reps) != fmt.Sprint(want) {
			t.Errorf("reports\n%v\nwant\n%v", reps, want)
		}
		if len(ran) != 1 || ran[0] != "12s [/usr/bin/systemctl poweroff]" {
			t.Errorf("ran %v", ran)
		}
	})
}

func TestExecuteReportsAFailingCommand(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var last report
		x := &Executor{
			Flush: func(context.Context) error { return nil },
			Run: func(ctx context.Context, argv []string) (string, error) {
				<-ctx.Done() // hangs: Timeout ends it
				return "Failed to power off system via logind", errors.New("signal: killed")
			},
			Report: func(state string, ok bool, detail string, err error) {
				last = report{state: state, ok: ok, detail: detail}
			},
		}
		start := time.Now()
		if err := x.Execute(context.Background(), upsmon()); err == nil {
			t.Fatal("no error")
		}
		if time.Since(start) != time.Minute || last.ok || !strings.Contains(last.detail, "Failed to power off") {
			t.Errorf("after %v: %+v", time.Since(start), last)
		}
	})
}

func TestDescribe(t *testing.T) {
	got := Describe(upsmon())
	want := "when ups-low-battery or ups-runtime-critical is active while ups-on-battery is active (mains lost), wait 30s " +
		"(cancelled if ups-on-battery clears: power is back), push the journal to every broker (at most 10s), then run " +
		"/usr/bin/systemctl poweroff (at most 1m0s)"
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}
