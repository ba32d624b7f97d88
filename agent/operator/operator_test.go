package operator

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestKeyFiles(t *testing.T) {
	dir := t.TempDir()
	priv, pub, err := NewKeyFiles(dir, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(priv); st.Mode().Perm() != 0o600 {
		t.Fatalf("private key mode %v", st.Mode())
	}
	sk, err := ReadPrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	pk, err := ReadPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	if !pk.Equal(sk.Public()) {
		t.Fatal("the .pub is not the .key's public key")
	}
	if !strings.HasPrefix(Fingerprint(pk), "SHA256:") || len(Fingerprint(pk)) != 7+43 {
		t.Fatalf("fingerprint %s", Fingerprint(pk))
	}
	// Never overwritten: an operator's key replaced by accident locks them out of every gateway.
	before, _ := os.ReadFile(priv)
	if _, _, err := NewKeyFiles(dir, "alice"); err == nil || !strings.Contains(err.Error(), "exists already") {
		t.Fatalf("second key new alice: %v", err)
	}
	if after, _ := os.ReadFile(priv); string(after) != string(before) {
		t.Fatal("the existing key was changed")
	}
	if _, _, err := NewKeyFiles(dir, "../etc/x"); err == nil {
		t.Fatal("a name with a path was accepted")
	}
	// A private key others can read is refused, as ssh does.
	os.Chmod(priv, 0o644)
	if _, err := ReadPrivateKey(priv); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("readable private key: %v", err)
	}
	os.Chmod(priv, 0o600)
	if _, err := ReadPrivateKey(pub); err == nil {
		t.Fatal("a public key read as private")
	}
	// The public key slot refuses a private key (copied to the gateway by mistake), another algorithm,
	// and anything else.
	if _, err := ReadPublicKey(priv); err == nil || !strings.Contains(err.Error(), "PRIVATE key") {
		t.Fatalf("private key as public: %v", err)
	}
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(&ec.PublicKey)
	if _, err := ParsePublicKey(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})); err == nil || !strings.Contains(err.Error(), "Ed25519") {
		t.Fatalf("ECDSA key: %v", err)
	}
	for _, junk := range []string{"", "ssh-ed25519 AAAA alice", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"} {
		if _, err := ParsePublicKey([]byte(junk)); err == nil {
			t.Fatalf("%q accepted", junk)
		}
	}
	two, _ := os.ReadFile(pub)
	if _, err := ParsePublicKey(append(two, two...)); err == nil {
		t.Fatal("two keys in one file accepted")
	}
}

func TestKeyring(t *testing.T) {
	keys := t.TempDir()
	for _, n := range []string{"alice", "bob"} {
		if _, _, err := NewKeyFiles(keys, n); err != nil {
			t.Fatal(err)
		}
	}
	opdir := t.TempDir()
	copyFile(t, filepath.Join(keys, "bob.pub"), filepath.Join(opdir, "bob.pub"))
	copyFile(t, filepath.Join(keys, "alice.pub"), filepath.Join(opdir, "carol.pub")) // alice's key under another name
	copyFile(t, filepath.Join(keys, "bob.key"), filepath.Join(opdir, "bob.key"))     // a private key where it does not belong
	os.WriteFile(filepath.Join(opdir, "README"), []byte("x"), 0o644)
	os.WriteFile(filepath.Join(opdir, ".hidden.pub"), []byte("x"), 0o644)

	k, warns, err := Load([]Entry{{Name: "alice", File: filepath.Join(keys, "alice.pub"), ConfigFile: "gw.yaml", Line: 4}},
		Dir{Path: opdir, ConfigFile: "gw.yaml", Line: 6})
	if err != nil {
		t.Fatal(err)
	}
	if k.Len() != 3 {
		t.Fatalf("%d operators: %+v", k.Len(), k.Operators())
	}
	if ops := k.Operators(); ops[0].Name != "alice" || ops[1].Name != "bob" || ops[2].Name != "carol" {
		t.Fatalf("%+v", ops)
	}
	w := warns.Error()
	for _, want := range []string{"gw.yaml:6: warning: operators_dir", "bob.key, a private key", ".hidden.pub is ignored", "same key as operator alice"} {
		if !strings.Contains(w, want) {
			t.Errorf("warnings lack %q:\n%s", want, w)
		}
	}

	_, _, err = Load([]Entry{
		{Name: "bob", File: filepath.Join(keys, "bob.pub"), ConfigFile: "gw.yaml", Line: 3},
		{Name: "dave", File: filepath.Join(keys, "dave.pub"), ConfigFile: "gw.yaml", Line: 4},
		{Name: "eve", File: filepath.Join(keys, "bob.key"), ConfigFile: "gw.yaml", Line: 5},
		{Name: "a b", File: "x", ConfigFile: "gw.yaml", Line: 6},
	}, Dir{Path: opdir, ConfigFile: "gw.yaml", Line: 8})
	for _, want := range []string{
		"gw.yaml:4: operator dave: public_key_file " + filepath.Join(keys, "dave.pub") + ": no such file",
		"gw.yaml:5: operator eve: public_key_file", "PRIVATE key",
		"gw.yaml:6: operator name \"a b\"",
		"gw.yaml:8: operator \"bob\" is listed twice",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("errors lack %q:\n%v", want, err)
		}
	}
	if _, _, err := Load(nil, Dir{Path: filepath.Join(opdir, "nope"), ConfigFile: "gw.yaml", Line: 2}); err == nil || !strings.Contains(err.Error(), "gw.yaml:2: operators_dir") {
		t.Fatalf("missing dir: %v", err)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
