package store

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rackwatch/rackwatch/agent/contract"
	"github.com/rackwatch/rackwatch/agent/rules"
)

var now = time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)

func TestStateFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, File)
	sv, err := Load(path)
	if err != nil || sv.State.Seq != 0 || len(sv.State.Alarms) != 0 || sv.Gateway != "" {
		t.Fatalf("missing file: %+v %v", sv, err)
	}
	want := rules.State{Seq: 1, Alarms: []contract.Alarm{{Gateway: "gw", Key: "warm/r1.inlet/temperature", Rule: "warm", Sensor: "r1.inlet",
		Channel: "temperature", State: contract.Active, Since: now, Time: now, Seq: 1}}}
	if err := Save(path, "gw", want); err != nil {
		t.Fatal(err)
	}
	// Overwrite: no temporary file is left behind.
	if err := Save(path, "gw", want); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Fatalf("files left: %v", ents)
	}
	sv, err = Load(path)
	if err != nil || sv.State.Seq != 1 || len(sv.State.Alarms) != 1 || sv.State.Alarms[0].Key != "warm/r1.inlet/temperature" ||
		sv.Gateway != "gw" || sv.Format != FormatVersion {
		t.Fatalf("%+v %v", sv, err)
	}
	b, _ := os.ReadFile(path)
	if !strings.HasPrefix(string(b), `{"format":2,"gateway":"gw","seq":1,`) {
		t.Errorf("the file does not start with its format and gateway: %s", b)
	}
	if err := Save(filepath.Join(dir, "missing", "x.json"), "gw", rules.State{}); err == nil {
		t.Fatal("saving into a missing directory must fail")
	}
}

// A state file cut short, emptied or garbled is reported as damaged (the agent then moves it aside and
// rebuilds the state), never as an empty state.
func TestDamagedStateFile(t *testing.T) {
	for name, content := range map[string]string{
		"torn":        `{"format":2,"gateway":"gw","seq":1,"alarms":[`,
		"empty":       ``,
		"zeros":       "\x00\x00\x00\x00",
		"not json":    `seq=4`,
		"wrong types": `{"seq":"four","alarms":{}}`,
		"bad format":  `{"format":"2","seq":1,"alarms":[]}`,
		"trailing":    `{"seq":1,"alarms":[]} {"seq":2}`,
	} {
		path := filepath.Join(t.TempDir(), File)
		os.WriteFile(path, []byte(content), 0o600)
		if _, err := Load(path); !errors.Is(err, ErrDamaged) {
			t.Errorf("%s: %v, want ErrDamaged", name, err)
		}
	}
	path := filepath.Join(t.TempDir(), File)
	os.WriteFile(path, []byte("{"), 0o600)
	to, err := MoveAside(path, now)
	if err != nil || !strings.HasSuffix(to, File+".damaged-20261125T000000Z") {
		t.Fatalf("moved to %q: %v", to, err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("the damaged file is still in place")
	}
	os.WriteFile(path, []byte("{"), 0o600)
	if to2, err := MoveAside(path, now); err != nil || to2 == to {
		t.Fatalf("a second damaged file in the same second overwrote the first: %q %v", to2, err)
	}
}

// Format 1 files (written before the format was recorded) still load, and name their gateway through
// their alarms; a newer format is refused with a message saying so.
func TestFormatVersions(t *testing.T) {
	path := filepath.Join(t.TempDir(), File)
	v1 := `{"seq":7,"alarms":[{"gateway":"demo-gw","site":"demo","alarm":"fire-suspected","rule":"fire-suspected","sensor":"","channel":"","severity":"critical","state":"active","acked":false,"shelved_until":null,"value":null,"unit":"","threshold":null,"since":"2026-11-25T01:02:03.456Z","time":"2026-11-25T01:02:03.456Z","seq":7,"episode":7,"event":"raise","message":"fire","labels":{}}],"normal":["smoke/room/smoke"]}` + "\n"
	os.WriteFile(path, []byte(v1), 0o600)
	sv, err := Load(path)
	if err != nil || sv.Format != 1 || sv.Gateway != "demo-gw" || sv.State.Seq != 7 || len(sv.State.Alarms) != 1 || len(sv.State.Normal) != 1 {
		t.Fatalf("format 1: %+v %v", sv, err)
	}
	os.WriteFile(path, []byte(`{"format":3,"gateway":"gw","seq":7,"alarms":[],"new_thing":{}}`), 0o600)
	_, err = Load(path)
	if !errors.Is(err, ErrNewerFormat) || !strings.Contains(err.Error(), "format 3") {
		t.Fatalf("format 3: %v", err)
	}
}

func TestSeqFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), SeqFile)
	if seq, err := LoadSeq(path); seq != 0 || err != nil {
		t.Fatalf("missing: %d %v", seq, err)
	}
	for _, s := range []uint64{1, 17, 1<<64 - 1, 5} {
		if err := SaveSeq(path, s); err != nil {
			t.Fatal(err)
		}
		if got, err := LoadSeq(path); got != s || err != nil {
			t.Fatalf("saved %d, loaded %d %v", s, got, err)
		}
	}
	b, _ := os.ReadFile(path)
	b[5] ^= 1
	os.WriteFile(path, b, 0o600)
	if _, err := LoadSeq(path); !errors.Is(err, ErrDamaged) {
		t.Fatalf("a changed digit: %v", err)
	}
}

