package journal

import (
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
