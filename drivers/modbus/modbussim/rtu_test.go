package modbussim

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/rackwatch/rackwatch/agent/reading"
	"github.com/rackwatch/rackwatch/drivers/modbus"
)

func TestCRC16Vectors(t *testing.T) {
	for _, c := range []struct {
		in   string
		want uint16
	}{{"313233343536373839", 0x4B37}, {"01030000000a", 0xCDC5}, {"0207", 0x1241}} {
		b, _ := hex.DecodeString(c.in)
		if got := CRC16(b); got != c.want {
			t.Errorf("CRC16(%s) = %04x, want %04x", c.in, got, c.want)
		}
	}
	// Sent low byte first: the read-holding request above goes out as 01 03 00 00 00 0A C5 CD.
	got := AppendRTUFrame(nil, RTUFrame{Unit: 1, Function: 3, Data: []byte{0, 0, 0, 0x0A}})
	if want, _ := hex.DecodeString("01030000000ac5cd"); !bytes.Equal(got, want) {
		t.Errorf("frame % x, want % x", got, want)
	}
}

func TestParseRTURequest(t *testing.T) {
	frame, _ := hex.DecodeString("01030000000ac5cd")
	f, n, err := ParseRTURequest(append(frame, 0x01)) // a following byte is left for the next frame
	if err != nil || n != 8 || f.Unit != 1 || f.Function != 3 || !bytes.Equal(f.Data, []byte{0, 0, 0, 0x0A}) {
		t.Fatalf("got %+v, %d, %v", f, n, err)
	}
	if _, _, err := ParseRTURequest(frame[:5]); !errors.Is(err, ErrIncomplete) {
		t.Errorf("short: %v, want incomplete", err)
	}
	bad := append([]byte(nil), frame...)
	bad[7] ^= 0xFF
	if _, _, err := ParseRTURequest(bad); !errors.Is(err, ErrFrameCRC) {
		t.Errorf("corrupt: %v, want CRC mismatch", err)
	}
	if _, _, err := ParseRTURequest([]byte{1, 0x2B, 0, 0}); !errors.Is(err, ErrUnknownFunction) {
		t.Errorf("fc 0x2b: %v, want unknown function", err)
	}
	wr := AppendRTUFrame(nil, RTUFrame{Unit: 9, Function: 0x10, Data: []byte{0, 1, 0, 2, 4, 1, 2, 3, 4}})
	if f, n, err := ParseRTURequest(wr); err != nil || n != len(wr) || f.Unit != 9 {
		t.Errorf("write multiple: %+v, %d, %v", f, n, err)
	}
}

// FuzzParseRTURequest: any bytes either parse into a frame that re-encodes to the same bytes, or fail
// without consuming anything; never a panic or an out-of-range slice.
func FuzzParseRTURequest(f *testing.F) {
	for _, s := range []string{"01030000000ac5cd", "0104100000119c0e", "0f01", "", "01100001000204010203040000"} {
		b, _ := hex.DecodeString(s)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, n, err := ParseRTURequest(b)
		if err != nil {
			if n != 0 {
				t.Fatalf("error %v but consumed %d", err, n)
			}
			return
		}
		if n > len(b) || n > maxRTUFrame+2 {
			t.Fatalf("consumed %d of %d", n, len(b))
		}
		if again := AppendRTUFrame(nil, fr); !bytes.Equal(again, b[:n]) {
			t.Fatalf("re-encoded % x, parsed from % x", again, b[:n])
		}
	})
}

// The RTU server drops noise and garbled frames and answers the next good request.
func TestRTUServerResynchronises(t *testing.T) {
	dev, err := NewSim([]modbus.RegSpec{{Channel: "v", Table: "holding", Address: new(int)}},
		func(reading.Channel) (float64, bool) { return 77, true })
	if err != nil {
		t.Fatal(err)
	}
	srv := &RTUServer{Handler: dev}
	req := AppendRTUFrame(nil, RTUFrame{Unit: 1, Function: 3, Data: []byte{0, 0, 0, 1}})
	broken := append([]byte(nil), req...)
	broken[3] ^= 1
	in := append(append([]byte{0xFF, 0x00, 0x2B}, broken...), req...)
	var out bytes.Buffer
	port := struct {
		io.Reader
		io.Writer
	}{bytes.NewReader(in), &out}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := srv.Serve(ctx, port); err == nil || !strings.Contains(err.Error(), "EOF") {
		t.Fatalf("Serve: %v, want EOF at the end of input", err)
	}
	want := AppendRTUFrame(nil, RTUFrame{Unit: 1, Function: 3, Data: []byte{2, 0, 77}})
	if !bytes.Equal(out.Bytes(), want) {
		t.Errorf("answered % x, want % x", out.Bytes(), want)
	}
	if g := srv.Garbled(); g["bad crc"] == 0 {
		t.Errorf("garbled counts %v, want bad crc counted", g)
	}
}

