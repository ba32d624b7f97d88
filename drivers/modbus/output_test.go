package modbus_test

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	mb "github.com/simonvetter/modbus"

	"github.com/rackwatch/rackwatch/agent/config/configtest"
	"github.com/rackwatch/rackwatch/agent/driver"
	"github.com/rackwatch/rackwatch/agent/reading"
	"github.com/rackwatch/rackwatch/drivers/modbus"
	"github.com/rackwatch/rackwatch/drivers/modbus/modbussim"
)

// bms is a simulated BMS whose register map has its charge enable coil (the bms profile's "charging",
// 0x1201) and a fan register, served over Modbus TCP by the library's server.
func bms(t *testing.T, h mb.RequestHandler) string {
	t.Helper()
	for try := 0; ; try++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		srv, err := mb.NewServer(&mb.ServerConfiguration{URL: "tcp://" + addr, MaxClients: 4}, h)
		if err == nil {
			err = srv.Start()
		}
		if err != nil {
			if try < 5 {
				continue
			}
			t.Fatal(err)
		}
		t.Cleanup(func() { srv.Stop() })
		return addr
	}
}

func newBMS(t *testing.T) *modbussim.Sim {
	t.Helper()
	dev, err := modbussim.NewSim([]modbus.RegSpec{
		{Channel: "charging", Table: "coil", Address: modbus.IntP(0x1201)},
		{Channel: "fan", Table: "holding", Address: modbus.IntP(40), Type: "uint16"},
	}, func(ch reading.Channel) (float64, bool) { return 1, ch == "charging" })
	if err != nil {
		t.Fatal(err)
	}
	return dev
}

