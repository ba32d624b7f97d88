package fwbridge

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func frame(seq uint16, t Type, args string) []byte {
	return AppendFrame(nil, Frame{Seq: seq, Type: t, Args: []byte(args)})
}

// The stream layer over a pipe: good frames come out in order, whatever lies between them is counted by
// kind and skipped, and the reads arrive in small uneven pieces as from a UART.
func TestConnResynchronises(t *testing.T) {
	var in bytes.Buffer
	in.WriteString("boot banner\r\n")                            // 13 bytes of garbage
	in.Write(frame(1, TypeHeartbeat, "100"))                     // good
	in.WriteString("$2,R,0,2")                                   // cut off by the next '$'
	in.Write(frame(3, TypeReading, "0,23.5"))                    // good
	bad := frame(4, TypeReading, "0,99")                         //
	bad[len(bad)-4] ^= 1                                         // CRC digit changed
	in.Write(bad)                                                //
	in.WriteString("$" + strings.Repeat("x", 3*MaxFrame) + "\n") // oversized, with no '$' inside
	in.Write(frame(5, TypeAlarm, "1,1,failsafe"))                // good
	in.WriteString("$6,XYZ,1*" + fmt.Sprintf("%04X", CRC16([]byte("6,XYZ,1"))) + "\r\n")
	in.Write(frame(7, TypeHeartbeat, "200")) // good

	a, b := net.Pipe()
	go func() {
		data := in.Bytes()
		for i := 0; len(data) > 0; i++ {
			n := min(len(data), 1+i%7)
			a.Write(data[:n])
			data = data[n:]
		}
		a.Close()
	}()
	var counts Counters
	c := NewConn(b, &counts)
	var got []string
	for {
		f, err := c.ReadFrame()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%d %s %s", f.Seq, f.Type, f.Args))
	}
	want := []string{"1 HB 100", "3 R 0,23.5", "5 ALM 1,1,failsafe", "7 HB 200"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("frames %q, want %q", got, want)
	}
	for k, n := range map[Kind]uint64{KindGarbage: 13, KindTruncated: 1, KindBadCRC: 1, KindTooLong: 1, KindUnknownType: 1, KindSyntax: 0} {
		if counts.Get(k) != n {
			t.Errorf("%s = %d, want %d", k, counts.Get(k), n)
		}
	}
}

func TestConnWriteFrameNumbersFrames(t *testing.T) {
	var buf bytes.Buffer
	c := NewConn(struct {
		io.Reader
		io.Writer
	}{nil, &buf}, nil)
	for range 3 {
		if _, err := c.WriteFrame(TypeHeartbeat, nil); err != nil {
			t.Fatal(err)
		}
	}
	if want := string(frame(0, TypeHeartbeat, "")) + string(frame(1, TypeHeartbeat, "")) + string(frame(2, TypeHeartbeat, "")); buf.String() != want {
		t.Errorf("wrote %q, want %q", buf.String(), want)
	}
}

// TestCParserMatchesGo fuzzes the C parser differentially: the shared vectors and thousands of seeded
// mutations of them go through the C parser (parsevec) and the Go parser, which must agree on every byte
// consumed, every result and every decoded field.
func TestCParserMatchesGo(t *testing.T) {
	bin := buildC(t, "parsevec", "parsevec.c", "rwproto.c")
	rng := rand.New(rand.NewPCG(1, 2))
	var corpus [][]byte
	for _, v := range loadVectors(t) {
		corpus = append(corpus, v.in)
	}
	seeds := len(corpus)
	alphabet := []byte("$*,\r\n0123456789ABCDEFRHBx\x00\xff")
	for range 20000 {
		b := bytes.Clone(corpus[rng.IntN(seeds)])
		for range 1 + rng.IntN(3) {
			switch op := rng.IntN(4); {
			case op == 0 && len(b) > 0:
				b[rng.IntN(len(b))] = alphabet[rng.IntN(len(alphabet))]
			case op == 1 && len(b) > 0:
				b = b[:rng.IntN(len(b))]
			case op == 2:
				i := rng.IntN(len(b) + 1)
				b = append(b[:i], append([]byte{alphabet[rng.IntN(len(alphabet))]}, b[i:]...)...)
			default:
				b = append(b, corpus[rng.IntN(seeds)]...)
			}
		}
		corpus = append(corpus, b)
	}
	var stdin bytes.Buffer
	for _, b := range corpus {
		stdin.WriteString(hex.EncodeToString(b) + "\n")
	}
	cmd := exec.Command(bin)
	cmd.Stdin = &stdin
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v", filepath.Base(bin), err)
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	names := map[error]string{nil: "ok"}
	for code, e := range errCodes {
		names[e] = code
	}
	mismatches := 0
	for i := 0; sc.Scan(); i++ {
		f, n, err := ParseFrame(corpus[i])
		typ := ""
		if err == nil {
			typ = f.Type.String()
		}
		want := fmt.Sprintf("%d|%s|%d|%s|%X", n, names[err], f.Seq, typ, f.Args)
		if sc.Text() != want {
			if mismatches++; mismatches <= 5 {
				t.Errorf("input %q: C says %s, Go says %s", corpus[i], sc.Text(), want)
			}
		}
		if i == len(corpus)-1 && sc.Scan() {
			t.Fatal("parsevec printed more lines than inputs")
		}
	}
	if mismatches > 0 {
		t.Errorf("%d of %d inputs disagree", mismatches, len(corpus))
	}
}

func BenchmarkConnReadFrame(b *testing.B) {
	stream := bytes.Repeat(frame(7, TypeReading, "0,23.45,1,0,2,812.5"), 64)
	r := bytes.NewReader(stream)
	c := NewConn(struct {
		io.Reader
		io.Writer
	}{r, io.Discard}, nil)
	b.ReportAllocs()
	b.SetBytes(int64(len(stream) / 64))
	for b.Loop() {
		if _, err := c.ReadFrame(); err != nil {
			r.Reset(stream)
		}
	}
}