// FuzzState feeds arbitrary bytes as alarms.json: loading never panics, fails only with ErrDamaged or
// ErrNewerFormat, and what loads can be restored into an engine (or is refused by it with an error) and
// saved and loaded again unchanged.
func FuzzState(f *testing.F) {
	f.Add([]byte(`{"format":2,"gateway":"gw","seq":3,"alarms":[{"alarm":"warm/r1/temperature","rule":"warm","sensor":"r1","channel":"temperature","state":"active","seq":3,"since":"2026-11-25T01:02:03.456Z","time":"2026-11-25T01:02:03.456Z","shelved_until":"2026-11-25T05:00:00Z"}],"latched_cleared":["warm/r1/temperature"]}`))
	f.Add([]byte(`{"seq":1,"alarms":[{"alarm":"x","state":"cleared"},{"alarm":"x","state":"active"}]}`))
	f.Add([]byte(`{"format":9}`))
	f.Add([]byte(`{"format":2,"seq":18446744073709551615,"alarms":null,"normal":["a/b/c","../x"]}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		sv, err := Parse(b)
		if err != nil {
			if !errors.Is(err, ErrDamaged) && !errors.Is(err, ErrNewerFormat) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		threshold := 27.0
		e, err := rules.New([]rules.Rule{{ID: "warm", Match: &rules.Match{Channel: "temperature"}, Above: &threshold}},
			rules.Options{Gateway: "gw"})
		if err != nil {
			t.Fatal(err)
		}
		if err := e.Restore(sv.State); err == nil {
			e.Tick(now, nil)
		}
		path := filepath.Join(t.TempDir(), File)
		if err := Save(path, sv.Gateway, sv.State); err != nil {
			t.Fatalf("a loaded state cannot be saved: %v", err)
		}
		back, err := Load(path)
		if err != nil || back.State.Seq != sv.State.Seq || len(back.State.Alarms) != len(sv.State.Alarms) || back.Gateway != sv.Gateway {
			t.Fatalf("save and load changed it: %+v -> %+v (%v)", sv, back, err)
		}
	})
}

// FuzzSeq: alarms.seq is accepted only as written by SaveSeq.
func FuzzSeq(f *testing.F) {
	f.Add(encodeSeq(17))
	f.Add([]byte("00000000000000000017 00000000\n"))
	f.Add([]byte("99999999999999999999 00000000\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		seq, err := ParseSeq(b)
		if err == nil && string(encodeSeq(seq)) != string(b) {
			t.Fatalf("accepted %q as %d", b, seq)
		}
	})
}
