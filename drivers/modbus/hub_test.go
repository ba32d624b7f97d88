package modbus

import (
	"context"
	"testing"

	"github.com/rackwatch/rackwatch/agent/config/configtest"
	"github.com/rackwatch/rackwatch/agent/driver"
)

// The sensors of a bus and the outputs that write on it share one Bus (one owner of an RS-485 line, one
// mutex between a poll and a write); a bus whose settings changed is a new Bus.
func TestSensorsAndOutputsShareTheBus(t *testing.T) {
	reg := driver.NewRegistry()
	Register(reg)
	cfg := configtest.Parse(t, "buses: [{id: rs485, type: modbus-rtu, device: /dev/ttyUSB0}]\noutputs:\n  - {id: fan, type: modbus, bus: rs485, table: coil, address: 1}\n")
	db := cfg.BusByID("rs485").DriverBus(cfg.File)
	v, err := reg.Bus(BusRTU).Open(context.Background(), db, nil)
	if err != nil {
		t.Fatal(err)
	}
	a, err := reg.OutputType(OutputName).Open(context.Background(), driver.OutputEnv{Output: cfg.Outputs[0].DriverOutput(cfg.File), Bus: db})
	if err != nil {
		t.Fatal(err)
	}
	ob, _ := a.(*Output).bus()
	if ob != v.(*Bus) {
		t.Error("the output writes through another Bus than the sensors read")
	}
	cfg2 := configtest.Parse(t, "buses: [{id: rs485, type: modbus-rtu, device: /dev/ttyUSB0, baud: 9600}]\n")
	v2, _ := reg.Bus(BusRTU).Open(context.Background(), cfg2.BusByID("rs485").DriverBus(cfg2.File), nil)
	if v2.(*Bus) == v.(*Bus) {
		t.Error("changed settings kept the old Bus")
	}
}
