package agent

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rackwatch/rackwatch/agent/contract"
)

// twoBrokers is a delivery link with two brokers, one of them connected.
type twoBrokers struct{ *fakeOutbox }

func (twoBrokers) Connected() (int, int) { return 1, 2 }

// The watchdog is fed from the rules loop: while the loop turns, Alive is called at every tick; when the
// loop is stuck (here in a transition hook that does not return), the calls stop, however long it lasts,
// and resume when the loop does.
func TestAliveStopsWhenTheLoopFreezes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		plan := writeConfig(t, `
gateway: {id: gw, state_dir: STATE}
mqtt: {embedded_broker: "127.0.0.1:0"}
sensors:
  - {id: ups1, driver: sim, scenario: battery-runaway, start_at: 7m28s, every: 100ms, channels: [on_battery]}
rules:
  - {id: on-battery, match: {channel: on_battery}, state: true, severity: critical}
`)
		var mu sync.Mutex
		var calls []Vitals
		count := func() int { mu.Lock(); defer mu.Unlock(); return len(calls) }
		frozen, release := make(chan struct{}), make(chan struct{})
		var once sync.Once
		ob := newFakeOutbox()
		link := ob.link()
		link.Monitor = twoBrokers{ob}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() {
			done <- Run(ctx, plan, testRegistry(), Options{
				Log:  slog.New(slog.NewTextHandler(io.Discard, nil)),
				Open: Static(link),
				Alive: func(v Vitals) {
					mu.Lock()
					calls = append(calls, v)
					mu.Unlock()
				},
				// The UPS goes on battery about two seconds in; its raise freezes the loop.
				OnTransition: func(*contract.Alarm) {
					once.Do(func() { close(frozen); <-release })
				},
			})
		}()
		released := false
		unfreeze := func() {
			if !released {
				released = true
				close(release)
			}
		}
		defer func() { // also when a check fails: stop the agent before the bubble ends
			unfreeze()
			cancel()
			<-done
		}()
		<-frozen
		before := count()
		if before == 0 {
			t.Fatal("Alive was never called before the loop froze")
		}
		time.Sleep(time.Hour) // an hour of a frozen loop, in the bubble's time
		if n := count(); n != before {
			t.Fatalf("Alive called %d more times while the loop was frozen", n-before)
		}
		unfreeze()
		time.Sleep(time.Second)
		if count() <= before {
			t.Fatal("Alive not called again once the loop turned again")
		}
		mu.Lock()
		first, last := calls[0], calls[len(calls)-1]
		mu.Unlock()
		if last.Active != 1 || last.Critical != 1 || last.Brokers != 2 || last.Connected != 1 {
			t.Errorf("vitals = %+v, want 1 active alarm (critical) and 1 of 2 brokers connected", last)
		}
		if !last.At.After(first.At) {
			t.Errorf("vitals time does not move: first %v, last %v", first.At, last.At)
		}
	})
}
