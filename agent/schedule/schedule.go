package schedule

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rackwatch/rackwatch/agent/driver"
	"github.com/rackwatch/rackwatch/agent/promtext"
	"github.com/rackwatch/rackwatch/agent/ratelog"
	"github.com/rackwatch/rackwatch/agent/reading"
)

// Backoff bounds for reopening a device or bus that failed.
const (
	backoffBase = time.Second
	backoffMax  = time.Minute
	// grace lets a driver that honours its context report its own timeout error before the lane gives up.
	grace = 50 * time.Millisecond
)

// Scheduler reads every configured sensor and sends readings to one channel.
type Scheduler struct {
	buses    map[string]*driver.Bus
	channels map[string][]driver.ChannelInfo
	reg      *driver.Registry
	log      *slog.Logger
	sensors  []*sensor
	out      chan<- reading.Reading
	// rl keeps a device that fails and recovers over and over from flooding the log: one line per
	// sensor (or bus) a minute, the next one saying how many were not written.
	rl *ratelog.Limiter
}

// sensor is one configured sensor's running state. Only its lane's goroutine touches the mutable fields;
// the counters are atomics because /metrics reads them.
type sensor struct {
	cfg      *driver.Sensor
	drv      *driver.Driver
	declared []driver.ChannelInfo
	log      *slog.Logger

	dev       driver.Device
	openErr   error
	openFails int
	nextOpen  time.Time
	next      time.Time
	buf       []driver.Sample
	seen      []reading.Channel // channels seen so far, for drivers that learn theirs at run time
	streaming bool              // the device pushes samples on its own goroutine

	counters        atomic.Value // driver.Counters of the open device, when it has them
	reads, failures atomic.Uint64
	lastDur         atomic.Int64

	badMu sync.Mutex
	bad   map[reading.Channel]uint64 // bad readings per channel, for /metrics
}

// countBad counts one bad reading of a channel. A failing device produces one a poll per channel, so the
// map entry is made once and a count costs a lock.
func (sn *sensor) countBad(ch reading.Channel) {
	if ch == "" {
		return
	}
	sn.badMu.Lock()
	if sn.bad == nil {
		sn.bad = map[reading.Channel]uint64{}
	}
	sn.bad[ch]++
	sn.badMu.Unlock()
}

// New prepares a scheduler for checked sensors and buses; channels (from agent.Check) maps a sensor id to
// the channels its driver declared.
func New(sensors []*driver.Sensor, buses []*driver.Bus, channels map[string][]driver.ChannelInfo, reg *driver.Registry, log *slog.Logger) *Scheduler {
	s := &Scheduler{buses: map[string]*driver.Bus{}, channels: channels, reg: reg, log: log, rl: ratelog.New(time.Minute, 0)}
	for _, b := range buses {
		s.buses[b.ID] = b
	}
	for _, sc := range sensors {
		s.sensors = append(s.sensors, &sensor{
			cfg: sc, drv: reg.Driver(sc.Driver), declared: channels[sc.ID],
			log: log.With("sensor", sc.ID, "driver", sc.Driver),
		})
	}
	return s
}

// Run reads the sensors until ctx is done, sending readings to out (blocking: the consumer is the rules
// loop, which never waits on the network). It returns once every goroutine it started has stopped and every
// device and bus is closed.
func (s *Scheduler) Run(ctx context.Context, out chan<- reading.Reading) error {
	s.out = out
	var wg sync.WaitGroup
	byBus := map[string][]*sensor{}
	for _, sn := range s.sensors {
		if sn.drv == nil {
			continue // agent.Check refuses such configs; tests may not have checked
		}
		if sn.cfg.Bus != "" {
			byBus[sn.cfg.Bus] = append(byBus[sn.cfg.Bus], sn)
			continue
		}
		l := &lane{s: s, name: "sensor " + sn.cfg.ID, sensors: []*sensor{sn}}
		wg.Add(1)
		go func() { defer wg.Done(); l.run(ctx) }()
	}
	for id, sns := range byBus {
		l := &lane{s: s, name: "bus " + id, bus: s.buses[id], sensors: sns}
		wg.Add(1)
		go func() { defer wg.Done(); l.run(ctx) }()
	}
	wg.Wait()
	return nil
}

// note logs a failure or recovery of a device, at most one line per key a minute.
func (s *Scheduler) note(key string, log *slog.Logger, level slog.Level, msg string, args ...any) {
	s.rl.Log(log, level, key, msg, args...)
}

// emit sends one reading; it gives up only when ctx is done.
func (s *Scheduler) emit(ctx context.Context, r reading.Reading) {
	select {
	case s.out <- r:
	case <-ctx.Done():
	}
}

// emitBad marks every channel of the sensor bad with err.
func (s *Scheduler) emitBad(ctx context.Context, sn *sensor, err error, at time.Time) {
	sn.failures.Add(1)
	if len(sn.declared) > 0 {
		for _, ci := range sn.declared {
			sn.countBad(ci.Channel)
			s.emit(ctx, reading.Reading{Sensor: sn.cfg.ID, Channel: ci.Channel, Quality: reading.Bad, Err: err, At: at})
		}
		return
	}
	if len(sn.seen) > 0 {
		for _, ch := range sn.seen {
			sn.countBad(ch)
			s.emit(ctx, reading.Reading{Sensor: sn.cfg.ID, Channel: ch, Quality: reading.Bad, Err: err, At: at})
		}
		return
	}
	// Nothing known about its channels yet: a sensor-level bad reading, so staleness still says why.
	s.emit(ctx, reading.Reading{Sensor: sn.cfg.ID, Quality: reading.Bad, Err: err, At: at})
}

