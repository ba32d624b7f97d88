//go:build !nosim

package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/rackwatch/rackwatch/agent"
	"github.com/rackwatch/rackwatch/agent/reading"
	"github.com/rackwatch/rackwatch/agent/schedule"
	"github.com/rackwatch/rackwatch/drivers/modbus"
	"github.com/rackwatch/rackwatch/drivers/modbus/modbussim"
)

// startSimModbus runs `rackwatch sim modbus ARGS` and returns the address or device path it prints.
func startSimModbus(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	var stderr bytes.Buffer
	go func() { done <- simModbus(ctx, args, pw, &stderr); pw.Close() }()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("sim modbus exited %d: %s", code, stderr.String())
		}
	})
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatalf("sim modbus printed nothing: %v", err)
	}
	go io.Copy(io.Discard, pr)
	return strings.TrimSpace(line)
}

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func runRead(t *testing.T, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out, errb bytes.Buffer
	code := modbusRead(ctx, args, &out, &errb)
	return out.String() + errb.String(), code
}

// The installer's loop: a simulated UPS over TCP, read from the command line with the profile's scaling.
func TestSimModbusTCPAndRead(t *testing.T) {
	addr := startSimModbus(t, "--listen", freeAddr(t), "--profile", "ups", "--set", "input_voltage=231.4,runtime=1234")
	bus := "tcp://" + addr + "?timeout=5s" // generous: a slow answer on a busy machine is not a failure
	out, code := runRead(t, "--bus", bus, "--unit", "1", "--table", "holding", "--address", "11000", "--scale", "0.1")
	if code != 0 || !strings.Contains(out, "holding 11000\tuint16 abcd\t231.4\traw 0x090a") {
		t.Errorf("input voltage: exit %d\n%s", code, out)
	}
	out, code = runRead(t, "--bus", bus, "--table", "holding", "--address", "12004", "--type", "uint32")
	if code != 0 || !strings.Contains(out, "\t1234\traw 0x000004d2") {
		t.Errorf("runtime: exit %d\n%s", code, out)
	}
	// An address the profile does not map is the device's exception, exit 1.
	out, code = runRead(t, "--bus", bus, "--table", "input", "--address", "5")
	if code != 1 || !strings.Contains(out, "illegal data address") {
		t.Errorf("unmapped address: exit %d\n%s", code, out)
	}
}

// The same over RTU on a pseudo-terminal, with a unit that is not there timing out.
func TestSimModbusRTUAndRead(t *testing.T) {
	path := startSimModbus(t, "--rtu", "pty", "--profile", "bms", "--units", "3", "--set", "charge=87.5")
	out, code := runRead(t, "--bus", "rtu://"+path+"?baud=19200&parity=even&timeout=5s", "--unit", "3", "--table", "input", "--address", "4101", "--scale", "0.1")
	if code != 0 || !strings.Contains(out, "\t87.5\t") {
		t.Errorf("charge: exit %d\n%s", code, out)
	}
	// An absent unit never answers, however long the bus waits: a short timeout will do.
	out, code = runRead(t, "--bus", "rtu://"+path+"?timeout=100ms", "--unit", "4", "--table", "input", "--address", "4101")
	if code != 1 || !strings.Contains(out, "timed out") {
		t.Errorf("absent unit: exit %d\n%s", code, out)
	}
}

func TestModbusReadUsage(t *testing.T) {
	for _, args := range [][]string{
		{"--table", "input"},                              // no bus
		{"--bus", "tcp://127.0.0.1:1", "--type", "float"}, // unknown type
		{"--bus", "serial:///dev/ttyUSB0"},                // unknown scheme
		{"--bus", "rtu:///dev/ttyUSB0?baud=9601"},         // unsupported speed
	} {
		if out, code := runRead(t, args...); code != 2 {
			t.Errorf("%v: exit %d, want 2 (usage)\n%s", args, code, out)
		}
	}
}

// -c CONFIG --bus ID reads through a bus as configured, with the config's settings.
func TestModbusReadConfiguredBus(t *testing.T) {
	addr := startSimModbus(t, "--listen", freeAddr(t), "--profile", "ups", "--set", "charge=64")
	cfg := t.TempDir() + "/rackwatch.yaml"
	os.WriteFile(cfg, []byte("gateway: {id: gw}\nmqtt: {embedded_broker: 127.0.0.1:1883}\nbuses:\n  - {id: lan, type: modbus-tcp, address: "+addr+", timeout: 5s}\n"), 0o644)
	out, code := runRead(t, "-c", cfg, "--bus", "lan", "--table", "holding", "--address", "12003")
	if code != 0 || !strings.Contains(out, "\t64\t") {
		t.Errorf("exit %d\n%s", code, out)
	}
	if out, code := runRead(t, "-c", cfg, "--bus", "nosuch"); code != 2 || !strings.Contains(out, `no bus "nosuch"`) {
		t.Errorf("unknown bus id: exit %d\n%s", code, out)
	}
}

