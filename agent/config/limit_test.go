package config

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// A config far above the limit (here 89 MB, a log or an image named by mistake) is refused from its size
// alone: loading it allocates next to nothing, where it used to be read and parsed whole.
func TestLoadRefusesHugeFileUnread(t *testing.T) {
	p := filepath.Join(t.TempDir(), "rackwatch.yaml")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(good)
	if err := f.Truncate(89 << 20); err != nil { // sparse: no disk needed
		t.Fatal(err)
	}
	f.Close()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err = Load(p)
	runtime.ReadMemStats(&after)
	if err == nil || !strings.Contains(err.Error(), p+": cannot read config: larger than 1 MiB") {
		t.Fatalf("Load(89 MB) = %v", err)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 1<<20 {
		t.Errorf("refusing an 89 MB config allocated %d KiB", n>>10)
	}
}

// Exactly at the limit is accepted; one byte more is not. A source without a size (a device, a pipe) is
// read no further than the limit.
func TestLoadLimitEdges(t *testing.T) {
	dir := t.TempDir()
	at := filepath.Join(dir, "at.yaml")
	over := filepath.Join(dir, "over.yaml")
	pad := func(n int) []byte {
		b := []byte(good)
		return append(b, []byte("#"+strings.Repeat("x", n-len(b)-2)+"\n")...)
	}
	os.WriteFile(at, pad(MaxFileSize), 0o644)
	os.WriteFile(over, pad(MaxFileSize+1), 0o644)
	if _, err := Load(at); err != nil {
		t.Errorf("config of exactly %d bytes: %v", MaxFileSize, err)
	}
	if _, err := Load(over); err == nil || !strings.Contains(err.Error(), "larger than 1 MiB") {
		t.Errorf("config of %d bytes: %v", MaxFileSize+1, err)
	}
	if _, err := os.Stat("/dev/zero"); err == nil {
		if _, err := Load("/dev/zero"); err == nil || !strings.Contains(err.Error(), "larger than 1 MiB") {
			t.Errorf("endless /dev/zero: %v", err)
		}
	}
}

// The pager's config is bounded the same way: an endless source is refused, not read into memory.
func TestLoadPagerIsBounded(t *testing.T) {
	p := filepath.Join(t.TempDir(), "pager.yaml")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(89 << 20); err != nil { // sparse: no disk needed
		t.Fatal(err)
	}
	f.Close()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err = LoadPager(p)
	runtime.ReadMemStats(&after)
	if err == nil || !strings.Contains(err.Error(), p+": cannot read config: larger than 1 MiB") {
		t.Fatalf("LoadPager(89 MB) = %v", err)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 1<<20 {
		t.Errorf("refusing an 89 MB pager config allocated %d KiB", n>>10)
	}
}
