package fwbridge

import (
	"bufio"
	"encoding/hex"
	"os"
	"strconv"
	"strings"
	"testing"
)

// vector is one line of testdata/frames.txt, the byte vectors the C tests read too.
type vector struct {
	line     int
	in       []byte
	consumed int
	result   string // ok, decode, or an error code
	seq      int
	typ      string
	args     string
}

var errCodes = map[string]error{
	"SHORT": ErrShortFrame, "GARBAGE": ErrGarbage, "TRUNCATED": ErrTruncated, "TOOLONG": ErrTooLong,
	"BADCRC": ErrBadCRC, "SYNTAX": ErrSyntax, "UNKNOWNTYPE": ErrUnknownType,
}

func loadVectors(t testing.TB) []vector {
	t.Helper()
	f, err := os.Open("testdata/frames.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []vector
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		p := strings.SplitN(line, " | ", 6)
		if len(p) != 6 {
			t.Fatalf("frames.txt:%d: want 6 fields, got %d", n, len(p))
		}
		v := vector{line: n, result: p[2], typ: p[4], args: p[5], seq: -1}
		if v.in, err = hex.DecodeString(p[0]); err != nil {
			t.Fatalf("frames.txt:%d: %v", n, err)
		}
		if v.consumed, err = strconv.Atoi(p[1]); err != nil {
			t.Fatalf("frames.txt:%d: %v", n, err)
		}
		if p[3] != "-" {
			if v.seq, err = strconv.Atoi(p[3]); err != nil {
				t.Fatalf("frames.txt:%d: %v", n, err)
			}
		}
		if v.result != "ok" && v.result != "decode" && errCodes[v.result] == nil {
			t.Fatalf("frames.txt:%d: unknown result %q", n, v.result)
		}
		out = append(out, v)
	}
	if len(out) < 20 {
		t.Fatalf("frames.txt: only %d vectors", len(out))
	}
	return out
}
