package store

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rackwatch/rackwatch/agent/contract"
	"github.com/rackwatch/rackwatch/agent/rules"
)

func TestStateFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, File)
	st, err := Load(path)
	if err != nil || st.Seq != 0 || len(st.Alarms) != 0 {
		t.Fatalf("missing file: %+v %v", st, err)
	}
	now := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	want := rules.State{Seq: 1, Alarms: []contract.Alarm{{Key: "warm/r1.inlet/temperature", Rule: "warm", Sensor: "r1.inlet",
		Channel: "temperature", State: contract.Active, Since: now, Time: now, Seq: 1}}}
	if err := Save(path, want); err != nil {
		t.Fatal(err)
	}
	// Overwrite: no temporary file is left behind.
	if err := Save(path, want); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Fatalf("files left: %v", ents)
	}
	st, err = Load(path)
	if err != nil || st.Seq != 1 || len(st.Alarms) != 1 || st.Alarms[0].Key != "warm/r1.inlet/temperature" {
		t.Fatalf("%+v %v", st, err)
	}
	if err := os.WriteFile(path, []byte(`{"seq":1,"alarms":[`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path); err == nil {
		t.Fatal("a torn state file must be an error, not an empty state")
	}
	if err := Save(filepath.Join(dir, "missing", "x.json"), rules.State{}); err == nil {
		t.Fatal("saving into a missing directory must fail")
	}
}
