// Package browsertest renders pages in a real headless Chromium for tests: the DOM a browser builds from
// a page (what an operator's browser would show), and screenshots for the docs.
package browsertest

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/rackwatch/rackwatch/internal/peer"
)

// Binary returns the Chromium executable, or skips with the install command (fails under
// RACKWATCH_REQUIRE_INTEGRATION=1).
func Binary(t testing.TB) string {
	t.Helper()
	return peer.Binary(t, "chromium", "chromium", "chromium-browser", "google-chrome")
}

// run runs headless Chromium with args after its usual test flags: no sandbox (tests may run as root),
// no network of its own, a fresh profile. It kills the whole process group if Chromium has not finished
// after a generous timeout.
func run(t testing.TB, args ...string) []byte {
	t.Helper()
	bin := Binary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
		"--user-data-dir=" + t.TempDir()}
	cmd := exec.CommandContext(ctx, bin, append(base, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %v: %v\n%s", args, err, stderr.String())
	}
	return stdout.Bytes()
}

// DumpDOM returns the DOM Chromium built for url, serialized as HTML.
func DumpDOM(t testing.TB, url string) string {
	t.Helper()
	return string(run(t, "--dump-dom", url))
}

// Screenshot writes a PNG of url as a window of width × height pixels shows it.
func Screenshot(t testing.TB, url, file string, width, height int) {
	t.Helper()
	run(t, "--screenshot="+file, "--window-size="+strconv.Itoa(width)+","+strconv.Itoa(height), url)
	if st, err := os.Stat(file); err != nil || st.Size() == 0 {
		t.Fatalf("chromium wrote no screenshot to %s: %v", file, err)
	}
}
