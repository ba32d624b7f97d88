package exepages

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Trim unmaps the executable's read-only segments (code, read-only data, function tables) from the
// process; the pages come back one fault-around block at a time where the program touches them again. It
// changes nothing the program sees.
func Trim() error {
	rs, err := regions("/proc/self/smaps")
	if err != nil {
		return err
	}
	for _, r := range rs {
		// The raw system call: the mapping is not Go memory, and is named by its address.
		if _, _, e := unix.Syscall(unix.SYS_MADVISE, r.lo, r.hi-r.lo, unix.MADV_DONTNEED); e != 0 {
			return fmt.Errorf("exepages: madvise: %w", e)
		}
	}
	return nil
}

type region struct{ lo, hi uintptr }

// regions lists the mappings of the executable's file that are not writable and hold no private copy of
// a page. The writable one (data) is left alone: its written pages are private copies, and dropping them
// would lose them; so is a read-only one with private copies (relocations a loader wrote before making it
// read-only, breakpoints a debugger set), for the same reason.
func regions(smaps string) ([]region, error) {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return nil, fmt.Errorf("exepages: %w", err)
	}
	f, err := os.Open(smaps)
	if err != nil {
		return nil, fmt.Errorf("exepages: %w", err)
	}
	defer f.Close()
	var out []region
	var cur *region // the executable's read-only mapping being read, until its Anonymous: line
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, "Anonymous:"); ok {
			if cur != nil && strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")) == "0" {
				out = append(out, *cur)
			}
			cur = nil
			continue
		}
		// A mapping's first line: address perms offset dev inode path; the path may hold spaces (and ends
		// in " (deleted)" once the file was replaced, as /proc/self/exe then does too).
		fl := strings.SplitN(line, " ", 6)
		if len(fl) < 5 || !strings.Contains(fl[0], "-") || len(fl[1]) != 4 {
			continue
		}
		cur = nil
		if len(fl) < 6 || strings.TrimSpace(fl[5]) != exe || strings.Contains(fl[1], "w") {
			continue
		}
		lo, hi, ok := strings.Cut(fl[0], "-")
		a, err1 := strconv.ParseUint(lo, 16, 64)
		b, err2 := strconv.ParseUint(hi, 16, 64)
		if !ok || err1 != nil || err2 != nil || b <= a {
			continue
		}
		cur = &region{uintptr(a), uintptr(b)}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("exepages: %w", err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("exepages: no read-only mapping of %s found", exe)
	}
	return out, nil
}