// openOutput opens a modbus output from a registry, as the agent does: the bus comes from the config.
func openOutput(t *testing.T, reg *driver.Registry, addr, yaml string) driver.Actuator {
	t.Helper()
	cfg := configtest.Parse(t, "buses: [{id: bms, type: modbus-tcp, address: \""+addr+"\", timeout: 5s}]\noutputs:\n  - "+yaml+"\n")
	o := cfg.Outputs[0].DriverOutput(cfg.File)
	ty := reg.OutputType("modbus")
	if _, err := ty.Check(o); err != nil {
		t.Fatal(err)
	}
	a, err := ty.Open(context.Background(), driver.OutputEnv{Output: o, Bus: cfg.BusByID("bms").DriverBus(cfg.File)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

func registry() *driver.Registry {
	r := driver.NewRegistry()
	modbus.Register(r)
	return r
}

// TestStopChargeWrittenAndReadBack: the write is seen by a real Modbus server (simonvetter's), and the
// output reads it back before it reports success.
func TestStopChargeWrittenAndReadBack(t *testing.T) {
	dev := newBMS(t)
	var mu sync.Mutex
	var writes []modbussim.Write
	dev.AcceptWrites(func(w modbussim.Write) { mu.Lock(); writes = append(writes, w); mu.Unlock() })
	addr := bms(t, dev)
	a := openOutput(t, registry(), addr, "{id: stop-charge, type: modbus, bus: bms, unit_id: 1, table: coil, address: 0x1201, on: 0, off: 1}")
	if v, ok := dev.Written(1, modbus.Coil, 0x1201); ok {
		t.Fatalf("opening wrote %d: a restart must not touch the device", v)
	}
	detail, err := a.Set(context.Background(), true, driver.Cause{})
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := dev.Written(1, modbus.Coil, 0x1201); !ok || v != 0 {
		t.Errorf("the BMS saw %d %v, want the charge enable coil written 0", v, ok)
	}
	if want := "coil 4609 (0x1201) on unit 1 of bus bms = 0, read back 0"; detail != want {
		t.Errorf("detail %q, want %q", detail, want)
	}
	if _, err := a.Set(context.Background(), false, driver.Cause{}); err != nil {
		t.Fatal(err)
	}
	if v, _ := dev.Written(1, modbus.Coil, 0x1201); v != 1 {
		t.Errorf("off wrote %d", v)
	}
	mu.Lock()
	if len(writes) != 2 || writes[0].Table != modbus.Coil || writes[0].Value != 0 || writes[1].Value != 1 {
		t.Errorf("writes %+v", writes)
	}
	mu.Unlock()

	fan := openOutput(t, registry(), addr, "{id: vent-fan, type: modbus, bus: bms, table: holding, address: 40, on: -2, off: 0}")
	if d, err := fan.Set(context.Background(), true, driver.Cause{}); err != nil || !strings.Contains(d, "= 65534, read back 65534") {
		t.Errorf("register: %q %v", d, err)
	}
}

// ignoresWrites answers writes with success but keeps its own values: a device that overrides the
// command (a BMS in a protection state that re-enables charging, a fan controller in manual mode).
type ignoresWrites struct{ *modbussim.Sim }

func (d ignoresWrites) HandleCoils(req *mb.CoilsRequest) ([]bool, error) {
	if req.IsWrite {
		return nil, nil
	}
	return d.Sim.HandleCoils(req)
}

func TestReadBackCatchesAnOverride(t *testing.T) {
	dev := newBMS(t)
	addr := bms(t, ignoresWrites{dev})
	a := openOutput(t, registry(), addr, "{id: stop-charge, type: modbus, bus: bms, table: coil, address: 0x1201, on: 0, off: 1}")
	detail, err := a.Set(context.Background(), true, driver.Cause{})
	if err == nil || !strings.Contains(err.Error(), "wrote 0 to coil 4609 (0x1201) on unit 1 of bus bms but it reads 1") || !strings.Contains(detail, "read back 1") {
		t.Errorf("%q %v", detail, err)
	}
	// verify: false trusts the write.
	a = openOutput(t, registry(), addr, "{id: stop-charge, type: modbus, bus: bms, table: coil, address: 0x1201, on: 0, off: 1, verify: false}")
	if d, err := a.Set(context.Background(), true, driver.Cause{}); err != nil || !strings.Contains(d, "not read back") {
		t.Errorf("%q %v", d, err)
	}
}

func TestAReadOnlyDeviceRefusesTheWrite(t *testing.T) {
	addr := bms(t, newBMS(t)) // writes not accepted: illegal function
	a := openOutput(t, registry(), addr, "{id: stop-charge, type: modbus, bus: bms, table: coil, address: 0x1201, on: 0, off: 1}")
	if _, err := a.Set(context.Background(), true, driver.Cause{}); err == nil || !strings.Contains(err.Error(), "illegal function") {
		t.Errorf("%v", err)
	}
}

// TestCoilWriteOverRTU: the RTU simulator takes coil writes (FC 05) too.
func TestCoilWriteOverRTU(t *testing.T) {
	dev := newBMS(t)
	dev.AcceptWrites(nil)
	line := startRTU(t, &modbussim.RTUServer{Handler: dev})
	b := rtuBus(t, line.path, 5*time.Second)
	if err := b.WriteCoil(1, 0x1201, false); err != nil {
		t.Fatal(err)
	}
	bits, err := b.ReadBits(1, modbus.Coil, 0x1201, 1)
	if err != nil || bits[0] {
		t.Errorf("read back %v %v", bits, err)
	}
	if v, ok := dev.Written(1, modbus.Coil, 0x1201); !ok || v != 0 {
		t.Errorf("written %d %v", v, ok)
	}
}

func TestOutputOptionsErrors(t *testing.T) {
	ty := registry().OutputType("modbus")
	for _, c := range []struct{ yaml, want string }{
		{"{id: x, type: modbus, bus: b}", "table is required"},
		{"{id: x, type: modbus, bus: b, table: input, address: 1}", `table "input" cannot be written`},
		{"{id: x, type: modbus, bus: b, table: coil}", "address is required"},
		{"{id: x, type: modbus, bus: b, table: coil, address: 70000}", "outside 0..65535"},
		{"{id: x, type: modbus, bus: b, table: coil, address: 1, on: 2}", "a coil is written 0 or 1"},
		{"{id: x, type: modbus, bus: b, table: holding, address: 1, on: 1.5}", "a whole number"},
		{"{id: x, type: modbus, bus: b, table: holding, address: 1, on: 70000}", "-32768..65535"},
		{"{id: x, type: modbus, bus: b, table: holding, address: 1, on: 3, off: 3}", "the same value"},
		{"{id: x, type: modbus, bus: b, table: coil, address: 1, unit_id: 300}", "outside 0..255"},
		{"{id: x, type: modbus, bus: b, table: coil, address: 1, register: 2}", `unknown key "register"`},
	} {
		o, _ := configtest.Output(t, c.yaml)
		_, err := ty.Check(o)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "test.yaml:5") {
			t.Errorf("%s: %v, want %q at test.yaml:5", c.yaml, err, c.want)
		}
	}
	o, _ := configtest.Output(t, "{id: stop-charge, type: modbus, bus: bms, table: coil, address: 0x1201, on: 0, off: 1}")
	if info, err := ty.Check(o); err != nil || info.Describe != "coil 4609 (0x1201) on unit 1 of bus bms: on writes 0, off writes 1" {
		t.Errorf("%q %v", info.Describe, err)
	}
}
