package ratelog

import (
	"bytes"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// A command refused in a loop logs one line per interval, and the next line says how many were not
// logged: nothing disappears silently.
func TestRepeatedLinesAreCountedNotLogged(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var buf bytes.Buffer
		log := slog.New(slog.NewTextHandler(&buf, nil))
		l := New(time.Minute, 0)
		for i := 0; i < 1000; i++ {
			l.Log(log, slog.LevelWarn, "cmd:tcp://a", "command refused", "i", i)
		}
		if n := strings.Count(buf.String(), "\n"); n != 1 {
			t.Fatalf("%d lines for 1000 refusals in a minute, want 1:\n%s", n, buf.String())
		}
		time.Sleep(time.Minute)
		l.Log(log, slog.LevelWarn, "cmd:tcp://a", "command refused", "i", 1000)
		lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
		if len(lines) != 2 || !strings.Contains(lines[1], "suppressed=999") {
			t.Fatalf("the next line must carry the count of the 999 suppressed:\n%s", buf.String())
		}
		// Another key is not held back by the first.
		if !l.Log(log, slog.LevelWarn, "sensor:ups1", "sensor failed") {
			t.Fatal("a different key was suppressed")
		}
	})
}

// Keys may come from outside: however many there are, the table stays bounded, and lines of new keys
// are still logged (under one shared overflow key) rather than lost.
func TestKeysAreBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := New(time.Minute, 8)
		logged := 0
		for i := 0; i < 10000; i++ {
			if ok, _ := l.Allow("k" + strconv.Itoa(i)); ok {
				logged++
			}
		}
		if len(l.keys) > 9 {
			t.Fatalf("%d keys remembered, bound 8 (+ overflow)", len(l.keys))
		}
		if logged != 9 {
			t.Fatalf("%d lines logged: want the first 8 keys and one overflow line", logged)
		}
		time.Sleep(time.Minute)
		if ok, _ := l.Allow("fresh"); !ok {
			t.Fatal("after the interval, idle keys are forgotten and a new key is logged again")
		}
		// With room again, k9999 (whose lines went to the overflow key) gets a key of its own.
		if ok, n := l.Allow("k9999"); !ok || n != 0 {
			t.Fatalf("k9999: %v %d", ok, n)
		}
	})
}

// A disabled level costs no bookkeeping and is not counted as suppressed.
func TestDisabledLevel(t *testing.T) {
	log := slog.New(slog.NewTextHandler(&bytes.Buffer{}, &slog.HandlerOptions{Level: slog.LevelError}))
	l := New(time.Minute, 0)
	if l.Log(log, slog.LevelInfo, "k", "x") || len(l.keys) != 0 {
		t.Fatal("a line below the handler's level must not be counted")
	}
}
