package fwbridge

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rackwatch/rackwatch/agent/driver"
	"github.com/rackwatch/rackwatch/agent/reading"
	"github.com/rackwatch/rackwatch/agent/settings"
)

func TestBridgeHandshakeReadingsAndCommands(t *testing.T) {
	above := 0.5
	r := newRig(t, Options{Failsafe: []Failsafe{{Input: "smoke", Above: &above, Output: "sounder", After: settings.Duration(time.Second)}}}, time.Hour)
	r.waitLink(1)
	st := r.dev.Stats()
	if st.BoardID != "emu-1" || st.Firmware != "1.0.0-emu" {
		t.Errorf("board %q firmware %q, want emu-1 1.0.0-emu", st.BoardID, st.Firmware)
	}
	if want := []reading.Channel{"temperature", "smoke", "h2", "sounder"}; !slices.Equal(st.Channels, want) {
		t.Errorf("learned channels %v, want %v", st.Channels, want)
	}
	// After the handshake the host configures the board: heartbeat, reading interval, fail-safe.
	r.emu.waitEvent("host SET hb,200")
	r.emu.waitEvent("host SET every,3600000")
	r.emu.waitEvent("host FS 1,A,0.5,3,1000")

	// The reading interval is an hour, so this value can only arrive through the edge path, at once.
	r.emu.send("set 1 1")
	r.sink.waitFor(t, "smoke=1 pushed by the board", value("smoke", 1))
	r.emu.send("error 2 nosensor")
	r.emu.send("report")
	r.sink.waitFor(t, "h2 bad with the board's reason", badWith("h2", "nosensor"))

	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := r.dev.SetOutput(ctx, "sounder", 1); err != nil {
		t.Fatalf("SetOutput: %v", err)
	}
	if ev := r.emu.waitEvent("out "); ev != "out 3 1000" {
		t.Errorf("emulator drove %q, want out 3 1000", ev)
	}
	r.sink.waitFor(t, "sounder=1 reported back", value("sounder", 1))
	if err := r.dev.SetOutput(ctx, "temperature", 1); err == nil {
		t.Error("SetOutput on an input succeeded")
	}
}

// The fail-safe lives on the board: when the host dies, the board drives its sounder on its own.
func TestBridgeFailsafeWhenHostGoesSilent(t *testing.T) {
	above := 0.5
	r := newRig(t, Options{Failsafe: []Failsafe{{Input: "smoke", Above: &above, Output: "sounder", After: settings.Duration(time.Second)}}}, time.Second)
	r.waitLink(1)
	r.emu.waitEvent("host FS 1,A,0.5,3,1000")
	r.emu.send("set 1 1") // smoke while the host is alive: the host's business
	r.sink.waitFor(t, "smoke=1", value("smoke", 1))
	if n := r.emu.countEvents("failsafe"); n != 0 {
		t.Fatalf("fail-safe tripped while the host was alive")
	}
	r.emu.send("set 1 0")
	r.sink.waitFor(t, "smoke=0", value("smoke", 0))
	r.stop() // the agent dies
	r.emu.send("set 1 1")
	if ev := r.emu.waitEvent("failsafe"); ev != "failsafe 1" {
		t.Errorf("got %q", ev)
	}
	if ev := r.emu.waitEvent("out "); ev != "out 3 1000" {
		t.Errorf("emulator drove %q, want out 3 1000", ev)
	}
}

func TestBridgeBoardReset(t *testing.T) {
	// Analog values arrive with the periodic report: a short interval keeps the two waits for one short.
	r := newRig(t, Options{}, 200*time.Millisecond)
	r.waitLink(1)
	r.emu.waitEvent("host SET hb,")
	r.emu.send("set 0 22")
	r.sink.waitFor(t, "temperature=22", value("temperature", 22))
	m := r.emu.mark()
	r.emu.send("reset")
	deadline := time.Now().Add(waitLimit)
	for r.dev.Stats().Resets == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the restart was not noticed")
		}
		time.Sleep(5 * time.Millisecond)
	}
	// The board forgot its settings; the host sends them again.
	r.emu.waitEventSince(m, "host SET hb,")
	if got := r.dev.Stats().Resets; got != 1 {
		t.Errorf("resets = %d, want 1", got)
	}
	r.emu.send("set 0 23")
	r.sink.waitFor(t, "temperature=23 after the reset", value("temperature", 23))
	if n := r.dev.Stats().Bad[KindReplay]; n != 0 {
		t.Errorf("a restarted board's frames were taken for replays (%d)", n)
	}
}

func TestBridgeHeartbeatLoss(t *testing.T) {
	r := newRig(t, Options{StaleAfter: settings.Duration(time.Second)}, 200*time.Millisecond)
	r.waitLink(1)
	r.emu.send("silence")
	r.sink.waitFor(t, "temperature bad: heartbeat lost", badWith("temperature", "heartbeat lost"))
	r.waitLink(0)
	if got := r.dev.Stats().HeartbeatLost; got != 1 {
		t.Errorf("heartbeat lost %d times, want 1", got)
	}
	r.emu.send("resume")
	r.waitLink(1)
	r.emu.send("set 0 19.5")
	r.sink.waitFor(t, "temperature=19.5 after the board came back", value("temperature", 19.5))
}

