package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rackwatch/rackwatch/agent/brokerauth"
)

func TestKeyCommands(t *testing.T) {
	dir := t.TempDir()
	run := func(stdin string, args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := keyCmd(args, strings.NewReader(stdin), &out, &errb)
		return code, out.String(), errb.String()
	}
	code, out, errs := run("", "new", "alice", "--dir", dir)
	if code != 0 || !strings.Contains(out, "- {name: alice, public_key_file: /etc/rackwatch/operators/alice.pub}") {
		t.Fatalf("%d %s %s", code, out, errs)
	}
	if st, err := os.Stat(filepath.Join(dir, "alice.key")); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatal(err)
	}
	if code, _, errs := run("", "new", "alice", "--dir", dir); code != 1 || !strings.Contains(errs, "exists already") {
		t.Fatalf("a second key new alice: %d %s", code, errs)
	}
	_, fpPub, _ := run("", "fingerprint", filepath.Join(dir, "alice.pub"))
	_, fpKey, _ := run("", "fingerprint", filepath.Join(dir, "alice.key"))
	if !strings.HasPrefix(fpPub, "SHA256:") || strings.Fields(fpPub)[0] != strings.Fields(fpKey)[0] || !strings.Contains(out, strings.Fields(fpPub)[0]) {
		t.Fatalf("fingerprints %q %q; key new said %s", fpPub, fpKey, out)
	}

	users := filepath.Join(dir, "broker-users")
	if code, out, errs := run("pw1\n", "password", users, "alice"); code != 0 || !strings.Contains(out, "added alice") {
		t.Fatalf("%d %s %s", code, out, errs)
	}
	run("pw2\n", "password", users, "grafana")
	if code, out, _ := run("pw3\n", "password", users, "alice"); code != 0 || !strings.Contains(out, "replaced alice") {
		t.Fatalf("%d %s", code, out)
	}
	if st, _ := os.Stat(users); st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", st.Mode())
	}
	hashes, err := brokerauth.ParseFile(users)
	if err != nil || len(hashes) != 2 {
		t.Fatal(hashes, err)
	}
	u := brokerauth.New("rackwatch", "gw1", hashes, []string{"alice"}, []string{"grafana"})
	if _, ok := u.Authenticate("alice", []byte("pw3")); !ok {
		t.Fatal("alice's new password")
	}
	if _, ok := u.Authenticate("alice", []byte("pw1")); ok {
		t.Fatal("alice's old password still works")
	}
	if code, _, errs := run("", "password", users, "bob"); code != 2 || !strings.Contains(errs, "no password") {
		t.Fatalf("%d %s", code, errs)
	}
	if code, _, _ := run("", "frobnicate"); code != 2 {
		t.Fatal(code)
	}
}
