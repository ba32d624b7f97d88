package httpapi

import (
	"fmt"
	"html"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Status is the content of the status page: what an operator needs at 3 a.m., in the order they need it.
type Status struct {
	Gateway, Site, Version string
	Started                time.Time
	// Now is the page's clock (time.Now when zero); Location the time zone its clock times are in (the
	// gateway's local zone when nil).
	Now      time.Time
	Location *time.Location
	// Alarms are the alarms not back to normal; the page lists them in the order they rose.
	Alarms []AlarmRow
	// Timeline is the last transitions, oldest first.
	Timeline []EventRow
	// Brokers and Journal are the delivery path: the first thing to check when alarms do not arrive.
	Brokers []BrokerRow
	Journal *JournalRow
	// Readings is the last reading of every sensor channel.
	Readings []ReadingRow
	// Outputs and Shutdown are the local actions' state (empty when none are configured).
	Outputs  []OutputRow
	Shutdown string
}

// AlarmRow is one alarm on the status page.
type AlarmRow struct {
	Severity, Key, State, Message string
	// Value is the alarm's value as a person reads it ("63.2 ppm"), or "".
	Value string
	// Since is when its current active period began (when it rose); Episode the seq of its raise, which
	// orders alarms that rose at the same instant (smoke, then the fire alarm it completes).
	Since        time.Time
	Episode      uint64
	Acked        bool
	AckedBy      string
	Shelved      bool
	ShelvedUntil time.Time
	ShelvedBy    string
}

// EventRow is one transition on the timeline.
type EventRow struct {
	Time                          time.Time
	Seq                           uint64
	Event, Severity, Key, Message string
}

// BrokerRow is one broker alarms go to.
type BrokerRow struct {
	Name      string
	Connected bool
	// Since is when it connected or was lost; Error why it is not connected.
	Since time.Time
	Error string
	// Backlog is how many journaled transitions it has not acknowledged; Oldest how long the oldest of
	// them has waited.
	Backlog uint64
	Oldest  time.Duration
}

// JournalRow is the durable journal's health.
type JournalRow struct {
	// Error says why it cannot write ("" when it can).
	Error           string
	Bytes, MaxBytes int64
	Segments        int
}

// ReadingRow is one sensor channel on the status page.
type ReadingRow struct {
	// Value is the reading as a person reads it: "22.45", "DETECTED"; Unit follows it when set. Both are
	// ignored for a bad reading, which has no value.
	Sensor, Channel, Value, Unit, Quality, Error string
	Age                                          time.Duration
}

// OutputRow is one output on the status page.
type OutputRow struct {
	ID, Type, Role, State, Describe string
	// Wanted: the actions (or a test) want it on; OK: its last switching succeeded.
	Wanted, OK bool
	Since      time.Time
	// Last is the last action's message.
	Last string
}

// page renders the status page. It is written out by hand with every value escaped, rather than with
// html/template, which would add a template engine to a binary that must fit small gateways. It needs no
// JavaScript: it reloads itself every 10 seconds.
type page struct {
	w   io.Writer
	st  *Status
	now time.Time
	loc *time.Location
}

func writePage(w io.Writer, st Status) {
	p := &page{w: w, st: &st, now: st.Now, loc: st.Location}
	if p.now.IsZero() {
		p.now = time.Now()
	}
	if p.loc == nil {
		p.loc = time.Local
	}
	p.head()
	p.alarms()
	p.timeline()
	p.delivery()
	p.outputs()
	p.sensors()
	io.WriteString(w, "</body></html>\n")
}

var esc = html.EscapeString

func (p *page) printf(format string, args ...any) { fmt.Fprintf(p.w, format, args...) }

// clock is a time as the operator's wall clock shows it: "03:00:42", with the date when it is not today.
func (p *page) clock(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	t, now := t.In(p.loc), p.now.In(p.loc)
	if y, m, d := t.Date(); y == now.Year() && m == now.Month() && d == now.Day() {
		return t.Format("15:04:05")
	}
	return t.Format("2006-01-02 15:04:05")
}

// ago is how long before the page's clock t was: "42s", "5m10s", "2h05m", "3d04h".
func (p *page) ago(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return span(p.now.Sub(t))
}

func span(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	switch s := int64(d.Round(time.Second) / time.Second); {
	case s < 60:
		return strconv.FormatInt(s, 10) + "s"
	case s < 3600:
		return fmt.Sprintf("%dm%02ds", s/60, s%60)
	case s < 86400:
		return fmt.Sprintf("%dh%02dm", s/3600, s%3600/60)
	default:
		return fmt.Sprintf("%dd%02dh", s/86400, s%86400/3600)
	}
}

// when is a clock time with how long ago it was: "03:00:42 (5m10s ago)".
func (p *page) when(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return esc(p.clock(t)) + ` <span class="ago">(` + p.ago(t) + ` ago)</span>`
}

func (p *page) head() {
	st := p.st
	site := ""
	if st.Site != "" {
		site = " — " + esc(st.Site)
	}
	zone, _ := p.now.In(p.loc).Zone()
	p.printf(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="10">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>rackwatch %s</title>
<style>
body{font-family:system-ui,sans-serif;margin:1em 2em;color:#222;max-width:90em}
h1{margin:.2em 0}h2{margin:1.2em 0 .4em;font-size:1.2em;border-bottom:2px solid #ccc}
table{border-collapse:collapse;width:100%%}td,th{padding:.25em .6em;border-bottom:1px solid #e4e4e4;text-align:left;vertical-align:top}
th{font-weight:600;background:#f4f4f4}.num{text-align:right;font-variant-numeric:tabular-nums}
.critical td:first-child{border-left:6px solid #c00}.warning td:first-child{border-left:6px solid #e0a000}.info td:first-child{border-left:6px solid #3a7bd5}
.sev-critical{color:#c00;font-weight:700}.sev-warning{color:#9a6a00;font-weight:700}.sev-info{color:#3a7bd5}
.bad{color:#b00}.ok{color:#080}.ago,.dim{color:#777;font-size:.9em}.msg{min-width:22em;max-width:50em}.nw{white-space:nowrap}
.banner{padding:.5em .8em;margin:.6em 0;border-radius:4px;background:#eef6ee}.banner.alarm{background:#fde8e8}
</style></head>
<body><h1>rackwatch %s%s</h1>
<p class="dim">version %s · up %s · page at %s, times in %s</p>
`, esc(st.Gateway), esc(st.Gateway), site, esc(st.Version), p.ago(st.Started), esc(p.clock(p.now)), esc(zone))
	p.banner()
}

// banner is the page in one line: how many alarms, and whether alarms can leave the gateway.
func (p *page) banner() {
	var active, critical int
	for _, a := range p.st.Alarms {
		if a.State == "active" {
			active++
			if a.Severity == "critical" {
				critical++
			}
		}
	}
	var parts []string
	class := "banner"
	switch {
	case active == 0:
		parts = append(parts, "No active alarm")
	default:
		class += " alarm"
		s := fmt.Sprintf("%d active alarm", active)
		if active > 1 {
			s += "s"
		}
		if critical > 0 {
			s += fmt.Sprintf(", %d critical", critical)
		}
		parts = append(parts, "<strong>"+s+"</strong>")
	}
	if n := len(p.st.Brokers); n > 0 {
		up := 0
		var backlog uint64
		for _, b := range p.st.Brokers {
			if b.Connected {
				up++
			}
			backlog += b.Backlog
		}
		s := fmt.Sprintf("%d of %d brokers connected", up, n)
		if up < n {
			class = "banner alarm"
			s = `<span class="bad">` + s + `</span>`
		}
		if backlog > 0 {
			s += fmt.Sprintf(", %d transitions waiting", backlog)
		}
		parts = append(parts, s)
	}
	if j := p.st.Journal; j != nil && j.Error != "" {
		class = "banner alarm"
		parts = append(parts, `<span class="bad">journal failing</span>`)
	}
	p.printf("<p class=\"%s\">%s</p>\n", class, strings.Join(parts, " · "))
}

// alarms lists the alarms in the order they rose: the order of events (off-gas, then heat, then smoke)
// is the story of an incident.
func (p *page) alarms() {
	as := append([]AlarmRow(nil), p.st.Alarms...)
	sort.SliceStable(as, func(i, j int) bool {
		if !as[i].Since.Equal(as[j].Since) {
			return as[i].Since.Before(as[j].Since)
		}
		if as[i].Episode != as[j].Episode {
			return as[i].Episode < as[j].Episode
		}
		return as[i].Key < as[j].Key
	})
	io.WriteString(p.w, "<h2>Alarms, in the order they rose</h2>\n")
	if len(as) == 0 {
		io.WriteString(p.w, "<p>No alarms.</p>\n")
		return
	}
	io.WriteString(p.w, "<table><tr><th>rose at</th><th>severity</th><th>alarm</th><th class=\"num\">value</th><th>state</th><th>message</th></tr>\n")
	for _, a := range as {
		// The state says what an operator must do: acknowledge, or nothing until the shelve ends.
		state := esc(a.State)
		switch {
		case !a.Acked:
			state += `, <span class="bad">not acknowledged</span>`
		case a.AckedBy != "":
			state += ", acknowledged by " + esc(a.AckedBy)
		default:
			state += ", acknowledged"
		}
		if a.Shelved {
			state += ", shelved until " + esc(p.clock(a.ShelvedUntil))
			if a.ShelvedBy != "" {
				state += " by " + esc(a.ShelvedBy)
			}
		}
		p.printf("<tr class=\"%s\"><td class=\"nw\">%s</td><td class=\"sev-%s\">%s</td><td class=\"nw\">%s</td><td class=\"num nw\">%s</td><td>%s</td><td class=\"msg\">%s</td></tr>\n",
			esc(a.Severity), p.when(a.Since), esc(a.Severity), esc(a.Severity), esc(a.Key), esc(a.Value), state, esc(a.Message))
	}
	io.WriteString(p.w, "</table>\n")
}

// timeline lists the last transitions, oldest first.
func (p *page) timeline() {
	if len(p.st.Timeline) == 0 {
		return
	}
	io.WriteString(p.w, "<h2>Timeline: the last transitions</h2>\n<table><tr><th>time</th><th>#</th><th>event</th><th>severity</th><th>alarm</th><th>message</th></tr>\n")
	for _, e := range p.st.Timeline {
		// The alarm's message is in the table above: here its beginning, all of it on hover.
		p.printf("<tr><td>%s</td><td class=\"num\">%d</td><td>%s</td><td class=\"sev-%s\">%s</td><td class=\"nw\">%s</td><td class=\"msg\" title=\"%s\">%s</td></tr>\n",
			esc(p.clock(e.Time)), e.Seq, esc(e.Event), esc(e.Severity), esc(e.Severity), esc(e.Key), esc(e.Message), esc(clip(e.Message, 100)))
	}
	io.WriteString(p.w, "</table>\n")
}

// delivery shows each broker's connection and backlog, and the journal's health.
func (p *page) delivery() {
	if len(p.st.Brokers) == 0 && p.st.Journal == nil {
		return
	}
	io.WriteString(p.w, "<h2>Delivery</h2>\n")
	if len(p.st.Brokers) > 0 {
		io.WriteString(p.w, "<table><tr><th>broker</th><th>connection</th><th class=\"num\">backlog</th><th class=\"num\">oldest waiting</th></tr>\n")
		for _, b := range p.st.Brokers {
			conn := `<span class="ok">connected</span>`
			if !b.Connected {
				conn = `<span class="bad">NOT CONNECTED</span>`
			}
			if !b.Since.IsZero() {
				conn += " since " + p.when(b.Since)
			}
			if b.Error != "" {
				conn += `<br><span class="bad">` + esc(b.Error) + `</span>`
			}
			oldest := ""
			if b.Backlog > 0 {
				oldest = span(b.Oldest)
			}
			p.printf("<tr><td>%s</td><td>%s</td><td class=\"num\">%d</td><td class=\"num\">%s</td></tr>\n", esc(b.Name), conn, b.Backlog, oldest)
		}
		io.WriteString(p.w, "</table>\n")
	}
	if j := p.st.Journal; j != nil {
		state := `<span class="ok">writing</span>`
		if j.Error != "" {
			state = `<span class="bad">FAILING: ` + esc(j.Error) + `</span>`
		}
		p.printf("<p>Journal: %s · %s in %d segment%s", state, size(j.Bytes), j.Segments, plural(j.Segments))
		if j.MaxBytes > 0 {
			p.printf(" of at most %s", size(j.MaxBytes))
		}
		io.WriteString(p.w, "</p>\n")
	}
}

// clip shortens s to at most n runes, marking the cut.
func clip(s string, n int) string {
	for i := range s {
		if n == 0 {
			return s[:i] + "…"
		}
		n--
	}
	return s
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func size(n int64) string {
	switch {
	case n >= 1<<20:
		return strconv.FormatFloat(float64(n)/(1<<20), 'f', 1, 64) + " MiB"
	case n >= 1<<10:
		return strconv.FormatFloat(float64(n)/(1<<10), 'f', 1, 64) + " KiB"
	}
	return strconv.FormatInt(n, 10) + " B"
}

// sensors shows the last reading of every channel; a bad reading has no value, only its reason. A
// device whose channels all fail for the same reason is one line, not one per channel.
func (p *page) sensors() {
	rows := append([]ReadingRow(nil), p.st.Readings...)
	sort.SliceStable(rows, func(i, j int) bool {
		if rows[i].Sensor != rows[j].Sensor {
			return rows[i].Sensor < rows[j].Sensor
		}
		return rows[i].Channel < rows[j].Channel
	})
	io.WriteString(p.w, "<h2>Sensors</h2>\n")
	if len(rows) == 0 {
		io.WriteString(p.w, "<p>No sensors.</p>\n")
		return
	}
	io.WriteString(p.w, "<table><tr><th>sensor</th><th>channel</th><th class=\"num\">value</th><th class=\"num\">age</th><th>status</th></tr>\n")
	for i := 0; i < len(rows); {
		j := i
		for j < len(rows) && rows[j].Sensor == rows[i].Sensor {
			j++
		}
		dev := rows[i:j]
		if err, all := sameFailure(dev); all && len(dev) > 1 {
			p.printf("<tr class=\"bad\"><td>%s</td><td>all %d channels</td><td class=\"num\">—</td><td class=\"num\">%s</td><td>bad: %s</td></tr>\n",
				esc(dev[0].Sensor), len(dev), age(dev[0].Age), esc(err))
		} else {
			for _, r := range dev {
				if r.Quality != "good" {
					p.printf("<tr class=\"bad\"><td>%s</td><td>%s</td><td class=\"num\">—</td><td class=\"num\">%s</td><td>bad: %s</td></tr>\n",
						esc(r.Sensor), esc(r.Channel), age(r.Age), esc(r.Error))
					continue
				}
				v := esc(r.Value)
				if r.Unit != "" {
					v += " " + esc(r.Unit)
				}
				p.printf("<tr><td>%s</td><td>%s</td><td class=\"num\">%s</td><td class=\"num\">%s</td><td class=\"ok\">good</td></tr>\n",
					esc(r.Sensor), esc(r.Channel), v, age(r.Age))
			}
		}
		i = j
	}
	io.WriteString(p.w, "</table>\n")
}

// sameFailure reports whether every channel of a device is bad with the same error.
func sameFailure(dev []ReadingRow) (string, bool) {
	for _, r := range dev {
		if r.Quality == "good" || r.Error != dev[0].Error {
			return "", false
		}
	}
	return dev[0].Error, true
}

func age(d time.Duration) string {
	if d <= 0 {
		return ""
	}
	if d < 10*time.Second {
		return strconv.FormatFloat(d.Seconds(), 'f', 1, 64) + "s"
	}
	return span(d)
}

// outputs shows the outputs and the shutdown sequence, when there are any.
func (p *page) outputs() {
	if len(p.st.Outputs) > 0 {
		io.WriteString(p.w, "<h2>Outputs</h2>\n<table><tr><th>output</th><th>type</th><th>state</th><th>wanted</th><th>since</th><th>last action</th></tr>\n")
		for _, o := range p.st.Outputs {
			class, wanted := "", "off"
			if o.Wanted {
				wanted = "on"
			}
			if !o.OK {
				class = ` class="bad"`
			}
			role := ""
			if o.Role != "" {
				role = " (" + esc(o.Role) + ")"
			}
			p.printf("<tr%s><td title=\"%s\">%s%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td class=\"msg\">%s</td></tr>\n", class,
				esc(o.Describe), esc(o.ID), role, esc(o.Type), esc(o.State), wanted, p.when(o.Since), esc(o.Last))
		}
		io.WriteString(p.w, "</table>\n")
	}
	if p.st.Shutdown != "" {
		p.printf("<h2>Shutdown</h2>\n<p>%s</p>\n", esc(p.st.Shutdown))
	}
}
