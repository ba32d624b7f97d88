package delivery

import (
	"testing"
	"time"

	"github.com/rackwatch/rackwatch/agent/config"
	"github.com/rackwatch/rackwatch/agent/contract"
	"github.com/rackwatch/rackwatch/agent/reading"
	"github.com/rackwatch/rackwatch/agent/settings"
)

func TestRingShedsOldest(t *testing.T) {
	var r ring
	r.init(3)
	shed := 0
	for i := 0; i < 5; i++ {
		if r.push(rentry{value: float64(i)}) {
			shed++
		}
	}
	if shed != 2 {
		t.Fatalf("shed %d, want 2", shed)
	}
	for _, want := range []float64{2, 3, 4} {
		e, ok := r.pop()
		if !ok || e.value != want {
			t.Fatalf("pop = %v %v, want %v", e.value, ok, want)
		}
	}
	if _, ok := r.pop(); ok {
		t.Fatal("ring not empty")
	}
}

func TestFilterDeadbandHeartbeatQuality(t *testing.T) {
	var f filter
	f.init(config.ReadingsPolicy{Every: settings.Duration(10 * time.Second), Deadband: 0.2}, contract.NewTopics("p", "gw"))
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	steps := []struct {
		v    float64
		bad  bool
		s    int
		pass bool
	}{
		{20, false, 0, true},    // first
		{20.2, false, 1, false}, // exactly the deadband: not beyond it
		{20.25, false, 2, true},
		{20.3, false, 3, false},
		{0, true, 4, true},  // quality change
		{0, true, 5, false}, // still bad
		{20.3, false, 6, true},
		{20.3, false, 16, true}, // heartbeat
	}
	for i, s := range steps {
		r := reading.Reading{Sensor: "s", Channel: reading.Temperature, Value: s.v, At: at(s.s)}
		if s.bad {
			r.Quality = reading.Bad
		}
		topic, ok := f.pass(&r, &celsius)
		if ok != s.pass {
			t.Fatalf("step %d (%+v): pass = %v", i, s, ok)
		}
		if ok && topic != "p/gw/readings/s/temperature" {
			t.Fatalf("topic %q", topic)
		}
	}
}

// Payloads carried the float noise of the arithmetic (22.450000000000045): they carry the value rounded to
// the channel's resolution, and a named state by name.
func TestReadingPayloadIsRounded(t *testing.T) {
	hundredths := reading.Format{Unit: "°C", Resolution: 0.01}
	for _, c := range []struct {
		e    rentry
		want string
	}{
		{rentry{fm: &hundredths, value: 22.450000000000045, good: true, at: t0}, `{"value":22.45,"unit":"°C","quality":"good","error":null,"time":"2026-11-25T03:00:00.000Z"}`},
		{rentry{fm: &smokeFormat, value: 1, good: true, at: t0}, `{"value":1,"unit":"","quality":"good","error":null,"time":"2026-11-25T03:00:00.000Z","state":"DETECTED"}`},
	} {
		if got := string(c.e.appendJSON(nil)); got != c.want {
			t.Errorf("got  %s\nwant %s", got, c.want)
		}
	}
}