// Silent units, broadcasts and exceptions, frame by frame.
func TestRTUServerAnswers(t *testing.T) {
	dev, err := NewSim([]modbus.RegSpec{{Channel: "v", Table: "holding", Address: new(int)}},
		func(reading.Channel) (float64, bool) { return 5, true }, 1)
	if err != nil {
		t.Fatal(err)
	}
	srv := &RTUServer{Handler: dev}
	for _, c := range []struct {
		name string
		req  RTUFrame
		want []byte // nil: no answer
	}{
		{"answered", RTUFrame{Unit: 1, Function: 3, Data: []byte{0, 0, 0, 1}}, AppendRTUFrame(nil, RTUFrame{Unit: 1, Function: 3, Data: []byte{2, 0, 5}})},
		{"unmapped address", RTUFrame{Unit: 1, Function: 4, Data: []byte{0, 9, 0, 1}}, AppendRTUFrame(nil, RTUFrame{Unit: 1, Function: 0x84, Data: []byte{2}})},
		{"too many registers", RTUFrame{Unit: 1, Function: 3, Data: []byte{0, 0, 0, 126}}, AppendRTUFrame(nil, RTUFrame{Unit: 1, Function: 0x83, Data: []byte{3}})},
		{"absent unit", RTUFrame{Unit: 2, Function: 3, Data: []byte{0, 0, 0, 1}}, nil},
		{"broadcast", RTUFrame{Unit: 0, Function: 3, Data: []byte{0, 0, 0, 1}}, nil},
	} {
		var out bytes.Buffer
		port := struct {
			io.Reader
			io.Writer
		}{bytes.NewReader(AppendRTUFrame(nil, c.req)), &out}
		_ = srv.Serve(context.Background(), port)
		if !bytes.Equal(out.Bytes(), c.want) {
			t.Errorf("%s: answered % x, want % x", c.name, out.Bytes(), c.want)
		}
	}
}

// frameWriter keeps each Write as one frame.
type frameWriter struct{ frames [][]byte }

func (w *frameWriter) Write(b []byte) (int, error) {
	w.frames = append(w.frames, append([]byte(nil), b...))
	return len(b), nil
}

// FuzzRTUServer: whatever bytes arrive on the line, the server neither panics nor answers a broadcast,
// and everything it writes is a whole frame with a good CRC, to a unit that answers.
func FuzzRTUServer(f *testing.F) {
	for _, s := range []string{"01030000000ac5cd", "ff002b01030000000ac5cd", "0106000000010000", "0010000100020401020304", ""} {
		b, _ := hex.DecodeString(s)
		f.Add(b)
	}
	dev, err := NewSim([]modbus.RegSpec{
		{Channel: "v", Table: "holding", Address: new(int)},
		{Channel: "c", Table: "coil", Address: new(int)},
	}, func(reading.Channel) (float64, bool) { return 1, true }, 1, 2)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var out frameWriter
		port := struct {
			io.Reader
			io.Writer
		}{bytes.NewReader(in), &out}
		_ = (&RTUServer{Handler: dev}).Serve(context.Background(), port)
		for _, fr := range out.frames {
			if len(fr) < 5 || CRC16(fr[:len(fr)-2]) != uint16(fr[len(fr)-2])|uint16(fr[len(fr)-1])<<8 {
				t.Fatalf("wrote a broken frame % x", fr)
			}
			if fr[0] != 1 && fr[0] != 2 {
				t.Fatalf("answered unit %d, which does not answer (or is the broadcast address): % x", fr[0], fr)
			}
		}
	})
}
