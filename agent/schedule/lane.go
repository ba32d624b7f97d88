package schedule

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/rackwatch/rackwatch/agent/driver"
)

// lane is one goroutine that owns one wire (a bus, or a bus-less sensor's own device). All I/O on the wire
// happens on the lane's worker goroutine, one job at a time; the lane itself only keeps time, so it can
// give up on a hung job at its timeout and keep reporting.
type lane struct {
	s       *Scheduler
	name    string
	bus     *driver.Bus
	sensors []*sensor

	busVal   any
	busErr   error
	busFails int
	busNext  time.Time

	jobs    chan func()
	done    chan struct{} // the worker finished a job
	busy    *sensor       // the sensor whose job is still running past its timeout
	streams sync.WaitGroup
}

func (l *lane) run(ctx context.Context) {
	l.jobs = make(chan func())
	l.done = make(chan struct{}, 1)
	workerDone := make(chan struct{})
	go l.worker(workerDone)
	defer func() {
		close(l.jobs)
		if l.busy == nil {
			<-workerDone
		} // else a job hung for good: leave the worker behind rather than hang the shutdown
	}()
	defer l.streams.Wait()
	pollers := l.sensors
	now := time.Now()
	for _, sn := range pollers {
		sn.next = now
	}
	timer := time.NewTimer(0)
	defer timer.Stop()
	defer l.closeAll()
	for {
		var due *sensor
		for _, sn := range pollers {
			if sn.streaming {
				continue
			}
			if due == nil || sn.next.Before(due.next) {
				due = sn
			}
		}
		if due == nil {
			<-ctx.Done()
			return
		}
		timer.Reset(time.Until(due.next))
		select {
		case <-ctx.Done():
			return
		case <-l.done:
			// A job that overran its timeout has finished at last: the wire is free again.
			l.busy = nil
			continue
		case <-timer.C:
		}
		now := time.Now()
		every := due.cfg.Every
		due.next = due.next.Add(every)
		if due.next.Before(now) {
			due.next = now.Add(every) // fell behind (e.g. after a hang): skip, do not burst
		}
		l.poll(ctx, due, now)
	}
}

// poll reads one sensor on the worker, or reports why it cannot.
func (l *lane) poll(ctx context.Context, sn *sensor, now time.Time) {
	sn.reads.Add(1)
	if l.busy != nil {
		l.s.emitBad(ctx, sn, fmt.Errorf("%s busy: read of %s has not returned", l.name, l.busy.cfg.ID), now)
		return
	}
	if !l.ensureBus(ctx, sn, now) {
		return
	}
	if sn.dev == nil && !l.open(ctx, sn, now) {
		return
	}
	if sn.streaming {
		return
	}
	dev := sn.dev.(driver.Poller)
	timeout := sn.cfg.Timeout
	rctx, cancel := context.WithTimeout(ctx, timeout)
	var samples []driver.Sample
	var err error
	start := time.Now()
	ok := l.do(ctx, sn, timeout+grace, func() {
		defer cancel()
		defer recoverInto(&err)
		samples, err = dev.Read(rctx, sn.buf[:0])
	})
	if ctx.Err() != nil {
		cancel()
		return // shutting down or reloading: not the device's failure
	}
	if !ok {
		cancel()
		l.s.emitBad(ctx, sn, fmt.Errorf("%w after %s", ErrTimeout, timeout), time.Now())
		return
	}
	sn.lastDur.Store(int64(time.Since(start)))
	if err != nil {
		var pe *PanicError
		if errors.As(err, &pe) {
			l.s.note(sn.cfg.ID, sn.log, slog.LevelError, "driver panicked; closing and reopening the device", "panic", pe.Value)
			l.closeDev(sn)
			l.s.emitBad(ctx, sn, err, time.Now())
			sn.openFails++
			sn.nextOpen = time.Now().Add(driver.Backoff(sn.openFails-1, backoffBase, backoffMax))
			return
		}
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			err = fmt.Errorf("%w after %s: %v", ErrTimeout, timeout, err)
		}
		l.s.emitBad(ctx, sn, err, time.Now())
		return
	}
	sn.buf = samples[:0]
	l.s.emitSamples(ctx, sn, samples, time.Now())
}

// do runs job on the worker and waits at most d. It reports false if the job is still running; the lane
// is then busy until the worker says it is done.
func (l *lane) do(ctx context.Context, sn *sensor, d time.Duration, job func()) bool {
	finished := make(chan struct{})
	wrapped := func() {
		job()
		close(finished)
	}
	select {
	case l.jobs <- wrapped:
	case <-ctx.Done():
		return false
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-finished:
		<-l.done
		return true
	case <-t.C:
		l.busy = sn
		return false
	case <-ctx.Done():
		l.busy = sn // still running: shutting down must not wait for it
		return false
	}
}