// emitSamples sends one read's samples. A read with a bad channel counts as a failed read, once, whatever
// the number of bad channels; each bad channel is counted on its own too.
func (s *Scheduler) emitSamples(ctx context.Context, sn *sensor, samples []driver.Sample, at time.Time) {
	failed := false
	for i := range samples {
		smp := &samples[i]
		r := sn.reading(smp, at)
		failed = failed || !r.Good()
		if sn.declared == nil {
			sn.remember(smp.Channel)
		}
		s.emit(ctx, r)
	}
	if failed {
		sn.failures.Add(1)
	}
}

// reading turns a driver's sample into a reading, counting it per channel when it is bad. This is the
// edge of the vocabulary: whatever the driver, a value that is NaN or infinite becomes a bad reading
// here, so the rules, the alarm objects and the published readings only ever see finite values.
func (sn *sensor) reading(smp *driver.Sample, at time.Time) reading.Reading {
	r := reading.Reading{Sensor: sn.cfg.ID, Channel: smp.Channel, Value: smp.Value, At: at}
	if smp.Err != nil {
		r.Quality, r.Err = reading.Bad, smp.Err
	} else {
		r.Vet()
	}
	if !r.Good() {
		sn.countBad(smp.Channel)
	}
	return r
}

func (sn *sensor) remember(ch reading.Channel) {
	for _, c := range sn.seen {
		if c == ch {
			return
		}
	}
	sn.seen = append(sn.seen, ch)
}

// WriteMetrics writes per-sensor read counters in the Prometheus text format.
func (s *Scheduler) WriteMetrics(w *promtext.Writer) {
	sns := append([]*sensor(nil), s.sensors...)
	sort.Slice(sns, func(i, j int) bool { return sns[i].cfg.ID < sns[j].cfg.ID })
	w.Family("rackwatch_sensor_reads_total", "Reads attempted per sensor (polls and pushed samples).", promtext.Counter)
	for _, sn := range sns {
		w.Sample("rackwatch_sensor_reads_total", float64(sn.reads.Load()), "sensor", sn.cfg.ID)
	}
	w.Family("rackwatch_sensor_failures_total", "Reads that failed in whole or in part (error, timeout, panic, device not open, a bad channel).", promtext.Counter)
	for _, sn := range sns {
		w.Sample("rackwatch_sensor_failures_total", float64(sn.failures.Load()), "sensor", sn.cfg.ID)
	}
	w.Family("rackwatch_channel_failures_total", "Bad readings per channel: the channel's read failed, or the whole read did.", promtext.Counter)
	for _, sn := range sns {
		sn.writeChannelFailures(w)
	}
	w.Family("rackwatch_driver_events_total", "Protocol events a driver counts (garbled frames, retries, ...).", promtext.Counter)
	for _, sn := range sns {
		c, _ := sn.counters.Load().(driver.Counters)
		if c == nil {
			continue
		}
		m := c.Counters()
		kinds := make([]string, 0, len(m))
		for k := range m {
			kinds = append(kinds, k)
		}
		sort.Strings(kinds)
		for _, k := range kinds {
			w.Sample("rackwatch_driver_events_total", float64(m[k]), "sensor", sn.cfg.ID, "kind", k)
		}
	}
	w.Family("rackwatch_sensor_read_seconds", "Duration of the last read.", promtext.Gauge)
	for _, sn := range sns {
		w.Sample("rackwatch_sensor_read_seconds", time.Duration(sn.lastDur.Load()).Seconds(), "sensor", sn.cfg.ID)
	}
}

// writeChannelFailures writes the sensor's bad readings per channel: every declared channel (0 until one
// fails), then the channels learned at run time, sorted.
func (sn *sensor) writeChannelFailures(w *promtext.Writer) {
	sn.badMu.Lock()
	counts := make(map[reading.Channel]uint64, len(sn.bad))
	for ch, n := range sn.bad {
		counts[ch] = n
	}
	sn.badMu.Unlock()
	for _, ci := range sn.declared {
		w.Sample("rackwatch_channel_failures_total", float64(counts[ci.Channel]), "sensor", sn.cfg.ID, "channel", string(ci.Channel))
		delete(counts, ci.Channel)
	}
	rest := make([]string, 0, len(counts))
	for ch := range counts {
		rest = append(rest, string(ch))
	}
	sort.Strings(rest)
	for _, ch := range rest {
		w.Sample("rackwatch_channel_failures_total", float64(counts[reading.Channel(ch)]), "sensor", sn.cfg.ID, "channel", ch)
	}
}

// PanicError is a driver panic turned into an error.
type PanicError struct{ Value any }

func (p *PanicError) Error() string { return fmt.Sprintf("driver panicked: %v", p.Value) }

// ErrTimeout is the error of a read that took longer than the sensor's timeout.
var ErrTimeout = errors.New("read timed out")
