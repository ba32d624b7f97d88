package exepages

import (
	"os"
	"runtime"
	"strings"
	"testing"
	"unsafe"
)

// Trim leaves the program working (its code and read-only data come back where it runs them) and lowers
// the file pages it has resident; the writable data keeps what was written to it.
func TestTrim(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("Linux only")
	}
	written = "changed at run time"
	before := rssFile(t)
	if err := Trim(); err != nil {
		t.Fatal(err)
	}
	after := rssFile(t)
	if written != "changed at run time" {
		t.Fatalf("data lost: %q", written)
	}
	if strings.Repeat("ab", 3) != "ababab" { // code runs again after its pages went
		t.Fatal("strings.Repeat broke")
	}
	if after >= before {
		t.Errorf("RssFile %d kB before Trim, %d kB after: nothing dropped", before, after)
	}
}

var written = "initial"

func rssFile(t *testing.T) int {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "RssFile:"); ok {
			var n int
			for _, c := range strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")) {
				n = n*10 + int(c-'0')
			}
			return n
		}
	}
	t.Fatal("no RssFile in /proc/self/status")
	return 0
}

// regions finds the executable's read-only mappings in the process's own smaps, and skips its writable one.
func TestRegions(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("Linux only")
	}
	rs, err := regions("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	pc, _, _, _ := runtime.Caller(0)
	inCode := false
	for _, r := range rs {
		if r.lo <= pc && pc < r.hi {
			inCode = true
		}
		if addr := uintptr(unsafe.Pointer(&written)); r.lo <= addr && addr < r.hi {
			t.Errorf("the writable data (%#x) is in a region to trim %#x-%#x", addr, r.lo, r.hi)
		}
	}
	if !inCode {
		t.Errorf("this function's code (%#x) is in no region to trim: %v", pc, rs)
	}
}
