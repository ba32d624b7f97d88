package snmp

import (
	"context"
	"encoding/binary"
	"errors"
	"log/slog"
	"math"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gosnmp/gosnmp"
)

// fuzzTypes are the value types an agent may answer with, sensible or not.
var fuzzTypes = []gosnmp.Asn1BER{gosnmp.Integer, gosnmp.Gauge32, gosnmp.Counter32, gosnmp.Counter64, gosnmp.TimeTicks,
	gosnmp.Uinteger32, gosnmp.OctetString, gosnmp.Null, gosnmp.ObjectIdentifier, gosnmp.IPAddress, gosnmp.NoSuchObject,
	gosnmp.NoSuchInstance, gosnmp.EndOfMibView, gosnmp.OpaqueFloat, gosnmp.OpaqueDouble}

// fuzzResponder answers every request with a response built from the fuzz input: per object a type and
// a value (or a wrong name, or a missing object), alarm rows for the alarm table, an error status; then
// it may change bytes of the encoded message. The request id is the request's, so that the driver reads
// the answer instead of waiting for its timeout (unless the changed bytes hit it).
type fuzzResponder struct {
	conn *net.UDPConn
	data []byte
}

func (r *fuzzResponder) byteAt(i int) byte {
	if len(r.data) == 0 {
		return 0
	}
	return r.data[i%len(r.data)]
}

func (r *fuzzResponder) value(typ gosnmp.Asn1BER, i int) any {
	raw := uint64(0)
	for k := 0; k < 8; k++ {
		raw = raw<<8 | uint64(r.byteAt(i*8+k+3))
	}
	switch typ {
	case gosnmp.Integer:
		return int(int32(raw))
	case gosnmp.Gauge32, gosnmp.Counter32, gosnmp.TimeTicks, gosnmp.Uinteger32:
		return uint32(raw)
	case gosnmp.Counter64:
		return raw
	case gosnmp.OctetString:
		return []byte(strings.Repeat("x", int(raw%40)))
	case gosnmp.ObjectIdentifier:
		return oidWellKnownAlarms + "." + string(rune('0'+raw%10))
	case gosnmp.IPAddress:
		return "10.0.0.1"
	case gosnmp.OpaqueFloat:
		return math.Float32frombits(uint32(raw))
	case gosnmp.OpaqueDouble:
		return math.Float64frombits(raw)
	}
	return nil
}

func (r *fuzzResponder) serve() {
	dec := &gosnmp.GoSNMP{Version: gosnmp.Version2c, Logger: gosnmp.NewLogger(nil)}
	buf := make([]byte, 65536)
	for {
		n, from, err := r.conn.ReadFromUDP(buf)
		if err != nil {
			return
		}
		req, err := dec.SnmpDecodePacket(buf[:n])
		if err != nil {
			continue
		}
		resp := &gosnmp.SnmpPacket{Version: gosnmp.Version2c, Community: req.Community, PDUType: gosnmp.GetResponse,
			RequestID: req.RequestID, Logger: gosnmp.NewLogger(nil), Error: gosnmp.SNMPError(r.byteAt(0) % 20 / 16)}
		if req.PDUType == gosnmp.GetRequest {
			for i, v := range req.Variables {
				if r.byteAt(i+1)%23 == 0 {
					continue // an object left out
				}
				typ := fuzzTypes[int(r.byteAt(i+2))%len(fuzzTypes)]
				name := v.Name
				if r.byteAt(i+1)%29 == 0 {
					name = oidBatteryTemp // the answer for another object
				}
				resp.Variables = append(resp.Variables, gosnmp.SnmpPDU{Name: name, Type: typ, Value: r.value(typ, i)})
			}
		} else { // the alarm table's walk: a few rows, then the end
			rows := int(r.byteAt(1) % 4)
			for i := 0; i < rows; i++ {
				typ := fuzzTypes[int(r.byteAt(i+5))%len(fuzzTypes)]
				resp.Variables = append(resp.Variables, gosnmp.SnmpPDU{Name: req.Variables[0].Name + "." + string(rune('1'+i)), Type: typ, Value: r.value(typ, i)})
			}
			resp.Variables = append(resp.Variables, gosnmp.SnmpPDU{Name: oidWellKnownAlarms, Type: gosnmp.EndOfMibView})
		}
		out, err := resp.MarshalMsg()
		if err != nil {
			continue
		}
		// Damage: xor the input's tail into the message from an offset it picks.
		if len(r.data) > 2 && r.data[len(r.data)-1]&1 == 1 {
			off := int(binary.BigEndian.Uint16(r.data[len(r.data)-3:])) % len(out)
			for i, b := range r.data[:len(r.data)-3] {
				if off+i < len(out) {
					out[off+i] ^= b
				}
			}
		}
		r.conn.WriteToUDP(out, from)
	}
}

// FuzzResponses polls a UPS whose SNMP agent answers with arbitrary types, values, names, error statuses
// and damaged messages. The driver must not panic or hang, and what it reports is either an error or one
// sample per channel, each a finite value or an error.
func FuzzResponses(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0, 1, 0, 0, 0, 0, 0, 0, 42})
	f.Add([]byte{3, 2, 5, 9, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0})
	f.Add([]byte{0, 3, 13, 14, 0x7f, 0xf0, 0, 0, 0, 0, 0, 0, 0}) // float and double values
	f.Add([]byte{0, 23, 29, 1, 2, 3, 0, 20, 1})                  // objects left out and misnamed, damage
	f.Add([]byte{16, 1, 1})                                      // an error status
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		r := &fuzzResponder{conn: c, data: data}
		go r.serve()
		t.Setenv("FUZZ_COMMUNITY", "public")
		d, err := New(&Options{Address: c.LocalAddr().String(), Version: "2c", CommunityEnv: "FUZZ_COMMUNITY"}, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		for poll := 0; poll < 2; poll++ {
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			out, err := d.Read(ctx, nil)
			cancel()
			if err != nil {
				if len(out) != 0 {
					t.Fatalf("error %v with %d samples", err, len(out))
				}
				continue
			}
			if len(out) != 12 {
				t.Fatalf("%d samples, want one per channel (12)", len(out))
			}
			for _, s := range out {
				if s.Err == nil && (math.IsNaN(s.Value) || math.IsInf(s.Value, 0)) {
					t.Fatalf("%s: a good sample of %v", s.Channel, s.Value)
				}
				if s.Err != nil && errors.Is(s.Err, context.Canceled) {
					t.Fatalf("%s: %v", s.Channel, s.Err)
				}
			}
		}
	})
}

// The fuzz responder's answers can be good ones: the fuzz target does reach the driver's decoding.
func TestFuzzResponderAnswers(t *testing.T) {
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	go (&fuzzResponder{conn: c, data: []byte{1}}).serve()
	t.Setenv("FUZZ_COMMUNITY", "public")
	d, err := New(&Options{Address: c.LocalAddr().String(), Version: "2c", CommunityEnv: "FUZZ_COMMUNITY"}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := d.Read(ctx, nil)
	if err != nil || len(out) != 12 {
		t.Fatalf("%d samples, %v", len(out), err)
	}
}
