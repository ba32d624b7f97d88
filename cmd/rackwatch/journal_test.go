package main

import (
	"encoding/json"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/rackwatch/rackwatch/agent/contract"
	"github.com/rackwatch/rackwatch/agent/delivery"
	"github.com/rackwatch/rackwatch/agent/journal"
)

func captureStdout(t *testing.T, f func() int) (string, int) {
	t.Helper()
	r, w, _ := os.Pipe()
	old := os.Stdout
	os.Stdout = w
	code := f()
	os.Stdout = old
	w.Close()
	b, _ := io.ReadAll(r)
	return string(b), code
}

func TestJournalInspect(t *testing.T) {
	state := t.TempDir()
	j, err := journal.Open(delivery.JournalDir(state), journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	j.SetBrokers([]string{"tcp://a:1883", "tcp://b:1883"})
	var recs []journal.Record
	for seq := uint64(101); seq <= 103; seq++ {
		a := contract.Alarm{Key: "smoke/batt-room.smoke/smoke", State: contract.Active, Event: contract.EventRaise, Severity: contract.Critical,
			Seq: seq, Time: time.Now().Add(-time.Minute)}
		b, _ := json.Marshal(a)
		recs = append(recs, journal.Record{Time: a.Time, Key: a.Key, Data: b})
	}
	if err := j.Append(recs); err != nil {
		t.Fatal(err)
	}
	j.Ack("tcp://a:1883", 3)
	j.Ack("tcp://b:1883", 1)
	j.Close()

	out, code := captureStdout(t, func() int { return mainArgs([]string{"journal", "inspect", "--state-dir", state}) })
	if code != 0 {
		t.Fatalf("exit %d: %s", code, out)
	}
	for _, want := range []string{
		"3 transitions on disk, newest id 3",
		"broker tcp://a:1883: acknowledged up to id 3, 0 pending",
		"broker tcp://b:1883: acknowledged up to id 1, 2 pending",
		"102  1m",
		"smoke/batt-room.smoke/smoke  active (raise)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if _, code := captureStdout(t, func() int { return mainArgs([]string{"journal", "inspect", "--state-dir", t.TempDir()}) }); code != 1 {
		t.Errorf("no journal: exit %d, want 1", code)
	}
}
