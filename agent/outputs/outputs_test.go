package outputs

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rackwatch/rackwatch/agent/contract"
	"github.com/rackwatch/rackwatch/agent/driver"
	"github.com/rackwatch/rackwatch/agent/promtext"
)

// fake is an output type whose devices record what they are told.
type fake struct {
	mu       sync.Mutex
	opens    int
	openErr  error
	calls    []string
	causes   []driver.Cause
	failNext int  // the next Set calls fail
	hang     bool // Set blocks until its context ends
	closed   int
}

func (f *fake) typ() *driver.OutputType {
	return &driver.OutputType{Name: "fake", Open: func(ctx context.Context, env driver.OutputEnv) (driver.Actuator, error) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.opens++
		if f.openErr != nil {
			return nil, f.openErr
		}
		return (*fakeAct)(f), nil
	}}
}

type fakeAct fake

func (a *fakeAct) Set(ctx context.Context, on bool, c driver.Cause) (string, error) {
	f := (*fake)(a)
	f.mu.Lock()
	f.calls = append(f.calls, fmt.Sprint(on))
	f.causes = append(f.causes, c)
	hang := f.hang
	fail := f.failNext > 0
	if fail {
		f.failNext--
	}
	f.mu.Unlock()
	if hang {
		<-ctx.Done()
		return "", ctx.Err()
	}
	if fail {
		return "", errors.New("relay stuck")
	}
	return fmt.Sprintf("switched %v", on), nil
}

func (a *fakeAct) Close() error { f := (*fake)(a); f.mu.Lock(); f.closed++; f.mu.Unlock(); return nil }

func (f *fake) seen() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

type events struct {
	mu sync.Mutex
	as []contract.Action
}

func (e *events) emit(a *contract.Action) { e.mu.Lock(); e.as = append(e.as, *a); e.mu.Unlock() }

func (e *events) list() []contract.Action {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]contract.Action(nil), e.as...)
}

func (e *events) short() string {
	var parts []string
	for _, a := range e.list() {
		parts = append(parts, a.State+":"+a.Result)
	}
	return strings.Join(parts, " ")
}

func bank(t *testing.T, f *fake, dry bool, specs ...Spec) (*Bank, *events) {
	t.Helper()
	if len(specs) == 0 {
		specs = []Spec{{Output: &driver.Output{ID: "sounder", Type: "fake"}, Type: f.typ(), Role: "sounder", Timeout: 5 * time.Second,
			Info: driver.OutputInfo{Describe: "a fake sounder"}}}
	}
	ev := &events{}
	b := Start(specs, Options{Gateway: "gw", Site: "dc1", DryRun: dry, Emit: ev.emit})
	t.Cleanup(b.Close)
	return b, ev
}

var raise = contract.Alarm{Key: "pre-runaway", Rule: "pre-runaway", Severity: contract.Critical, State: contract.Active,
	Event: contract.EventRaise, Seq: 42, Episode: 42, Message: "Battery room: cell venting suspected", Value: contract.Float(1.5)}

func TestSwitchOnReportsTheAction(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fake{}
		b, ev := bank(t, f, false)
		synctest.Wait() // opened, off
		cause := raise
		cause.Time = time.Now()
		time.Sleep(3 * time.Millisecond) // the rules took this long
		b.Set("sounder", true, cause)
		synctest.Wait()
		if got := f.seen(); fmt.Sprint(got) != "[true]" {
			t.Fatalf("calls %v", got)
		}
		c := f.causes[0]
		if c.By != contract.ByRules || c.Alarm != "pre-runaway" || c.Seq != 42 || c.Value != "1.5" || c.Gateway != "gw" {
			t.Errorf("cause %+v", c)
		}
		as := ev.list()
		if len(as) != 1 {
			t.Fatalf("events %v", as)
		}
		a := as[0]
		if a.Output != "sounder" || a.Role != "sounder" || a.State != contract.OutputOn || a.Result != contract.ResultOK || a.Detail != "switched true" ||
			a.Alarm != "pre-runaway" || a.AlarmSeq != 42 || a.Latency != 3*time.Millisecond || a.Gateway != "gw" || !strings.HasPrefix(a.ID, "sounder/") {
			t.Errorf("event %+v", a)
		}
		if a.Message != "sounder on for pre-runaway (critical): ok; switched true" {
			t.Errorf("message %q", a.Message)
		}
		st := b.States()[0]
		if !st.On || !st.Wanted || !st.OK || st.Switches != 1 {
			t.Errorf("state %+v", st)
		}
	})
}

