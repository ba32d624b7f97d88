package fileref

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// openDir is a temporary directory that other users may enter, as /etc/rackwatch is.
func openDir(t *testing.T) string {
	t.Helper()
	d := t.TempDir()
	for _, p := range []string{d, filepath.Dir(d)} { // MkdirTemp makes both 0700
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

func write(t *testing.T, path string, mode os.FileMode) string {
	t.Helper()
	if err := os.WriteFile(path, []byte("secret\n"), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // past the umask
		t.Fatal(err)
	}
	return path
}

func ref(key, path string, need Need, secret bool) Ref {
	return Ref{File: "/etc/rackwatch/rackwatch.yaml", Line: 7, Key: key, Path: path, Need: need, Secret: secret}
}

func one(t *testing.T, es interface{ Error() string }, n int) string {
	t.Helper()
	if n != 1 {
		t.Fatalf("want one message, got %d: %v", n, es)
	}
	return es.Error()
}

// The service user is not the owner of the test files and not in their group: a stranger to them.
func stranger() *User { return As("rackwatch", 4242, []uint32{4242}) }

// me is the owner of the test files, seen as the service user would be.
func me() *User { return As("rackwatch", uint32(os.Geteuid()), []uint32{uint32(os.Getegid())}) }

func TestMissingAndWrongKind(t *testing.T) {
	d := openDir(t)
	f := write(t, filepath.Join(d, "ca.pem"), 0o644)
	for _, u := range []*User{Process(), me()} {
		cases := []struct {
			r    Ref
			want string
		}{
			{ref("password_file", filepath.Join(d, "mqtt.pass"), Read, true), "/etc/rackwatch/rackwatch.yaml:7: password_file " + filepath.Join(d, "mqtt.pass") + ": does not exist"},
			{ref("ca_file", d, Read, false), "ca_file " + d + ": is not a regular file"},
			{ref("profile_dir", f, List, false), "profile_dir " + f + ": is not a directory"},
			{ref("profile_dir", filepath.Join(d, "profiles"), List, false), "does not exist"},
		}
		for _, c := range cases {
			errs, warns := Check([]Ref{c.r}, u)
			if got := one(t, errs, len(errs)); !strings.Contains(got, c.want) {
				t.Errorf("%s: %q, want %q", c.r.Key, got, c.want)
			}
			if len(warns) != 0 {
				t.Errorf("%s: warnings %v", c.r.Key, warns)
			}
		}
		missingState := Ref{Key: "state_dir", Path: filepath.Join(d, "state"), Need: Write, MayBeMissing: true}
		if errs, _ := Check([]Ref{missingState, {Key: "ca_file"}}, u); len(errs) != 0 {
			t.Errorf("a state_dir the agent creates, an unset path: %v", errs)
		}
	}
}

// Checked as root on the service user's behalf: what the owner, group and mode bits let it do.
func TestServiceUserCannotRead(t *testing.T) {
	d := openDir(t)
	private := write(t, filepath.Join(d, "gw.key"), 0o600)
	errs, _ := Check([]Ref{ref("key_file", private, Read, true)}, stranger())
	if got := one(t, errs, len(errs)); !strings.Contains(got, "key_file "+private+": user rackwatch cannot read it (-rw-------") {
		t.Errorf("got %q", got)
	}
	// Readable, but behind a directory it cannot enter.
	closed := filepath.Join(d, "closed")
	os.Mkdir(closed, 0o700)
	behind := write(t, filepath.Join(closed, "ca.pem"), 0o644)
	errs, _ = Check([]Ref{ref("ca_file", behind, Read, false)}, stranger())
	if got := one(t, errs, len(errs)); !strings.Contains(got, "directory "+closed+" does not let it through") {
		t.Errorf("got %q", got)
	}
	// A profile directory needs r and x; a state directory w and x.
	noList := filepath.Join(d, "profiles")
	os.Mkdir(noList, 0o711)
	errs, _ = Check([]Ref{ref("profile_dir", noList, List, false)}, stranger())
	if got := one(t, errs, len(errs)); !strings.Contains(got, "cannot list it") {
		t.Errorf("got %q", got)
	}
	errs, _ = Check([]Ref{{Key: "state_dir", Path: d, Need: Write}}, stranger())
	if got := one(t, errs, len(errs)); !strings.Contains(got, "cannot write in it") {
		t.Errorf("got %q", got)
	}
	// Through a symlink, the target's permissions count.
	link := filepath.Join(d, "link.key")
	os.Symlink(private, link)
	if errs, _ := Check([]Ref{ref("key_file", link, Read, true)}, stranger()); len(errs) != 1 {
		t.Errorf("symlink to an unreadable key: %v", errs)
	}
	// The owner may.
	if errs, _ := Check([]Ref{ref("key_file", private, Read, true), {Key: "state_dir", Path: d, Need: Write}}, me()); len(errs) != 0 {
		t.Errorf("owner: %v", errs)
	}
}

func TestSecretsOthersCanRead(t *testing.T) {
	d := openDir(t)
	world := write(t, filepath.Join(d, "world.pass"), 0o644)
	grp := write(t, filepath.Join(d, "group.pass"), 0o640)
	fine := write(t, filepath.Join(d, "fine.pass"), 0o600)
	public := write(t, filepath.Join(d, "ca.pem"), 0o644)

	errs, warns := Check([]Ref{ref("password_file", world, Read, true)}, me())
	if len(errs) != 0 || len(warns) != 1 || !strings.Contains(warns.Error(), "rackwatch.yaml:7: warning: password_file "+world+": a secret readable by every user (mode 0644)") {
		t.Errorf("world-readable secret: errs %v, warns %v", errs, warns)
	}
	// Group-readable by the service user's own group is the usual way (root:rackwatch 0640); by another
	// group it is a warning.
	if _, warns := Check([]Ref{ref("password_file", grp, Read, true)}, me()); len(warns) != 0 {
		t.Errorf("secret readable by the service's own group: %v", warns)
	}
	other := As("rackwatch", uint32(os.Geteuid()), []uint32{4242})
	if _, warns := Check([]Ref{ref("password_file", grp, Read, true)}, other); len(warns) != 1 || !strings.Contains(warns.Error(), "readable by group") {
		if os.Getegid() != 0 { // group root never warns
			t.Errorf("secret readable by another group: %v", warns)
		}
	}
	if _, warns := Check([]Ref{ref("password_file", fine, Read, true), ref("ca_file", public, Read, false)}, me()); len(warns) != 0 {
		t.Errorf("0600 secret, world-readable certificate: %v", warns)
	}
}

// A secret another user owns can be replaced by that user: the agent would log in with whatever it wrote.
func TestSecretOwnedByAnotherUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give a file away (chown)")
	}
	d := openDir(t)
	f := write(t, filepath.Join(d, "mqtt.pass"), 0o600)
	if err := os.Chown(f, 4243, 0); err != nil {
		t.Fatal(err)
	}
	os.Chmod(f, 0o644) // readable by the service user, who is not its owner
	_, warns := Check([]Ref{ref("password_file", f, Read, true)}, stranger())
	if len(warns) != 1 || !strings.Contains(warns.Error(), "readable by every user") {
		t.Errorf("warns %v", warns)
	}
	os.Chmod(f, 0o640)
	os.Chown(f, 4243, 4242) // the service's group may read; the owner is someone else
	_, warns = Check([]Ref{ref("password_file", f, Read, true)}, stranger())
	if len(warns) != 1 || !strings.Contains(warns.Error(), "owned by 4243, who can read and replace it") {
		t.Errorf("warns %v", warns)
	}
}

