package modbus

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"
)

// fuzzTCPUnit answers every Modbus TCP request with the fuzz input as its PDU: a function code, a byte
// count and data, or anything else. The MBAP header carries the request's transaction id (unless the
// input's first byte says otherwise), so the client reads the answer instead of waiting for its timeout.
func fuzzTCPUnit(t *testing.T, pdu []byte, flags byte) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				hdr := make([]byte, 7)
				for {
					if _, err := io.ReadFull(c, hdr); err != nil {
						return
					}
					n := int(binary.BigEndian.Uint16(hdr[4:]))
					if n < 1 || n > 260 {
						return
					}
					if _, err := io.CopyN(io.Discard, c, int64(n-1)); err != nil {
						return
					}
					resp := make([]byte, 7, 7+len(pdu))
					copy(resp, hdr[:4])
					if flags&1 != 0 {
						resp[1] ^= 0x5a // another transaction's answer
					}
					length := len(pdu) + 1
					if flags&2 != 0 {
						length = int(flags) // a length field that lies
					}
					binary.BigEndian.PutUint16(resp[4:], uint16(length))
					resp[6] = hdr[6]
					if flags&4 != 0 {
						resp[6]++ // another unit's answer
					}
					resp = append(resp, pdu...)
					if _, err := c.Write(resp); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// FuzzTCPResponses reads a device whose answers are arbitrary bytes: wrong function codes, exception
// codes, byte counts that do not match, too few or too many registers, lying lengths, other transactions
// and units. The driver must not panic or hang, and must report either an error or one sample per
// register-map entry, each a value or an error.
func FuzzTCPResponses(f *testing.F) {
	f.Add([]byte{0x03, 0x0a, 0, 1, 0, 2, 0, 3, 0x7f, 0xc0, 0, 0}, byte(0))  // holding registers, a float32 NaN
	f.Add([]byte{0x03, 0x04, 0, 1, 0, 2}, byte(0))                          // fewer registers than asked
	f.Add([]byte{0x83, 0x02}, byte(0))                                      // exception: illegal data address
	f.Add([]byte{0x83, 0x0b}, byte(0))                                      // exception: gateway target failed
	f.Add([]byte{0x01, 0x01, 0xff}, byte(0))                                // coils for a register request
	f.Add([]byte{0x03, 0xff, 0, 1}, byte(0))                                // byte count beyond the data
	f.Add([]byte{0x03, 0x0a, 0, 1, 0, 2, 0, 3, 0, 4, 0, 5}, byte(1))        // another transaction
	f.Add([]byte{0x03, 0x0a, 0, 1, 0, 2, 0, 3, 0, 4, 0, 5}, byte(2|4|0x30)) // lying length, another unit
	f.Add([]byte{}, byte(0))
	f.Fuzz(func(t *testing.T, pdu []byte, flags byte) {
		if len(pdu) > 300 {
			return
		}
		addr := fuzzTCPUnit(t, pdu, flags)
		bus, err := NewBus(BusConfig{TCP: true, Address: addr, Timeout: 200 * time.Millisecond}, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer bus.Close()
		specs := []RegSpec{
			{Channel: "a", Table: "holding", Address: intp(0)},
			{Channel: "b", Table: "holding", Address: intp(1), Type: "int32", WordOrder: "cdab"},
			{Channel: "c", Table: "holding", Address: intp(3), Type: "float32"},
			{Channel: "d", Table: "coil", Address: intp(0)},
		}
		dev, err := NewDevice(bus, DeviceConfig{Unit: 1, Registers: specs}, nil)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		out, err := dev.Read(ctx, nil)
		if err != nil {
			return
		}
		if len(out) != len(specs) {
			t.Fatalf("%d samples for %d registers", len(out), len(specs))
		}
		for i, s := range out {
			if string(s.Channel) != specs[i].Channel {
				t.Fatalf("sample %d is %s, want %s", i, s.Channel, specs[i].Channel)
			}
		}
	})
}
