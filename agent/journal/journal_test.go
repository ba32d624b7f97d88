package journal

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

func rec(key string, n int) Record {
	return Record{Time: time.Unix(1700000000, int64(n)*1e6), Key: key, Data: []byte(fmt.Sprintf(`{"alarm":%q,"n":%d}`, key, n))}
}

func appendN(t testing.TB, j *Journal, key string, from, to int) {
	t.Helper()
	// One batch per 100 records: fsync is slow on small boards and CI alike.
	for i := from; i < to; i += 100 {
		var rs []Record
		for k := i; k < min(i+100, to); k++ {
			rs = append(rs, rec(key, k))
		}
		if err := j.Append(rs); err != nil {
			t.Fatal(err)
		}
	}
}

func readAll(t testing.TB, j *Journal, after uint64) []Record {
	t.Helper()
	out, err := j.NewReader().Read(after, 1<<30, nil)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestAppendReopenRead(t *testing.T) {
	dir := t.TempDir()
	j, err := Open(dir, Options{SegmentSize: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	j.SetBrokers([]string{"a", "b"})
	appendN(t, j, "smoke/s1/smoke", 0, 3000) // several segments
	if got := len(readAll(t, j, 0)); got != 3000 {
		t.Fatalf("read %d records, want 3000", got)
	}
	j.Ack("a", 2000)
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}

	j, err = Open(dir, Options{SegmentSize: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	if c, _ := j.Cursor("a"); c != 2000 {
		t.Fatalf("cursor a = %d after reopen, want 2000", c)
	}
	all := readAll(t, j, 0)
	for i, r := range all {
		if r.ID != uint64(i+1) || string(r.Data) != string(rec("smoke/s1/smoke", i).Data) {
			t.Fatalf("record %d = id %d %s", i, r.ID, r.Data)
		}
	}
	// New ids continue after the old ones.
	appendN(t, j, "k", 0, 1)
	if got := j.LastID(); got != 3001 {
		t.Fatalf("next id after reopen = %d, want 3001", got)
	}
	// Reading in small steps with one Reader returns the same sequence.
	rd := j.NewReader()
	var after uint64
	n := 0
	for {
		out, err := rd.Read(after, 7, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(out) == 0 {
			break
		}
		for _, r := range out {
			if r.ID != after+1 {
				t.Fatalf("stepwise read: id %d after %d", r.ID, after)
			}
			after = r.ID
			n++
		}
	}
	if n != 3001 {
		t.Fatalf("stepwise read %d records, want 3001", n)
	}
}

func TestAckedSegmentsAreRemoved(t *testing.T) {
	dir := t.TempDir()
	j, err := Open(dir, Options{SegmentSize: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	j.SetBrokers([]string{"a", "b"})
	appendN(t, j, "k", 0, 3000)
	before := j.Stats()
	j.Ack("a", 3000)
	j.Checkpoint()
	if st := j.Stats(); st.Segments != before.Segments {
		t.Fatalf("segments dropped while broker b acknowledged nothing: %d -> %d", before.Segments, st.Segments)
	}
	j.Ack("b", 3000)
	j.Checkpoint()
	st := j.Stats()
	if st.Segments != 1 || st.Bytes >= before.Bytes/2 {
		t.Fatalf("after both brokers acknowledged everything: %d segments, %d bytes (before %d)", st.Segments, st.Bytes, before.Bytes)
	}
	if got := readAll(t, j, 3000); len(got) != 0 {
		t.Fatalf("%d records pending after all acknowledged", len(got))
	}
}

// lastSegment returns the path of the segment holding the newest record.
func segFiles(t testing.TB, dir string) []string {
	m, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	return m
}

func TestTornTailAtEveryOffset(t *testing.T) {
	src := t.TempDir()
	j, err := Open(src, Options{})
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, j, "a/s/temperature", 0, 5)
	j.Close()
	files := segFiles(t, src)
	var seg string
	var data []byte
	for _, f := range files {
		b, _ := os.ReadFile(f)
		if len(b) > segHeader {
			seg, data = f, b
		}
	}
	lastLen := encodedLen(&Record{Key: "a/s/temperature", Data: rec("a/s/temperature", 4).Data})
	start := len(data) - lastLen
	for cut := start; cut < len(data); cut++ {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(seg)), data[:cut], 0o600); err != nil {
			t.Fatal(err)
		}
		j, err := Open(dir, Options{})
		if err != nil {
			t.Fatalf("cut at %d: %v", cut, err)
		}
		got := readAll(t, j, 0)
		if len(got) != 4 {
			t.Fatalf("cut at %d of %d: recovered %d records, want the 4 before the torn one", cut, len(data), len(got))
		}
		for i, r := range got {
			if want := rec("a/s/temperature", i).Data; r.ID != uint64(i+1) || !bytes.Equal(r.Data, want) {
				t.Fatalf("cut at %d: record %d = %d %s", cut, i, r.ID, r.Data)
			}
		}
		if st := j.Stats(); cut > start && st.Corrupt == 0 {
			t.Fatalf("cut at %d: torn tail not counted", cut)
		}
		if (cut-start)%8 != 0 {
			j.Close()
			continue
		}
		// The journal keeps working: the next record gets the next id and survives a reopen. (Checked
		// at every 8th offset: each check costs several fsyncs.)
		appendN(t, j, "b", 0, 1)
		j.Close()
		j, err = Open(dir, Options{})
		if err != nil {
			t.Fatal(err)
		}
		got = readAll(t, j, 0)
		if len(got) != 5 || got[4].ID != 5 || got[4].Key != "b" {
			t.Fatalf("cut at %d: after append and reopen got %d records", cut, len(got))
		}
		j.Close()
	}
}

func TestFlippedByteIsNotMisread(t *testing.T) {
	src := t.TempDir()
	j, _ := Open(src, Options{})
	appendN(t, j, "k", 0, 3)
	j.Close()
	var seg string
	for _, f := range segFiles(t, src) {
		if st, _ := os.Stat(f); st.Size() > segHeader {
			seg = f
		}
	}
	data, _ := os.ReadFile(seg)
	// Flip one bit in the middle of the last record's payload.
	data[len(data)-5] ^= 0x10
	os.WriteFile(seg, data, 0o600)
	j, err := Open(src, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	if got := readAll(t, j, 0); len(got) != 2 {
		t.Fatalf("recovered %d records, want 2 (the third is corrupt)", len(got))
	}
}

func TestCoalesceKeepsLatestOfEveryAlarm(t *testing.T) {
	dir := t.TempDir()
	j, err := Open(dir, Options{MaxSize: 256 << 10, SegmentSize: 32 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	j.SetBrokers([]string{"down"})
	// 20 alarms flapping for a long time while the only broker is down.
	const alarms, rounds = 20, 500
	for r := 0; r < rounds; r++ {
		var rs []Record
		for a := 0; a < alarms; a++ {
			rs = append(rs, rec(fmt.Sprintf("rule/s%d/temperature", a), r))
		}
		if err := j.Append(rs); err != nil {
			t.Fatal(err)
		}
	}
	st := j.Stats()
	if st.Bytes > 256<<10 {
		t.Fatalf("journal is %d bytes, above its 256 KiB bound", st.Bytes)
	}
	if st.Coalesced == 0 {
		t.Fatal("nothing counted as coalesced")
	}
	got := readAll(t, j, 0)
	latest := map[string]string{}
	var prev uint64
	for _, r := range got {
		if r.ID <= prev {
			t.Fatalf("ids out of order: %d after %d", r.ID, prev)
		}
		prev = r.ID
		latest[r.Key] = string(r.Data)
	}
	for a := 0; a < alarms; a++ {
		k := fmt.Sprintf("rule/s%d/temperature", a)
		if want := string(rec(k, rounds-1).Data); latest[k] != want {
			t.Fatalf("latest state of %s = %s, want %s", k, latest[k], want)
		}
	}
	if uint64(len(got))+st.Coalesced != alarms*rounds {
		t.Fatalf("%d kept + %d coalesced != %d appended", len(got), st.Coalesced, alarms*rounds)
	}
	// And it survives a reopen the same way.
	j.Close()
	j2, err := Open(dir, Options{MaxSize: 256 << 10, SegmentSize: 32 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer j2.Close()
	if got2 := readAll(t, j2, 0); len(got2) != len(got) {
		t.Fatalf("after reopen %d records, before %d", len(got2), len(got))
	}
}

// A crash after a compacted segment was renamed into place but before the segments it replaces were
// deleted must not resurrect the replaced records.
func TestCompactionLeftoversAreDropped(t *testing.T) {
	dir := t.TempDir()
	opt := Options{MaxSize: 128 << 10, SegmentSize: 16 << 10}
	j, _ := Open(dir, opt)
	j.SetBrokers([]string{"x"})
	crash := errors.New("simulated crash")
	testHookAfterRename = func() error { return crash }
	defer func() { testHookAfterRename = nil }()
	var err error
	for i := 0; err == nil; i++ {
		var rs []Record
		for a := 0; a < 50; a++ {
			rs = append(rs, rec(fmt.Sprintf("k%d", a), i))
		}
		err = j.Append(rs)
	}
	if !errors.Is(err, crash) {
		t.Fatal(err)
	}
	testHookAfterRename = nil
	if n := len(segFiles(t, dir)); n < 3 {
		t.Fatalf("only %d segment files; the test needs leftovers", n)
	}
	j.closeFiles() // the process dies here

	j, err = Open(dir, opt)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	got := readAll(t, j, 0)
	latest := map[string]int{}
	for _, r := range got {
		latest[r.Key]++
	}
	if len(latest) != 50 {
		t.Fatalf("%d alarms survived, want 50", len(latest))
	}
	for k, n := range latest {
		if n != 1 {
			t.Fatalf("%s has %d records: the replaced segments were read again", k, n)
		}
	}
}

func TestConcurrentAppendsShareFsync(t *testing.T) {
	j, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				if err := j.Append([]Record{rec(fmt.Sprintf("g%d", g), i)}); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	got := readAll(t, j, 0)
	if len(got) != 400 {
		t.Fatalf("%d records, want 400", len(got))
	}
	per := map[string]int{}
	for i, r := range got {
		if r.ID != uint64(i+1) {
			t.Fatalf("record %d has id %d", i, r.ID)
		}
		per[r.Key]++
	}
	for k, n := range per {
		if n != 50 {
			t.Fatalf("%s: %d records", k, n)
		}
	}
}

func TestSecondOpenIsRefused(t *testing.T) {
	dir := t.TempDir()
	j, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	if _, err := Open(dir, Options{}); err == nil {
		t.Fatal("a second Open of the same directory succeeded")
	}
}

func TestInspectDoesNotModify(t *testing.T) {
	dir := t.TempDir()
	j, _ := Open(dir, Options{})
	j.SetBrokers([]string{"tcp://a:1883"})
	appendN(t, j, "k", 0, 10)
	j.Ack("tcp://a:1883", 4)
	j.Checkpoint()
	snap, err := Inspect(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Records) != 10 || snap.Cursors["tcp://a:1883"] != 4 {
		t.Fatalf("inspect: %d records, cursors %v", len(snap.Records), snap.Cursors)
	}
	j.Close()
}

func BenchmarkAppendDurable(b *testing.B) {
	j, err := Open(b.TempDir(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer j.Close()
	j.SetBrokers([]string{"x"})
	r := rec("batt-heating/ups1/battery_temp", 1)
	r.Data = bytes.Repeat([]byte("x"), 450) // about the size of an alarm's JSON
	b.SetBytes(int64(encodedLen(&r)))
	b.RunParallel(func(pb *testing.PB) {
		rs := []Record{r}
		for pb.Next() {
			if err := j.Append(rs); err != nil {
				b.Error(err)
				return
			}
			j.Ack("x", rs[0].ID)
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "transitions/s")
}

// A reader following the journal while compactions rewrite it sees ids only grow, never an error, and
// ends with the latest record of every key.
func TestReadDuringCompaction(t *testing.T) {
	j, err := Open(t.TempDir(), Options{MaxSize: 128 << 10, SegmentSize: 16 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	j.SetBrokers([]string{"slow"})
	const rounds, keys = 120, 50
	done := make(chan struct{})
	go func() {
		defer close(done)
		for r := 0; r < rounds; r++ {
			var rs []Record
			for k := 0; k < keys; k++ {
				rs = append(rs, rec(fmt.Sprintf("k%d", k), r))
			}
			if err := j.Append(rs); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	rd := j.NewReader()
	var after uint64
	last := map[string]string{}
	finished := false
	for !finished {
		select {
		case <-done:
			finished = true
		case <-time.After(time.Millisecond): // follow the writer without spinning
		}
		for {
			out, err := rd.Read(after, 16, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(out) == 0 {
				break
			}
			for _, r := range out {
				if r.ID <= after {
					t.Fatalf("id %d after %d", r.ID, after)
				}
				after = r.ID
				last[r.Key] = string(r.Data)
			}
		}
	}
	if j.Stats().Coalesced == 0 {
		t.Fatal("no compaction happened during the test")
	}
	for k := 0; k < keys; k++ {
		key := fmt.Sprintf("k%d", k)
		if want := string(rec(key, rounds-1).Data); last[key] != want {
			t.Fatalf("%s: last read %s, want %s", key, last[key], want)
		}
	}
}