func (l *lane) worker(exit chan struct{}) {
	defer close(exit)
	for job := range l.jobs {
		job()
		l.done <- struct{}{}
	}
}

// ensureBus opens the lane's bus if it is not open, respecting the backoff.
func (l *lane) ensureBus(ctx context.Context, sn *sensor, now time.Time) bool {
	if l.bus == nil || l.busVal != nil {
		return true
	}
	if now.Before(l.busNext) {
		l.s.emitBad(ctx, sn, l.busErr, now)
		return false
	}
	bt := l.s.reg.Bus(l.bus.Type)
	// The job's results are its own variables, read only when it finished: a job that outlives its
	// timeout still writes them later, on the worker.
	var val any
	var err, jobErr error
	if bt == nil {
		err = fmt.Errorf("unknown bus type %q", l.bus.Type)
	} else if l.do(ctx, sn, 10*time.Second, func() {
		defer recoverInto(&jobErr)
		val, jobErr = bt.Open(ctx, l.bus, l.s.log.With("bus", l.bus.ID))
	}) {
		err = jobErr
	} else {
		err = fmt.Errorf("opening bus %s timed out", l.bus.ID)
	}
	if err != nil {
		l.busErr = fmt.Errorf("bus %s: %w", l.bus.ID, err)
		if l.busFails == 0 {
			l.s.note("bus:"+l.bus.ID, l.s.log, slog.LevelError, "cannot open bus; retrying with backoff", "bus", l.bus.ID, "err", err)
		}
		l.busNext = now.Add(driver.Backoff(l.busFails, backoffBase, backoffMax))
		l.busFails++
		l.s.emitBad(ctx, sn, l.busErr, now)
		return false
	}
	if l.busFails > 0 {
		l.s.note("bus:"+l.bus.ID, l.s.log, slog.LevelInfo, "bus open again", "bus", l.bus.ID)
	}
	l.busVal, l.busErr, l.busFails = val, nil, 0
	return true
}

// open opens a sensor's device, respecting the backoff; on failure it reports a bad reading.
func (l *lane) open(ctx context.Context, sn *sensor, now time.Time) bool {
	if now.Before(sn.nextOpen) {
		l.s.emitBad(ctx, sn, sn.openErr, now)
		return false
	}
	var dev driver.Device
	var err, jobErr error // jobErr is the job's own: see ensureBus
	if l.do(ctx, sn, sn.cfg.Timeout+grace, func() {
		defer recoverInto(&jobErr)
		dev, jobErr = sn.drv.Open(ctx, driver.Env{Sensor: sn.cfg, Bus: l.busVal, Log: sn.log})
	}) {
		err = jobErr
	} else {
		err = fmt.Errorf("%w while opening the device", ErrTimeout)
	}
	if err == nil {
		if c, ok := dev.(driver.Counters); ok {
			sn.counters.Store(c)
		}
		switch dev.(type) {
		case driver.Streamer:
			// Event-driven: from now on the device pushes on its own goroutine and is not polled.
			sn.streaming = true
			l.streams.Add(1)
			go func() {
				defer l.streams.Done()
				l.s.stream(ctx, sn, dev.(driver.Streamer), l.busVal)
			}()
			return true
		case driver.Poller:
		default:
			err = fmt.Errorf("driver %s returned a device that is neither polled nor streaming", sn.drv.Name)
			dev.Close()
		}
	}
	if err != nil {
		sn.openErr = fmt.Errorf("open: %w", err)
		if sn.openFails == 0 {
			l.s.note(sn.cfg.ID, sn.log, slog.LevelError, "cannot open sensor; retrying with backoff", "err", err)
		}
		sn.nextOpen = now.Add(driver.Backoff(sn.openFails, backoffBase, backoffMax))
		sn.openFails++
		l.s.emitBad(ctx, sn, sn.openErr, now)
		return false
	}
	if sn.openFails > 0 {
		l.s.note(sn.cfg.ID, sn.log, slog.LevelInfo, "sensor open again")
	}
	sn.dev, sn.openErr, sn.openFails = dev, nil, 0
	return true
}

func (l *lane) closeDev(sn *sensor) {
	if sn.dev == nil {
		return
	}
	dev := sn.dev
	sn.dev = nil
	l.do(context.Background(), sn, time.Second, func() {
		var err error
		defer recoverInto(&err)
		dev.Close()
	})
}

func (l *lane) closeAll() {
	if l.busy != nil {
		return // the worker is stuck in a read; closing would race with it
	}
	for _, sn := range l.sensors {
		if !sn.streaming {
			l.closeDev(sn)
		}
	}
	if c, ok := l.busVal.(io.Closer); ok {
		c.Close()
	}
}

func recoverInto(err *error) {
	if v := recover(); v != nil {
		*err = &PanicError{Value: v}
	}
}
