package journal

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzRecover appends arbitrary bytes after three good records and opens the journal: Open must not fail
// or panic, must keep the three records, and must never return a record that was not written.
func FuzzRecover(f *testing.F) {
	good := appendSegHeader(nil, 0)
	for i := 0; i < 3; i++ {
		r := rec("k", i)
		r.ID = uint64(i + 1)
		good = appendRecord(good, &r)
	}
	extra := rec("k", 3)
	extra.ID = 4
	whole := appendRecord(nil, &extra)
	f.Add(whole)
	f.Add(whole[:len(whole)-1])
	f.Add(whole[:5])
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0})
	bad := append([]byte(nil), whole...)
	bad[12] ^= 1
	f.Add(bad)
	old := rec("k", 9)
	old.ID = 2 // an id going backwards
	f.Add(appendRecord(nil, &old))
	f.Fuzz(func(t *testing.T, tail []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, segName(1)), append(append([]byte(nil), good...), tail...), 0o600); err != nil {
			t.Fatal(err)
		}
		j, err := Open(dir, Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer j.Close()
		got := readAll(t, j, 0)
		if len(got) < 3 {
			t.Fatalf("lost good records: %d left", len(got))
		}
		for i := 0; i < 3; i++ {
			if got[i].ID != uint64(i+1) || string(got[i].Data) != string(rec("k", i).Data) {
				t.Fatalf("record %d misread: %d %q", i, got[i].ID, got[i].Data)
			}
		}
		for _, r := range got[3:] {
			if r.ID <= 3 {
				t.Fatalf("id %d after 3", r.ID)
			}
		}
		// Whatever was recovered stays readable after one more append and a reopen.
		appendN(t, j, "z", 0, 1)
		j.Close()
		j2, err := Open(dir, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if n := len(readAll(t, j2, 0)); n != len(got)+1 {
			t.Fatalf("after reopen %d records, want %d", n, len(got)+1)
		}
		j2.Close()
	})
}

// FuzzSegments opens a journal of three segments, the first two written by the journal (ids 1-3 and 4-6),
// the second with one byte changed at a fuzzed offset, the third made of fuzzed bytes, with a fuzzed
// cursors file. Open must not fail (a fuzzed header claiming a newer format aside); reads must return ids
// in increasing order, only records that were written, every record of the first segment, and every
// record of the second but the one the changed byte fell in; the journal must then take a new record
// above every id it read or a cursor holds, and keep it across a reopen.
func FuzzSegments(f *testing.F) {
	seg := func(first uint64, n int) []byte {
		b := appendSegHeader(nil, 0)
		for i := 0; i < n; i++ {
			r := rec("k", int(first)+i)
			r.ID = first + uint64(i)
			b = appendRecord(b, &r)
		}
		return b
	}
	f.Add(seg(7, 2), uint16(0), []byte(`{"acked":{"a":2}}`))
	f.Add(seg(7, 2)[:40], uint16(30), []byte(`{"acked":{"a":9}}`))
	f.Add([]byte{}, uint16(100), []byte(`{"acked":{"a":18446744073709551615}}`))
	f.Add(seg(3, 2), uint16(17), []byte(`not json`))
	f.Add(append(seg(7, 1), seg(8, 1)[segHeader:]...), uint16(60), []byte(`{"acked":{}}`))
	f.Fuzz(func(t *testing.T, third []byte, flipAt uint16, cursors []byte) {
		dir := t.TempDir()
		s1, s2 := seg(1, 3), seg(4, 3)
		flipped := -1
		if int(flipAt) < len(s2) {
			s2[flipAt] ^= 0x5a
			flipped = int(flipAt)
		}
		os.WriteFile(filepath.Join(dir, segName(1)), s1, 0o600)
		os.WriteFile(filepath.Join(dir, segName(4)), s2, 0o600)
		os.WriteFile(filepath.Join(dir, segName(7)), third, 0o600)
		os.WriteFile(filepath.Join(dir, "cursors"), cursors, 0o600)
		j, err := Open(dir, Options{})
		if errors.Is(err, ErrNewerFormat) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		got := readAll(t, j, 0)
		have := map[uint64]bool{}
		var prev uint64
		for _, r := range got {
			if r.ID <= prev {
				t.Fatalf("id %d after %d", r.ID, prev)
			}
			prev = r.ID
			have[r.ID] = true
			if r.ID <= 6 && string(r.Data) != string(rec("k", int(r.ID)).Data) {
				t.Fatalf("record %d misread: %s", r.ID, r.Data)
			}
		}
		for id := uint64(1); id <= 6; id++ {
			if have[id] {
				continue
			}
			// Only the record the flipped byte fell in may be missing (or, with a flipped header, none).
			lo := segHeader + int(id-4)*len(appendRecord(nil, &Record{ID: id, Time: rec("k", int(id)).Time, Key: "k", Data: rec("k", int(id)).Data}))
			if id <= 3 || flipped < 0 || flipped < lo || flipped >= lo+encodedLen(&Record{Key: "k", Data: rec("k", int(id)).Data}) {
				t.Fatalf("record %d lost (byte %d of the second segment changed)", id, flipped)
			}
		}
		cs := map[string]uint64{}
		for k, v := range j.cursors {
			cs[k] = v
		}
		if err := j.Append([]Record{rec("z", 0)}); err != nil {
			t.Fatal(err)
		}
		last := j.LastID()
		if last <= prev {
			t.Fatalf("new id %d not above %d", last, prev)
		}
		for name, c := range cs {
			if last <= c {
				t.Fatalf("new id %d not above %s's cursor %d: it would never be sent there", last, name, c)
			}
		}
		// (Appending also dropped the segments every cursor had passed.)
		want := len(readAll(t, j, 0))
		j.Close()
		j2, err := Open(dir, Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer j2.Close()
		if n := len(readAll(t, j2, 0)); n != want {
			t.Fatalf("after reopen %d records, want %d", n, want)
		}
	})
}

// FuzzCursors feeds the cursors file parser arbitrary bytes: it must not panic, and what it accepts must
// be cursors a journal could have (ids below maxID), so that a corrupt file can never push the next id
// past 2^64 and wrap it to 0.
func FuzzCursors(f *testing.F) {
	f.Add([]byte(`{"acked":{"tcp://a:1883":12,"tls://b:8883":0}}`))
	f.Add([]byte(`{"acked":{"a":18446744073709551615}}`))
	f.Add([]byte(`{"acked":null}`))
	f.Add([]byte(`{"acked":{"a":-1}}`))
	f.Add([]byte(`{"acked":{"a":1e30}}`))
	f.Add([]byte(``))
	f.Fuzz(func(t *testing.T, b []byte) {
		cs, err := parseCursors(b)
		if cs == nil {
			t.Fatal("nil map")
		}
		if err != nil {
			if len(cs) != 0 {
				t.Fatalf("error %v with cursors %v", err, cs)
			}
			return
		}
		for name, c := range cs {
			if c > maxID {
				t.Fatalf("accepted cursor %s=%d", name, c)
			}
		}
	})
}