func TestBridgeUnplugReplug(t *testing.T) {
	r := newRig(t, Options{}, 200*time.Millisecond)
	r.waitLink(1)
	r.emu.unplug()
	r.sink.waitFor(t, "temperature bad after unplug", func(x driver.Sample) bool { return x.Channel == "temperature" && x.Err != nil })
	r.waitLink(0)
	// Another board on the same path (a udev link), as after a replug.
	e2 := startEmu(t, r.bin, r.emu.link, "-id", "emu-2")
	e2.send("set 0 31")
	r.waitLink(1)
	r.sink.waitFor(t, "temperature=31 from the replugged board", value("temperature", 31))
	if st := r.dev.Stats(); st.Opens < 2 || st.BoardID != "emu-2" {
		t.Errorf("opens %d board %q, want ≥2 and emu-2", st.Opens, st.BoardID)
	}
	// A second unplug is news again: logged, not swallowed as a repeat of the first.
	e2.unplug()
	r.waitLink(0)
	if n := r.logs.count("board line down"); n < 2 {
		t.Errorf("second unplug not logged (%d line-down messages)", n)
	}
}

func TestBridgeUnknownProtocolVersion(t *testing.T) {
	r := newRig(t, Options{Channels: []string{"temperature"}}, time.Second)
	r.waitLink(1)
	r.emu.send("version 2")
	r.emu.send("reset")
	x := r.sink.waitFor(t, "temperature bad: version", func(x driver.Sample) bool { return x.Channel == "temperature" && x.Err != nil })
	if !errors.Is(x.Err, ErrVersion) {
		t.Fatalf("error %v, want ErrVersion", x.Err)
	}
	for _, want := range []string{"protocol version 2", "version 1"} {
		if !strings.Contains(x.Err.Error(), want) {
			t.Errorf("error %q does not say %q", x.Err, want)
		}
	}
	r.waitLink(0)
	if r.logs.count("board refused") != 1 {
		t.Errorf("version error logged %d times, want once", r.logs.count("board refused"))
	}
}

func TestBridgeBadInput(t *testing.T) {
	r := newRig(t, Options{}, 200*time.Millisecond)
	r.waitLink(1)
	for range 2 { // twice: still logged once per kind
		for _, c := range []string{"garbage", "badcrc", "truncated", "oversize", "replay"} {
			r.emu.send(c)
		}
		r.emu.send("set 0 40")
		r.sink.waitFor(t, "temperature=40 between bad input", value("temperature", 40))
		r.emu.send("set 0 0")
		r.sink.waitFor(t, "temperature=0 between bad input", value("temperature", 0))
	}
	r.emu.send("flood 3000")
	r.emu.send("set 0 42")
	r.sink.waitFor(t, "temperature=42 after a flood", value("temperature", 42))
	st := r.dev.Stats()
	for _, k := range []Kind{KindGarbage, KindBadCRC, KindTruncated, KindTooLong, KindReplay, KindFlood} {
		if st.Bad[k] == 0 {
			t.Errorf("%s not counted: %v", k, st.Bad)
		}
		if n := r.logs.count("kind=" + k.String()); n != 1 {
			t.Errorf("%s logged %d times, want once", k, n)
		}
	}
	if st.Bad[KindBadCRC] < 2 || st.Bad[KindTooLong] < 2 {
		t.Errorf("repeated bad input not counted each time: %v", st.Bad)
	}
}

// A setting the board refuses is logged with the board's reason, and the board keeps working.
func TestBridgeRefusedSettingIsLogged(t *testing.T) {
	above := 50.0
	r := newRig(t, Options{Failsafe: []Failsafe{{Input: "temperature", Above: &above, Output: "smoke", After: settings.Duration(time.Second)}}}, time.Hour)
	r.waitLink(1)
	r.emu.waitEvent("host FS 0,A,50,1,1000")
	deadline := time.Now().Add(waitLimit)
	for r.logs.count("board refused a setting") == 0 {
		if time.Now().After(deadline) {
			t.Fatal("refused fail-safe not logged")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if r.logs.count("RO") == 0 || r.dev.Stats().BoardNAKs == 0 {
		t.Errorf("the log does not carry the board's code RO, or NAKs = %d", r.dev.Stats().BoardNAKs)
	}
	r.emu.send("set 1 1")
	r.sink.waitFor(t, "smoke=1", value("smoke", 1))
}

// The emulator plays a scenario file; the host sees its steps in order.
func TestEmulatorPlaysScenario(t *testing.T) {
	sc := filepath.Join(t.TempDir(), "scenario.txt")
	os.WriteFile(sc, []byte("# comment lines are ignored\nsleep 300\nset 0 30\nset 1 1\nsleep 50\nset 1 0\nset 0 31\nreport\n"), 0o644)
	r := newRig(t, Options{}, time.Hour, "-s", sc)
	r.waitLink(1)
	r.sink.waitFor(t, "smoke=1 from the scenario", value("smoke", 1))
	r.sink.waitFor(t, "then smoke=0", value("smoke", 0))
	r.sink.waitFor(t, "then temperature=31", value("temperature", 31))
}
