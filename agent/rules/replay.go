package rules

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/rackwatch/rackwatch/agent/contract"
	"github.com/rackwatch/rackwatch/agent/reading"
)

// Trace reads a recorded trace: CSV with a header naming the columns time, sensor, channel, value and
// optionally error. time is RFC 3339 or seconds (from any origin, e.g. 0 at the trace's start); a row with
// an error, or an empty value, is a bad reading. Rows must be in time order.
type Trace struct {
	r    *csv.Reader
	col  map[string]int
	mode int // 0 unknown, 1 RFC 3339, 2 seconds
	last time.Time
}

// NewTrace reads the header of a trace.
func NewTrace(r io.Reader) (*Trace, error) {
	t := &Trace{r: csv.NewReader(r), col: map[string]int{}}
	t.r.Comment = '#'
	t.r.FieldsPerRecord = -1
	t.r.TrimLeadingSpace = true
	hdr, err := t.r.Read()
	if err != nil {
		return nil, fmt.Errorf("rules: trace: header: %w", err)
	}
	for i, h := range hdr {
		h = strings.ToLower(strings.TrimSpace(h))
		if _, dup := t.col[h]; dup {
			return nil, fmt.Errorf("rules: trace: header names %q twice", h)
		}
		t.col[h] = i
	}
	for _, need := range []string{"time", "sensor", "channel", "value"} {
		if _, ok := t.col[need]; !ok {
			return nil, fmt.Errorf("rules: trace: header %q lacks column %q (need time,sensor,channel,value[,error])", strings.Join(hdr, ","), need)
		}
	}
	for h := range t.col {
		switch h {
		case "time", "sensor", "channel", "value", "error":
		default:
			return nil, fmt.Errorf("rules: trace: unknown column %q (columns are time,sensor,channel,value[,error])", h)
		}
	}
	return t, nil
}

// Numeric reports whether the trace gives times in seconds rather than RFC 3339.
func (t *Trace) Numeric() bool { return t.mode == 2 }

// Next returns the next reading, or io.EOF at the end. Errors name the trace's line.
func (t *Trace) Next() (reading.Reading, error) {
	rec, err := t.r.Read()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return reading.Reading{}, io.EOF
		}
		return reading.Reading{}, fmt.Errorf("rules: trace: %w", err)
	}
	line, _ := t.r.FieldPos(0)
	fail := func(format string, args ...any) (reading.Reading, error) {
		return reading.Reading{}, fmt.Errorf("rules: trace line %d: %s", line, fmt.Sprintf(format, args...))
	}
	field := func(name string) string {
		i, ok := t.col[name]
		if !ok || i >= len(rec) {
			return ""
		}
		return strings.TrimSpace(rec[i])
	}
	var r reading.Reading
	ts := field("time")
	if f, err := strconv.ParseFloat(ts, 64); err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) {
		if t.mode == 1 {
			return fail("time %q is in seconds but earlier rows were RFC 3339", ts)
		}
		t.mode = 2
		r.At = time.Unix(0, 0).UTC().Add(time.Duration(math.Round(f * 1e9)))
	} else if at, err := time.Parse(time.RFC3339Nano, ts); err == nil {
		if t.mode == 2 {
			return fail("time %q is RFC 3339 but earlier rows were seconds", ts)
		}
		t.mode = 1
		r.At = at.UTC()
	} else {
		return fail("time %q is neither RFC 3339 nor seconds", ts)
	}
	if r.At.Before(t.last) {
		return fail("time %s goes back (rows must be in time order)", ts)
	}
	t.last = r.At
	r.Sensor = field("sensor")
	if !reading.ValidID(r.Sensor) {
		return fail("sensor %q is not a sensor id", r.Sensor)
	}
	r.Channel = reading.Channel(field("channel"))
	if r.Channel != "" && !reading.ValidID(string(r.Channel)) {
		return fail("channel %q is not a channel name", r.Channel)
	}
	v, errText := field("value"), field("error")
	switch {
	case errText != "":
		r.Quality, r.Err = reading.Bad, errors.New(errText)
	case v == "":
		r.Quality, r.Err = reading.Bad, errors.New("no value")
	default:
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return fail("value %q is not a finite number", v)
		}
		r.Value = f
	}
	if r.Channel == "" && r.Good() {
		return fail("a good reading needs a channel")
	}
	return r, nil
}

// Replay runs a trace through the engine as fast as it can, ticking the engine exactly when a delay,
// staleness or shelve falls due between readings, and writes one line per transition to w (with asJSON,
// the MQTT contract's alarm object, one per line; its time is the trace's time). It returns the number of
// readings and transitions.
func Replay(e *Engine, trace io.Reader, w io.Writer, asJSON bool) (readings, transitions int, err error) {
	t, err := NewTrace(trace)
	if err != nil {
		return 0, 0, err
	}
	var out []contract.Alarm
	origin := time.Unix(0, 0).UTC()
	write := func() error {
		for i := range out {
			transitions++
			if asJSON {
				b, err := json.Marshal(out[i])
				if err != nil {
					return err
				}
				if _, err := fmt.Fprintf(w, "%s\n", b); err != nil {
					return err
				}
				continue
			}
			if _, err := io.WriteString(w, TimelineLine(&out[i], t.Numeric(), origin)); err != nil {
				return err
			}
		}
		out = out[:0]
		return nil
	}
	for {
		r, err := t.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return readings, transitions, err
		}
		readings++
		for {
			next := e.Next()
			if next.IsZero() || next.After(r.At) {
				break
			}
			n := len(out)
			out = e.Tick(next, out)
			if len(out) == n && !e.Next().After(next) {
				break // nothing fell due after all; never spin
			}
		}
		out = e.Eval(&r, out)
		if err := write(); err != nil {
			return readings, transitions, err
		}
	}
	return readings, transitions, nil
}

// TimelineLine formats one transition for `rackwatch rules test`:
// "<time> #<seq> <event> <severity> <state> <key>: <message>". With numeric traces the time is given in
// seconds since origin, as in the trace.
func TimelineLine(a *contract.Alarm, numeric bool, origin time.Time) string {
	var ts string
	if numeric {
		ts = strconv.FormatFloat(a.Time.Sub(origin).Seconds(), 'f', -1, 64) + "s"
	} else {
		ts = a.Time.UTC().Format(contract.TimeFormat)
	}
	state := a.State
	if a.State == contract.Active && !a.Acked {
		state = "active,unacked"
	} else if a.State == contract.Active {
		state = "active,acked"
	} else if !a.Acked {
		state = "cleared,unacked"
	}
	if a.ShelvedUntil != nil {
		state += ",shelved"
	}
	return fmt.Sprintf("%-8s #%-3d %-8s %-8s %-15s %s: %s\n", ts, a.Seq, a.Event, a.Severity, state, a.Key, a.Message)
}

// DiffLines lists the lines of two timelines that differ, "-" expected and "+" got, for `rules test
// --expect` and the golden tests.
func DiffLines(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	for i := 0; i < max(len(w), len(g)); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			fmt.Fprintf(&b, "line %d:\n- %s\n+ %s\n", i+1, wl, gl)
		}
	}
	return b.String()
}
