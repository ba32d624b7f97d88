package bme280

import (
	"context"
	"testing"

	"github.com/rackwatch/rackwatch/agent/config/configtest"

	"periph.io/x/conn/v3/physic"

	"github.com/rackwatch/rackwatch/agent/driver"
)

// regBus answers every read with the register contents of a BME280 holding the datasheet example.
type regBus struct{ regs map[byte][]byte }

func (b *regBus) Tx(addr uint16, w, r []byte) error {
	if len(r) > 0 {
		copy(r, b.regs[w[0]])
	}
	return nil
}
func (b *regBus) SetSpeed(physic.Frequency) error { return nil }
func (b *regBus) String() string                  { return "reg" }

// BenchmarkRead measures one forced-mode read (including the 9.3 ms conversion wait) and its allocations.
func BenchmarkRead(b *testing.B) {
	c := exampleCal
	c.H1, c.H2, c.H3, c.H4, c.H5, c.H6 = humCal.H1, humCal.H2, humCal.H3, humCal.H4, humCal.H5, humCal.H6
	tp, h := calBytes(c)
	bus := &regBus{regs: map[byte][]byte{0xD0: {IDBME280}, 0x88: tp, 0xE1: h, 0xF3: {0}, 0xF7: exampleData(0x6E00)}}
	s := configtest.Sensor(b, "{id: r12.inlet, driver: bme280, bus: i2c1}")
	dev, err := open(true)(context.Background(), driver.Env{Sensor: s, Bus: bus})
	if err != nil {
		b.Fatal(err)
	}
	p := dev.(driver.Poller)
	out := make([]driver.Sample, 0, 8)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if out, err = p.Read(context.Background(), out[:0]); err != nil {
			b.Fatal(err)
		}
	}
}
