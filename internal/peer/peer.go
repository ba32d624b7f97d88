package peer

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// Binary returns the first of candidates that exists: an absolute path is looked at as it is, a bare
// name is looked up in PATH. When none does, the test is skipped with the apt-get line for pkg, or fails
// when RACKWATCH_REQUIRE_INTEGRATION=1 (CI installs every peer, so a missing one is a CI defect).
func Binary(t testing.TB, pkg string, candidates ...string) string {
	t.Helper()
	for _, c := range candidates {
		if strings.HasPrefix(c, "/") {
			if _, err := os.Stat(c); err == nil {
				return c
			}
		} else if p, err := exec.LookPath(c); err == nil {
			return p
		}
	}
	Missing(t, filepath.Base(candidates[0])+" is not installed (apt-get install "+pkg+")")
	return ""
}

// Missing skips the test with msg, or fails it under RACKWATCH_REQUIRE_INTEGRATION=1.
func Missing(t testing.TB, msg string) {
	t.Helper()
	if os.Getenv("RACKWATCH_REQUIRE_INTEGRATION") == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// Output collects what a child process writes; the test may read it while the child still writes.
type Output struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (o *Output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.Write(p)
}

func (o *Output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.String()
}