// A file that grants power (an operator's public key, the directory of them) must be changeable by root
// or the service user only: whoever can change it can make themselves an operator.
func TestAuthorityOthersCanChange(t *testing.T) {
	d := openDir(t)
	for mode, want := range map[os.FileMode]string{
		0o644: "",
		0o664: "can change it (mode 0664)",
		0o646: "every user can change it (mode 0646)",
	} {
		f := write(t, filepath.Join(d, "alice.pub"), mode)
		if os.Geteuid() == 0 {
			os.Chown(f, 0, 4343) // a group other than root's
		}
		r := ref("public_key_file", f, Read, false)
		r.Authority = true
		errs, warns := Check([]Ref{r}, me())
		if len(errs) != 0 {
			t.Fatal(errs)
		}
		switch {
		case want == "" && len(warns) != 0:
			t.Errorf("%04o: %v", mode, warns)
		case want != "" && !strings.Contains(one(t, warns, len(warns)), want):
			t.Errorf("%04o: %v, want %q", mode, warns, want)
		}
	}
	if os.Geteuid() == 0 {
		f := write(t, filepath.Join(d, "bob.pub"), 0o644)
		os.Chown(f, 4343, 4343)
		r := ref("public_key_file", f, Read, false)
		r.Authority = true
		if _, warns := Check([]Ref{r}, stranger()); !strings.Contains(one(t, warns, len(warns)), "owned by 4343, who can change it") {
			t.Fatal(warns)
		}
	}
}