// The agent's own scheduler polls two units on one RS-485 line, one of which never answers: the live
// unit's readings keep coming, good, while the dead unit's are all bad and, thanks to its backoff, cost
// the line far fewer requests than it has polls. A dead unit that stalled the line would show up here as
// bad readings of the live one ("bus busy", or timeouts), poll after poll.
//
// This runs on the wall clock, so a busy machine can make a live answer miss its timeout now and then;
// the test counts over a window of polls and allows for that, rather than timing any single one.
func TestSchedulerDeadUnitOnSharedRTULine(t *testing.T) {
	specs := []modbus.RegSpec{
		{Channel: "input_voltage", Table: "holding", Address: new(int), Scale: new(float64)},
		{Channel: "on_battery", Table: "coil", Address: new(int)},
	}
	*specs[0].Scale = 0.1
	dev, err := modbussim.NewSim(specs, func(ch reading.Channel) (float64, bool) {
		return map[reading.Channel]float64{reading.InputVoltage: 229.5, reading.OnBattery: 1}[ch], true
	}, 1)
	if err != nil {
		t.Fatal(err)
	}
	master, slave, err := modbussim.OpenPTY()
	if err != nil {
		t.Skipf("no pty: %v", err)
	}
	defer slave.Close()
	defer master.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	served := make(chan struct{})
	go func() { defer close(served); (&modbussim.RTUServer{Handler: dev}).Serve(ctx, master) }()
	defer func() { cancel(); <-served }()

	// The bus timeout is what a dead unit costs per attempt, and half the poll interval, so that even a
	// dead unit's attempt leaves the line free in time for the next poll.
	cfgPath := t.TempDir() + "/rackwatch.yaml"
	os.WriteFile(cfgPath, []byte(`gateway: {id: gw}
mqtt: {embedded_broker: 127.0.0.1:1883}
buses:
  - {id: rs485, type: modbus-rtu, device: `+slave.Name()+`, baud: 19200, timeout: 250ms}
sensors:
  - {id: live, driver: modbus, bus: rs485, unit_id: 1, every: 500ms, registers: &map [{channel: input_voltage, table: holding, address: 0, scale: 0.1}, {channel: on_battery, table: coil, address: 0}]}
  - {id: dead, driver: modbus, bus: rs485, unit_id: 2, every: 500ms, registers: *map}
`), 0o644)
	plan, err := agent.LoadAndCheck(cfgPath, registry())
	if err != nil {
		t.Fatal(err)
	}
	sched := schedule.New(plan.Sensors, plan.Buses, plan.Channels, registry(), slog.New(slog.DiscardHandler))
	out := make(chan reading.Reading, 64)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); sched.Run(runCtx, out) }()
	defer func() { stop(); <-done }()

	const polls = 12 // of the live unit
	liveGood, liveBad, deadBad := 0, 0, 0
	deadline := time.After(2 * time.Minute) // failure timeout only
	for liveGood+liveBad < polls {
		select {
		case r := <-out:
			switch {
			case r.Sensor == "live" && r.Quality != reading.Good:
				if r.Channel == reading.InputVoltage {
					liveBad++
					t.Logf("live unit: bad reading: %v", r.Err)
				}
			case r.Sensor == "live" && r.Channel == reading.InputVoltage:
				if r.Value != 229.5 {
					t.Fatalf("live unit input_voltage %v, want 229.5", r.Value)
				}
				liveGood++
			case r.Sensor == "dead" && r.Channel == reading.InputVoltage:
				if r.Quality != reading.Bad {
					t.Fatalf("dead unit gave a good reading")
				}
				deadBad++
			}
		case <-deadline:
			t.Fatalf("only %d live polls arrived", liveGood+liveBad)
		}
	}
	if liveGood < polls*2/3 {
		t.Errorf("live unit: %d good readings of %d; the dead unit stalls the line", liveGood, polls)
	}
	if deadBad < polls/2 {
		t.Errorf("dead unit: %d bad readings while the live one had %d polls; want about one per poll", deadBad, polls)
	}
	if n := dev.Requests(2); n > deadBad/2 {
		t.Errorf("dead unit was sent %d requests for %d polls: no backoff", n, deadBad)
	}
	t.Logf("live unit: %d good, %d bad; dead unit: %d bad readings, %d requests on the wire", liveGood, liveBad, deadBad, dev.Requests(2))
}
