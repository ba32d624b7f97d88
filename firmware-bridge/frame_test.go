package fwbridge

import (
	"bytes"
	"errors"
	"testing"
)

func TestCRC16CheckValue(t *testing.T) {
	if got := CRC16([]byte("123456789")); got != 0x29B1 {
		t.Fatalf("CRC16(123456789) = %#04x, want 0x29B1 (CRC-16/CCITT-FALSE check value)", got)
	}
}

func TestParseFrameVectors(t *testing.T) {
	for _, v := range loadVectors(t) {
		f, n, err := ParseFrame(v.in)
		if n != v.consumed {
			t.Errorf("frames.txt:%d: consumed %d, want %d", v.line, n, v.consumed)
		}
		switch v.result {
		case "ok", "decode":
			if err != nil {
				t.Errorf("frames.txt:%d: %v", v.line, err)
				continue
			}
			if int(f.Seq) != v.seq || f.Type.String() != v.typ || string(f.Args) != v.args {
				t.Errorf("frames.txt:%d: got %d %s %q, want %d %s %q", v.line, f.Seq, f.Type, f.Args, v.seq, v.typ, v.args)
			}
		default:
			if !errors.Is(err, errCodes[v.result]) {
				t.Errorf("frames.txt:%d: error %v, want %s", v.line, err, v.result)
			}
			if v.seq >= 0 && int(f.Seq) != v.seq {
				t.Errorf("frames.txt:%d: seq %d, want %d", v.line, f.Seq, v.seq)
			}
		}
	}
}

func TestAppendFrameVectors(t *testing.T) {
	for _, v := range loadVectors(t) {
		if v.result != "ok" {
			continue
		}
		typ := lookupType([]byte(v.typ))
		got := AppendFrame([]byte("xy"), Frame{Seq: uint16(v.seq), Type: typ, Args: []byte(v.args)})
		if !bytes.Equal(got[2:], v.in) || string(got[:2]) != "xy" {
			t.Errorf("frames.txt:%d: encoded %q, want %q", v.line, got[2:], v.in)
		}
	}
}

func TestNextField(t *testing.T) {
	var got []string
	for f, rest, ok := NextField([]byte("0,23.5,,x")); ok; f, rest, ok = NextField(rest) {
		got = append(got, string(f))
	}
	if want := []string{"0", "23.5", "", "x"}; len(got) != len(want) || got[0] != "0" || got[1] != "23.5" || got[2] != "" || got[3] != "x" {
		t.Fatalf("fields %q, want %q", got, want)
	}
	if _, _, ok := NextField(nil); ok {
		t.Fatal("NextField(nil) reported a field")
	}
}

// FuzzParseFrame checks the parser's contract on any input: no panic, the consumed count is within the
// input and makes progress on every error but ErrShortFrame, and whatever decodes re-encodes to bytes that
// decode to the same frame.
func FuzzParseFrame(f *testing.F) {
	for _, v := range loadVectors(f) {
		f.Add(v.in)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, n, err := ParseFrame(b)
		if n < 0 || n > len(b) || n > MaxFrame && b[0] == '$' {
			t.Fatalf("consumed %d of %d bytes", n, len(b))
		}
		if err == nil && fr.Type == TypeInvalid {
			t.Fatal("nil error with an invalid type")
		}
		if errors.Is(err, ErrShortFrame) {
			if n != 0 {
				t.Fatalf("short frame consumed %d", n)
			}
			return
		}
		if n == 0 {
			t.Fatalf("no progress on %v", err)
		}
		if err != nil {
			return
		}
		enc := AppendFrame(nil, fr)
		if len(enc) > MaxFrame {
			return // a bare-LF frame of MaxFrame bytes grows by its CR
		}
		fr2, n2, err := ParseFrame(enc)
		if err != nil || n2 != len(enc) || fr2.Seq != fr.Seq || fr2.Type != fr.Type || !bytes.Equal(fr2.Args, fr.Args) {
			t.Fatalf("re-encoding %q gave %q: %v", b[:n], enc, err)
		}
	})
}
