package fwbridge

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rackwatch/rackwatch/agent/config/configtest"
	"github.com/rackwatch/rackwatch/agent/driver"
)

// TestOutputThroughTheSensorsLine runs the reference firmware's emulator and drives its sounder (channel
// 3, kind do) through a bridge output, exactly as the agent wires it: the registry's bridge driver opens
// the sensor's device, which owns the line, and the bridge output finds that device by the sensor's id.
func TestOutputThroughTheSensorsLine(t *testing.T) {
	bin := buildC(t, "emulator", "emulator.c", "rwproto.c")
	link := filepath.Join(t.TempDir(), "ttyACM0")
	e := startEmu(t, bin, link)

	reg := driver.NewRegistry()
	Register(reg)
	cfg := configtest.Parse(t, "sensors:\n  - {id: board1, driver: bridge, device: "+link+", heartbeat: 200ms, every: 1s}\n"+
		"outputs:\n  - {id: sounder, type: bridge, sensor: board1, channel: sounder, role: sounder}\n")
	dev, err := reg.Driver("bridge").Open(context.Background(), driver.Env{Sensor: cfg.Sensors[0].DriverSensor(cfg.File)})
	if err != nil {
		t.Fatal(err)
	}
	s := newSink()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- dev.(driver.Streamer).Run(ctx, s.emit) }()
	t.Cleanup(func() { cancel(); <-done })
	s.waitFor(t, "the board connected", value("link", 1))

	ty := reg.OutputType(OutputName)
	o := cfg.Outputs[0].DriverOutput(cfg.File)
	if info, err := ty.Check(o); err != nil || !strings.Contains(info.Describe, "channel sounder of the board on sensor board1") {
		t.Fatalf("%+v %v", info, err)
	}
	a, err := ty.Open(context.Background(), driver.OutputEnv{Output: o})
	if err != nil {
		t.Fatal(err)
	}
	sctx, scancel := context.WithTimeout(context.Background(), waitLimit)
	defer scancel()
	mark := e.mark()
	detail, err := a.Set(sctx, true, driver.Cause{})
	if err != nil {
		t.Fatal(err)
	}
	if ev := e.waitEventSince(mark, "out 3 "); ev != "out 3 1000" {
		t.Errorf("the emulator drove %q, want out 3 1000 (the sounder at 1)", ev)
	}
	if !strings.Contains(detail, "sounder = 1, acknowledged") {
		t.Errorf("detail %q", detail)
	}
	s.waitFor(t, "the board reporting the sounder on", value("sounder", 1))
	if _, err := a.Set(sctx, false, driver.Cause{}); err != nil {
		t.Fatal(err)
	}
	if ev := e.waitEventSince(mark, "out 3 "); ev != "out 3 0" {
		t.Errorf("off: the emulator drove %q", ev)
	}

	// An input cannot be driven: the board refuses before anything moves.
	o2, _ := configtest.Output(t, "{id: x, type: bridge, sensor: board1, channel: smoke}")
	a2, _ := ty.Open(context.Background(), driver.OutputEnv{Output: o2})
	if _, err := a2.Set(sctx, true, driver.Cause{}); err == nil || !strings.Contains(err.Error(), "not an output") {
		t.Errorf("driving an input: %v", err)
	}
	// The board unplugged: the output fails within its timeout rather than hanging.
	e.unplug()
	uctx, ucancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer ucancel()
	if _, err := a.Set(uctx, true, driver.Cause{}); err == nil {
		t.Error("an unplugged board's output reported success")
	}
}

func TestOutputOptions(t *testing.T) {
	ty := outputType(&boards{})
	o, _ := configtest.Output(t, "{id: x, type: bridge, sensor: board1}")
	if _, err := ty.Check(o); err == nil || !strings.Contains(err.Error(), "test.yaml:5: output \"x\": channel is required") {
		t.Errorf("%v", err)
	}
	o, _ = configtest.Output(t, "{id: x, type: bridge, channel: sounder}")
	if _, err := ty.Check(o); err == nil || !strings.Contains(err.Error(), "sensor is required") {
		t.Errorf("%v", err)
	}
	o, _ = configtest.Output(t, "{id: x, type: bridge, sensor: nope, channel: sounder}")
	a, _ := ty.Open(context.Background(), driver.OutputEnv{Output: o})
	if _, err := a.Set(context.Background(), true, driver.Cause{}); err == nil || !strings.Contains(err.Error(), "not open") {
		t.Errorf("%v", err)
	}
}
