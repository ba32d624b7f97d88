package peer

import (
	"os/exec"
	"strings"
	"sync"
	"testing"
)

func TestBinaryFindsPathsAndNames(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	if got := Binary(t, "dash", "/no/such/sh", sh); got != sh {
		t.Errorf("absolute path: %q, want %q", got, sh)
	}
	if got := Binary(t, "dash", "no-such-program-here", "sh"); got != sh {
		t.Errorf("name in PATH: %q, want %q", got, sh)
	}
}

func TestOutputIsSafeWhileWritten(t *testing.T) {
	var o Output
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 100; j++ {
				o.Write([]byte("x"))
				_ = o.String()
			}
		}()
	}
	wg.Wait()
	if n := strings.Count(o.String(), "x"); n != 400 {
		t.Errorf("%d bytes kept, want 400", n)
	}
}
