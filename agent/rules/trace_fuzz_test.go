package rules

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// A trace is a file an operator exported from somewhere else: any bytes must give readings in time order
// or an error, never a panic or an endless loop.
func FuzzTrace(f *testing.F) {
	for _, s := range []string{
		"time,sensor,channel,value\n0,ups1,battery_temp,25\n60,ups1,battery_temp,27.5\n",
		"time,sensor,channel,value,error\n2026-11-25T01:00:00Z,ups1,battery_temp,,timeout\n",
		"# comment\ntime,sensor,channel,value\n1,a,b,NaN\n",
		"time,sensor,channel,value\n10,a,b,1\n5,a,b,2\n",
		"value,channel,sensor,time\n1,b,a,0\n",
		"time,time\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		tr, err := NewTrace(bytes.NewReader(data))
		if err != nil {
			return
		}
		var last int64
		for i := 0; i <= len(data); i++ { // each reading uses at least one byte: more iterations is a loop
			r, err := tr.Next()
			if errors.Is(err, io.EOF) {
				return
			}
			if err != nil {
				return
			}
			if ns := r.At.UnixNano(); i > 0 && ns < last {
				t.Fatalf("reading %d goes back in time", i)
			} else {
				last = ns
			}
		}
		t.Fatalf("more readings than bytes in %q", data)
	})
}
