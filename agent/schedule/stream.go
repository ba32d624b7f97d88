package schedule

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/rackwatch/rackwatch/agent/driver"
)

// healthyRun is how long a streamer must run before its next failure counts as a fresh one for backoff.
const healthyRun = time.Minute

// stream runs an event-driven device until ctx is done: each sample becomes a reading at once. When Run
// fails or panics the device is closed, its channels are reported bad, and it is reopened with backoff.
func (s *Scheduler) stream(ctx context.Context, sn *sensor, dev driver.Streamer, bus any) {
	fails := 0
	for {
		started := time.Now()
		err := s.runStreamer(ctx, sn, dev)
		dev.Close()
		if ctx.Err() != nil {
			return
		}
		if time.Since(started) > healthyRun {
			fails = 0
		}
		if err == nil {
			err = errors.New("device stopped")
		}
		s.note(sn.cfg.ID, sn.log, slog.LevelError, "streaming device failed; reopening with backoff", "err", err)
		s.emitBad(ctx, sn, err, time.Now())
		for {
			wait := driver.Backoff(fails, backoffBase, backoffMax)
			fails++
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
			var d driver.Device
			var oerr error
			func() {
				defer recoverInto(&oerr)
				d, oerr = sn.drv.Open(ctx, driver.Env{Sensor: sn.cfg, Bus: bus, Log: sn.log})
			}()
			if oerr == nil {
				st, ok := d.(driver.Streamer)
				if ok {
					dev = st
					s.note(sn.cfg.ID, sn.log, slog.LevelInfo, "streaming device open again")
					break
				}
				d.Close()
				oerr = fmt.Errorf("driver %s no longer returns a streaming device", sn.drv.Name)
			}
			s.emitBad(ctx, sn, fmt.Errorf("open: %w", oerr), time.Now())
		}
	}
}

func (s *Scheduler) runStreamer(ctx context.Context, sn *sensor, dev driver.Streamer) (err error) {
	defer recoverInto(&err)
	return dev.Run(ctx, func(smp driver.Sample) {
		sn.reads.Add(1)
		r := sn.reading(&smp, time.Now())
		if !r.Good() {
			sn.failures.Add(1)
		}
		if sn.declared == nil {
			sn.remember(smp.Channel)
		}
		s.emit(ctx, r)
	})
}
