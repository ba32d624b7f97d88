package ratelog

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// DefaultKeys bounds the keys a Limiter remembers when New is given no bound.
const DefaultKeys = 256

// overflowKey collects the lines of new keys while the table is full.
const overflowKey = "\x00overflow"

// Limiter lets through at most one line per key per interval. It is safe for concurrent use. Create one
// with New; a nil *Limiter limits nothing.
type Limiter struct {
	every time.Duration
	max   int

	mu   sync.Mutex
	keys map[string]*entry
}

type entry struct {
	last       time.Time // when a line of this key was last logged
	suppressed uint64    // lines dropped since
}

// New returns a Limiter that logs a key at most once per every, remembering at most maxKeys keys
// (DefaultKeys when maxKeys <= 0).
func New(every time.Duration, maxKeys int) *Limiter {
	if maxKeys <= 0 {
		maxKeys = DefaultKeys
	}
	return &Limiter{every: every, max: maxKeys, keys: map[string]*entry{}}
}

// Allow reports whether a line of key may be logged now; when it may, suppressed is the number of lines of
// that key dropped since the last one logged.
func (l *Limiter) Allow(key string) (ok bool, suppressed uint64) {
	if l == nil {
		return true, 0
	}
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.keys[key]
	if e == nil {
		if len(l.keys) >= l.max {
			l.forget(now)
		}
		if len(l.keys) >= l.max {
			key = overflowKey
			e = l.keys[key]
		}
		if e == nil {
			e = &entry{}
			l.keys[key] = e
			e.last = now
			return true, 0
		}
	}
	if now.Sub(e.last) < l.every {
		e.suppressed++
		return false, 0
	}
	n := e.suppressed
	e.last, e.suppressed = now, 0
	return true, n
}

// forget drops keys whose last line is older than the interval and that have nothing suppressed to
// report. Called with mu held.
func (l *Limiter) forget(now time.Time) {
	for k, e := range l.keys {
		if k != overflowKey && e.suppressed == 0 && now.Sub(e.last) >= l.every {
			delete(l.keys, k)
		}
	}
}

// Log logs msg with args at level on log when key's limit allows it, adding "suppressed" (the lines of
// key dropped since the last one logged) when that is not zero. It reports whether the line was logged.
func (l *Limiter) Log(log *slog.Logger, level slog.Level, key, msg string, args ...any) bool {
	if !log.Enabled(context.Background(), level) {
		return false
	}
	ok, n := l.Allow(key)
	if !ok {
		return false
	}
	if n > 0 {
		args = append(args, "suppressed", n)
	}
	log.Log(context.Background(), level, msg, args...)
	return true
}
