package modbus

import "time"

// What the external tests (package modbus_test) use from inside. They serve RTU through modbussim, which
// imports this package, so they cannot be part of it; they share the fake devices and helpers of
// helpers_test.go.

// FakeUnits is the hand-written request handler of helpers_test.go.
type FakeUnits = fakeUnits

var (
	NewFakeUnits = newFakeUnits
	NewTestBus   = newTestBus
	ReadAll      = readAll
	IntP         = intp
	F64P         = f64p
)

// SetClock makes a device's backoff read now instead of the wall clock.
func SetClock(d *Device, now func() time.Time) { d.now = now }
