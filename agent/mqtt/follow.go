package mqtt

import (
	"context"
	"time"
)

// backoff doubles from base up to max for the n-th retry (n from 0).
func backoff(n int, base, max time.Duration) time.Duration {
	d := base
	for i := 0; i < n && d < max; i++ {
		d *= 2
	}
	return min(d, max)
}

// Follow keeps a subscriber's session up until ctx ends: it connects with cfg (whose Subscribe and
// OnMessage say what to receive), and after a lost connection connects again, backing off from 1 s to
// 30 s while the broker is unreachable. note receives one line per change (following, lost, retrying).
//
// With reconnect false it returns nil when the first connection ends (a demo whose broker stops with its
// agent). A TLS or login problem on the first attempt is returned at once: retrying will not fix it.
func Follow(ctx context.Context, cfg Config, reconnect bool, note func(format string, args ...any)) error {
	for attempt := 0; ctx.Err() == nil; {
		cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		cl, err := Connect(cctx, cfg)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			if KindOf(err) != Unreachable && attempt == 0 {
				return err
			}
			note("%v; retrying", err)
			select {
			case <-ctx.Done():
			case <-time.After(backoff(attempt, time.Second, 30*time.Second)):
			}
			attempt++
			continue
		}
		attempt = 0
		note("following on %s", cfg.URL)
		select {
		case <-ctx.Done():
			cl.Disconnect(100 * time.Millisecond)
		case <-cl.Lost():
			if !reconnect {
				return nil
			}
			note("connection lost: %v; reconnecting", cl.Err())
		}
	}
	return nil
}