func TestOnlyTheLatestWishCounts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fake{}
		b, ev := bank(t, f, false)
		synctest.Wait()
		b.Set("sounder", true, raise)
		b.Set("sounder", false, raise) // before the output's goroutine ran: nothing to do
		synctest.Wait()
		if got := f.seen(); len(got) != 0 || len(ev.list()) != 0 {
			t.Errorf("calls %v, events %v", got, ev.list())
		}
	})
}

func TestFailedSwitchingIsRetriedWithBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fake{failNext: 2}
		b, ev := bank(t, f, false)
		synctest.Wait()
		start := time.Now()
		b.Set("sounder", true, raise)
		synctest.Wait()
		if ev.short() != "on:failed" || b.States()[0].OK {
			t.Fatalf("first: %s", ev.short())
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if ev.short() != "on:failed on:failed" {
			t.Fatalf("after 1s: %s", ev.short())
		}
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if ev.short() != "on:failed on:failed on:ok" || time.Since(start) != 3*time.Second {
			t.Fatalf("after 3s: %s", ev.short())
		}
		st := b.States()[0]
		if !st.On || !st.OK || st.Failures != 2 || st.Switches != 1 {
			t.Errorf("state %+v", st)
		}
		if e := ev.list()[0].Error; e != "relay stuck" {
			t.Errorf("error %q", e)
		}
	})
}

func TestAHungDeviceTimesOut(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fake{hang: true}
		b, ev := bank(t, f, false)
		synctest.Wait()
		b.Set("sounder", true, raise)
		time.Sleep(5 * time.Second)
		synctest.Wait()
		as := ev.list()
		if len(as) != 1 || as[0].Result != contract.ResultFailed || !strings.Contains(as[0].Error, "no answer within 5s") {
			t.Fatalf("events %+v", as)
		}
	})
}

func TestDryRunTouchesNothing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fake{}
		b, ev := bank(t, f, true)
		b.Set("sounder", true, raise)
		synctest.Wait()
		b.Set("sounder", false, raise)
		synctest.Wait()
		if f.opens != 0 || len(f.seen()) != 0 {
			t.Errorf("dry run opened %d times, calls %v", f.opens, f.seen())
		}
		as := ev.list()
		if ev.short() != "on:dry_run off:dry_run" || !as[0].DryRun || as[0].Detail != "would switch a fake sounder" {
			t.Errorf("events %+v", as)
		}
		// Leaving dry run (a reload) switches the output to what is wanted: off, so nothing but the open.
		b.SetDryRun(false)
		synctest.Wait()
		if f.opens != 1 || len(f.seen()) != 0 {
			t.Errorf("after dry run: opens %d calls %v", f.opens, f.seen())
		}
	})
}

func TestAnOutputThatCannotOpenIsReportedAndRetried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fake{openErr: errors.New("no GPIO line named \"GPIO99\"")}
		b, ev := bank(t, f, false)
		synctest.Wait()
		if st := b.States()[0]; st.OpenErr == "" {
			t.Fatalf("state %+v", st)
		}
		b.Set("sounder", true, raise)
		synctest.Wait()
		if as := ev.list(); len(as) != 1 || !strings.Contains(as[0].Error, "open: no GPIO line") {
			t.Fatalf("events %+v", as)
		}
		f.mu.Lock()
		f.openErr = nil
		f.mu.Unlock()
		time.Sleep(30 * time.Second)
		synctest.Wait()
		if ev.short() != "on:failed on:ok" || b.States()[0].OpenErr != "" {
			t.Errorf("events %s", ev.short())
		}
	})
}

