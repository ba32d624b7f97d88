package rules

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// TestReplayBatteryRoomGolden replays the battery-room incident trace and compares the timeline (text and
// JSON) with the reviewed golden files. Run with -update after a deliberate change, and read the diff.
func TestReplayBatteryRoomGolden(t *testing.T) {
	cfg := loadConfig(t, filepath.Join("testdata", "battery-room.yaml"))
	for _, c := range []struct {
		golden string
		json   bool
	}{{"battery-room.timeline", false}, {"battery-room.jsonl", true}} {
		e := cfg.engine(t)
		f, err := os.Open(filepath.Join("testdata", "battery-room.csv"))
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		n, tr, err := Replay(e, f, &out, c.json)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		if n != 749 || tr == 0 {
			t.Fatalf("%d readings, %d transitions", n, tr)
		}
		path := filepath.Join("testdata", c.golden)
		if *update {
			if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test -run Golden -update to create it)", err)
		}
		if got := out.String(); got != string(want) {
			t.Errorf("%s differs (go test -run Golden -update rewrites it):\n%s", c.golden, DiffLines(string(want), got))
		}
	}
}

func TestReplaySecondsAndStaleBetweenReadings(t *testing.T) {
	e := newEngine(t, `  - {id: silent, match: {sensor: ups1}, stale: 30s}
  - {id: warm, match: {channel: temperature}, above: 27, for: 15s}`)
	trace := "time,sensor,channel,value,error\n" +
		"0,ups1,battery_temp,25,\n" +
		"5,r1.inlet,temperature,28,\n" +
		"# the UPS stops answering; nothing arrives from it, the replay ticks when the limit falls due\n" +
		"100.5,r1.inlet,temperature,20,\n" +
		"101,ups1,battery_temp,,serial: timeout\n" +
		"102,ups1,battery_temp,26,\n"
	var out bytes.Buffer
	n, tr, err := Replay(e, strings.NewReader(trace), &out, false)
	if err != nil || n != 5 || tr != 2 {
		t.Fatalf("%d readings %d transitions: %v\n%s", n, tr, err, out.String())
	}
	// One warm reading and then nothing for 95 s is no evidence of 15 s warm: the delay never completes.
	want := []string{
		"30s      #1   raise    warning  active,unacked  silent/ups1/battery_temp: battery-room ups1 battery_temp silent: no good reading for 30s (limit 30s)",
		"102s     #2   clear    warning  cleared,unacked silent/ups1/battery_temp: battery-room ups1 battery_temp reading again, now 26 °C",
	}
	if got := strings.TrimSuffix(out.String(), "\n"); got != strings.Join(want, "\n") {
		t.Fatalf("timeline:\n%s", DiffLines(strings.Join(want, "\n"), got))
	}
}

func TestTraceErrors(t *testing.T) {
	for _, c := range []struct{ trace, want string }{
		{"when,sensor,channel,value\n", `lacks column "time"`},
		{"time,sensor,channel,value,colour\n", `unknown column "colour"`},
		{"time,sensor,channel,value\n10,a,t,1\n5,a,t,1\n", "line 3: time 5 goes back"},
		{"time,sensor,channel,value\n10,a,t,1\n2022-10-15T06:00:00Z,a,t,1\n", "line 3: time \"2022-10-15T06:00:00Z\" is RFC 3339"},
		{"time,sensor,channel,value\nyesterday,a,t,1\n", "neither RFC 3339 nor seconds"},
		{"time,sensor,channel,value\n1,A/B,t,1\n", "not a sensor id"},
		{"time,sensor,channel,value\n1,a,t,hot\n", `value "hot" is not a finite number`},
		{"time,sensor,channel,value\n1,a,,1\n", "needs a channel"},
		{"", "header"},
	} {
		e := newEngine(t, `  - {id: warm, match: {channel: temperature}, above: 27}`)
		_, _, err := Replay(e, strings.NewReader(c.trace), &bytes.Buffer{}, false)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want %q", c.trace, err, c.want)
		}
	}
}
