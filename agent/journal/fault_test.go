package journal_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rackwatch/rackwatch/agent/journal"
	"github.com/rackwatch/rackwatch/agent/journal/faultfs"
)

func rec(key string, n int) journal.Record {
	return journal.Record{Time: time.Unix(1700000000, int64(n)*1e6), Key: key, Data: []byte(fmt.Sprintf(`{"alarm":%q,"n":%d}`, key, n))}
}

func readAll(t testing.TB, j *journal.Journal, after uint64) []journal.Record {
	t.Helper()
	out, err := j.NewReader().Read(after, 1<<30, nil)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// checkSeq asserts the records are exactly ids 1..n, in order, each with the data it was written with.
func checkSeq(t testing.TB, got []journal.Record, n int, key string) {
	t.Helper()
	if len(got) != n {
		t.Fatalf("%d records, want %d", len(got), n)
	}
	for i, r := range got {
		if r.ID != uint64(i+1) || string(r.Data) != string(rec(key, i).Data) {
			t.Fatalf("record %d: id %d %s", i, r.ID, r.Data)
		}
	}
}

// The disk fills up while alarms keep coming: nothing is refused and nothing waits for the disk. The
// transitions are readable (deliverable) at once from memory, Err says why they are not durable, and once
// space returns Retry writes them; after a restart every one of them is there, once, in order.
func TestFullDiskKeepsRecordsAndCatchesUp(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fault func(f *faultfs.FS)
	}{
		{"disk full", func(f *faultfs.FS) { f.Fill(0) }},
		{"disk full mid-batch (short write)", func(f *faultfs.FS) { f.Fill(100) }},
		{"fsync fails (EIO)", func(f *faultfs.FS) { f.FailSyncs(faultfs.EIO) }},
		{"write fails (EIO)", func(f *faultfs.FS) { f.FailWrites(faultfs.EIO) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			ffs := faultfs.New(nil)
			j, err := journal.Open(dir, journal.Options{FS: ffs})
			if err != nil {
				t.Fatal(err)
			}
			j.SetBrokers([]string{"a"})
			const key = "smoke/room/smoke"
			for i := 0; i < 10; i++ {
				if err := j.Append([]journal.Record{rec(key, i)}); err != nil {
					t.Fatal(err)
				}
			}
			tc.fault(ffs)
			for i := 10; i < 40; i += 3 {
				var rs []journal.Record
				for k := i; k < min(i+3, 40); k++ {
					rs = append(rs, rec(key, k))
				}
				err := j.Append(rs)
				if !errors.Is(err, journal.ErrNotDurable) {
					t.Fatalf("append %d on a failing disk: %v, want ErrNotDurable", i, err)
				}
			}
			if j.Err() == nil {
				t.Fatal("Err is nil while the disk fails")
			}
			checkSeq(t, readAll(t, j, 0), 40, key) // deliverable from memory, in order
			if err := j.Retry(); err == nil {
				t.Fatal("Retry succeeded on a disk that still fails")
			}
			ffs.Heal()
			if err := j.Retry(); err != nil {
				t.Fatalf("Retry on a healed disk: %v", err)
			}
			if j.Err() != nil || j.Stats().Memory != 0 {
				t.Fatalf("after catching up: err %v, %d records in memory", j.Err(), j.Stats().Memory)
			}
			if err := j.Append([]journal.Record{rec(key, 40)}); err != nil {
				t.Fatalf("append after catching up: %v", err)
			}
			checkSeq(t, readAll(t, j, 0), 41, key)
			if err := j.Close(); err != nil {
				t.Fatal(err)
			}
			j, err = journal.Open(dir, journal.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer j.Close()
			checkSeq(t, readAll(t, j, 0), 41, key)
			if st := j.Stats(); st.Damaged != 0 {
				t.Errorf("the rewrite left damage behind: %+v", st)
			}
		})
	}
}

// While the disk is full, the memory queue is bounded: records every broker has acknowledged go first,
// then older records of an alarm that has a newer one. The latest state of every alarm is kept.
func TestMemoryQueueIsBounded(t *testing.T) {
	ffs := faultfs.New(nil)
	j, err := journal.Open(t.TempDir(), journal.Options{FS: ffs, MemoryMax: 16 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	j.SetBrokers([]string{"a", "b"})
	ffs.Fill(0)
	const keys, rounds = 20, 200
	for r := 0; r < rounds; r++ {
		for k := 0; k < keys; k++ {
			j.Append([]journal.Record{rec(fmt.Sprintf("rule/s%d/temperature", k), r)})
		}
		if r == 10 {
			j.Ack("a", j.LastID())
			j.Ack("b", j.LastID())
		}
	}
	st := j.Stats()
	if st.MemoryBytes > 16<<10 || st.Coalesced == 0 {
		t.Fatalf("memory queue %d bytes (bound 16 KiB), %d coalesced", st.MemoryBytes, st.Coalesced)
	}
	latest := map[string]string{}
	for _, r := range readAll(t, j, 0) {
		latest[r.Key] = string(r.Data)
	}
	for k := 0; k < keys; k++ {
		key := fmt.Sprintf("rule/s%d/temperature", k)
		if want := string(rec(key, rounds-1).Data); latest[key] != want {
			t.Fatalf("%s: latest %s, want %s", key, latest[key], want)
		}
	}
	ffs.Heal()
	if err := j.Retry(); err != nil {
		t.Fatal(err)
	}
}

// A process that dies while the disk fails loses only what was in memory; the journal opens, keeps what
// was durable, and never hands out an id a broker already acknowledged.
func TestCrashWhileDiskFails(t *testing.T) {
	dir := t.TempDir()
	ffs := faultfs.New(nil)
	j, err := journal.Open(dir, journal.Options{FS: ffs})
	if err != nil {
		t.Fatal(err)
	}
	j.SetBrokers([]string{"a"})
	for i := 0; i < 5; i++ {
		j.Append([]journal.Record{rec("k", i)})
	}
	j.Checkpoint()
	ffs.FailSyncs(faultfs.EIO)
	for i := 5; i < 9; i++ {
		j.Append([]journal.Record{rec("k", i)})
	}
	j.Ack("a", 8) // delivered from memory
	ffs.FailSyncs(nil)
	j.Checkpoint() // the cursor file is on another part of the disk that works
	// The process dies: no Close. A second Open in this process needs the lock released, which the
	// test cannot do without Close; so close without retrying by failing the disk again first.
	ffs.FailWrites(faultfs.EIO)
	ffs.FailSyncs(faultfs.EIO)
	j.Close()
	j, err = journal.Open(dir, journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	got := readAll(t, j, 0)
	if len(got) < 5 {
		t.Fatalf("lost durable records: %d", len(got))
	}
	j.Append([]journal.Record{rec("k", 100)})
	if id := j.LastID(); id <= 8 {
		t.Fatalf("new record got id %d, which broker a already acknowledged", id)
	}
}

// A damaged record in the middle of a segment (a flipped bit on an SD card) costs that record only: the
// records after it in the same segment are kept, and the damage is counted and logged with its offset.
func TestDamageInsideSegmentLosesOnlyThatRecord(t *testing.T) {
	dir := t.TempDir()
	j, err := journal.Open(dir, journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		j.Append([]journal.Record{rec("smoke/room/smoke", i)})
	}
	j.Close()
	seg := newestSegment(t, dir)
	data, _ := os.ReadFile(seg)
	// Damage record 4 (the 5th): flip a byte in its payload, and garble record 7's length.
	off := recordOffset(t, data, 4)
	data[off+20] ^= 0x40
	off7 := recordOffset(t, data, 7)
	data[off7+2] = 0xff
	os.WriteFile(seg, data, 0o600)

	var logBuf strings.Builder
	j, err = journal.Open(dir, journal.Options{Log: testLogger(&logBuf)})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	got := readAll(t, j, 0)
	var ids []uint64
	for _, r := range got {
		ids = append(ids, r.ID)
	}
	if fmt.Sprint(ids) != "[1 2 3 4 6 7 9 10]" {
		t.Fatalf("kept ids %v, want every one but the two damaged (5 and 8)", ids)
	}
	if st := j.Stats(); st.Damaged != 2 || st.Corrupt != 0 {
		t.Fatalf("damage counted %+v, want 2 damaged stretches and no tail", st)
	}
	if !strings.Contains(logBuf.String(), fmt.Sprintf("offset=%d", off)) {
		t.Errorf("the log does not give the damaged record's offset %d:\n%s", off, logBuf.String())
	}
	// The journal goes on: a new record follows the last one.
	j.Append([]journal.Record{rec("k", 0)})
	if j.LastID() != 11 {
		t.Fatalf("next id %d", j.LastID())
	}
}

// A journal written by a newer rackwatch is refused with a message that says so, not misread or cut.
func TestNewerFormatIsRefused(t *testing.T) {
	dir := t.TempDir()
	j, _ := journal.Open(dir, journal.Options{})
	j.Append([]journal.Record{rec("k", 0)})
	j.Close()
	seg := newestSegment(t, dir)
	data, _ := os.ReadFile(seg)
	data[3] = '2' // format 2
	fixHeaderCRC(data)
	os.WriteFile(seg, data, 0o600)
	_, err := journal.Open(dir, journal.Options{})
	if !errors.Is(err, journal.ErrNewerFormat) || !strings.Contains(err.Error(), "format 2") || !strings.Contains(err.Error(), "move") {
		t.Fatalf("open of a format-2 journal: %v", err)
	}
	after, _ := os.ReadFile(seg)
	if string(after) != string(data) {
		t.Fatal("the newer segment was modified")
	}
	if _, err := journal.Scan(journal.OS, dir, func(*journal.Record) error { return nil }); !errors.Is(err, journal.ErrNewerFormat) {
		t.Fatalf("scan: %v", err)
	}
}

func newestSegment(t testing.TB, dir string) string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	var best string
	for _, p := range m {
		if st, _ := os.Stat(p); st.Size() > 16 {
			best = p
		}
	}
	if best == "" {
		t.Fatal("no segment with records")
	}
	return best
}

// recordOffset returns where the i-th record of a segment file starts.
func recordOffset(t testing.TB, seg []byte, i int) int {
	t.Helper()
	off := 16
	for ; i > 0; i-- {
		off += 8 + int(binary.LittleEndian.Uint32(seg[off:]))
	}
	return off
}

func fixHeaderCRC(seg []byte) {
	binary.LittleEndian.PutUint32(seg[12:], crc32.Checksum(seg[:12], crc32.MakeTable(crc32.Castagnoli)))
}

func testLogger(w io.Writer) *slog.Logger { return slog.New(slog.NewTextHandler(w, nil)) }

// Concurrent writers on a disk that fails and heals over and over: every record is accepted, readable
// once and in id order, and after the disk heals for good all of them are on disk.
func TestConcurrentAppendsOnAFlakyDisk(t *testing.T) {
	dir := t.TempDir()
	ffs := faultfs.New(nil)
	j, err := journal.Open(dir, journal.Options{FS: ffs, SegmentSize: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	j.SetBrokers([]string{"a"})
	stop := make(chan struct{})
	flipped := make(chan struct{})
	go func() {
		defer close(flipped)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			switch i % 4 {
			case 0:
				ffs.FailSyncs(faultfs.EIO)
			case 1:
				ffs.Fill(200)
			case 2:
				ffs.Heal()
				j.Retry()
			case 3:
				ffs.FailWrites(faultfs.EIO)
			}
			time.Sleep(time.Millisecond)
		}
	}()
	const writers, each = 4, 150
	done := make(chan struct{})
	for g := 0; g < writers; g++ {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := 0; i < each; i++ {
				err := j.Append([]journal.Record{rec(fmt.Sprintf("g%d", g), i)})
				if err != nil && !errors.Is(err, journal.ErrNotDurable) {
					t.Error(err)
					return
				}
			}
		}()
	}
	for g := 0; g < writers; g++ {
		<-done
	}
	close(stop)
	<-flipped
	ffs.Heal()
	if err := j.Retry(); err != nil {
		t.Fatal(err)
	}
	check := func(got []journal.Record) {
		t.Helper()
		if len(got) != writers*each {
			t.Fatalf("%d records, want %d", len(got), writers*each)
		}
		next := map[string]int{}
		var prev uint64
		for _, r := range got {
			if r.ID <= prev {
				t.Fatalf("id %d after %d", r.ID, prev)
			}
			prev = r.ID
			if want := string(rec(r.Key, next[r.Key]).Data); string(r.Data) != want {
				t.Fatalf("%s: got %s, want %s", r.Key, r.Data, want)
			}
			next[r.Key]++
		}
	}
	check(readAll(t, j, 0))
	j.Close()
	j, err = journal.Open(dir, journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	check(readAll(t, j, 0))
}