func TestOutputTest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fake{}
		oneShot := Spec{Output: &driver.Output{ID: "ups-off", Type: "fake"}, Type: f.typ(), Timeout: time.Second,
			Info: driver.OutputInfo{Describe: "INSTCMD load.off", OneShot: true}}
		normal := Spec{Output: &driver.Output{ID: "sounder", Type: "fake"}, Type: f.typ(), Timeout: time.Second}
		b, ev := bank(t, f, true, normal, oneShot) // dry run: a test switches for real all the same
		synctest.Wait()
		start := time.Now()
		got, err := b.Test(context.Background(), "sounder", 2*time.Second, "alice")
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[0].State != "on" || got[1].State != "off" || got[0].By != "test:alice" || got[0].DryRun ||
			time.Since(start) != 2*time.Second || fmt.Sprint(f.seen()) != "[true false]" {
			t.Errorf("test: %+v after %v, calls %v", got, time.Since(start), f.seen())
		}
		if ev.short() != "on:ok off:ok" {
			t.Errorf("events %s", ev.short())
		}
		if _, err := b.Test(context.Background(), "ups-off", time.Second, "alice"); err == nil || !strings.Contains(err.Error(), "cannot take back") {
			t.Errorf("one-shot: %v", err)
		}
		if _, err := b.Test(context.Background(), "nope", time.Second, "alice"); !errors.Is(err, ErrUnknownOutput) || !strings.Contains(err.Error(), "sounder, ups-off") {
			t.Errorf("unknown: %v", err)
		}
		b.SetDryRun(false)
		b.Set("sounder", true, raise)
		synctest.Wait()
		if _, err := b.Test(context.Background(), "sounder", time.Second, "alice"); !errors.Is(err, ErrBusy) {
			t.Errorf("while the rules hold it: %v", err)
		}
	})
}

func TestTheRulesTakeOverATest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fake{}
		b, _ := bank(t, f, false)
		synctest.Wait()
		done := make(chan error)
		go func() { _, err := b.Test(context.Background(), "sounder", 10*time.Second, "bob"); done <- err }()
		time.Sleep(time.Second)
		b.Set("sounder", true, raise) // a real alarm during the test
		err := <-done
		if err == nil || !strings.Contains(err.Error(), "the actions switched it on for pre-runaway") {
			t.Errorf("test: %v", err)
		}
		time.Sleep(20 * time.Second)
		synctest.Wait()
		if got := f.seen(); fmt.Sprint(got) != "[true]" || !b.States()[0].On {
			t.Errorf("the test's end switched off a real alarm's output: calls %v", got)
		}
	})
}

func TestMetrics(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fake{}
		b, _ := bank(t, f, false)
		b.Set("sounder", true, raise)
		synctest.Wait()
		var sb strings.Builder
		b.WriteMetrics(promtext.New(&sb))
		for _, want := range []string{
			"rackwatch_actions_dry_run 0\n",
			`rackwatch_output_on{output="sounder",type="fake"} 1`,
			`rackwatch_output_wanted{output="sounder",type="fake"} 1`,
			`rackwatch_output_ok{output="sounder",type="fake"} 1`,
			`rackwatch_output_switches_total{output="sounder",type="fake"} 1`,
		} {
			if !strings.Contains(sb.String(), want) {
				t.Errorf("missing %s in\n%s", want, sb.String())
			}
		}
	})
}

func TestControlSocket(t *testing.T) {
	f := &fake{}
	b, _ := bank(t, f, false)
	path := filepath.Join(t.TempDir(), SocketFile)
	if _, err := TestThroughAgent(context.Background(), path, "sounder", time.Second); !errors.Is(err, ErrNoAgent) {
		t.Fatalf("no agent: %v", err)
	}
	c, err := Serve(path, b, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := Serve(path, b, nil); err == nil || !strings.Contains(err.Error(), "another rackwatch") {
		t.Errorf("second agent on the same socket: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second) // a failure timeout
	defer cancel()
	evs, err := TestThroughAgent(ctx, path, "sounder", 50*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 2 || evs[0].State != "on" || !strings.HasPrefix(evs[0].By, "test:local:") {
		t.Errorf("events %+v", evs)
	}
	if _, err := TestThroughAgent(ctx, path, "nope", time.Second); err == nil || !strings.Contains(err.Error(), "no such output") {
		t.Errorf("unknown output: %v", err)
	}
	if _, err := TestThroughAgent(ctx, path, "sounder", 2*time.Minute); err == nil || !strings.Contains(err.Error(), "at most 1m") {
		t.Errorf("too long: %v", err)
	}
	c.Close()
	// A socket file left behind by a dead agent is replaced at the next start.
	c2, err := Serve(path, b, nil)
	if err != nil {
		t.Fatal(err)
	}
	c2.Close()
}
