package view

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/rackwatch/rackwatch/agent/contract"
)

// Story collects the alarm transitions of a demo and tells them back, in order, when the story is over:
// the point of a battery room's alarms is their order (off-gas, then heat, then smoke), which a screen
// of lines scrolling by does not show. It is safe for concurrent use; Add is cheap enough for the
// agent's loop.
type Story struct {
	// Start is when the story began; TimeScale how much faster than the clock it runs (1 when zero), so
	// that the summary can say when things happened in the room's own time too.
	Start     time.Time
	TimeScale float64

	mu     sync.Mutex
	raises []contract.Alarm
	state  map[string]contract.Alarm
}

// maxStory bounds what a Story keeps: a demo raises a few dozen alarms.
const maxStory = 200

// Add records one transition.
func (s *Story) Add(a *contract.Alarm) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state == nil {
		s.state = map[string]contract.Alarm{}
	}
	if _, known := s.state[a.Key]; known || len(s.state) < maxStory {
		s.state[a.Key] = *a
	}
	if a.Event == contract.EventRaise && len(s.raises) < maxStory {
		s.raises = append(s.raises, *a)
	}
}

// Summary writes the story: every alarm raised, in order, with its time from the start, when the first
// warning and the first critical came and how long before smoke, and what is still active. over says
// whether the story ran to its end or was stopped part-way (at the time now).
func (s *Story) Summary(w io.Writer, now time.Time, over bool) {
	s.mu.Lock()
	raises := append([]contract.Alarm(nil), s.raises...)
	var active, critical int
	for _, a := range s.state {
		if a.State == contract.Active {
			active++
			if a.Severity == contract.Critical {
				critical++
			}
		}
	}
	s.mu.Unlock()
	scale := s.TimeScale
	if scale <= 0 {
		scale = 1
	}
	var b strings.Builder
	head := "The story is over"
	if !over {
		head = "Stopped before the end of the story"
	}
	fmt.Fprintf(&b, "\n%s, %s in. What the gateway raised, in order:\n", head, since(now.Sub(s.Start)))
	if len(raises) == 0 {
		b.WriteString("  no alarm was raised.\n")
	}
	var firstWarn, firstCrit, smoke *contract.Alarm
	for i := range raises {
		a := &raises[i]
		d := a.Time.Sub(s.Start)
		room := ""
		if scale != 1 {
			room = " (" + since(time.Duration(float64(d)*scale)) + " room time)"
		}
		// The alarm's name: its message was on the screen when it rose.
		fmt.Fprintf(&b, "  %7s%s  %-8s  %s\n", "+"+since(d), room, strings.ToUpper(a.Severity), a.Key)
		if firstWarn == nil && a.Severity == contract.Warning {
			firstWarn = a
		}
		if firstCrit == nil && a.Severity == contract.Critical {
			firstCrit = a
		}
		if smoke == nil && a.Channel == "smoke" {
			smoke = a
		}
	}
	if firstCrit != nil && smoke != nil && firstCrit.Time.Before(smoke.Time) {
		lead := time.Duration(float64(smoke.Time.Sub(firstCrit.Time)) * scale)
		fmt.Fprintf(&b, "The first critical (%s) came %s before smoke", firstCrit.Rule, since(lead))
		if scale != 1 {
			b.WriteString(" in the room's time")
		}
		if firstWarn != nil && firstWarn.Time.Before(firstCrit.Time) {
			fmt.Fprintf(&b, "; the first warning (%s) %s before that", firstWarn.Rule,
				since(time.Duration(float64(firstCrit.Time.Sub(firstWarn.Time))*scale)))
		}
		b.WriteString(".\n")
	}
	switch {
	case active == 0:
		b.WriteString("No alarm is active now.\n")
	case active == 1 && critical == 1:
		b.WriteString("Active now: 1 alarm, critical.\n")
	case active == 1:
		b.WriteString("Active now: 1 alarm, not critical.\n")
	default:
		fmt.Fprintf(&b, "Active now: %d alarms, %d of them critical.\n", active, critical)
	}
	io.WriteString(w, b.String())
}

// since writes a duration as a person says it: "42s", "1m05s", "9m30s".
func since(d time.Duration) string {
	d = d.Round(time.Second)
	if d < time.Minute {
		return fmt.Sprintf("%ds", int(d.Seconds()))
	}
	return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
}
